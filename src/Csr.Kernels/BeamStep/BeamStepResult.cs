using static TorchSharp.torch;

namespace Csr.Kernels;

/// <summary>
/// The C*B best candidates of each group, best first (HF's <c>topk(C * group_size)</c> per group, C candidates
/// per beam): <see cref="Tokens"/> <c>[G, C*B]</c> int64 token ids, <see cref="Parents"/> <c>[G, C*B]</c> int64
/// beam index within the group (HF <c>next_indices</c>), <see cref="Scores"/> <c>[G, C*B]</c> float32 new beam scores.
/// </summary>
public sealed record BeamStepResult(Tensor Tokens, Tensor Parents, Tensor Scores) : IDisposable
{
    /// <summary>Moves the three tensors to the enclosing dispose scope.</summary>
    public BeamStepResult MoveToOuterDisposeScope()
    {
        Tokens.MoveToOuterDisposeScope();
        Parents.MoveToOuterDisposeScope();
        Scores.MoveToOuterDisposeScope();
        return this;
    }

    /// <summary>Disposes the three tensors.</summary>
    public void Dispose()
    {
        Tokens.Dispose();
        Parents.Dispose();
        Scores.Dispose();
    }
}
