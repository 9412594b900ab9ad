// ILGPU DPO log-ratio kernels: one group per (n, t) row of logits [N*T, V].
//
// Forward (RowsKernel): G threads (IlgpuGroup.GroupSize: 128 on CUDA, 16 on the CPU accelerator) stride over
// the row, thread j reading elements j, j+G, j+2G, ... so that a warp's loads are consecutive (coalesced).
// Each thread keeps an online logsumexp state (running max m, sum of exp(x - m)) in registers; bf16 logits
// are widened in the kernel and accumulated in float32. The states merge with warp xor-shuffles, then the
// per-warp partials go through shared memory (2 x 32 floats) and one more butterfly. Thread 0 writes
// lse = m + log(s) and lp = x[label] - lse. Masked rows read nothing. Bytes per counted row: V * sizeof(logit)
// + 8 (label) + 4 (mask) + 8 (lp, lse written); achieved GB/s = rows * V * sizeof(logit) / time.
//
// Backward (BackwardKernel): one group per row recomputes softmax from the logits and the saved lse and
// writes dlogits = g[n] * valid * (onehot(label) - exp(x - lse)) in the logits' dtype; same strided,
// coalesced layout, no shared memory. A masked row writes zeros without reading. Bytes per counted row:
// 2 * V * sizeof(logit) (read logits, write dlogits); GB/s = 2 * rows * V * sizeof(logit) / time.
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using static TorchSharp.torch;

namespace Csr.Kernels;

public static partial class DpoLogRatio
{
    /// <summary>
    /// ILGPU path: the forward (online per-row logsumexp) and the backward (softmax recomputed from the saved
    /// logsumexp) run as group-per-row ILGPU kernels on <see cref="IlgpuRuntime.Accelerator"/>; bf16 logits
    /// are read as bf16 and accumulated in float32. Differentiable w.r.t. logits.
    /// </summary>
    public static Tensor SequenceLogProbsIlgpu(Tensor logits, Tensor labels, Tensor mask)
    {
        CheckShapes(logits, labels, mask);
        return SequenceLogProbsFunction.apply(logits, labels, mask, (int)KernelPath.Ilgpu);
    }

    /// <summary>One group per (n, t) row: lp = x[label] - lse, online over the vocabulary, group-reduced.</summary>
    internal static void RowsKernel<TX>(TX x, ArrayView<long> labels, ArrayView<float> valid,
        ArrayView<float> lp, ArrayView<float> lse, int v) where TX : struct, ILogitsView
    {
        int r = Grid.IdxX;
        if (valid[r] == 0f)
        {
            if (Group.IsFirstThread) { lp[r] = 0f; lse[r] = 0f; }
            return;
        }
        long row = (long)r * v;
        float m = float.NegativeInfinity, s = 0f;
        for (int i = Group.IdxX; i < v; i += Group.DimX)
            IlgpuGroup.LsePush(ref m, ref s, x.Load(row + i));
        IlgpuGroup.GroupLse(ref m, ref s);
        if (Group.IsFirstThread)
        {
            float l = m + XMath.Log(s);
            lse[r] = l;
            lp[r] = x.Load(row + labels[r]) - l;
        }
    }

    /// <summary>One group per row: dlogits = g[n] * valid * (onehot(label) - exp(x - lse)).</summary>
    internal static void BackwardKernel<TX, TG>(TX x, ArrayView<long> labels, ArrayView<float> valid, ArrayView<float> lse,
        ArrayView<float> gout, TG grad, int t, int v) where TX : struct, ILogitsView where TG : struct, IGradView
    {
        int r = Grid.IdxX;
        long row = (long)r * v;
        float scale = gout[r / t] * valid[r];
        if (scale == 0f)
        {
            for (int i = Group.IdxX; i < v; i += Group.DimX) grad.Store(row + i, 0f);
            return;
        }
        float l = lse[r];
        long label = labels[r];
        for (int i = Group.IdxX; i < v; i += Group.DimX)
        {
            float gi = -scale * XMath.Exp(x.Load(row + i) - l);
            if (i == label) gi += scale;
            grad.Store(row + i, gi);
        }
    }

    internal static unsafe (Tensor RowLp, Tensor RowLse) IlgpuRows(Tensor x, Tensor labels, Tensor valid)
    {
        long n = x.shape[0], t = x.shape[1];
        int v = (int)x.shape[2];
        long rows = n * t;
        CheckLabels(TensorMemory.Ptr<long>(labels, "labels"), TensorMemory.Ptr<float>(valid, "mask"), rows, v, t);
        var acc = IlgpuRuntime.Accelerator;
        using var dl = IlgpuRuntime.Upload(TensorMemory.Ptr<long>(labels, "labels"), rows);
        using var dv = IlgpuRuntime.Upload(TensorMemory.Ptr<float>(valid, "mask"), rows);
        using var dlp = acc.Allocate1D<float>(Math.Max(1, rows));
        using var dlse = acc.Allocate1D<float>(Math.Max(1, rows));
        if (rows > 0)
        {
            var config = new KernelConfig((int)rows, IlgpuGroup.GroupSize(acc));
            if (x.dtype == ScalarType.BFloat16)
            {
                var kernel = IlgpuRuntime.Kernel("dpo.rows.bf16", a =>
                    a.LoadStreamKernel<Bf16Logits, ArrayView<long>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(RowsKernel));
                using var dx = IlgpuRuntime.Upload(TensorMemory.Ptr<ushort>(x, "logits"), x.numel());
                kernel(config, new Bf16Logits(dx.View), dl.View, dv.View, dlp.View, dlse.View, v);
                acc.Synchronize();
            }
            else
            {
                var kernel = IlgpuRuntime.Kernel("dpo.rows.f32", a =>
                    a.LoadStreamKernel<F32Logits, ArrayView<long>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(RowsKernel));
                using var dx = IlgpuRuntime.Upload(TensorMemory.Ptr<float>(x, "logits"), x.numel());
                kernel(config, new F32Logits(dx.View), dl.View, dv.View, dlp.View, dlse.View, v);
                acc.Synchronize();
            }
        }
        var rowLp = zeros(rows, dtype: ScalarType.Float32);
        var rowLse = zeros(rows, dtype: ScalarType.Float32);
        IlgpuRuntime.Download(dlp, TensorMemory.Ptr<float>(rowLp, "rowLp"), rows);
        IlgpuRuntime.Download(dlse, TensorMemory.Ptr<float>(rowLse, "rowLse"), rows);
        return (rowLp, rowLse);
    }

    /// <summary>The ILGPU backward (see <see cref="BackwardKernel{TX, TG}"/>): dlogits <c>[N, T, V]</c> in the logits' dtype.</summary>
    internal static unsafe Tensor IlgpuBackward(Tensor x, Tensor labels, Tensor valid, Tensor rowLse, Tensor g)
    {
        long n = x.shape[0], t = x.shape[1];
        int v = (int)x.shape[2];
        long rows = n * t;
        var grad = empty(x.shape, dtype: x.dtype);
        if (rows == 0 || v == 0) return grad;
        var acc = IlgpuRuntime.Accelerator;
        using var dl = IlgpuRuntime.Upload(TensorMemory.Ptr<long>(labels, "labels"), rows);
        using var dv = IlgpuRuntime.Upload(TensorMemory.Ptr<float>(valid, "mask"), rows);
        using var dlse = IlgpuRuntime.Upload(TensorMemory.Ptr<float>(rowLse, "rowLse"), rows);
        using var dg = IlgpuRuntime.Upload(TensorMemory.Ptr<float>(g, "grad_output"), n);
        var config = new KernelConfig((int)rows, IlgpuGroup.GroupSize(acc));
        if (x.dtype == ScalarType.BFloat16)
        {
            var kernel = IlgpuRuntime.Kernel("dpo.backward.bf16", a =>
                a.LoadStreamKernel<Bf16Logits, ArrayView<long>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Bf16Grad, int, int>(BackwardKernel));
            using var dx = IlgpuRuntime.Upload(TensorMemory.Ptr<ushort>(x, "logits"), x.numel());
            using var dout = acc.Allocate1D<ushort>(x.numel());
            kernel(config, new Bf16Logits(dx.View), dl.View, dv.View, dlse.View, dg.View, new Bf16Grad(dout.View), (int)t, v);
            acc.Synchronize();
            IlgpuRuntime.Download(dout, TensorMemory.Ptr<ushort>(grad, "grad"), x.numel());
        }
        else
        {
            var kernel = IlgpuRuntime.Kernel("dpo.backward.f32", a =>
                a.LoadStreamKernel<F32Logits, ArrayView<long>, ArrayView<float>, ArrayView<float>, ArrayView<float>, F32Grad, int, int>(BackwardKernel));
            using var dx = IlgpuRuntime.Upload(TensorMemory.Ptr<float>(x, "logits"), x.numel());
            using var dout = acc.Allocate1D<float>(x.numel());
            kernel(config, new F32Logits(dx.View), dl.View, dv.View, dlse.View, dg.View, new F32Grad(dout.View), (int)t, v);
            acc.Synchronize();
            IlgpuRuntime.Download(dout, TensorMemory.Ptr<float>(grad, "grad"), x.numel());
        }
        return grad;
    }
}
