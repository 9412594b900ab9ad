using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Csr.Models.Llama;

/// <summary>
/// HF LlamaForCausalLM: <c>model</c> (LlamaModel) and <c>lm_head</c> [V, H]. With <c>tie_word_embeddings</c>,
/// <c>lm_head</c> is null and the output projection is <c>model.embed_tokens.weight</c>; the state dict then has
/// no <c>lm_head.weight</c>, as HF checkpoints of tied models.
/// </summary>
public sealed class LlamaForCausalLM : nn.Module, ICausalLm
{
    public LlamaModel model;
    public Linear? lm_head; // [V, H]

    public LlamaConfig Config { get; }

    /// <param name="config">validated here</param>
    /// <param name="dtype">dtype of every parameter</param>
    /// <param name="init">when given, weights are drawn as HF's _init_weights (normal(0, 0.02), norms = 1) from it;
    /// when null, weights are left uninitialised (to be loaded from a checkpoint)</param>
    public LlamaForCausalLM(LlamaConfig config, ScalarType dtype = ScalarType.Float32, Generator? init = null)
        : base(nameof(LlamaForCausalLM))
    {
        Config = config.Validate();
        model = new LlamaModel(config, dtype);
        if (!config.TieWordEmbeddings)
            lm_head = nn.Linear(config.HiddenSize, config.VocabSize, hasBias: false, dtype: dtype);
        RegisterComponents();
        if (init is not null) InitWeights(init);
    }

    /// <summary>
    /// Reads <c>config.json</c> and the safetensors checkpoint (single file or sharded with an index) of an HF Llama
    /// directory, strictly (missing / unexpected / mis-shaped keys are errors naming key and file), in <paramref name="dtype"/>.
    /// Rotary <c>inv_freq</c> buffers some older checkpoints carry are ignored (they are computed from the config), and so is
    /// a duplicate <c>lm_head.weight</c> of a tied model.
    /// </summary>
    public static LlamaForCausalLM FromPretrained(string dir, ScalarType dtype = ScalarType.Float32)
    {
        var config = LlamaConfig.FromFile(Path.Combine(dir, "config.json"));
        var m = new LlamaForCausalLM(config, dtype);
        try
        {
            Csr.Models.IO.CheckpointLoader.LoadInto(m, dir, new Csr.Models.IO.CheckpointLoadOptions
            {
                DType = dtype,
                AllowUnexpected = key => key.EndsWith("rotary_emb.inv_freq", StringComparison.Ordinal)
                                         || (config.TieWordEmbeddings && key == "lm_head.weight"),
            });
        }
        catch
        {
            m.Dispose();
            throw;
        }
        m.eval();
        return m;
    }

    /// <summary>HF LlamaPreTrainedModel._init_weights with initializer_range 0.02: linears and embeddings ~ N(0, 0.02), biases 0, norms 1.</summary>
    public void InitWeights(Generator g, double std = 0.02)
    {
        using var _ = torch.no_grad();
        foreach (var (name, p) in named_parameters())
        {
            if (name.EndsWith("layernorm.weight") || name == "model.norm.weight") p.fill_(1.0);
            else if (name.EndsWith(".bias")) p.zero_();
            else if (name.EndsWith("lora_B.weight")) p.zero_();
            else p.normal_(0, std, g);
        }
    }

    public AttentionImplementation AttentionImplementation
    {
        get => model.AttentionImplementation;
        set => model.AttentionImplementation = value;
    }

    public int VocabSize => Config.VocabSize;

    public Tensor LmHeadWeight => lm_head?.weight ?? model.embed_tokens.weight!;

    public KvCache NewCache() => new(Config.NumHiddenLayers);

    public Tensor Embed(Tensor inputIds)
    {
        if (inputIds.dtype != ScalarType.Int64 && inputIds.dtype != ScalarType.Int32)
            throw new ArgumentException($"LlamaForCausalLM.Embed: input ids must be int64/int32, got {inputIds.dtype}");
        return model.embed_tokens.forward(inputIds);
    }

    public Tensor ForwardHidden(Tensor inputsEmbeds, Tensor attentionMask, KvCache? cache)
        => model.Forward(inputsEmbeds, attentionMask, cache);

    public Tensor Forward(Tensor inputsEmbeds, Tensor attentionMask, KvCache? cache)
    {
        using var scope = torch.NewDisposeScope();
        var h = model.Forward(inputsEmbeds, attentionMask, cache); // [B, T, H]
        return Fast.FastLinear.Linear(h, LmHeadWeight).MoveToOuterDisposeScope(); // [B, T, V]
    }

    /// <summary>Convenience: logits <c>[B, T, V]</c> from token ids.</summary>
    public Tensor ForwardIds(Tensor inputIds, Tensor? attentionMask = null, KvCache? cache = null)
    {
        using var scope = torch.NewDisposeScope();
        var mask = attentionMask ?? torch.ones(inputIds.shape[0], (cache?.Length ?? 0) + inputIds.shape[1], dtype: ScalarType.Int64, device: inputIds.device);
        return Forward(Embed(inputIds), mask, cache).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The state-dict keys and shapes of <see cref="LlamaForCausalLM"/> for <paramref name="c"/>, in module order,
    /// computed without allocating any weight (e.g. for a 7B config). <paramref name="prefix"/> is prepended
    /// (LLaVA: "language_model.").
    /// </summary>
    public static IReadOnlyList<(string Key, long[] Shape)> ParameterShapes(LlamaConfig c, string prefix = "")
    {
        c.Validate();
        long h = c.HiddenSize, i = c.IntermediateSize, v = c.VocabSize, hd = c.HeadDim;
        long q = c.NumAttentionHeads * hd, kv = c.KvHeads * hd;
        var list = new List<(string, long[])> { ($"{prefix}model.embed_tokens.weight", new[] { v, h }) };
        for (int l = 0; l < c.NumHiddenLayers; l++)
        {
            string p = $"{prefix}model.layers.{l}.";
            void Lin(string name, long o, long iin, bool bias)
            {
                list.Add(($"{p}{name}.weight", new[] { o, iin }));
                if (bias) list.Add(($"{p}{name}.bias", new[] { o }));
            }
            Lin("self_attn.q_proj", q, h, c.AttentionBias);
            Lin("self_attn.k_proj", kv, h, c.AttentionBias);
            Lin("self_attn.v_proj", kv, h, c.AttentionBias);
            Lin("self_attn.o_proj", h, q, c.AttentionBias);
            Lin("mlp.gate_proj", i, h, c.MlpBias);
            Lin("mlp.up_proj", i, h, c.MlpBias);
            Lin("mlp.down_proj", h, i, c.MlpBias);
            list.Add(($"{p}input_layernorm.weight", new[] { h }));
            list.Add(($"{p}post_attention_layernorm.weight", new[] { h }));
        }
        list.Add(($"{prefix}model.norm.weight", new[] { h }));
        if (!c.TieWordEmbeddings) list.Add(($"{prefix}lm_head.weight", new[] { v, h }));
        return list;
    }
}
