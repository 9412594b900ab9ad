using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Csr.Models.Llama;

/// <summary>HF LlamaModel: <c>embed_tokens</c>, <c>layers</c>, <c>norm</c>, and the rotary embedding (no parameters).</summary>
public sealed class LlamaModel : nn.Module
{
    public Embedding embed_tokens;                 // [V, H]
    public ModuleList<LlamaDecoderLayer> layers;
    public LlamaRMSNorm norm;                      // [H]

    private readonly LlamaRotaryEmbedding _rotary;

    public LlamaConfig Config { get; }

    public LlamaModel(LlamaConfig c, ScalarType dtype = ScalarType.Float32) : base(nameof(LlamaModel))
    {
        c.Validate();
        Config = c;
        embed_tokens = nn.Embedding(c.VocabSize, c.HiddenSize, dtype: dtype);
        layers = new ModuleList<LlamaDecoderLayer>();
        for (int i = 0; i < c.NumHiddenLayers; i++) layers.Add(new LlamaDecoderLayer(c, i, dtype));
        norm = new LlamaRMSNorm(c.HiddenSize, c.RmsNormEps, dtype);
        _rotary = new LlamaRotaryEmbedding(c);
        RegisterComponents();
    }

    public LlamaRotaryEmbedding Rotary => _rotary;

    public AttentionImplementation AttentionImplementation
    {
        get => layers.Count > 0 ? layers[0].self_attn.Implementation : AttentionImplementation.Sdpa;
        set { foreach (var l in layers) l.self_attn.Implementation = value; }
    }

    /// <summary>Final normed hidden states <c>[B, T, H]</c>; see <see cref="ICausalLm.Forward"/> for the arguments.</summary>
    public Tensor Forward(Tensor inputsEmbeds, Tensor attentionMask, KvCache? cache)
    {
        if (inputsEmbeds.dim() != 3 || inputsEmbeds.shape[2] != Config.HiddenSize)
            throw new ArgumentException($"LlamaModel: inputs_embeds must be [B, T, {Config.HiddenSize}], got [{string.Join(", ", inputsEmbeds.shape)}]");
        long b = inputsEmbeds.shape[0], t = inputsEmbeds.shape[1];
        long past = cache?.Length ?? 0;
        if (attentionMask.dim() != 2 || attentionMask.shape[0] != b || attentionMask.shape[1] != past + t)
            throw new ArgumentException(
                $"LlamaModel: attention_mask must be [B={b}, past+T={past + t}] (past={past}), got [{string.Join(", ", attentionMask.shape)}]");
        if (cache is not null && cache.NumLayers != Config.NumHiddenLayers)
            throw new ArgumentException($"LlamaModel: cache has {cache.NumLayers} layers, model has {Config.NumHiddenLayers}");
        if (cache is not null && !cache.IsEmpty && cache.BatchSize != b)
            throw new ArgumentException($"LlamaModel: cache batch {cache.BatchSize} != input batch {b}");

        ForwardStats.Record(b, t);
        using var scope = torch.NewDisposeScope();
        var positions = AttentionMask.PositionIds(attentionMask, t);            // [B, T]
        var (cos, sin) = _rotary.Forward(positions, inputsEmbeds.dtype);        // [B, T, hd]
        bool noPadding = attentionMask.ne(0).all().item<bool>();
        Tensor? allowed = null;
        bool isCausal = false;
        if (noPadding && t == 1) { /* one query sees every key */ }
        else if (noPadding && past == 0) isCausal = true;
        else allowed = AttentionMask.Allowed(attentionMask, t);                // [B, 1, T, S]

        var h = inputsEmbeds;
        foreach (var layer in layers)
        {
            var next = layer.Forward(h, cos, sin, allowed, isCausal, cache);
            if (!ReferenceEquals(h, inputsEmbeds)) h.Dispose();
            h = next;
        }
        return norm.forward(h).MoveToOuterDisposeScope();                      // [B, T, H]
    }
}
