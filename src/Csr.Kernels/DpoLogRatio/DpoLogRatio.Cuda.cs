using static TorchSharp.torch;

namespace Csr.Kernels;

public static partial class DpoLogRatio
{
    /// <summary>The PTX module of the CUDA C kernels (kernels/cuda/dpo_logratio.cu).</summary>
    internal const string CudaModule = "dpo_logratio";

    /// <summary>
    /// CUDA C path (kernels/cuda/dpo_logratio.cu) on the tensors' own device.
    /// <para>CUDA tensors: <c>dpo_rows_{f32,bf16}</c> reads the logits in place (libtorch's device pointer) and
    /// writes the per-row log-prob and logsumexp into <c>[N*T]</c> float32 tensors allocated by TorchSharp on the
    /// same device, one block per row; the backward's <c>dpo_backward_{f32,bf16}</c> writes the gradient into a
    /// TorchSharp tensor like the logits on that device from the saved logits, labels, mask and per-row
    /// logsumexp. Nothing of size <c>[N, T, V]</c> crosses to the host; the label range check reads one flag.
    /// The kernels run in the primary CUDA context of the tensors' device on its default stream, with a context
    /// synchronise before and after each launch (so they are ordered with libtorch's work on any stream; see
    /// <see cref="Csr.Native.Cuda.CudaKernelRuntime.Launch"/>). Without a driver, device or PTX the call throws,
    /// naming the op. <b>Unverified on hardware:</b> the device-tensor branch is compiled and its PTX assembled
    /// for sm_90, but it has not run on a GPU with a CUDA build of TorchSharp.</para>
    /// <para>CPU tensors: the fused CPU path (<see cref="SequenceLogProbsFused"/>), nothing uploaded, noted once as
    /// the fallback <c>cuda->fused: CPU tensors</c> in <see cref="KernelStats"/>.</para>
    /// </summary>
    public static Tensor SequenceLogProbsCuda(Tensor logits, Tensor labels, Tensor mask)
    {
        CheckShapes(logits, labels, mask);
        TensorDevices.RequireSame(OpName, (logits, nameof(logits)), (labels, nameof(labels)), (mask, nameof(mask)));
        var engine = Effective(OpName, KernelPath.Cuda, logits);
        return SequenceLogProbsFunction.apply(logits, labels, mask, (int)engine);
    }

    /// <summary>Forward rows on CUDA tensors: ([N*T] lp, [N*T] lse) on x's device.</summary>
    internal static (Tensor RowLp, Tensor RowLse) CudaRows(Tensor x, Tensor labels, Tensor valid, string op = OpName)
    {
        bool bf16 = x.dtype == ScalarType.BFloat16;
        var (rt, fn) = CudaPath.Require(op, x, CudaModule, bf16 ? "dpo_rows_bf16" : "dpo_rows_f32");
        long n = x.shape[0], t = x.shape[1];
        int v = (int)x.shape[2];
        long rows = n * t;
        CheckLabels(labels, valid, v, t);
        var rowLp = zeros(rows, dtype: ScalarType.Float32, device: x.device);
        var rowLse = zeros(rows, dtype: ScalarType.Float32, device: x.device);
        if (rows == 0) return (rowLp, rowLse);
        rt.Launch(fn, ((int)rows, 1, 1), (256, 1, 1), 0,
            TensorMemory.DataPointer(x, "logits"), TensorMemory.DataPointer(labels, "labels"), TensorMemory.DataPointer(valid, "mask"),
            TensorMemory.DataPointer(rowLp, "rowLp"), TensorMemory.DataPointer(rowLse, "rowLse"), (int)rows, v);
        return (rowLp, rowLse);
    }

    /// <summary>Backward on CUDA tensors: dlogits like x on x's device (every element written by the kernel).</summary>
    internal static Tensor CudaBackward(Tensor x, Tensor labels, Tensor valid, Tensor rowLse, Tensor g, string op = OpName)
    {
        bool bf16 = x.dtype == ScalarType.BFloat16;
        var (rt, fn) = CudaPath.Require(op + ".backward", x, CudaModule, bf16 ? "dpo_backward_bf16" : "dpo_backward_f32");
        long n = x.shape[0], t = x.shape[1];
        int v = (int)x.shape[2];
        long rows = n * t;
        var grad = empty(x.shape, dtype: x.dtype, device: x.device);
        if (rows == 0) return grad;
        rt.Launch(fn, ((int)rows, 1, 1), (256, 1, 1), 0,
            TensorMemory.DataPointer(x, "logits"), TensorMemory.DataPointer(labels, "labels"), TensorMemory.DataPointer(valid, "mask"),
            TensorMemory.DataPointer(rowLse, "rowLse"), TensorMemory.DataPointer(g, "grad_output"), TensorMemory.DataPointer(grad, "grad"),
            (int)rows, (int)t, v);
        return grad;
    }

    /// <summary>The label range check on any device: one flag read back, the offending position only on failure.</summary>
    internal static void CheckLabels(Tensor labels, Tensor valid, int v, long t)
    {
        using var scope = NewDisposeScope();
        var bad = labels.ge(v).logical_and(valid.ne(0)).reshape(-1);
        if (!bad.any().item<bool>()) return;
        long r = bad.nonzero().reshape(-1)[0].item<long>();
        long token = labels.reshape(-1)[r].item<long>();
        throw new ArgumentException($"labels: token id {token} at [{r / t}, {r % t}] is outside the vocabulary of {v}.", "labels");
    }
}
