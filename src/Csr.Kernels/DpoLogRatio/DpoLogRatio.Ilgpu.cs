using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using static TorchSharp.torch;

namespace Csr.Kernels;

public static partial class DpoLogRatio
{
    /// <summary>
    /// ILGPU path: the forward per-row online logsumexp runs as an ILGPU kernel (one thread per row) on
    /// <see cref="IlgpuRuntime.Accelerator"/>; bf16 logits are widened to float32 on the host first. The
    /// backward is the fused CPU one. Differentiable w.r.t. logits.
    /// </summary>
    public static Tensor SequenceLogProbsIlgpu(Tensor logits, Tensor labels, Tensor mask)
    {
        CheckShapes(logits, labels, mask);
        return SequenceLogProbsFunction.apply(logits, labels, mask, (int)KernelPath.Ilgpu);
    }

    /// <summary>One thread per (n, t) row: lp = x[label] - lse, online over the vocabulary.</summary>
    internal static void RowsKernel(Index1D r, ArrayView<float> x, ArrayView<long> labels, ArrayView<float> valid,
        ArrayView<float> lp, ArrayView<float> lse, int v)
    {
        if (valid[r] == 0f) { lp[r] = 0f; lse[r] = 0f; return; }
        long row = (long)(int)r * v;
        float m = float.NegativeInfinity, s = 0f;
        for (int i = 0; i < v; i++)
        {
            float xi = x[row + i];
            if (xi > m)
            {
                s = m == float.NegativeInfinity ? 0f : s * XMath.Exp(m - xi);
                m = xi;
            }
            s += XMath.Exp(xi - m);
        }
        float l = m + XMath.Log(s);
        lse[r] = l;
        lp[r] = x[row + labels[r]] - l;
    }

    internal static unsafe (Tensor RowLp, Tensor RowLse) IlgpuRows(Tensor x, Tensor labels, Tensor valid)
    {
        long n = x.shape[0], t = x.shape[1];
        int v = (int)x.shape[2];
        long rows = n * t;
        using var xf = x.dtype == ScalarType.Float32 ? x.alias() : x.to(ScalarType.Float32).contiguous();
        CheckLabels(TensorMemory.Ptr<long>(labels, "labels"), TensorMemory.Ptr<float>(valid, "mask"), rows, v, t);
        var kernel = IlgpuRuntime.Kernel("dpo.rows", acc =>
            acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<long>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(RowsKernel));
        using var dx = IlgpuRuntime.Upload(TensorMemory.Ptr<float>(xf, "logits"), xf.numel());
        using var dl = IlgpuRuntime.Upload(TensorMemory.Ptr<long>(labels, "labels"), rows);
        using var dv = IlgpuRuntime.Upload(TensorMemory.Ptr<float>(valid, "mask"), rows);
        using var dlp = IlgpuRuntime.Accelerator.Allocate1D<float>(Math.Max(1, rows));
        using var dlse = IlgpuRuntime.Accelerator.Allocate1D<float>(Math.Max(1, rows));
        if (rows > 0)
        {
            kernel((int)rows, dx.View, dl.View, dv.View, dlp.View, dlse.View, v);
            IlgpuRuntime.Accelerator.Synchronize();
        }
        var rowLp = zeros(rows, dtype: ScalarType.Float32);
        var rowLse = zeros(rows, dtype: ScalarType.Float32);
        IlgpuRuntime.Download(dlp, TensorMemory.Ptr<float>(rowLp, "rowLp"), rows);
        IlgpuRuntime.Download(dlse, TensorMemory.Ptr<float>(rowLse, "rowLse"), rows);
        return (rowLp, rowLse);
    }
}
