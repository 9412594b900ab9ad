using static TorchSharp.torch;

namespace Csr.Kernels;

/// <summary>
/// The DPO loss (mean over pairs, differentiable), per-pair losses, and the TRL metrics as Python floats:
/// <c>rewards/chosen</c>, <c>rewards/rejected</c>, <c>rewards/accuracies</c>, <c>rewards/margins</c>,
/// <c>logps/chosen</c>, <c>logps/rejected</c> (means over the pairs).
/// </summary>
public sealed class DpoLossResult : IDisposable
{
    /// <summary>The mean loss over the pairs, <c>[]</c>, differentiable.</summary>
    public required Tensor Loss { get; init; }
    /// <summary>Per-pair losses <c>[B]</c>.</summary>
    public required Tensor Losses { get; init; }
    /// <summary>Implicit rewards of the chosen responses <c>[B]</c>: <c>beta * (pi_c - ref_c)</c>, detached.</summary>
    public required Tensor ChosenRewards { get; init; }
    /// <summary>Implicit rewards of the rejected responses <c>[B]</c>: <c>beta * (pi_r - ref_r)</c>, detached.</summary>
    public required Tensor RejectedRewards { get; init; }
    /// <summary>TRL's metric names (<c>rewards/chosen</c>, ...) -&gt; mean over the pairs.</summary>
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

    /// <summary>Disposes the four tensors.</summary>
    public void Dispose()
    {
        Loss.Dispose();
        Losses.Dispose();
        ChosenRewards.Dispose();
        RejectedRewards.Dispose();
    }
}
