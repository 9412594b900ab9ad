using Csr.Native.Profiling;
using static TorchSharp.torch;

namespace Csr.Kernels;

/// <summary>
/// The DPO objective on per-sequence log-probs (TRL semantics). With
/// <c>h = (pi_c - pi_r) - (ref_c - ref_r)</c>:
/// sigmoid <c>-(1-ls) log sigmoid(beta h) - ls log sigmoid(-beta h)</c>; hinge <c>relu(1 - beta h)</c>;
/// IPO <c>(h - 1/(2 beta))^2</c>. Rewards are <c>beta * (pi - ref)</c>, detached.
/// The log-probs are per-sequence sums for sigmoid and hinge and per-token means over the response for IPO
/// (TRL divides the summed log-probs by the number of response tokens when loss_type is "ipo");
/// <see cref="SequenceLogps"/> turns sums into what the loss type expects.
/// </summary>
public static class DpoLoss
{
    /// <summary>True when the loss compares length-averaged log-probs (IPO) instead of sums.</summary>
    public static bool AveragesOverLength(DpoLossType type) => type == DpoLossType.Ipo;

    /// <summary>
    /// Summed response log-probs <c>[B]</c> and response token counts <c>[B]</c> -> the loss type's per-sequence
    /// log-probs: the sums for sigmoid and hinge, the sums divided by the token counts for IPO (a count of 0
    /// leaves the sum, 0, as it is).
    /// </summary>
    public static Tensor SequenceLogps(Tensor summedLogps, Tensor responseTokens, DpoLossType type)
    {
        if (!AveragesOverLength(type)) return summedLogps.alias();
        using var scope = NewDisposeScope();
        var n = responseTokens.to(summedLogps.dtype).clamp_min(1);
        return (summedLogps / n).MoveToOuterDisposeScope();
    }
    /// <summary>The op's name in <see cref="KernelStats"/> and kernels.json.</summary>
    public const string OpName = "DpoLoss";

    /// <summary>All inputs <c>[B]</c>; gradients flow into the policy log-probs only.</summary>
    public static DpoLossResult Compute(Tensor policyChosen, Tensor policyRejected, Tensor referenceChosen, Tensor referenceRejected,
        double beta, DpoLossType type = DpoLossType.Sigmoid, double labelSmoothing = 0)
    {
        using var range = Nvtx.Range("kernel DpoLoss.Compute");
        TensorDevices.RequireSame(OpName, (policyChosen, nameof(policyChosen)), (policyRejected, nameof(policyRejected)),
            (referenceChosen, nameof(referenceChosen)), (referenceRejected, nameof(referenceRejected)));
        if (beta <= 0 || double.IsNaN(beta)) throw new ArgumentOutOfRangeException(nameof(beta), beta, "beta must be positive.");
        if (labelSmoothing is < 0 or >= 0.5) throw new ArgumentOutOfRangeException(nameof(labelSmoothing), labelSmoothing, "label smoothing must be in [0, 0.5).");
        foreach (var (t, name) in new[] { (policyRejected, nameof(policyRejected)), (referenceChosen, nameof(referenceChosen)), (referenceRejected, nameof(referenceRejected)) })
            if (!t.shape.SequenceEqual(policyChosen.shape))
                throw new ArgumentException($"{name}: expected shape [{string.Join(", ", policyChosen.shape)}] like policyChosen, got [{string.Join(", ", t.shape)}].", name);

        using var scope = NewDisposeScope();
        var refC = referenceChosen.detach().to(ScalarType.Float32);
        var refR = referenceRejected.detach().to(ScalarType.Float32);
        var piC = policyChosen.to(ScalarType.Float32);
        var piR = policyRejected.to(ScalarType.Float32);
        var h = (piC - piR) - (refC - refR);                                   // [B]
        Tensor losses = type switch
        {
            DpoLossType.Sigmoid => -nn.functional.logsigmoid(h * beta) * (1 - labelSmoothing)
                                   - nn.functional.logsigmoid(h * -beta) * labelSmoothing,
            DpoLossType.Hinge => nn.functional.relu(1 - h * beta),
            DpoLossType.Ipo => (h - 1.0 / (2 * beta)).pow(2),
            _ => throw new ArgumentOutOfRangeException(nameof(type), type, "unknown DPO loss type"),
        };
        var chosenRewards = ((piC - refC) * beta).detach();                   // [B]
        var rejectedRewards = ((piR - refR) * beta).detach();                 // [B]
        var metrics = new Dictionary<string, double>
        {
            ["rewards/chosen"] = chosenRewards.mean().item<float>(),
            ["rewards/rejected"] = rejectedRewards.mean().item<float>(),
            ["rewards/accuracies"] = chosenRewards.gt(rejectedRewards).to(ScalarType.Float32).mean().item<float>(),
            ["rewards/margins"] = (chosenRewards - rejectedRewards).mean().item<float>(),
            ["logps/chosen"] = piC.detach().mean().item<float>(),
            ["logps/rejected"] = piR.detach().mean().item<float>(),
        };
        var result = new DpoLossResult
        {
            Loss = losses.mean(),
            Losses = losses,
            ChosenRewards = chosenRewards,
            RejectedRewards = rejectedRewards,
            Metrics = metrics,
        };
        return result.MoveToOuterDisposeScope();
    }
}
