using Csr.Models.Llama;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Csr.Models.Clip;

/// <summary>
/// HF <c>CLIPTextTransformer</c>: embeddings -> causal encoder (plus the padding mask) -> <c>final_layer_norm</c>;
/// pooled at the EOS position: argmax of the ids when eos_token_id == 2 (HF's legacy rule for the
/// original OpenAI configs), else the first position holding eos_token_id (position 0 if absent,
/// as torch's argmax of an all-zero row).
/// </summary>
public sealed class ClipTextTransformer : nn.Module<Tensor, Tensor>
{
    public readonly ClipTextEmbeddings embeddings;
    public readonly ClipEncoder encoder;
    public readonly LayerNorm final_layer_norm; // (H)

    public ClipTextConfig Config { get; }

    public ClipTextTransformer(string name, ClipTextConfig c) : base(name)
    {
        c.Validate();
        Config = c;
        embeddings = new ClipTextEmbeddings("embeddings", c);
        encoder = new ClipEncoder("encoder", c.NumHiddenLayers, c.HiddenSize, c.IntermediateSize, c.NumAttentionHeads, c.HiddenAct, c.LayerNormEps);
        final_layer_norm = nn.LayerNorm(c.HiddenSize, c.LayerNormEps);
        RegisterComponents();
    }

    /// <summary>Eager (HF's reference path) or Sdpa (default) attention in every layer.</summary>
    public AttentionImplementation AttentionImplementation
    {
        get => encoder.AttentionImplementation;
        set => encoder.AttentionImplementation = value;
    }

    public override Tensor forward(Tensor inputIds) => LastHiddenState(inputIds, null);

    /// <summary>The additive attention mask: causal, and key positions where <paramref name="attentionMask"/> is 0
    /// are dropped. [B or 1, 1, T, T] in <paramref name="dtype"/>, 0 = keep, dtype's min = drop; on the device of
    /// <paramref name="attentionMask"/>, else <paramref name="device"/> (default CPU).</summary>
    public static Tensor BuildMask(long t, Tensor? attentionMask, ScalarType dtype, Device? device = null)
    {
        using var scope = NewDisposeScope();
        var allowed = ones(t, t, dtype: ScalarType.Bool, device: attentionMask?.device ?? device ?? CPU).tril().view(1, 1, t, t); // query i sees keys <= i
        if (attentionMask is not null)
            allowed = allowed.logical_and(attentionMask.to(ScalarType.Bool).view(attentionMask.shape[0], 1, 1, t));
        double min = dtype switch
        {
            ScalarType.Float32 => float.MinValue,
            ScalarType.Float64 => double.MinValue,
            ScalarType.BFloat16 => -3.3895313892515355e38,
            ScalarType.Float16 => -65504.0,
            _ => throw new ArgumentException($"Unsupported mask dtype {dtype}."),
        };
        var mask = zeros(allowed.shape, dtype: dtype, device: allowed.device).masked_fill(allowed.logical_not(), min);
        return mask.MoveToOuterDisposeScope();
    }

    /// <summary>final_layer_norm(encoder(embeddings)). [B, T, H]</summary>
    public Tensor LastHiddenState(Tensor inputIds, Tensor? attentionMask)
    {
        using var scope = NewDisposeScope();
        var h = embeddings.forward(inputIds);
        var mask = BuildMask(inputIds.shape[1], attentionMask, h.dtype, h.device);
        var y = encoder.Forward(h, mask);
        return final_layer_norm.forward(y).MoveToOuterDisposeScope();
    }

    /// <summary>Index of the pooled token per row, as HF picks it. [B] int64</summary>
    public Tensor PoolPositions(Tensor inputIds)
    {
        using var scope = NewDisposeScope();
        var idx = Config.LegacyEosPooling
            ? inputIds.to(ScalarType.Int32).argmax(-1)
            : inputIds.to(ScalarType.Int32).eq(Config.EosTokenId).to(ScalarType.Int32).argmax(-1);
        return idx.to(ScalarType.Int64).MoveToOuterDisposeScope();
    }

    /// <summary>HF's pooler_output: the last hidden state at the EOS position. [B, H]</summary>
    public Tensor Pooled(Tensor inputIds, Tensor? attentionMask)
    {
        using var scope = NewDisposeScope();
        var last = LastHiddenState(inputIds, attentionMask);
        var rows = arange(inputIds.shape[0], dtype: ScalarType.Int64, device: inputIds.device);
        return last.index(new TensorIndex[] { TensorIndex.Tensor(rows), TensorIndex.Tensor(PoolPositions(inputIds)) })
            .MoveToOuterDisposeScope();
    }
}
