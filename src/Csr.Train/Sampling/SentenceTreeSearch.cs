using Csr.Train.Pipeline;

namespace Csr.Train.Sampling;

/// <summary>
/// The sentence-level beam search tree (official sample.py): expand every active node into
/// num_token_beams children (child score = parent score + sequences_score; final on EOS or when the text
/// reaches max_length); sort the non-final children of the whole depth by score, descending, and keep
/// the top num_beams/2-1 and the bottom num_beams/2 when there are at least num_beams of them, else all.
/// </summary>
public sealed class SentenceTreeSearch
{
    readonly SampleOptions _options;
    readonly Func<IReadOnlyList<int>, string> _decode;
    readonly int _eosId;

    /// <param name="decode">Token ids -> text, special tokens skipped.</param>
    public SentenceTreeSearch(SampleOptions options, Func<IReadOnlyList<int>, string> decode, int eosId)
    {
        options.Validate();
        _options = options;
        _decode = decode;
        _eosId = eosId;
    }

    /// <summary>A node whose answer reaches this many tokens is final (the model's context is full); null = no limit.</summary>
    public int? MaxAnswerTokens { get; set; }

    /// <summary>Depth-by-depth statistics, for logs and tests.</summary>
    public List<int> ActivePerDepth { get; } = new();

    public TreeNode Run(string promptText, ISentenceExpander expander)
    {
        ActivePerDepth.Clear();
        using var tree = Begin(promptText, expander.Start(), MaxAnswerTokens);
        while (!tree.Done)
        {
            IReadOnlyList<IReadOnlyList<SentenceContinuation>> results;
            using (Csr.Models.GcQuiet.Enter()) results = expander.Expand(tree.Active);
            Advance(tree, results);
        }
        ActivePerDepth.AddRange(tree.ActivePerDepth);
        return tree.Root;
    }

    /// <summary>A prompt's tree whose only active node is the root (<paramref name="rootState"/>: the expander's state of the root).</summary>
    public SentenceTree Begin(string promptText, IDisposable? rootState, int? maxAnswerTokens)
    {
        var root = new TreeNode { Text = promptText, Score = 0 };
        return new SentenceTree(root, [new SearchNode(root, [], rootState)], maxAnswerTokens);
    }

    /// <summary>One depth: <paramref name="results"/>[i] are the continuations of <c>tree.Active[i]</c>; the children join the
    /// tree and the next active set is selected (none left = the tree is done).</summary>
    public void Advance(SentenceTree tree, IReadOnlyList<IReadOnlyList<SentenceContinuation>> results)
    {
        var active = tree.ActiveNodes;
        if (results.Count != active.Count)
            throw new InvalidOperationException($"expander returned {results.Count} results for {active.Count} nodes");
        tree.ActivePerDepth.Add(active.Count);
        var live = new List<SearchNode>();
        try
        {
            for (int i = 0; i < active.Count; i++)
            {
                var parent = active[i];
                foreach (var c in results[i])
                {
                    var child = MakeChild(parent, c, tree.MaxAnswerTokens, out bool final);
                    parent.Node.Children.Add(child.Node);
                    if (final) child.Dispose(); else live.Add(child);
                }
                parent.Dispose();
            }
        }
        catch
        {
            foreach (var n in live) n.Dispose();
            throw;
        }
        tree.ActiveNodes = SelectActive(live, _options.NumBeams);
    }

    SearchNode MakeChild(SearchNode parent, SentenceContinuation c, int? maxAnswerTokens, out bool final)
    {
        string sentence = _decode(c.Tokens).Trim();
        var node = new TreeNode
        {
            Text = sentence.Length > 0 ? parent.Node.Text + " " + sentence : parent.Node.Text,
            NewText = sentence,
            Score = parent.Node.Score + c.SequenceScore,
            NumTokens = c.Tokens.Length,
            TokenLogProbSum = c.TokenLogProbSum is double lp && double.IsFinite(lp) ? lp : null,
        };
        int[] answer = [.. parent.AnswerIds, .. c.Tokens];
        final = c.Tokens.Contains(_eosId) || node.Text.Length >= _options.MaxLength || c.Tokens.Length == 0
                || (maxAnswerTokens is int m && answer.Length >= m);
        node.IsFinal = final;
        return new SearchNode(node, answer, c.State);
    }

    /// <summary>Official rule: sort by score descending (stable); with >= numBeams nodes keep [:numBeams/2-1] + [-numBeams/2:].</summary>
    public static List<SearchNode> SelectActive(List<SearchNode> live, int numBeams)
    {
        var sorted = live.OrderByDescending(n => n.Node.Score).ToList();
        if (sorted.Count < numBeams) return sorted;
        int top = numBeams / 2 - 1, bottom = numBeams / 2;
        var keep = sorted.Take(top).Concat(sorted.Skip(sorted.Count - bottom)).ToList();
        foreach (var n in sorted.Skip(top).Take(sorted.Count - top - bottom)) n.Dispose();
        return keep;
    }
}

/// <summary>One prompt's search tree in progress: its root, the nodes still to expand and the depth-by-depth counts.</summary>
public sealed class SentenceTree : IDisposable
{
    internal SentenceTree(TreeNode root, List<SearchNode> active, int? maxAnswerTokens)
    {
        Root = root;
        ActiveNodes = active;
        MaxAnswerTokens = maxAnswerTokens;
    }

    public TreeNode Root { get; }

    /// <summary>The nodes the next depth expands, in order.</summary>
    public IReadOnlyList<SearchNode> Active => ActiveNodes;

    internal List<SearchNode> ActiveNodes { get; set; }

    /// <summary>No node left to expand.</summary>
    public bool Done => ActiveNodes.Count == 0;

    /// <summary>A node whose answer reaches this many tokens is final (the model's context is full); null = no limit.</summary>
    public int? MaxAnswerTokens { get; }

    /// <summary>Active nodes of each expanded depth.</summary>
    public List<int> ActivePerDepth { get; } = new();

    /// <summary>Model tokens forwarded for this tree (its prefill, its rows' sentence feeds and decode steps).</summary>
    public long ForwardedTokens { get; set; }

    /// <summary>Releases the states of the nodes still active (a tree abandoned before it is done).</summary>
    public void Dispose()
    {
        foreach (var n in ActiveNodes) n.Dispose();
        ActiveNodes.Clear();
    }
}
