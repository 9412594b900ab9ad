using BenchmarkDotNet.Attributes;
using Csr.Kernels;
using Csr.Native;
using static TorchSharp.torch;

namespace Csr.Bench.Kernels;

/// <summary>One diverse beam step, V = 32000, G = 5 groups of B = 1 (CSR's 5 beams / 5 groups) and of B = 5 (G*B = 25), penalty 3.</summary>
[MemoryDiagnoser]
public class BeamStepBench
{
    [Params(1, 5)]
    public int BeamsPerGroup { get; set; }

    private const int Groups = 5;
    private Tensor _logits = null!, _scores = null!, _tokens = null!;

    [GlobalSetup]
    public void Setup()
    {
        TorchRuntime.EnsureInitialised();
        var g = new Generator(7);
        long rows = Groups * BeamsPerGroup;
        _logits = randn(new long[] { rows, 32000 }, generator: g) * 3;
        _scores = -rand(new long[] { rows }, generator: g) * 10;
        _tokens = randint(0, 50, new long[] { rows }, generator: g, dtype: ScalarType.Int64);
        using var r = BeamStep.StepReference(_logits, _scores, _tokens, Groups, 3.0);
        using var f = BeamStep.Step(_logits, _scores, _tokens, Groups, 3.0, KernelPath.Fused);
        KernelCheck.Require(KernelCheck.Equal(r.Tokens, f.Tokens, "bench sanity: tokens"));
        BeamStep.Step(_logits, _scores, _tokens, Groups, 3.0, KernelPath.Ilgpu).Dispose(); // compile once
    }

    [GlobalCleanup]
    public void Cleanup() { _logits.Dispose(); _scores.Dispose(); _tokens.Dispose(); }

    /// <summary>HF's composition with torch.topk (faster than the reference's stable sort).</summary>
    [Benchmark(Baseline = true)]
    public long ComposedTopk()
    {
        using var scope = NewDisposeScope();
        using var r = BeamStep.StepTopk(_logits, _scores, _tokens, Groups, 3.0);
        return r.Tokens.numel();
    }

    /// <summary>The tie-deterministic reference (stable sort).</summary>
    [Benchmark]
    public long ReferenceStableSort()
    {
        using var scope = NewDisposeScope();
        using var r = BeamStep.StepReference(_logits, _scores, _tokens, Groups, 3.0);
        return r.Tokens.numel();
    }

    [Benchmark]
    public long Fused()
    {
        using var scope = NewDisposeScope();
        using var r = BeamStep.Step(_logits, _scores, _tokens, Groups, 3.0, KernelPath.Fused);
        return r.Tokens.numel();
    }

    [Benchmark]
    public long IlgpuCpuAccelerator()
    {
        using var scope = NewDisposeScope();
        using var r = BeamStep.Step(_logits, _scores, _tokens, Groups, 3.0, KernelPath.Ilgpu);
        return r.Tokens.numel();
    }
}
