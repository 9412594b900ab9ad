using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Csr.Tests.IO;

// Small modules with LLaVA's canonical (older llava-hf) nesting, independent of the real model code,
// so checkpoint IO can be tested on its own. Keys: language_model.model.embed_tokens.weight,
// language_model.model.layers.N.self_attn.q_proj.weight, language_model.model.norm.weight,
// language_model.lm_head.weight, vision_tower.vision_model.embeddings.class_embedding, ...,
// multi_modal_projector.linear_{1,2}.{weight,bias}.

public sealed class TinyNorm : Module
{
    public Parameter weight;
    public TinyNorm(long n) : base(nameof(TinyNorm)) { weight = new Parameter(randn(n)); RegisterComponents(); }
}

public sealed class TinyAttention : Module
{
    public Linear q_proj, k_proj;
    public TinyAttention(long h) : base(nameof(TinyAttention))
    {
        q_proj = Linear(h, h, hasBias: false);
        k_proj = Linear(h, h / 2, hasBias: false);
        RegisterComponents();
    }
}

public sealed class TinyLayer : Module
{
    public TinyAttention self_attn;
    public TinyNorm input_layernorm;
    public TinyLayer(long h) : base(nameof(TinyLayer)) { self_attn = new TinyAttention(h); input_layernorm = new TinyNorm(h); RegisterComponents(); }
}

public sealed class TinyBody : Module
{
    public Embedding embed_tokens;
    public ModuleList<TinyLayer> layers;
    public TinyNorm norm;
    public TinyBody(long vocab, long h, int nLayers) : base(nameof(TinyBody))
    {
        embed_tokens = Embedding(vocab, h);
        layers = new ModuleList<TinyLayer>(Enumerable.Range(0, nLayers).Select(_ => new TinyLayer(h)).ToArray());
        norm = new TinyNorm(h);
        RegisterComponents();
    }
}

public sealed class TinyCausalLm : Module
{
    public TinyBody model;
    public Linear lm_head;
    public TinyCausalLm(long vocab, long h, int nLayers) : base(nameof(TinyCausalLm))
    {
        model = new TinyBody(vocab, h, nLayers);
        lm_head = Linear(h, vocab, hasBias: false);
        RegisterComponents();
    }
}

public sealed class TinyEmbeddings : Module
{
    public Parameter class_embedding;
    public Linear patch_embedding;
    public TinyEmbeddings(long h) : base(nameof(TinyEmbeddings))
    {
        class_embedding = new Parameter(randn(h));
        patch_embedding = Linear(12, h, hasBias: false);
        RegisterComponents();
    }
}

public sealed class TinyVisionModel : Module
{
    public TinyEmbeddings embeddings;
    public LayerNorm pre_layrnorm;
    public TinyVisionModel(long h) : base(nameof(TinyVisionModel)) { embeddings = new TinyEmbeddings(h); pre_layrnorm = LayerNorm(h); RegisterComponents(); }
}

public sealed class TinyVisionTower : Module
{
    public TinyVisionModel vision_model;
    public TinyVisionTower(long h) : base(nameof(TinyVisionTower)) { vision_model = new TinyVisionModel(h); RegisterComponents(); }
}

public sealed class TinyProjector : Module
{
    public Linear linear_1, linear_2;
    public TinyProjector(long hv, long ht) : base(nameof(TinyProjector)) { linear_1 = Linear(hv, ht); linear_2 = Linear(ht, ht); RegisterComponents(); }
}

public sealed class TinyLlava : Module
{
    public TinyVisionTower vision_tower;
    public TinyProjector multi_modal_projector;
    public TinyCausalLm language_model;

    public TinyLlava(long seed, ScalarType dtype = ScalarType.Float32) : base(nameof(TinyLlava))
    {
        manual_seed(seed);
        vision_tower = new TinyVisionTower(6);
        multi_modal_projector = new TinyProjector(6, 8);
        language_model = new TinyCausalLm(11, 8, 2);
        RegisterComponents();
        if (dtype != ScalarType.Float32) this.to(dtype);
        // Make every value distinct and non-trivial in every dtype.
        using var g = no_grad();
        foreach (var (_, p) in named_parameters()) p.copy_(randn(p.shape).to_type(p.dtype));
    }
}

/// <summary>Per-test temporary directory, deleted on dispose.</summary>
public sealed class TempDir : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "csr-tests-" + Guid.NewGuid().ToString("N"));
    public TempDir() => Directory.CreateDirectory(Path);
    public string this[string name] => System.IO.Path.Combine(Path, name);
    public void Dispose() { try { Directory.Delete(Path, true); } catch (IOException) { } }
}

public static class TensorAssert
{
    /// <summary>Bitwise equality of two tensors of the same dtype and shape.</summary>
    public static void BitEqual(Tensor expected, Tensor actual, string what)
    {
        Assert.True(expected.dtype == actual.dtype, $"{what}: dtype {expected.dtype} vs {actual.dtype}");
        Assert.True(expected.shape.SequenceEqual(actual.shape), $"{what}: shape [{string.Join(",", expected.shape)}] vs [{string.Join(",", actual.shape)}]");
        var a = expected.contiguous().bytes.ToArray();
        var b = actual.contiguous().bytes.ToArray();
        Assert.True(a.AsSpan().SequenceEqual(b), $"{what}: bytes differ");
    }

    public static void StatesBitEqual(Module expected, Module actual)
    {
        var e = expected.state_dict();
        var a = actual.state_dict();
        Assert.Equal(e.Keys.OrderBy(k => k), a.Keys.OrderBy(k => k));
        foreach (var (k, t) in e) BitEqual(t, a[k], k);
    }
}
