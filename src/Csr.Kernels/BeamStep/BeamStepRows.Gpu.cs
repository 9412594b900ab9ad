using Csr.Native.Cuda;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using static TorchSharp.torch;

namespace Csr.Kernels;

public sealed unsafe partial class BeamStepRows
{
    /// <summary>Largest K the ILGPU and CUDA row kernels keep (per-thread local arrays, K-entry lists per warp in shared memory).</summary>
    public const int MaxGpuK = 64;

    /// <summary>
    /// ILGPU row kernel, one group per row of logits [G*B, V]. Each thread strides over the row (thread j reads
    /// j, j+G, ...: coalesced), keeps an online max / sum-exp and an insertion-sorted local top-K (value desc,
    /// index asc; its indices grow, so an equal value never displaces) in local memory. The max / sum-exp
    /// states merge with <see cref="IlgpuGroup.GroupLse"/>. The top-K merges in two stages: each warp runs K
    /// rounds of a shuffle argmax over its lanes' list heads (the winning lane advances its head) and writes its
    /// sorted K to shared memory (<see cref="IlgpuGroup.MaxWarps"/> x <see cref="MaxGpuK"/> floats + ints, 16 KiB),
    /// then warp 0 merges the per-warp lists the same way. Writes max, log(sum exp(x - max)) and the K
    /// candidates. Bytes per row: V * sizeof(logit) read, 8 + 8K written.
    /// </summary>
    internal static void RowsKernel<TX>(TX x, int v, int k,
        ArrayView<float> max, ArrayView<float> logSum, ArrayView<float> topV, ArrayView<int> topI) where TX : struct, ILogitsView
    {
        var lv = LocalMemory.Allocate<float>(MaxGpuK);
        var li = LocalMemory.Allocate<int>(MaxGpuK);
        var wv = SharedMemory.Allocate<float>(IlgpuGroup.MaxWarps * MaxGpuK);
        var wi = SharedMemory.Allocate<int>(IlgpuGroup.MaxWarps * MaxGpuK);
        int r = Grid.IdxX;
        long row = (long)r * v;
        int count = 0;
        float m = float.NegativeInfinity, s = 0f;
        for (int i = Group.IdxX; i < v; i += Group.DimX)
        {
            float xi = x.Load(row + i);
            IlgpuGroup.LsePush(ref m, ref s, xi);
            if (count < k || xi > lv[k - 1])
            {
                int p = count < k ? count : k - 1;
                while (p > 0 && lv[p - 1] < xi) { lv[p] = lv[p - 1]; li[p] = li[p - 1]; p--; }
                lv[p] = xi;
                li[p] = i;
                if (count < k) count++;
            }
        }
        IlgpuGroup.GroupLse(ref m, ref s);
        if (Group.IsFirstThread) { max[r] = m; logSum[r] = XMath.Log(s); }

        // Stage 1: each warp's K best, in order, into its shared-memory list.
        int w = Warp.WarpIdx;
        int head = 0;
        for (int j = 0; j < k; j++)
        {
            float hv = head < count ? lv[head] : float.NegativeInfinity;
            int hi = head < count ? li[head] : int.MaxValue;
            float bv = hv;
            int bi = hi;
            IlgpuGroup.WarpBest(ref bv, ref bi);
            if (Warp.IsFirstLane) { wv[w * MaxGpuK + j] = bv; wi[w * MaxGpuK + j] = bi; }
            if (bv == hv && bi == hi) head++;
        }
        Group.Barrier();

        // Stage 2: warp 0 merges the per-warp lists (lane l reads warp l's list).
        if (w == 0)
        {
            int nw = Group.DimX / Warp.WarpSize;
            int lane = Warp.LaneIdx;
            int h = 0;
            for (int j = 0; j < k; j++)
            {
                bool has = lane < nw && h < k;
                float hv = has ? wv[lane * MaxGpuK + h] : float.NegativeInfinity;
                int hi = has ? wi[lane * MaxGpuK + h] : int.MaxValue;
                float bv = hv;
                int bi = hi;
                IlgpuGroup.WarpBest(ref bv, ref bi);
                if (lane == 0) { topV[(long)r * k + j] = bv; topI[(long)r * k + j] = bi; }
                if (has && bv == hv && bi == hi) h++;
            }
        }
    }

    /// <summary>ILGPU row kernel on <see cref="IlgpuRuntime.Accelerator"/> (K at most <see cref="MaxGpuK"/>; the caller checks).</summary>
    internal static unsafe BeamStepRows FromIlgpu(Tensor logits, int groups, int candidatesPerBeam, int k)
    {
        var x = logits.detach().contiguous();
        int rows = (int)x.shape[0], v = (int)x.shape[1];
        var acc = IlgpuRuntime.Accelerator;
        using var dmax = acc.Allocate1D<float>(rows);
        using var dls = acc.Allocate1D<float>(rows);
        using var dtv = acc.Allocate1D<float>((long)rows * k);
        using var dti = acc.Allocate1D<int>((long)rows * k);
        var config = new KernelConfig(rows, IlgpuGroup.GroupSize(acc));
        if (x.dtype == ScalarType.BFloat16)
        {
            var kernel = IlgpuRuntime.Kernel("beam.rows.bf16", a =>
                a.LoadStreamKernel<Bf16Logits, int, int, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>>(RowsKernel));
            using var dx = IlgpuRuntime.Upload(TensorMemory.Ptr<ushort>(x, "logits"), x.numel());
            kernel(config, new Bf16Logits(dx.View), v, k, dmax.View, dls.View, dtv.View, dti.View);
            acc.Synchronize();
        }
        else
        {
            var kernel = IlgpuRuntime.Kernel("beam.rows.f32", a =>
                a.LoadStreamKernel<F32Logits, int, int, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>>(RowsKernel));
            using var dx = IlgpuRuntime.Upload(TensorMemory.Ptr<float>(x, "logits"), x.numel());
            kernel(config, new F32Logits(dx.View), v, k, dmax.View, dls.View, dtv.View, dti.View);
            acc.Synchronize();
        }
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
    /// CUDA C row kernel (kernels/cuda/beam_step.cu) on CUDA logits in place, with a resolved function (see
    /// <see cref="ResolveCuda"/>): grid = rows, block = 256 threads (BEAM_THREADS), static shared memory only. The
    /// per-row max, log-sum-exp and top-K go to TorchSharp tensors on the logits' device, then only those
    /// (<c>[G*B]</c> and <c>[G*B, K]</c>) are read to the host for the selection; the logits stay on the device.
    /// Launched in the device's primary context with a synchronise before and after (see
    /// <see cref="CudaKernelRuntime.Launch"/>). The PTX is compiled and assembled for sm_90 by eng/build-ptx.sh;
    /// unverified on hardware (eng/gpu/ptx_check.py is its GPU check).
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
