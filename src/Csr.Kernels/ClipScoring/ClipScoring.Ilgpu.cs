using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using static TorchSharp.torch;

namespace Csr.Kernels;

public static partial class ClipScoring
{
    /// <summary>One thread per sentence: dot with its image and both squared norms in one loop.</summary>
    internal static void PairKernel(Index1D s, ArrayView<float> img, ArrayView<float> sent, ArrayView<long> idx, ArrayView<float> outp,
        int d, float scale, int clamp)
    {
        long ib = idx[s] * d, sb = (long)(int)s * d;
        float dot = 0f, ii = 0f, ss = 0f;
        for (int k = 0; k < d; k++)
        {
            float a = img[ib + k], b = sent[sb + k];
            dot += a * b; ii += a * a; ss += b * b;
        }
        float v = scale * (dot / XMath.Max(XMath.Sqrt(ii), NormEps) / XMath.Max(XMath.Sqrt(ss), NormEps));
        outp[s] = clamp != 0 ? XMath.Max(v, 0f) : v;
    }

    /// <summary>ILGPU pair scores (CLIP scoring has no CUDA C kernel; the Cuda path means ILGPU on CUDA).</summary>
    public static unsafe Tensor PairScoresIlgpu(Tensor imageEmb, Tensor sentenceEmb, Tensor imageIndex, double scale, bool clampAtZero)
    {
        var (ni, ns, d) = CheckShapes(imageEmb, sentenceEmb, imageIndex);
        using var img = imageEmb.detach().to(ScalarType.Float32).contiguous();
        using var sent = sentenceEmb.detach().to(ScalarType.Float32).contiguous();
        using var idx = imageIndex.to(ScalarType.Int64).contiguous();
        long* xp = TensorMemory.Ptr<long>(idx, "imageIndex");
        for (long s = 0; s < ns; s++)
            if (xp[s] < 0 || xp[s] >= ni) throw new ArgumentException($"imageIndex: {xp[s]} at [{s}] is outside [0, {ni}).", nameof(imageIndex));
        var outp = empty(ns, dtype: ScalarType.Float32);
        if (ns == 0) return outp;
        var kernel = IlgpuRuntime.Kernel("clip.pair", acc =>
            acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<long>, ArrayView<float>, int, float, int>(PairKernel));
        using var di = IlgpuRuntime.Upload(TensorMemory.Ptr<float>(img, "imageEmb"), img.numel());
        using var ds = IlgpuRuntime.Upload(TensorMemory.Ptr<float>(sent, "sentenceEmb"), sent.numel());
        using var dx = IlgpuRuntime.Upload(xp, ns);
        using var dout = IlgpuRuntime.Accelerator.Allocate1D<float>(ns);
        kernel((int)ns, di.View, ds.View, dx.View, dout.View, (int)d, (float)scale, clampAtZero ? 1 : 0);
        IlgpuRuntime.Accelerator.Synchronize();
        IlgpuRuntime.Download(dout, TensorMemory.Ptr<float>(outp, "out"), ns);
        return outp;
    }
}
