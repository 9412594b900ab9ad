using Csr.Train.Pipeline;

namespace Csr.Train.Sampling;

/// <summary>A live node of the search: its tree node, the answer token ids so far, and the expander's state (e.g. a KV cache).</summary>
public sealed class SearchNode : IDisposable
{
    public SearchNode(TreeNode node, int[] answerIds, IDisposable? state)
    {
        Node = node;
        AnswerIds = answerIds;
        State = state;
    }

    public TreeNode Node { get; }

    /// <summary>All generated token ids after the prompt, up to and including this node's sentence.</summary>
    public int[] AnswerIds { get; }

    /// <summary>Expander-owned state that lets children continue (null in re-encode mode).</summary>
    public IDisposable? State { get; private set; }

    public void Dispose()
    {
        State?.Dispose();
        State = null;
    }
}
