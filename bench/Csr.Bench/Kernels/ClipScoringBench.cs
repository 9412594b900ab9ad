using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Csr.Kernels;
using Csr.Native;
using static TorchSharp.torch;

namespace Csr.Bench.Kernels;

/// <summary>CLIP scoring at I = 64 images, S = 4096 sentences, D = 768; sentences in sibling groups of 5.</summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class ClipScoringBench
{
    private Tensor _img = null!, _sent = null!, _idx = null!, _parent = null!, _scores = null!;

    [GlobalSetup]
    public void Setup()
    {
        TorchRuntime.EnsureInitialised();
        var g = new Generator(3);
        _img = randn(new long[] { 64, 768 }, generator: g);
        _sent = randn(new long[] { 4096, 768 }, generator: g);
        _idx = randint(0, 64, new long[] { 4096 }, generator: g, dtype: ScalarType.Int64);
        _parent = arange(4096, dtype: ScalarType.Int64).div(5, rounding_mode: RoundingMode.floor);
        _scores = ClipScoring.PairScoresReference(_img, _sent, _idx, 100, false);
        ClipScoring.PairScores(_img, _sent, _idx, 100, false, KernelPath.Ilgpu).Dispose(); // compile once
    }

    [GlobalCleanup]
    public void Cleanup() { _img.Dispose(); _sent.Dispose(); _idx.Dispose(); _parent.Dispose(); _scores.Dispose(); }

    [Benchmark(Baseline = true), BenchmarkCategory("pair")]
    public float PairReference() { using var s = NewDisposeScope(); return ClipScoring.PairScoresReference(_img, _sent, _idx, 100, true).sum().item<float>(); }

    [Benchmark, BenchmarkCategory("pair")]
    public float PairFused() { using var s = NewDisposeScope(); return ClipScoring.PairScoresFused(_img, _sent, _idx, 100, true).sum().item<float>(); }

    [Benchmark, BenchmarkCategory("pair")]
    public float PairIlgpuCpuAccelerator() { using var s = NewDisposeScope(); return ClipScoring.PairScoresIlgpu(_img, _sent, _idx, 100, true).sum().item<float>(); }

    [Benchmark(Baseline = true), BenchmarkCategory("ranks")]
    public float RanksReference() { using var s = NewDisposeScope(); return ClipScoring.SiblingRanksReference(_scores, _parent).sum().item<float>(); }

    [Benchmark, BenchmarkCategory("ranks")]
    public float RanksFused() { using var s = NewDisposeScope(); return ClipScoring.SiblingRanksFused(_scores, _parent).sum().item<float>(); }
}
