using Csr.Native.Profiling;

namespace Csr.Train.Pipeline;

/// <summary>Options of the construct stage.</summary>
/// <param name="Rule">Official rank rule (default) or the paper's reward.</param>
/// <param name="Alpha">Weight of the CLIP term (alpha for the rank rule, lambda for the paper rule); 0 = no visual constraint.</param>
public sealed record ConstructOptions(RewardRule Rule = RewardRule.Rank, double Alpha = CalibratedReward.DefaultAlpha)
{
    /// <summary>Rank siblings with Csr.Kernels' fused sibling-rank op (else its reference); same ranks either way.</summary>
    public bool Fused { get; init; }

    /// <summary>Rank rule only: divide a path's summed node values by its sentence count instead of the official node
    /// count including the root (whose value is 0), so a path is not favoured for being short.</summary>
    public bool MeanOverSentences { get; init; }

    public void Validate()
    {
        if (Alpha is < 0 or > 1 || double.IsNaN(Alpha)) throw new ArgumentException($"--alpha {Alpha}: must be in [0, 1]");
    }
}

/// <summary>What construct produced: the pairs and the prompts it could not use.</summary>
public sealed record ConstructResult(
    IReadOnlyList<PreferencePair> Pairs,
    IReadOnlyList<string> MissingTrees,
    IReadOnlyList<string> NoFinalPath,
    int CleanedNodes,
    double MeanValueGap);

/// <summary>
/// construct: scored trees (any number of shard directories) + the prompt file -> the preference JSON.
/// Pairs follow the prompt-file order; prompts without a tree are reported, not fatal.
/// </summary>
public static class ConstructStage
{
    public static ConstructResult Run(IEnumerable<string> treeDirs, IReadOnlyList<PromptEntry> prompts, ConstructOptions options)
    {
        using var range = Nvtx.Range("construct");
        options.Validate();
        var dirs = treeDirs.ToList();
        foreach (var d in dirs)
            if (!Directory.Exists(d)) throw new DirectoryNotFoundException($"trees directory not found: {d}");
        var pairs = new List<PreferencePair>();
        var missing = new List<string>();
        var empty = new List<string>();
        int cleaned = 0;
        double gapSum = 0;
        foreach (var p in prompts)
        {
            string? file = dirs.Select(d => TreeFile.PathFor(d, p.Id)).FirstOrDefault(File.Exists);
            if (file == null) { missing.Add(p.Id); continue; }
            var root = TreeFile.Read(file);
            var pair = Build(root, p, options, out int removed, out double gap, file);
            cleaned += removed;
            if (pair == null) { empty.Add(p.Id); continue; }
            gapSum += gap;
            pairs.Add(pair);
        }
        return new ConstructResult(pairs, missing, empty, cleaned, pairs.Count > 0 ? gapSum / pairs.Count : 0);
    }

    /// <summary>One prompt's pair (the tree is cleaned in place first; cleaning is idempotent).</summary>
    public static PreferencePair? Build(TreeNode root, PromptEntry prompt, ConstructOptions options, out int cleanedNodes, out double valueGap, string? source = null)
    {
        cleanedNodes = TreeCleaner.Clean(root);
        valueGap = 0;
        (TreePath Chosen, TreePath Rejected)? sel;
        try { sel = CalibratedReward.Select(root, options.Rule, options.Alpha, Csr.Kernels.FusedOps.For(options.Fused), options.MeanOverSentences); }
        catch (InvalidDataException ex) { throw new InvalidDataException($"{source ?? prompt.Id}: {ex.Message}", ex); }
        if (sel is not { } s) return null;
        valueGap = Math.Abs(s.Rejected.Value - s.Chosen.Value);
        return PreferencePair.Create(prompt.Id, prompt.Image, prompt.HumanTurn, s.Chosen.Answer, s.Rejected.Answer);
    }
}
