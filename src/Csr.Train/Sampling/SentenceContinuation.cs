namespace Csr.Train.Sampling;

/// <summary>
/// One token-level beam's sentence: its tokens (including the stop token when it stopped), HF's
/// sequences_score (sum of log-probs / generated length), the expander state a child needs to continue, and the
/// sum of the tokens' own log-probs (no diversity penalty, no length normalisation; null when the expander has none).
/// </summary>
public sealed record SentenceContinuation(int[] Tokens, double SequenceScore, IDisposable? State, double? TokenLogProbSum = null);
