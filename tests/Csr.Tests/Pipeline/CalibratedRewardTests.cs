using Csr.Train.Pipeline;

namespace Csr.Tests.Pipeline;

public class CalibratedRewardTests
{
    static readonly PromptEntry Prompt = new("7", "7.jpg", "Describe.\n<image>");

    [Fact]
    public void RankRule_SiblingRanks_AreByScoreAndClipDescending()
    {
        var root = HandTrees.Small();
        var ranks = CalibratedReward.Ranks(root, needClip: true);
        var a = root.Children[0]; var b = root.Children[1];
        Assert.Equal((0.5, 1.0), ranks[a]);
        Assert.Equal((1.0, 0.5), ranks[b]);
        Assert.Equal((0.5, 1.0), ranks[a.Children[0]]);
        Assert.Equal((1.0, 0.5), ranks[a.Children[1]]);
        Assert.False(ranks.ContainsKey(root));
    }

    [Fact]
    public void RankRule_Alpha09_ChoosesSmallestMeanAndRejectsLargest()
    {
        // a = .1*.5+.9*1 = .95, b = .1*1+.9*.5 = .55, a1 = .95, a2 = .55
        // paths: a1 (.95+.95)/3 = .6333, a2 (.95+.55)/3 = .5, b .55/2 = .275
        var root = HandTrees.Small();
        var paths = CalibratedReward.Paths(root, RewardRule.Rank, 0.9);
        Assert.Equal(3, paths.Count);
        Assert.Equal(1.9 / 3, paths[0].Value, 12);
        Assert.Equal(1.5 / 3, paths[1].Value, 12);
        Assert.Equal(0.275, paths[2].Value, 12);
        var (chosen, rejected) = CalibratedReward.Select(root, RewardRule.Rank, 0.9)!.Value;
        Assert.Equal("A bird flies.", chosen.Answer);
        Assert.Equal("A cat sits. It is red.", rejected.Answer);
    }

    [Fact]
    public void RankRule_AlphaZero_IgnoresClipAndBreaksTiesInDepthFirstOrder()
    {
        // alpha 0: a=.5 b=1 a1=.5 a2=1 -> a1 1/3, a2 .5, b .5 (tie: rejected = last in DFS order = b)
        var root = HandTrees.Small();
        foreach (var n in root.DescendantsAndSelf()) n.ClipScore = null; // not needed without the visual term
        var (chosen, rejected) = CalibratedReward.Select(root, RewardRule.Rank, 0.0)!.Value;
        Assert.Equal("A cat sits. It is red.", chosen.Answer);
        Assert.Equal("A bird flies.", rejected.Answer);
        Assert.Equal(0.5, rejected.Value, 15);
    }

    [Fact]
    public void PaperRule_SumsLambdaWeightedClipAndSentenceProbability()
    {
        // R_T = exp(token_logprob_sum), not exp(step score x tokens):
        // a: .9*20 + .1*exp(-2.5); a1: .9*25 + .1*exp(-.7); a2: .9*30 + .1*exp(-1.1); b: .9*28 + .1*exp(-.9)
        var root = HandTrees.Small();
        double a = 18 + 0.1 * Math.Exp(-2.5), a1 = 22.5 + 0.1 * Math.Exp(-0.7), a2 = 27 + 0.1 * Math.Exp(-1.1), b = 25.2 + 0.1 * Math.Exp(-0.9);
        var paths = CalibratedReward.Paths(root, RewardRule.Paper, 0.9);
        Assert.Equal(a + a1, paths[0].Value, 9);
        Assert.Equal(a + a2, paths[1].Value, 9);
        Assert.Equal(b, paths[2].Value, 9);
        var (chosen, rejected) = CalibratedReward.Select(root, RewardRule.Paper, 0.9)!.Value;
        Assert.Equal("A cat sits. A dog runs.", chosen.Answer);
        Assert.Equal("A bird flies.", rejected.Answer);
    }

    [Fact]
    public void PaperRule_NegativeClipIsClampedToZero()
    {
        var root = new TreeNode { Text = "p" };
        var n = HandTrees.Node(root, "Some words.", -1.0, -5.0, true, 1, -1.0);
        Assert.Equal(0.1 * Math.Exp(-1), CalibratedReward.PaperReward(n, root, 0.9), 12);
    }

    [Fact]
    public void PaperRule_WithoutTokenLogProbSums_IsRefusedNamingTheFile_RankRuleIsNot()
    {
        var root = HandTrees.Small();
        foreach (var n in root.DescendantsAndSelf()) n.TokenLogProbSum = null; // a tree from an older sampler
        var ex = Assert.Throws<InvalidDataException>(() =>
            ConstructStage.Build(root, Prompt, new ConstructOptions(RewardRule.Paper), out _, out _, "t/7.json"));
        Assert.Contains("t/7.json", ex.Message);
        Assert.Contains("token_logprob_sum", ex.Message);
        Assert.DoesNotContain('\n', ex.Message);
        Assert.NotNull(ConstructStage.Build(root, Prompt, new ConstructOptions(RewardRule.Rank), out _, out _, "t/7.json"));
    }

    [Fact]
    public void UnscoredTree_WithVisualTerm_NamesTheFix()
    {
        var root = HandTrees.Small();
        root.Children[1].ClipScore = null;
        var ex = Assert.Throws<InvalidDataException>(() => ConstructStage.Build(root, Prompt, new ConstructOptions(), out _, out _, "t/7.json"));
        Assert.Contains("t/7.json", ex.Message);
        Assert.Contains("clip_score", ex.Message);
    }

    [Fact]
    public void NonFinalLeavesAreNotPaths()
    {
        var root = new TreeNode { Text = "p" };
        HandTrees.Node(root, "Dropped from the active set.", -1, 1, false);
        Assert.Null(CalibratedReward.Select(root, RewardRule.Rank, 0.9));
    }

    [Fact]
    public void Build_WritesLlavaConversations()
    {
        var pair = ConstructStage.Build(HandTrees.Small(), Prompt, new ConstructOptions(), out _, out double gap)!;
        Assert.Equal("7", pair.Id);
        Assert.Equal("7.jpg", pair.Image);
        Assert.Equal("<image>\nDescribe.", pair.Prompt);
        Assert.Equal("human", pair.RejectedConversations[0].From);
        Assert.Equal("A bird flies.", pair.Chosen);
        Assert.Equal("A cat sits. It is red.", pair.Rejected);
        Assert.Equal(1.9 / 3 - 0.275, gap, 12);
    }

    [Fact]
    public void RankRule_OfficialMeanFavoursTheShortPath_MeanOverSentencesDoesNot()
    {
        // alpha 0, values = LM ranks: a .5 (beats b), b 1 (final); a -> a1 -> a11, single children, rank 1 each.
        // long path a-a1-a11: sum 2.5, official / 4 nodes = .625, / 3 sentences = .833; b: 1, official / 2 = .5, / 1 = 1
        var root = new TreeNode { Text = "p" };
        var a = HandTrees.Node(root, "A cat sits.", -1.0, null, false);
        HandTrees.Node(root, "A bird flies.", -2.0, null, true);
        var a1 = HandTrees.Node(a, "It is red.", -1.5, null, false);
        HandTrees.Node(a1, "It is small.", -2.0, null, true);
        var official = CalibratedReward.Select(root, RewardRule.Rank, 0.0)!.Value;
        Assert.Equal("A bird flies.", official.Chosen.Answer);
        Assert.Equal(0.5, official.Chosen.Value, 12);
        Assert.Equal(2.5 / 4, official.Rejected.Value, 12);
        var sentences = CalibratedReward.Select(root, RewardRule.Rank, 0.0, meanOverSentences: true)!.Value;
        Assert.Equal("A cat sits. It is red. It is small.", sentences.Chosen.Answer);
        Assert.Equal(2.5 / 3, sentences.Chosen.Value, 12);
        Assert.Equal("A bird flies.", sentences.Rejected.Answer);
        var pair = ConstructStage.Build(root, Prompt, new ConstructOptions(RewardRule.Rank, 0.0) { MeanOverSentences = true }, out _, out _)!;
        Assert.Equal("A cat sits. It is red. It is small.", pair.Chosen);
    }
}
