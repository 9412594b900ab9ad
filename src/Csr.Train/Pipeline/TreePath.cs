namespace Csr.Train.Pipeline;

/// <summary>A root-to-final-node path and its value under a reward rule.</summary>
public sealed record TreePath(IReadOnlyList<TreeNode> Nodes, double Value)
{
    public TreeNode Leaf => Nodes[^1];

    /// <summary>The answer text of the path: the leaf's text after the root's prompt text (trimmed).</summary>
    public string Answer
    {
        get
        {
            string prompt = Nodes[0].Text, leaf = Leaf.Text;
            if (leaf.StartsWith(prompt, StringComparison.Ordinal)) return leaf[prompt.Length..].Trim();
            return string.Join(" ", Nodes.Skip(1).Select(n => n.NewText.Trim()).Where(s => s.Length > 0));
        }
    }
}
