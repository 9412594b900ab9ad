using Csr.Native.Cuda;
using static TorchSharp.torch;

namespace Csr.Kernels;

public static partial class DpoLogRatio
{
    /// <summary>
    /// CUDA C path (kernels/cuda/dpo_logratio.cu): the logits are copied to the device (TorchSharp here is
    /// CPU-only), <c>dpo_rows_{f32,bf16}</c> computes lp and lse with one block per row, and the backward runs
    /// <c>dpo_backward_{f32,bf16}</c> (the gradient is copied back to a CPU tensor). Without a GPU or PTX each
    /// step logs one line and runs the fused CPU path. Compiled and assembled for sm_90; not yet run on a GPU.
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

    internal static unsafe Tensor CudaBackward(Tensor x, Tensor labels, Tensor valid, Tensor rowLse, Tensor g)
    {
        bool bf16 = x.dtype == ScalarType.BFloat16;
        var k = CudaPath.Resolve("DpoLogRatio backward", "dpo_logratio", bf16 ? "dpo_backward_bf16" : "dpo_backward_f32");
        if (k is null) return CpuBackward(x, labels, valid, rowLse, g);
        var (rt, fn) = k.Value;
        long n = x.shape[0], t = x.shape[1];
        int v = (int)x.shape[2];
        long rows = n * t;
        var grad = empty(x.shape, dtype: x.dtype);
        if (rows == 0) return grad;
        long bytes = x.numel() * x.element_size();
        rt.Bind();
        using var dx = CudaDeviceMemory.FromHost(TensorMemory.Ptr<byte>(x, "logits"), bytes);
        using var dl = CudaDeviceMemory.FromHost(TensorMemory.Ptr<long>(labels, "labels"), rows * 8);
        using var dv = CudaDeviceMemory.FromHost(TensorMemory.Ptr<float>(valid, "mask"), rows * 4);
        using var dlse = CudaDeviceMemory.FromHost(TensorMemory.Ptr<float>(rowLse, "rowLse"), rows * 4);
        using var dg = CudaDeviceMemory.FromHost(TensorMemory.Ptr<float>(g, "grad_output"), n * 4);
        using var dout = CudaDeviceMemory.Allocate(bytes);
        rt.Launch(fn, ((int)rows, 1, 1), (256, 1, 1), 0, dx, dl, dv, dlse, dg, dout, (int)rows, (int)t, v);
        dout.CopyToHost(TensorMemory.Ptr<byte>(grad, "grad"), bytes);
        return grad;
    }
}
