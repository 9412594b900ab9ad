using static TorchSharp.torch;

namespace Csr.Kernels;

/// <summary>
/// The DPO loss (mean over pairs, differentiable), per-pair losses, and the TRL metrics as Python floats:
/// <c>rewards/chosen</c>, <c>rewards/rejected</c>, <c>rewards/accuracies</c>, <c>rewards/margins</c>,
/// <c>logps/chosen</c>, <c>logps/rejected</c> (means over the pairs).
/// </summary>
public sealed class DpoLossResult : IDisposable
{
    public required Tensor Loss { get; init; }            // [] scalar, differentiable
    public required Tensor Losses { get; init; }          // [B]
    public required Tensor ChosenRewards { get; init; }   // [B] beta * (pi_c - ref_c), detached
    public required Tensor RejectedRewards { get; init; } // [B] beta * (pi_r - ref_r), detached
    public required IReadOnlyDictionary<string, double> Metrics { get; init; }

    /// <summary>Moves the tensors to the enclosing dispose scope.</summary>
    public DpoLossResult MoveToOuterDisposeScope()
    {
        Loss.MoveToOuterDisposeScope();
        Losses.MoveToOuterDisposeScope();
        ChosenRewards.MoveToOuterDisposeScope();
        RejectedRewards.MoveToOuterDisposeScope();
        return this;
    }

    public void Dispose()
    {
        Loss.Dispose();
        Losses.Dispose();
        ChosenRewards.Dispose();
        RejectedRewards.Dispose();
    }
}
