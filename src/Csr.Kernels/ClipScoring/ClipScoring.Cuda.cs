using static TorchSharp.torch;

namespace Csr.Kernels;

public static partial class ClipScoring
{
    /// <summary>The PTX module of the CUDA C kernels (kernels/cuda/clip_scoring.cu).</summary>
    internal const string CudaModule = "clip_scoring";

    /// <summary>Threads per block of <c>clip_pair_*</c> (CLIP_THREADS in clip_scoring.cu).</summary>
    internal const int CudaThreads = 128;

    /// <summary>
    /// CUDA C pair scores (kernels/cuda/clip_scoring.cu) on the tensors' own device.
    /// <para>CUDA tensors: <c>clip_pair_bf16</c> when both embeddings are bfloat16, else <c>clip_pair_f32</c> on float32
    /// copies made on the device; one block per sentence reads its row and its image's row in place (libtorch's
    /// device pointers) and writes the score into a <c>[S]</c> float32 tensor allocated by TorchSharp on that
    /// device. The image index range is checked on the device (one flag read back). Launched in the primary CUDA
    /// context of the device with a context synchronise before and after (see
    /// <see cref="Csr.Native.Cuda.CudaKernelRuntime.Launch"/>). Without a driver, device or PTX the call throws,
    /// naming the op. <b>Unverified on hardware:</b> the launcher is compiled and the PTX assembled for sm_90, but it
    /// has not run on a GPU with a CUDA build of TorchSharp.</para>
    /// <para>CPU tensors: the fused CPU path (<see cref="PairScoresFused"/>), noted once as the fallback
    /// <c>cuda->fused: CPU tensors</c> in <see cref="KernelStats"/>.</para>
    /// </summary>
    public static Tensor PairScoresCuda(Tensor imageEmb, Tensor sentenceEmb, Tensor imageIndex, double scale, bool clampAtZero)
    {
        var (ni, ns, d) = CheckShapes(imageEmb, sentenceEmb, imageIndex);
        TensorDevices.RequireSame(PairScoresOpName, (imageEmb, nameof(imageEmb)), (sentenceEmb, nameof(sentenceEmb)), (imageIndex, nameof(imageIndex)));
        if (CudaPath.FallsBackOnCpu(PairScoresOpName, sentenceEmb)) return PairScoresFused(imageEmb, sentenceEmb, imageIndex, scale, clampAtZero);
        bool bf16 = imageEmb.dtype == ScalarType.BFloat16 && sentenceEmb.dtype == ScalarType.BFloat16;
        var (rt, fn) = CudaPath.Require(PairScoresOpName, sentenceEmb, CudaModule, bf16 ? "clip_pair_bf16" : "clip_pair_f32");
        var type = bf16 ? ScalarType.BFloat16 : ScalarType.Float32;
        using var img = imageEmb.detach().to(type).contiguous();
        using var sent = sentenceEmb.detach().to(type).contiguous();
        using var idx = imageIndex.to(ScalarType.Int64).contiguous();
        CheckImageIndex(idx, ni);
        var outp = empty(ns, dtype: ScalarType.Float32, device: sentenceEmb.device);
        if (ns == 0) return outp;
        rt.Launch(fn, ((int)ns, 1, 1), (CudaThreads, 1, 1), 0,
            TensorMemory.DataPointer(img, "imageEmb"), TensorMemory.DataPointer(sent, "sentenceEmb"), TensorMemory.DataPointer(idx, "imageIndex"),
            TensorMemory.DataPointer(outp, "out"), (int)ns, (int)d, (float)scale, clampAtZero ? 1 : 0);
        return outp;
    }

    /// <summary>The image index range check on any device: one flag read back, the offending entry only on failure.</summary>
    internal static void CheckImageIndex(Tensor idx, long images)
    {
        using var scope = NewDisposeScope();
        var bad = idx.lt(0).logical_or(idx.ge(images));
        if (!bad.any().item<bool>()) return;
        long s = bad.nonzero().reshape(-1)[0].item<long>();
        throw new ArgumentException($"imageIndex: {idx[s].item<long>()} at [{s}] is outside [0, {images}).", "imageIndex");
    }
}
