using static TorchSharp.torch;

namespace Csr.Kernels;

public static partial class DpoLogRatio
{
    /// <summary>
    /// The readable definition: float32 log-softmax over the whole <c>[N, T, V]</c>, gather the labels,
    /// masked sum over T. Differentiable through plain autograd.
    /// </summary>
    public static Tensor SequenceLogProbsReference(Tensor logits, Tensor labels, Tensor mask)
    {
        CheckShapes(logits, labels, mask);
        using var scope = NewDisposeScope();
        var valid = mask.ne(0).logical_and(labels.ge(0));                 // [N, T] bool
        var safeLabels = where(valid, labels.to(ScalarType.Int64), 0L);   // [N, T]
        var logp = nn.functional.log_softmax(logits.to(ScalarType.Float32), -1); // [N, T, V]
        var tok = logp.gather(-1, safeLabels.unsqueeze(-1)).squeeze(-1); // [N, T]
        var summed = where(valid, tok, zeros_like(tok)).sum(1);          // [N]
        return summed.MoveToOuterDisposeScope();
    }
}
