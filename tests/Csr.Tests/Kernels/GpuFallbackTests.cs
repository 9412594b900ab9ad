using Csr.Kernels;
using Csr.Native;
using Csr.Native.Cuda;
using static TorchSharp.torch;

namespace Csr.Tests.Kernels;

public class GpuFallbackTests
{
    public GpuFallbackTests() => TorchRuntime.EnsureInitialised();

    [Fact]
    public void Cuda_path_without_a_gpu_or_ptx_falls_back_with_one_log_line_and_reports_it()
    {
        using var scope = NewDisposeScope();
        var logits = randn(2, 3, 40);
        var labels = randint(0, 40, new long[] { 2, 3 }, dtype: ScalarType.Int64);
        var mask = ones(2, 3);
        var expected = DpoLogRatio.SequenceLogProbsReference(logits, labels, mask);
        KernelStats.Reset();
        for (int i = 0; i < 3; i++)
            KernelCheck.Require(KernelCheck.Compare(expected, DpoLogRatio.SequenceLogProbs(logits, labels, mask, KernelPath.Cuda), 1e-4, 1e-5, "CUDA path"));
        var report = KernelStats.Snapshot();
        var rt = CudaKernelRuntime.TryGet(out var reason);
        if (rt is null)
        {
            Assert.False(string.IsNullOrEmpty(reason));
            Assert.Equal(3, report.Calls(DpoLogRatio.OpName, "fused"));
            Assert.Equal(0, report.Calls(DpoLogRatio.OpName, "cuda"));
            Assert.StartsWith("cuda->fused: ", report.Fallbacks[DpoLogRatio.OpName]);
            Assert.Contains($"\"fallback\": \"cuda->fused: ", report.ToJson());
            var lines = KernelLog.Messages.Where(m => m.StartsWith(DpoLogRatio.OpName + ": cuda->fused")).ToList();
            Assert.Single(lines);
        }
        else Assert.Equal(3, report.Calls(DpoLogRatio.OpName, "cuda"));
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
