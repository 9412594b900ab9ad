using Csr.Kernels;
using TorchSharp;

namespace Csr.Train.Pipeline;

/// <summary>
/// The calibrated reward of a scored tree and the choice of the best and worst paths.
/// Official rule (utils.Rank_Node.calculate_ranks + construct.dfs): among the children of each node,
/// rank by LM score descending -> rank = (i+1)/n, by CLIP score descending -> clip_rank = (i+1)/n
/// (stable: ties keep child order); node value = (1-alpha)*rank + alpha*clip_rank; a path runs from
/// the root to a final node, its value is the running sum divided by the number of nodes including the
/// root; chosen = smallest (first on ties in depth-first order), rejected = largest (last on ties).
/// Paper rule: node reward = lambda*max(clip,0) + (1-lambda)*exp(sum of the step's token log-probs, as recorded at
/// sampling: no diversity penalty, no length normalisation),
/// path value = the sum; chosen = largest, rejected = smallest.
/// </summary>
public static class CalibratedReward
{
    public const double DefaultAlpha = 0.9;

    /// <summary>
    /// Per-node (rank, clip_rank) for every non-root node, from Csr.Kernels' sibling-rank op on the path of
    /// <paramref name="ops"/> (reference when null): every node's children form one parent group, scores in float64.
    /// </summary>
    public static Dictionary<TreeNode, (double Rank, double ClipRank)> Ranks(TreeNode root, bool needClip, FusedOps? ops = null)
    {
        var nodes = new List<TreeNode>();   // every non-root node, children of one parent contiguous and in order
        var parents = new List<long>();     // [S] index of the parent's group
        var pending = new Queue<TreeNode>();
        pending.Enqueue(root);
        long group = 0;
        while (pending.Count > 0)
        {
            var node = pending.Dequeue();
            if (node.Children.Count == 0) continue;
            if (needClip && node.Children.Any(c => c.ClipScore == null))
                throw new InvalidDataException("tree has a node without clip_score: run the score stage first (or use --alpha 0)");
            foreach (var c in node.Children)
            {
                nodes.Add(c);
                parents.Add(group);
                pending.Enqueue(c);
            }
            group++;
        }
        var result = new Dictionary<TreeNode, (double, double)>(ReferenceEqualityComparer.Instance);
        if (nodes.Count == 0) return result;
        ops ??= FusedOps.For(fused: false);
        using var scope = torch.NewDisposeScope();
        // host: construct ranks scores read from tree files; nothing here meets a model tensor
        var parent = torch.tensor(parents.ToArray());                                                   // host: tree data [S]
        var rank = ops.SiblingRanks(torch.tensor(nodes.Select(n => n.Score).ToArray()), parent)         // host: tree data, float64 [S]
            .data<double>().ToArray();
        var clipRank = ops.SiblingRanks(torch.tensor(nodes.Select(n => n.ClipScore ?? 0.0).ToArray()), parent) // host: tree data
            .data<double>().ToArray();
        for (int i = 0; i < nodes.Count; i++) result[nodes[i]] = (rank[i], clipRank[i]);
        return result;
    }

    /// <summary>All root-to-final paths in depth-first order with their values (normalised for Rank, summed for Paper).</summary>
    /// <param name="meanOverSentences">Rank rule: divide by the path's sentences (nodes without the root) instead of the official
    /// node count including the root.</param>
    public static List<TreePath> Paths(TreeNode root, RewardRule rule, double alpha, FusedOps? ops = null, bool meanOverSentences = false)
    {
        var paths = new List<TreePath>();
        if (rule == RewardRule.Rank)
        {
            var ranks = Ranks(root, needClip: alpha != 0, ops);
            Walk(root, null, new List<TreeNode>(), 0.0, (node, parent) =>
            {
                var (r, cr) = ranks[node];
                return (1 - alpha) * r + alpha * cr;
            }, (nodes, cum) => paths.Add(new TreePath(nodes, cum / (meanOverSentences ? Math.Max(1, nodes.Count - 1) : nodes.Count))));
        }
        else
        {
            Walk(root, null, new List<TreeNode>(), 0.0, (node, parent) => PaperReward(node, parent, alpha),
                (nodes, cum) => paths.Add(new TreePath(nodes, cum)));
        }
        return paths;
    }

    /// <summary>
    /// Paper's sentence reward: lambda*R_I + (1-lambda)*R_T, R_I = max(clip_score, 0), R_T = the product of the
    /// sentence's token probabilities = exp(<see cref="TreeNode.TokenLogProbSum"/>). A node without the recorded sum
    /// (a tree from an older sampler) is refused when R_T counts (lambda &lt; 1).
    /// </summary>
    public static double PaperReward(TreeNode node, TreeNode parent, double lambda)
    {
        if (lambda != 0 && node.ClipScore == null)
            throw new InvalidDataException("tree has a node without clip_score: run the score stage first (or use --alpha 0)");
        double rT = 0;
        if (lambda != 1)
        {
            if (node.TokenLogProbSum is not double logProb)
                throw new InvalidDataException("tree has a node without token_logprob_sum (written by an older sampler): run the sample stage again for --reward paper, or use --reward rank");
            rT = Math.Exp(logProb);
        }
        double rI = Math.Max(node.ClipScore ?? 0.0, 0.0);
        return lambda * rI + (1 - lambda) * rT;
    }

    static void Walk(TreeNode node, TreeNode? parent, List<TreeNode> path, double cum,
        Func<TreeNode, TreeNode, double> value, Action<List<TreeNode>, double> emit)
    {
        if (parent != null) cum += value(node, parent);
        var here = new List<TreeNode>(path) { node };
        if (node.IsFinal) { emit(here, cum); return; }
        foreach (var c in node.Children) Walk(c, node, here, cum, value, emit);
    }

    /// <summary>Chosen and rejected paths, or null when the tree has no final path (e.g. everything was cleaned away).</summary>
    public static (TreePath Chosen, TreePath Rejected)? Select(TreeNode root, RewardRule rule, double alpha, FusedOps? ops = null,
        bool meanOverSentences = false)
    {
        var paths = Paths(root, rule, alpha, ops, meanOverSentences);
        if (paths.Count == 0) return null;
        // Stable sorts: ties keep depth-first order, as Python's sorted().
        var sorted = rule == RewardRule.Rank
            ? paths.OrderBy(p => p.Value).ToList()
            : paths.OrderByDescending(p => p.Value).ToList();
        return (sorted[0], sorted[^1]);
    }
}
