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
    /// <param name="path">Reference: plain log_softmax + gather here; any other path: Csr.Kernels.DpoLogRatio (online logsumexp, never the [B,T,V] log-softmax).</param>
    public static Tensor Compute(Tensor logits, Tensor labels, KernelPath path = KernelPath.Reference)
    {
        if (path != KernelPath.Reference)
        {
            using var s = NewDisposeScope();
            return DpoLogRatio.SequenceLogProbs(logits, labels, labels.ne(IgnoreIndex), path).MoveToOuterDisposeScope();
        }
        if (logits.dim() != 3 || labels.dim() != 2 || logits.shape[0] != labels.shape[0] || logits.shape[1] != labels.shape[1])
            throw new ArgumentException($"logits [B,T,V] and labels [B,T] expected, got [{string.Join(",", logits.shape)}] and [{string.Join(",", labels.shape)}]");
        using var scope = NewDisposeScope();
        var mask = labels.ne(IgnoreIndex);                                    // [B, T]
        var safe = labels.masked_fill(mask.logical_not(), 0);                 // [B, T]
        var logp = nn.functional.log_softmax(logits.to_type(ScalarType.Float32), -1); // [B, T, V]
        var picked = logp.gather(-1, safe.unsqueeze(-1)).squeeze(-1);         // [B, T]
        return (picked * mask.to_type(ScalarType.Float32)).sum(1).MoveToOuterDisposeScope();
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
