using Csr.Kernels;
using Csr.Native;
using Csr.Native.Cuda;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Tests.Kernels;

public class GpuFallbackTests
{
    public GpuFallbackTests() => TorchRuntime.EnsureInitialised();

    [Fact]
    public void Cuda_path_on_cpu_tensors_runs_the_fused_path_without_upload_and_records_the_fallback()
    {
        using var scope = NewDisposeScope();
        var g = new Generator(5);
        var logits = randn(new long[] { 2, 3, 40 }, generator: g);
        var labels = randint(0, 40, new long[] { 2, 3 }, generator: g, dtype: ScalarType.Int64);
        var mask = ones(2, 3);
        var xf = logits.clone().requires_grad_(true);
        var fused = DpoLogRatio.SequenceLogProbs(xf, labels, mask, KernelPath.Fused);
        (fused * arange(1, 3)).sum().backward();
        KernelStats.Reset();
        var xc = logits.clone().requires_grad_(true);
        Tensor cuda = null!;
        for (int i = 0; i < 3; i++) cuda = DpoLogRatio.SequenceLogProbs(xc, labels, mask, KernelPath.Cuda);
        (cuda * arange(1, 3)).sum().backward();
        KernelCheck.Require(KernelCheck.Compare(fused, cuda, 0, 0, "cuda path on CPU tensors"));
        KernelCheck.Require(KernelCheck.Compare(xf.grad!, xc.grad!, 0, 0, "cuda path gradient on CPU tensors"));
        Assert.Equal(DeviceType.CPU, cuda.device_type);
        var report = KernelStats.Snapshot();
        Assert.Equal(3, report.Calls(DpoLogRatio.OpName, "fused"));
        Assert.Equal(0, report.Calls(DpoLogRatio.OpName, "cuda"));
        Assert.Equal(1, report.Calls(DpoLogRatio.OpName + ".backward", "fused"));
        Assert.Equal("cuda->fused: CPU tensors", report.Fallbacks[DpoLogRatio.OpName]);
        Assert.Contains("\"fallback\": \"cuda->fused: CPU tensors\"", report.ToJson());
        Assert.Single(KernelLog.Messages, m => m == DpoLogRatio.OpName + ": cuda->fused: CPU tensors");
    }

    [Fact]
    public void Cuda_path_from_hidden_on_cpu_tensors_runs_the_fused_rows_and_records_the_fallback()
    {
        using var scope = NewDisposeScope();
        var g = new Generator(6);
        var hidden = randn(new long[] { 2, 4, 8 }, generator: g);
        var weight = randn(new long[] { 30, 8 }, generator: g);
        var labels = randint(0, 30, new long[] { 2, 4 }, generator: g, dtype: ScalarType.Int64);
        var mask = ones(2, 4);
        var hf = hidden.clone().requires_grad_(true);
        var fused = DpoLogRatio.SequenceLogProbsFromHidden(hf, weight, labels, mask, KernelPath.Fused);
        fused.sum().backward();
        KernelStats.Reset();
        var hc = hidden.clone().requires_grad_(true);
        var cuda = DpoLogRatio.SequenceLogProbsFromHidden(hc, weight, labels, mask, KernelPath.Cuda);
        cuda.sum().backward();
        KernelCheck.Require(KernelCheck.Compare(fused, cuda, 0, 0, "from hidden, cuda path on CPU tensors"));
        KernelCheck.Require(KernelCheck.Compare(hf.grad!, hc.grad!, 0, 0, "from hidden, gradient"));
        var report = KernelStats.Snapshot();
        Assert.Equal(1, report.Calls(DpoLogRatio.FromHiddenOpName, "fused"));
        Assert.Equal(0, report.Calls(DpoLogRatio.FromHiddenOpName, "cuda"));
        Assert.Equal(1, report.Calls(DpoLogRatio.FromHiddenOpName + ".backward", "fused"));
        Assert.Equal("cuda->fused: CPU tensors", report.Fallbacks[DpoLogRatio.FromHiddenOpName]);
    }

    [Fact]
    public void Cuda_path_beam_step_on_cpu_logits_makes_the_fused_pass_and_records_the_fallback()
    {
        using var scope = NewDisposeScope();
        var g = new Generator(7);
        var logits = randn(new long[] { 6, 50 }, generator: g);
        var scores = -rand(new long[] { 6 }, generator: g);
        var tokens = randint(0, 10, new long[] { 6 }, generator: g, dtype: ScalarType.Int64);
        using var fused = BeamStep.Step(logits, scores, tokens, groups: 3, diversityPenalty: 2.0, KernelPath.Fused);
        KernelStats.Reset();
        using var cuda = BeamStep.Step(logits, scores, tokens, groups: 3, diversityPenalty: 2.0, KernelPath.Cuda);
        using var prepared = BeamStep.Prepare(logits, groups: 3, KernelPath.Cuda);
        Assert.Equal(KernelPath.Fused, prepared.Path);
        KernelCheck.Require(KernelCheck.Equal(fused.Tokens, cuda.Tokens, "beam tokens"));
        KernelCheck.Require(KernelCheck.Equal(fused.Parents, cuda.Parents, "beam parents"));
        KernelCheck.Require(KernelCheck.Compare(fused.Scores, cuda.Scores, 0, 0, "beam scores"));
        var report = KernelStats.Snapshot();
        Assert.Equal(2, report.Calls(BeamStep.OpName, "fused"));
        Assert.Equal(0, report.Calls(BeamStep.OpName, "cuda"));
        Assert.Equal("cuda->fused: CPU tensors", report.Fallbacks[BeamStep.OpName]);
    }

    [Fact]
    public void Cuda_path_pair_scores_on_cpu_tensors_run_the_fused_path_and_record_the_fallback()
    {
        using var scope = NewDisposeScope();
        var g = new Generator(8);
        var img = randn(new long[] { 3, 16 }, generator: g);
        var sent = randn(new long[] { 7, 16 }, generator: g);
        var idx = randint(0, 3, new long[] { 7 }, generator: g, dtype: ScalarType.Int64);
        var fused = ClipScoring.PairScores(img, sent, idx, 100, clampAtZero: true, KernelPath.Fused);
        KernelStats.Reset();
        var cuda = ClipScoring.PairScores(img, sent, idx, 100, clampAtZero: true, KernelPath.Cuda);
        var direct = ClipScoring.PairScoresCuda(img, sent, idx, 100, clampAtZero: true);
        KernelCheck.Require(KernelCheck.Compare(fused, cuda, 0, 0, "pair scores, cuda path on CPU tensors"));
        KernelCheck.Require(KernelCheck.Compare(fused, direct, 0, 0, "PairScoresCuda on CPU tensors"));
        Assert.Equal(DeviceType.CPU, cuda.device_type);
        var report = KernelStats.Snapshot();
        Assert.Equal(1, report.Calls(ClipScoring.PairScoresOpName, "fused"));
        Assert.Equal(0, report.Calls(ClipScoring.PairScoresOpName, "cuda"));
        Assert.Equal(0, report.Calls(ClipScoring.PairScoresOpName, "ilgpu"));
        Assert.Equal("cuda->fused: CPU tensors", report.Fallbacks[ClipScoring.PairScoresOpName]);
    }

    [NoCudaRuntimeFact]
    public void Pair_scores_kernel_lookup_without_a_driver_fails_naming_the_op()
    {
        using var t = zeros(2, 3);
        var ex = Assert.Throws<InvalidOperationException>(() => CudaPath.Require(ClipScoring.PairScoresOpName, t, ClipScoring.CudaModule, "clip_pair_f32"));
        Assert.StartsWith("ClipScoring.PairScores: the tensors are on cpu", ex.Message);
        Assert.Contains("clip_scoring.clip_pair_f32 is not available", ex.Message);
    }

    [NoCudaRuntimeFact]
    public void Cuda_kernel_lookup_without_a_driver_fails_naming_the_op_and_the_device()
    {
        using var t = zeros(2, 3);
        var ex = Assert.Throws<InvalidOperationException>(() => CudaPath.Require("DpoLogRatio.SequenceLogProbs", t, "dpo_logratio", "dpo_rows_f32"));
        Assert.StartsWith("DpoLogRatio.SequenceLogProbs: the tensors are on cpu", ex.Message);
        Assert.Contains("dpo_logratio.dpo_rows_f32 is not available", ex.Message);
    }

    [Fact]
    public unsafe void Data_pointer_is_libtorchs_pointer_to_the_first_element()
    {
        using var t = arange(10, dtype: ScalarType.Float32);
        using var view = t.narrow(0, 3, 4);
        fixed (byte* p = t.bytes)
        {
            Assert.Equal((IntPtr)p, TensorMemory.DataPointer(t, "t"));
            Assert.Equal((IntPtr)(p + 3 * sizeof(float)), TensorMemory.DataPointer(view, "view"));
        }
        using var strided = t.view(2, 5).t();
        Assert.Throws<ArgumentException>(() => TensorMemory.DataPointer(strided, "strided"));
    }

    [Fact]
    public unsafe void Kernel_argument_block_holds_pointers_to_each_value()
    {
        using var args = new CudaKernelArgs(new IntPtr(0x1234), 7, -3L, 2.5f);
        var p = (IntPtr*)args.Pointer;
        Assert.Equal(new IntPtr(0x1234), *(IntPtr*)p[0]);
        Assert.Equal(7, *(int*)p[1]);
        Assert.Equal(-3L, *(long*)p[2]);
        Assert.Equal(2.5f, *(float*)p[3]);
        Assert.Throws<ArgumentException>(() => new CudaKernelArgs("not a kernel argument"));
    }

    [Fact]
    public void Missing_ptx_is_not_found()
    {
        Assert.Null(CudaKernelRuntime.FindPtx("no_such_module_" + Guid.NewGuid().ToString("N")));
    }
}

/// <summary>A fact that runs only where no CUDA runtime comes up (the no-driver error path).</summary>
public sealed class NoCudaRuntimeFactAttribute : FactAttribute
{
    public NoCudaRuntimeFactAttribute()
    {
        if (CudaKernelRuntime.TryGet(out _) is not null) Skip = "a CUDA device is present: the no-driver error path cannot be reached";
    }
}
