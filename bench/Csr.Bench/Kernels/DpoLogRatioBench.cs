using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Csr.Kernels;
using Csr.Native;
using static TorchSharp.torch;

namespace Csr.Bench.Kernels;

/// <summary>
/// Summed label log-probs at LLaVA-7B DPO shapes: T = 1024, V = 32000, N in {2, 8}; forward alone and
/// forward + backward (the training use), reference (float32 log_softmax over [N, T, V]) vs fused.
/// N = 8 runs in bf16 only (8 x 1024 x 32000 float32 logits alone are 1 GB).
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class DpoLogRatioBench
{
    [Params("N2-fp32", "N2-bf16", "N8-bf16")]
    public string Shape { get; set; } = "N2-fp32";

    private Tensor _logits = null!, _labels = null!, _mask = null!;

    [GlobalSetup]
    public void Setup()
    {
        TorchRuntime.EnsureInitialised();
        long n = Shape.StartsWith("N8") ? 8 : 2;
        var dtype = Shape.EndsWith("bf16") ? ScalarType.BFloat16 : ScalarType.Float32;
        var g = new Generator(42);
        _logits = (randn(new long[] { n, 1024, 32000 }, generator: g) * 3).to(dtype);
        _labels = randint(0, 32000, new long[] { n, 1024 }, generator: g, dtype: ScalarType.Int64);
        _mask = ones(n, 1024);
        _mask[.., ..300] = zeros(n, 300); // prompt + image positions masked, as in DPO
    }

    [GlobalCleanup]
    public void Cleanup() { _logits.Dispose(); _labels.Dispose(); _mask.Dispose(); }

    [Benchmark(Baseline = true), BenchmarkCategory("forward")]
    public float ReferenceForward()
    {
        using var scope = NewDisposeScope();
        return DpoLogRatio.SequenceLogProbsReference(_logits, _labels, _mask).sum().item<float>();
    }

    [Benchmark, BenchmarkCategory("forward")]
    public float FusedForward()
    {
        using var scope = NewDisposeScope();
        return DpoLogRatio.SequenceLogProbsFused(_logits, _labels, _mask).sum().item<float>();
    }

    [Benchmark(Baseline = true), BenchmarkCategory("forward+backward")]
    public float ReferenceForwardBackward()
    {
        using var scope = NewDisposeScope();
        var leaf = _logits.detach().requires_grad_(true);
        var x = leaf.view(_logits.shape); // logits come out of an op in training (a leaf's grad would be cloned)
        var lp = DpoLogRatio.SequenceLogProbsReference(x, _labels, _mask);
        lp.sum().backward();
        return leaf.grad!.numel();
    }

    [Benchmark, BenchmarkCategory("forward+backward")]
    public float FusedForwardBackward()
    {
        using var scope = NewDisposeScope();
        var leaf = _logits.detach().requires_grad_(true);
        var x = leaf.view(_logits.shape); // logits come out of an op in training (a leaf's grad would be cloned)
        var lp = DpoLogRatio.SequenceLogProbsFused(x, _labels, _mask);
        lp.sum().backward();
        return leaf.grad!.numel();
    }
}
