using Csr.Models.Llama;
using Csr.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Tests.Llama;

/// <summary>Tiny random Llama models and a tolerance check shared by the Llama and generation tests.</summary>
public static class TinyLlama
{
    public static LlamaForCausalLM Create(LlamaConfig? config = null, long seed = 1, ScalarType dtype = ScalarType.Float32)
    {
        TorchRuntime.EnsureInitialised();
        var g = new Generator((ulong)seed);
        // std 0.2 instead of HF's 0.02 so tiny models have peaked, seed-dependent distributions
        var m = new LlamaForCausalLM(config ?? LlamaConfig.Tiny(), ScalarType.Float32, null);
        m.InitWeights(g, 0.2);
        if (dtype != ScalarType.Float32) m.to(dtype);
        m.eval();
        return m;
    }

    /// <summary>Asserts |a-b| &lt;= atol + rtol*|b| elementwise; the message names the worst index.</summary>
    public static void AssertClose(Tensor expected, Tensor actual, double atol = 1e-5, double rtol = 1e-4, string what = "")
    {
        Assert.Equal(expected.shape, actual.shape);
        using var scope = NewDisposeScope();
        var e = expected.to_type(ScalarType.Float64);
        var a = actual.to_type(ScalarType.Float64);
        var excess = (a - e).abs() - (atol + rtol * e.abs());
        var worst = excess.flatten().argmax().item<long>();
        var worstVal = excess.flatten()[worst].item<double>();
        Assert.True(worstVal <= 0,
            $"{what}: mismatch at flat index {worst}: expected {e.flatten()[worst].item<double>()}, got {a.flatten()[worst].item<double>()} (atol {atol}, rtol {rtol})");
    }

    public static Tensor RandomIds(Generator g, long b, long t, int vocab)
        => torch.randint(3, vocab, new long[] { b, t }, dtype: ScalarType.Int64, generator: g);
}
