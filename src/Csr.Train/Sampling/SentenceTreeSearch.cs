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
        var root = new TreeNode { Text = promptText, Score = 0 };
        var active = new List<SearchNode> { new(root, [], expander.Start()) };
        try
        {
            while (active.Count > 0)
            {
                ActivePerDepth.Add(active.Count);
                IReadOnlyList<IReadOnlyList<SentenceContinuation>> results;
                using (Csr.Models.GcQuiet.Enter()) results = expander.Expand(active);
                if (results.Count != active.Count)
                    throw new InvalidOperationException($"expander returned {results.Count} results for {active.Count} nodes");
                var live = new List<SearchNode>();
                for (int i = 0; i < active.Count; i++)
                {
                    var parent = active[i];
                    foreach (var c in results[i])
                    {
                        var child = MakeChild(parent, c, out bool final);
                        parent.Node.Children.Add(child.Node);
                        if (final) child.Dispose(); else live.Add(child);
                    }
                    parent.Dispose();
                }
                active = SelectActive(live, _options.NumBeams);
            }
        }
        finally
        {
            foreach (var n in active) n.Dispose();
        }
        return root;
    }

    SearchNode MakeChild(SearchNode parent, SentenceContinuation c, out bool final)
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
                || (MaxAnswerTokens is int m && answer.Length >= m);
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
