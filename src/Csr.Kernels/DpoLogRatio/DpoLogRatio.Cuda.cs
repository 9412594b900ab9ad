using Csr.Native.Cuda;
using static TorchSharp.torch;

namespace Csr.Kernels;

public static partial class DpoLogRatio
{
    /// <summary>
    /// CUDA C path (kernels/cuda/dpo_logratio.cu, <c>dpo_rows_{f32,bf16}</c>): the logits are copied to the
    /// device (TorchSharp here is CPU-only), one block per row computes lp and lse, the backward is the fused
    /// CPU one. Without a GPU or PTX it logs one line and runs the fused CPU path. Not yet run on a GPU.
    /// </summary>
    public static Tensor SequenceLogProbsCuda(Tensor logits, Tensor labels, Tensor mask)
    {
        CheckShapes(logits, labels, mask);
        return SequenceLogProbsFunction.apply(logits, labels, mask, (int)KernelPath.Cuda);
    }

    internal static unsafe (Tensor RowLp, Tensor RowLse) CudaRows(Tensor x, Tensor labels, Tensor valid)
    {
        bool bf16 = x.dtype == ScalarType.BFloat16;
        var k = CudaPath.Resolve("DpoLogRatio", "dpo_logratio", bf16 ? "dpo_rows_bf16" : "dpo_rows_f32");
        if (k is null) return CpuRows(x, labels, valid);
        var (rt, fn) = k.Value;
        long n = x.shape[0], t = x.shape[1];
        int v = (int)x.shape[2];
        long rows = n * t;
        CheckLabels(TensorMemory.Ptr<long>(labels, "labels"), TensorMemory.Ptr<float>(valid, "mask"), rows, v, t);
        var rowLp = zeros(rows, dtype: ScalarType.Float32);
        var rowLse = zeros(rows, dtype: ScalarType.Float32);
        if (rows == 0) return (rowLp, rowLse);
        rt.Bind();
        using var dx = CudaDeviceMemory.FromHost(TensorMemory.Ptr<byte>(x, "logits"), x.numel() * x.element_size());
        using var dl = CudaDeviceMemory.FromHost(TensorMemory.Ptr<long>(labels, "labels"), rows * 8);
        using var dv = CudaDeviceMemory.FromHost(TensorMemory.Ptr<float>(valid, "mask"), rows * 4);
        using var dlp = CudaDeviceMemory.Allocate(rows * 4);
        using var dlse = CudaDeviceMemory.Allocate(rows * 4);
        rt.Launch(fn, ((int)rows, 1, 1), (256, 1, 1), 0, dx, dl, dv, dlp, dlse, (int)rows, v);
        dlp.CopyToHost(TensorMemory.Ptr<float>(rowLp, "rowLp"), rows * 4);
        dlse.CopyToHost(TensorMemory.Ptr<float>(rowLse, "rowLse"), rows * 4);
        return (rowLp, rowLse);
    }
}
