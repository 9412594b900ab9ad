using Csr.Kernels;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Train.Dpo;

/// <summary>
/// Summed log-probs of the response tokens: logits [B, T, V] (position t predicts token t+1),
/// labels [B, T] holding the next token at t and <see cref="IgnoreIndex"/> where masked (prompt, image, padding).
/// </summary>
public static class SequenceLogProbs
{
    public const long IgnoreIndex = -100;

    /// <returns>[B] sums over the unmasked positions (0 for a fully masked row).</returns>
    /// <param name="path">The Csr.Kernels DPO log-ratio path: Reference = log_softmax + gather; any other path never forms the [B,T,V] log-softmax.</param>
    public static Tensor Compute(Tensor logits, Tensor labels, KernelPath path = KernelPath.Reference)
    {
        using var scope = NewDisposeScope();
        return new FusedOps(path).SequenceLogProbs(logits, labels, labels.ne(IgnoreIndex)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Next-token labels for a sequence of ids whose first <paramref name="responseStart"/> positions are prompt:
    /// labels[t] = ids[t+1] when t+1 >= responseStart, else ignored; the last position is ignored.
    /// </summary>
    public static long[] ShiftedLabels(IReadOnlyList<long> ids, int responseStart)
    {
        var labels = new long[ids.Count];
        for (int t = 0; t < ids.Count; t++)
            labels[t] = t + 1 < ids.Count && t + 1 >= responseStart ? ids[t + 1] : IgnoreIndex;
        return labels;
    }
}
