namespace Csr.Train.Sampling;

/// <summary>
/// One token-level beam's sentence: its tokens (including the stop token when it stopped), HF's
/// sequences_score (sum of log-probs / generated length), and the expander state a child needs to continue.
/// </summary>
public sealed record SentenceContinuation(int[] Tokens, double SequenceScore, IDisposable? State);
