using Csr.Native.Cuda;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using static TorchSharp.torch;

namespace Csr.Kernels;

public sealed unsafe partial class BeamStepRows
{
    /// <summary>Largest K the ILGPU and CUDA row kernels keep (per-thread local arrays).</summary>
    public const int MaxGpuK = 64;

    /// <summary>
    /// ILGPU row kernel, one thread per row: online max / sum-exp and an insertion-sorted local top-K
    /// (value desc, index asc). Writes max, log(sum exp(x - max)), and the K candidates.
    /// </summary>
    internal static void RowsKernel(Index1D r, ArrayView<float> x, int v, int k,
        ArrayView<float> max, ArrayView<float> logSum, ArrayView<float> topV, ArrayView<int> topI)
    {
        var lv = LocalMemory.Allocate<float>(MaxGpuK);
        var li = LocalMemory.Allocate<int>(MaxGpuK);
        long row = (long)(int)r * v;
        int count = 0;
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
            if (count < k || xi > lv[k - 1])
            {
                int p = count < k ? count : k - 1;
                while (p > 0 && lv[p - 1] < xi) { lv[p] = lv[p - 1]; li[p] = li[p - 1]; p--; }
                lv[p] = xi;
                li[p] = i;
                if (count < k) count++;
            }
        }
        max[r] = m;
        logSum[r] = XMath.Log(s);
        for (int j = 0; j < k; j++)
        {
            topV[(long)(int)r * k + j] = lv[j];
            topI[(long)(int)r * k + j] = li[j];
        }
    }

    /// <summary>ILGPU row kernel on <see cref="IlgpuRuntime.Accelerator"/> (K at most <see cref="MaxGpuK"/>; the caller checks).</summary>
    internal static BeamStepRows FromIlgpu(Tensor logits, int groups, int candidatesPerBeam, int k)
    {
        var x = logits.detach().contiguous();
        int rows = (int)x.shape[0], v = (int)x.shape[1];
        using var xf = x.dtype == ScalarType.Float32 ? x.alias() : x.to(ScalarType.Float32).contiguous();
        var kernel = IlgpuRuntime.Kernel("beam.rows", acc =>
            acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, int, int, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>>(RowsKernel));
        var acc = IlgpuRuntime.Accelerator;
        using var dx = IlgpuRuntime.Upload(TensorMemory.Ptr<float>(xf, "logits"), xf.numel());
        using var dmax = acc.Allocate1D<float>(rows);
        using var dls = acc.Allocate1D<float>(rows);
        using var dtv = acc.Allocate1D<float>((long)rows * k);
        using var dti = acc.Allocate1D<int>((long)rows * k);
        kernel(rows, dx.View, v, k, dmax.View, dls.View, dtv.View, dti.View);
        acc.Synchronize();
        var max = dmax.GetAsArray1D();
        var logSum = dls.GetAsArray1D();
        var topV = dtv.GetAsArray1D();
        var topI = dti.GetAsArray1D();
        return new BeamStepRows(x, groups, candidatesPerBeam, k, max, Array.ConvertAll(logSum, f => (double)f), topV, topI, KernelPath.Ilgpu);
    }

    /// <summary>The CUDA C row kernel for the logits' dtype on their device, or an error naming the op when it is not loaded.</summary>
    internal static (CudaKernelRuntime Runtime, IntPtr Function) ResolveCuda(Tensor logits) =>
        CudaPath.Require(BeamStep.OpName, logits, "beam_step", logits.dtype == ScalarType.BFloat16 ? "beam_rows_bf16" : "beam_rows_f32");

    /// <summary>
    /// CUDA C row kernel (kernels/cuda/beam_step.cu) on CUDA logits in place: the per-row max, log-sum-exp and
    /// top-K go to TorchSharp tensors on the logits' device, then only those (<c>[G*B]</c> and <c>[G*B, K]</c>) are
    /// read to the host for the selection; the logits stay on the device. Launched in the device's primary context
    /// with a synchronise before and after (see <see cref="CudaKernelRuntime.Launch"/>). Unverified on hardware.
    /// </summary>
    internal static BeamStepRows FromCuda(Tensor logits, int groups, int candidatesPerBeam, int k, (CudaKernelRuntime Runtime, IntPtr Function) kernel)
    {
        var (rt, fn) = kernel;
        var x = logits.detach().contiguous();
        int rows = (int)x.shape[0], v = (int)x.shape[1];
        using var dmax = empty(rows, dtype: ScalarType.Float32, device: x.device);
        using var dls = empty(rows, dtype: ScalarType.Float32, device: x.device);
        using var dtv = empty((long)rows * k, dtype: ScalarType.Float32, device: x.device);
        using var dti = empty((long)rows * k, dtype: ScalarType.Int32, device: x.device);
        if (rows > 0)
            rt.Launch(fn, (rows, 1, 1), (256, 1, 1), 0, TensorMemory.DataPointer(x, "logits"), rows, v, k,
                TensorMemory.DataPointer(dmax, "max"), TensorMemory.DataPointer(dls, "logSum"),
                TensorMemory.DataPointer(dtv, "topV"), TensorMemory.DataPointer(dti, "topI"));
        var max = ToHost<float>(dmax);
        var logSum = ToHost<float>(dls);
        var topV = ToHost<float>(dtv);
        var topI = ToHost<int>(dti);
        return new BeamStepRows(x, groups, candidatesPerBeam, k, max, Array.ConvertAll(logSum, f => (double)f), topV, topI, KernelPath.Cuda);
    }

    private static T[] ToHost<T>(Tensor t) where T : unmanaged
    {
        using var h = t.cpu();
        return h.data<T>().ToArray();
    }
}
