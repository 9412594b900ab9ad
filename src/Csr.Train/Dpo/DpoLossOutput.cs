using static TorchSharp.torch;

namespace Csr.Train.Dpo;

/// <summary>DPO loss (scalar, mean over the batch) and the per-pair implicit rewards (detached) TRL logs.</summary>
public sealed record DpoLossOutput(Tensor Loss, Tensor ChosenRewards, Tensor RejectedRewards) : IDisposable
{
    public void Dispose()
    {
        Loss.Dispose();
        ChosenRewards.Dispose();
        RejectedRewards.Dispose();
    }
}
