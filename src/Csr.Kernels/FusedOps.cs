using static TorchSharp.torch;

namespace Csr.Kernels;

/// <summary>
/// The switchboard the pipeline calls: <c>FusedOps.For(fused: options.Fused)</c> picks the reference ops
/// (plain TorchSharp) or the fused ones for every op of this library, so <c>--fused</c> is one flag in one
/// place. With fused = true the path is <see cref="KernelPath.Fused"/> unless the environment variable
/// <c>CSR_KERNEL_PATH</c> says <c>ilgpu</c>, <c>cuda</c>, <c>fused</c> or <c>reference</c> (GPU paths fall
/// back to the fused CPU path with one log line and a <c>"fallback"</c> entry in <see cref="KernelStats"/> when no GPU
/// or PTX is there). Every op counts its calls in <see cref="KernelStats"/> under the path that ran.
/// </summary>
public sealed class FusedOps
{
    /// <summary>The path every op of this instance runs.</summary>
    public KernelPath Path { get; }

    /// <summary>Every op of this instance runs <paramref name="path"/>.</summary>
    public FusedOps(KernelPath path) => Path = path;

    /// <summary>Reference ops when <paramref name="fused"/> is false, else the fused (or environment-selected) path.</summary>
    public static FusedOps For(bool fused)
    {
        if (!fused) return new FusedOps(KernelPath.Reference);
        var env = Environment.GetEnvironmentVariable("CSR_KERNEL_PATH");
        if (string.IsNullOrWhiteSpace(env)) return new FusedOps(KernelPath.Fused);
        if (!Enum.TryParse<KernelPath>(env.Trim(), ignoreCase: true, out var p))
            throw new ArgumentException($"CSR_KERNEL_PATH: '{env}' is not one of reference, fused, ilgpu, cuda.");
        return new FusedOps(p);
    }

    /// <summary><c>FusedOps(path)</c>.</summary>
    public override string ToString() => $"FusedOps({Path})";

    /// <inheritdoc cref="DpoLogRatio.SequenceLogProbs"/>
    public Tensor SequenceLogProbs(Tensor logits, Tensor labels, Tensor mask) =>
        DpoLogRatio.SequenceLogProbs(logits, labels, mask, Path);

    /// <summary>
    /// Summed label log-probs from final hidden states <c>[N, T, H]</c> and the lm_head weight <c>[V, H]</c>: the
    /// reference projects all logits and runs the reference log-probs; every other path projects
    /// <see cref="DpoLogRatio.RowChunk"/> rows at a time and runs that path's log-ratio rows on each block, so
    /// the <c>[N, T, V]</c> logits never exist whole.
    /// </summary>
    public Tensor SequenceLogProbsFromHidden(Tensor hidden, Tensor lmHeadWeight, Tensor labels, Tensor mask)
    {
        if (Path != KernelPath.Reference) return DpoLogRatio.SequenceLogProbsFromHidden(hidden, lmHeadWeight, labels, mask, Path);
        TensorDevices.RequireSame(DpoLogRatio.FromHiddenOpName, (hidden, nameof(hidden)), (lmHeadWeight, nameof(lmHeadWeight)), (labels, nameof(labels)), (mask, nameof(mask)));
        using var timing = KernelStats.Time(DpoLogRatio.FromHiddenOpName, KernelPath.Reference);
        using var scope = NewDisposeScope();
        return DpoLogRatio.SequenceLogProbsReference(hidden.matmul(lmHeadWeight.t()), labels, mask).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The DPO objective on per-sequence log-probs (<see cref="Kernels.DpoLoss.Compute"/>, plain TorchSharp on
    /// <c>[B]</c> values: one implementation, counted as the reference path on every path).
    /// </summary>
    public DpoLossResult DpoLoss(Tensor policyChosen, Tensor policyRejected, Tensor referenceChosen, Tensor referenceRejected,
        double beta, DpoLossType type = DpoLossType.Sigmoid, double labelSmoothing = 0)
    {
        using var timing = KernelStats.Time(Kernels.DpoLoss.OpName, KernelPath.Reference);
        return Kernels.DpoLoss.Compute(policyChosen, policyRejected, referenceChosen, referenceRejected, beta, type, labelSmoothing);
    }

    /// <inheritdoc cref="ClipScoring.PairScores"/>
    public Tensor ClipPairScores(Tensor imageEmb, Tensor sentenceEmb, Tensor imageIndex, double scale, bool clampAtZero = false) =>
        ClipScoring.PairScores(imageEmb, sentenceEmb, imageIndex, scale, clampAtZero, Path);

    /// <inheritdoc cref="ClipScoring.SiblingRanks"/>
    public Tensor SiblingRanks(Tensor scores, Tensor parent) => ClipScoring.SiblingRanks(scores, parent, Path);
}
