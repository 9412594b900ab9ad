using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Train.Dpo;

/// <summary>
/// The DPO loss from summed response log-probs (TRL semantics, label smoothing 0):
/// h = (logp_pi(y_w) - logp_ref(y_w)) - (logp_pi(y_l) - logp_ref(y_l));
/// sigmoid: -log sigmoid(beta*h); hinge: relu(1 - beta*h); ipo: (h - 1/(2 beta))^2.
/// rewards/chosen = beta*(logp_pi(y_w) - logp_ref(y_w)), rewards/rejected likewise (detached).
/// Plain TorchSharp (autograd gives the gradient); the fused path lives in Csr.Kernels.
/// </summary>
public static class DpoLoss
{
    /// <param name="policyChosen">[B] summed log-probs of the chosen responses under the policy.</param>
    /// <param name="policyRejected">[B] same for the rejected responses.</param>
    /// <param name="refChosen">[B] reference (LoRA off, round-start projector), no gradient.</param>
    /// <param name="refRejected">[B]</param>
    public static DpoLossOutput Compute(Tensor policyChosen, Tensor policyRejected, Tensor refChosen, Tensor refRejected,
        double beta, DpoLossType type)
    {
        if (beta <= 0 || double.IsNaN(beta)) throw new ArgumentException($"beta must be > 0, got {beta}");
        using var scope = NewDisposeScope();
        var chosenRatio = policyChosen - refChosen;       // [B]
        var rejectedRatio = policyRejected - refRejected; // [B]
        var h = chosenRatio - rejectedRatio;              // [B]
        var losses = type switch
        {
            DpoLossType.Sigmoid => -nn.functional.logsigmoid(beta * h),
            DpoLossType.Hinge => nn.functional.relu(1.0 - beta * h),
            DpoLossType.Ipo => (h - 1.0 / (2.0 * beta)).pow(2),
            _ => throw new ArgumentOutOfRangeException(nameof(type)),
        };
        var loss = losses.mean();
        var rc = (beta * chosenRatio).detach();
        var rr = (beta * rejectedRatio).detach();
        return new DpoLossOutput(loss.MoveToOuterDisposeScope(), rc.MoveToOuterDisposeScope(), rr.MoveToOuterDisposeScope());
    }
}
