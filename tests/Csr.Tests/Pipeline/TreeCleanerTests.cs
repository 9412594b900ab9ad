using Csr.Train.Pipeline;

namespace Csr.Tests.Pipeline;

public class TreeCleanerTests
{
    [Theory]
    [InlineData("Hi.", "short")]
    [InlineData("the the the the the the cat", "repetition")]
    [InlineData("a b c ttttttttttt", "repetition")]
    [InlineData("Wow!!!!!!!!!!!", "repetition")]
    [InlineData("Привет мир there", "special-chars")]
    [InlineData("こんにちは world", "special-chars")]
    [InlineData("x\ny\nz\nw\nv\nu\nt", "newlines")]
    [InlineData("A cat sits on a mat.", null)]
    [InlineData("the the the the the cat", null)] // five repeats are allowed, six are not
    public void RejectReason_MatchesOfficialFilters(string sentence, string? reason) =>
        Assert.Equal(reason, TreeCleaner.RejectReason(TreeCleaner.CleanText(sentence)));

    [Fact]
    public void EmojiIsSpecial() => Assert.True(TreeCleaner.ContainsSpecialChars("nice \U0001F600 day"));

    [Fact]
    public void CleanText_StripsDisallowedSymbols() => Assert.Equal("a cat  sits.", TreeCleaner.CleanText("a cat ~| sits.`"));

    [Fact]
    public void Clean_DropsRejectedChildrenWithTheirSubtrees()
    {
        var root = new TreeNode { Text = "p" };
        var bad = HandTrees.Node(root, "Ok.", -1, 1, false);
        HandTrees.Node(bad, "A long enough sentence.", -2, 1, true);
        var good = HandTrees.Node(root, "A good sentence.", -1, 1, false);
        HandTrees.Node(good, "so so so so so so so", -2, 1, true);
        HandTrees.Node(good, "Fine again.", -2, 1, true);
        int removed = TreeCleaner.Clean(root);
        Assert.Equal(3, removed);
        Assert.Single(root.Children);
        Assert.Equal("A good sentence.", root.Children[0].NewText);
        Assert.Equal(["Fine again."], root.Children[0].Children.Select(c => c.NewText));
    }
}
