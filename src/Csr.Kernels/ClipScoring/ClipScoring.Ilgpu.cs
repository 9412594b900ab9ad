using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using static TorchSharp.torch;

namespace Csr.Kernels;

public static partial class ClipScoring
{
    /// <summary>
    /// One group per sentence: the group's threads stride over the D embedding dims (coalesced), each summing
    /// its share of dot(img, sent), |img|^2 and |sent|^2 in float32; the three partials are group-reduced with
    /// warp shuffles and shared memory (<see cref="IlgpuGroup.GroupSum"/>) and thread 0 writes the score.
    /// Bytes per sentence: 2 * D * 4 read (its image row is shared with the image's other sentences).
    /// </summary>
    internal static void PairKernel(ArrayView<float> img, ArrayView<float> sent, ArrayView<long> idx, ArrayView<float> outp,
        int d, float scale, int clamp)
    {
        int s = Grid.IdxX;
        long ib = idx[s] * d, sb = (long)s * d;
        float dot = 0f, ii = 0f, ss = 0f;
        for (int k = Group.IdxX; k < d; k += Group.DimX)
        {
            float a = img[ib + k], b = sent[sb + k];
            dot += a * b; ii += a * a; ss += b * b;
        }
        dot = IlgpuGroup.GroupSum(dot);
        ii = IlgpuGroup.GroupSum(ii);
        ss = IlgpuGroup.GroupSum(ss);
        if (Group.IsFirstThread)
        {
            float v = scale * (dot / XMath.Max(XMath.Sqrt(ii), NormEps) / XMath.Max(XMath.Sqrt(ss), NormEps));
            outp[s] = clamp != 0 ? XMath.Max(v, 0f) : v;
        }
    }

    /// <summary>ILGPU pair scores on ILGPU's accelerator (a CUDA device when ILGPU finds one, else its CPU accelerator).</summary>
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
            acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<long>, ArrayView<float>, int, float, int>(PairKernel));
        using var di = IlgpuRuntime.Upload(TensorMemory.Ptr<float>(img, "imageEmb"), img.numel());
        using var ds = IlgpuRuntime.Upload(TensorMemory.Ptr<float>(sent, "sentenceEmb"), sent.numel());
        using var dx = IlgpuRuntime.Upload(xp, ns);
        using var dout = IlgpuRuntime.Accelerator.Allocate1D<float>(ns);
        kernel(new KernelConfig((int)ns, IlgpuGroup.GroupSize(IlgpuRuntime.Accelerator)), di.View, ds.View, dx.View, dout.View, (int)d, (float)scale, clampAtZero ? 1 : 0);
        IlgpuRuntime.Accelerator.Synchronize();
        IlgpuRuntime.Download(dout, TensorMemory.Ptr<float>(outp, "out"), ns);
        return outp;
    }
}
