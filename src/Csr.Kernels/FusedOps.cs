using static TorchSharp.torch;

namespace Csr.Kernels;

/// <summary>
/// The switchboard the pipeline calls: <c>FusedOps.For(fused: options.Fused)</c> picks the reference ops
/// (plain TorchSharp) or the fused ones for every op of this library, so <c>--fused</c> is one flag in one
/// place. With fused = true the path is <see cref="KernelPath.Fused"/> unless the environment variable
/// <c>CSR_KERNEL_PATH</c> says <c>ilgpu</c>, <c>cuda</c>, <c>fused</c> or <c>reference</c> (GPU paths fall
/// back to the fused CPU path with one log line when no GPU or PTX is there).
/// </summary>
public sealed class FusedOps
{
    /// <summary>The path every op of this instance runs.</summary>
    public KernelPath Path { get; }

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

    public override string ToString() => $"FusedOps({Path})";

    /// <inheritdoc cref="DpoLogRatio.SequenceLogProbs"/>
    public Tensor SequenceLogProbs(Tensor logits, Tensor labels, Tensor mask) =>
        DpoLogRatio.SequenceLogProbs(logits, labels, mask, Path);

    /// <summary>Summed label log-probs from final hidden states and the lm_head weight (the fused path never forms whole logits).</summary>
    public Tensor SequenceLogProbsFromHidden(Tensor hidden, Tensor lmHeadWeight, Tensor labels, Tensor mask) =>
        Path == KernelPath.Reference
            ? DpoLogRatio.SequenceLogProbs(hidden.matmul(lmHeadWeight.t()), labels, mask, KernelPath.Reference)
            : DpoLogRatio.SequenceLogProbsFromHidden(hidden, lmHeadWeight, labels, mask);

    /// <inheritdoc cref="DpoLogRatio.Loss"/>
    public DpoLossResult DpoLoss(Tensor policyLogits, Tensor labels, Tensor mask, Tensor referenceLogps, double beta,
        DpoLossType type = DpoLossType.Sigmoid, double labelSmoothing = 0) =>
        DpoLogRatio.Loss(policyLogits, labels, mask, referenceLogps, beta, type, labelSmoothing, Path);

    /// <inheritdoc cref="BeamStep.Step"/>
    public BeamStepResult BeamStep(Tensor logits, Tensor beamScores, Tensor? groupTokens, int groups, double diversityPenalty) =>
        Kernels.BeamStep.Step(logits, beamScores, groupTokens, groups, diversityPenalty, Path);

    /// <summary>
    /// Group-by-group beam search: one pass over the logits now, then <see cref="BeamStepRows.SelectGroup"/> per
    /// group as earlier groups' choices become known. The reference path prepares with the fused pass too:
    /// its choices are identical (see <see cref="Kernels.BeamStep"/>), and there is no other reference for a
    /// two-phase API.
    /// </summary>
    public BeamStepRows PrepareBeamStep(Tensor logits, int groups) =>
        Kernels.BeamStep.Prepare(logits, groups, Path == KernelPath.Reference ? KernelPath.Fused : Path);

    /// <inheritdoc cref="ClipScoring.PairScores"/>
    public Tensor ClipPairScores(Tensor imageEmb, Tensor sentenceEmb, Tensor imageIndex, double scale, bool clampAtZero = false) =>
        ClipScoring.PairScores(imageEmb, sentenceEmb, imageIndex, scale, clampAtZero, Path);

    /// <inheritdoc cref="ClipScoring.Matrix"/>
    public Tensor ClipMatrix(Tensor imageEmb, Tensor sentenceEmb, double scale, bool clampAtZero = false) =>
        ClipScoring.Matrix(imageEmb, sentenceEmb, scale, clampAtZero, Path);

    /// <inheritdoc cref="ClipScoring.SiblingRanks"/>
    public Tensor SiblingRanks(Tensor scores, Tensor parent) => ClipScoring.SiblingRanks(scores, parent, Path);
}
