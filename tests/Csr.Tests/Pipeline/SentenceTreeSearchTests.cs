using Csr.Train.Pipeline;
using Csr.Train.Sampling;

namespace Csr.Tests.Pipeline;

public class SentenceTreeSearchTests
{
    const int Eos = FakeExpander.Eos, Period = FakeExpander.Period;

    static string Decode(IReadOnlyList<int> ids) => FakeExpander.Decode(ids);

    [Fact]
    public void Tree_Invariants_HoldWithDefaults()
    {
        var search = new SentenceTreeSearch(new SampleOptions { MaxLength = 300 }, Decode, Eos);
        var root = search.Run("PROMPT", new FakeExpander(5));
        // official rule: 1 best + 2 worst when >= 5 live children, else all of them (at most 4)
        Assert.All(search.ActivePerDepth.Skip(1), n => Assert.InRange(n, 1, 4));
        Assert.Contains(3, search.ActivePerDepth);
        Assert.Equal(1, search.ActivePerDepth[0]);
        foreach (var parent in root.DescendantsAndSelf())
        {
            Assert.True(parent.Children.Count is 0 or 5);
            foreach (var c in parent.Children)
            {
                Assert.StartsWith(parent.Text, c.Text);
                Assert.True(c.Score <= parent.Score); // sequence scores are log-probs
                Assert.Null(c.ClipScore);
                // the fake ends a sentence with '.' or with EOS (decoded away): final <=> EOS or max length
                Assert.Equal(!c.NewText.EndsWith('.') || c.Text.Length >= 300, c.IsFinal);
            }
        }
        var finals = root.DescendantsAndSelf().Where(n => n.IsFinal).ToList();
        Assert.NotEmpty(finals);
        Assert.Contains(finals, n => n.Text.Length >= 300);
    }

    [Fact]
    public void SelectActive_KeepsOneBestAndTwoWorst()
    {
        var nodes = new[] { -1.0, -5.0, -2.0, -4.0, -3.0, -0.5 }
            .Select(s => new SearchNode(new TreeNode { Score = s }, [], null)).ToList();
        var kept = SentenceTreeSearch.SelectActive(nodes, 5).Select(n => n.Node.Score);
        Assert.Equal([-0.5, -4.0, -5.0], kept);
        var few = SentenceTreeSearch.SelectActive(nodes.Take(4).ToList(), 5).Select(n => n.Node.Score);
        Assert.Equal([-1.0, -2.0, -4.0, -5.0], few);
    }

    [Fact]
    public void ChildScore_IsParentPlusSequenceScore_AndEosIsFinal()
    {
        var exp = new ScriptedExpander();
        var root = new SentenceTreeSearch(new SampleOptions { NumTokenBeams = 2, NumBeamGroups = 2 }, Decode, Eos).Run("P", exp);
        Assert.Equal(2, root.Children.Count);
        var a = root.Children[0];
        Assert.Equal("P w11 .", a.Text);
        Assert.Equal("w11 .", a.NewText);
        Assert.Equal(-0.5, a.Score);
        Assert.False(a.IsFinal);
        Assert.True(root.Children[1].IsFinal);
        Assert.Equal(-0.5 - 0.25, a.Children[0].Score, 12);
        Assert.All(a.Children, c => Assert.True(c.IsFinal));
    }

    sealed class ScriptedExpander : ISentenceExpander
    {
        public long ForwardedTokens => 0;
        public IDisposable? Start() => null;
        public IReadOnlyList<IReadOnlyList<SentenceContinuation>> Expand(IReadOnlyList<SearchNode> parents) =>
            parents.Select(p => (IReadOnlyList<SentenceContinuation>)(p.AnswerIds.Length == 0
                ? [new([11, Period], -0.5, null), new([12, Eos], -0.7, null)]
                : [new([13, Eos], -0.25, null), new([14, Eos], -0.3, null)])).ToList();
    }
}
