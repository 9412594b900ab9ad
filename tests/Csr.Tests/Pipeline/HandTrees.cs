using Csr.Train.Pipeline;

namespace Csr.Tests.Pipeline;

/// <summary>Small hand-made trees with values worked out by hand in the tests.</summary>
internal static class HandTrees
{
    public const string Prompt = "A chat. USER: <image>\nDescribe. ASSISTANT:";

    public static TreeNode Node(TreeNode parent, string sentence, double score, double? clip, bool final, int? tokens = null, double? logProbSum = null)
    {
        var n = new TreeNode
        {
            Text = parent.Text + " " + sentence, NewText = sentence, Score = score, ClipScore = clip, IsFinal = final, NumTokens = tokens,
            TokenLogProbSum = logProbSum,
        };
        parent.Children.Add(n);
        return n;
    }

    /// <summary>
    /// root
    /// ├─ a  "A cat sits."   score -1.0 clip 20  (2 tokens, token log-prob sum -2.5)
    /// │  ├─ a1 "It is red."  score -1.5 clip 25 final (2 tokens, -0.7)
    /// │  └─ a2 "A dog runs." score -2.0 clip 30 final (1 token, -1.1)
    /// └─ b  "A bird flies." score -1.2 clip 28 final (1 token, -0.9)
    /// (the sums differ from step score x tokens, as a diversity penalty makes them)
    /// </summary>
    public static TreeNode Small()
    {
        var root = new TreeNode { Text = Prompt };
        var a = Node(root, "A cat sits.", -1.0, 20, false, 2, -2.5);
        Node(a, "It is red.", -1.5, 25, true, 2, -0.7);
        Node(a, "A dog runs.", -2.0, 30, true, 1, -1.1);
        Node(root, "A bird flies.", -1.2, 28, true, 1, -0.9);
        return root;
    }
}
