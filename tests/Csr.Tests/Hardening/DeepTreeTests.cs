using Csr.Train.Pipeline;

namespace Csr.Tests.Hardening;

public class DeepTreeTests
{
    [Fact]
    public void A_tree_deeper_than_the_json_default_depth_round_trips()
    {
        // A weak model that never says '.' produces one node per max_new_tokens until max_length:
        // 1024 / 8 = 128 levels, well past System.Text.Json's default MaxDepth of 64.
        var root = new TreeNode { Text = "prompt" };
        var node = root;
        for (int d = 0; d < 300; d++)
        {
            var child = new TreeNode { Text = node.Text + " s", NewText = "s", Score = node.Score - 0.5, IsFinal = d == 299 };
            node.Children.Add(child);
            node = child;
        }
        string dir = Directory.CreateTempSubdirectory("csr-deep-").FullName;
        try
        {
            TreeFile.Write(dir, "deep", root);
            var back = TreeFile.Read(dir, "deep");
            Assert.Equal(301, back.DescendantsAndSelf().Count());
            Assert.Equal(-150.0, back.DescendantsAndSelf().Last().Score, 9);
            Assert.Equal(TreeFile.Serialize(root), TreeFile.Serialize(back));
        }
        finally { Directory.Delete(dir, true); }
    }
}
