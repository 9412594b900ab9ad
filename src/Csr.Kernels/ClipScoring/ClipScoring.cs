using Csr.Native.Profiling;
using static TorchSharp.torch;

namespace Csr.Kernels;

/// <summary>
/// CLIP relevance of sentences to images, as CSR's scoring stage needs it.
/// <list type="bullet">
/// <item><see cref="PairScores"/>: <c>[S]</c>, <c>scale * cos(image[imageIndex[s]], sentence[s])</c> (HF
/// <c>logits_per_image</c> for the pair when scale = exp(logit_scale), 100 for CLIP ViT-L/14-336);
/// <c>clampAtZero</c> gives the paper's <c>R_I = max(100 cos, 0)</c>.</item>
/// <item><see cref="SiblingRanks"/>: within each group of sentences sharing a parent, rank by score descending:
/// <c>rank = (i + 1) / n</c> for the i-th best of n siblings (smaller is better), ties broken by original
/// index (stable), as the official <c>Rank_Node</c>'s Python <c>sorted(..., reverse=True)</c>.</item>
/// </list>
/// Embeddings: image <c>[I, D]</c>, sentence <c>[S, D]</c>, any float dtype (computed in float32); each is
/// L2-normalised as <c>x / max(||x||, 1e-12)</c> (torch's F.normalize; HF divides by the norm, which only
/// differs for an all-zero vector).
/// </summary>
public static partial class ClipScoring
{
    /// <summary>Norm floor of the normalisation.</summary>
    public const float NormEps = 1e-12f;

    /// <summary><see cref="PairScores"/>' name in <see cref="KernelStats"/> and kernels.json.</summary>
    public const string PairScoresOpName = "ClipScoring.PairScores";
    /// <summary><see cref="SiblingRanks"/>' name in <see cref="KernelStats"/> and kernels.json.</summary>
    public const string SiblingRanksOpName = "ClipScoring.SiblingRanks";

    /// <summary>
    /// Pair scores <c>[S]</c> float32 on the embeddings' device. Cuda runs the CUDA C kernel on CUDA tensors
    /// (<see cref="PairScoresCuda"/>) and the fused CPU path on CPU tensors; Ilgpu runs the ILGPU kernel.
    /// </summary>
    public static Tensor PairScores(Tensor imageEmb, Tensor sentenceEmb, Tensor imageIndex, double scale, bool clampAtZero = false,
        KernelPath path = KernelPath.Fused)
    {
        using var range = Nvtx.Range("kernel ClipScoring.PairScores");
        CheckShapes(imageEmb, sentenceEmb, imageIndex);
        TensorDevices.RequireSame(PairScoresOpName, (imageEmb, nameof(imageEmb)), (sentenceEmb, nameof(sentenceEmb)), (imageIndex, nameof(imageIndex)));
        var effective = path;
        if (path == KernelPath.Cuda && CudaPath.FallsBackOnCpu(PairScoresOpName, sentenceEmb)) effective = KernelPath.Fused;
        using var timing = KernelStats.Time(PairScoresOpName, effective);
        return effective switch
        {
            KernelPath.Reference => PairScoresReference(imageEmb, sentenceEmb, imageIndex, scale, clampAtZero),
            KernelPath.Ilgpu => PairScoresIlgpu(imageEmb, sentenceEmb, imageIndex, scale, clampAtZero),
            KernelPath.Cuda => PairScoresCuda(imageEmb, sentenceEmb, imageIndex, scale, clampAtZero),
            _ => PairScoresFused(imageEmb, sentenceEmb, imageIndex, scale, clampAtZero),
        };
    }

    /// <summary>
    /// Ranks <c>[S]</c> from scores <c>[S]</c> and parent ids <c>[S]</c> (any integers): float64 when the scores are
    /// float64 (compared and ranked in float64), else float32. Ilgpu and Cuda run the fused C# sort (no GPU kernel).
    /// </summary>
    public static Tensor SiblingRanks(Tensor scores, Tensor parent, KernelPath path = KernelPath.Fused)
    {
        using var range = Nvtx.Range("kernel ClipScoring.SiblingRanks");
        TensorDevices.RequireSame(SiblingRanksOpName, (scores, nameof(scores)), (parent, nameof(parent)));
        var effective = path;
        if (path is KernelPath.Ilgpu or KernelPath.Cuda)
        {
            KernelStats.Fallback(SiblingRanksOpName, path, KernelPath.Fused, "no GPU kernel for this op; the fused sort runs");
            effective = KernelPath.Fused;
        }
        using var timing = KernelStats.Time(SiblingRanksOpName, effective);
        return effective == KernelPath.Reference ? SiblingRanksReference(scores, parent) : SiblingRanksFused(scores, parent);
    }

    /// <summary>The dtype ranks are computed and returned in: float64 for float64 scores, else float32.</summary>
    internal static ScalarType RankType(Tensor scores) => scores.dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;

    internal static (long I, long S, long D) CheckShapes(Tensor imageEmb, Tensor sentenceEmb, Tensor? imageIndex)
    {
        if (imageEmb.dim() != 2) throw new ArgumentException($"imageEmb: expected [I, D], got [{string.Join(", ", imageEmb.shape)}].", nameof(imageEmb));
        if (sentenceEmb.dim() != 2 || sentenceEmb.shape[1] != imageEmb.shape[1])
            throw new ArgumentException($"sentenceEmb: expected [S, {imageEmb.shape[1]}], got [{string.Join(", ", sentenceEmb.shape)}].", nameof(sentenceEmb));
        long s = sentenceEmb.shape[0];
        if (imageIndex is not null && (imageIndex.dim() != 1 || imageIndex.shape[0] != s))
            throw new ArgumentException($"imageIndex: expected [{s}], got [{string.Join(", ", imageIndex.shape)}].", nameof(imageIndex));
        return (imageEmb.shape[0], s, imageEmb.shape[1]);
    }

    internal static void CheckRanksShapes(Tensor scores, Tensor parent)
    {
        if (scores.dim() != 1 || parent.dim() != 1 || scores.shape[0] != parent.shape[0])
            throw new ArgumentException($"scores [{string.Join(", ", scores.shape)}] and parent [{string.Join(", ", parent.shape)}] must both be [S].");
    }
}
