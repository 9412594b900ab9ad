namespace Csr.Train.Sampling;

/// <summary>
/// Generates the next sentence of live nodes by diverse group beam search. Implementations: continuing
/// from the parent's KV cache  or re-encoding image and prefix per
/// node like the official code .
/// </summary>
public interface ISentenceExpander
{
    /// <summary>The root's state for one prompt (image encoded and prompt prefilled once in prefix-cache mode).</summary>
    IDisposable? Start();

    /// <summary>For each parent, in order, its <c>num_token_beams</c> continuations.</summary>
    IReadOnlyList<IReadOnlyList<SentenceContinuation>> Expand(IReadOnlyList<SearchNode> parents);

    /// <summary>Model tokens forwarded so far (prefill + decode, image patches included).</summary>
    long ForwardedTokens { get; }
}
