using Csr.Train.Pipeline;
using Csr.Train.Sampling;

namespace Csr.Tests.Pipeline;

public class TinySamplerTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("csr-tiny-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    static SampleOptions Small(bool prefix) => new()
    {
        MaxNewTokens = 5, MaxLength = 60, SentenceEndId = CharTokenizer.Period, PrefixCache = prefix,
    };

    List<SampledPrompt> Sample(string outDir, bool prefix, int n = 1)
    {
        using var vlm = TinyLlava.Create();
        var prompts = TinyLlava.Prompts(Path.Combine(_dir, "img"), n);
        var o = new SampleStageOptions(Small(prefix), TinyLlava.Template, new ImagePathRule(Path.Combine(_dir, "img")), Shard.All);
        return SampleRunner.Run(vlm, prompts, outDir, o);
    }

    static IEnumerable<(TreeNode Parent, TreeNode Child)> Edges(TreeNode n) =>
        n.Children.SelectMany(c => Edges(c).Prepend((n, c)));

    [Fact]
    public void PrefixCacheTree_EqualsNoPrefixCacheTree_WithFewerForwardedTokens()
    {
        string a = Path.Combine(_dir, "cached"), b = Path.Combine(_dir, "recompute");
        var ra = Sample(a, prefix: true);
        var rb = Sample(b, prefix: false);
        var ta = TreeFile.Read(a, "q0");
        var tb = TreeFile.Read(b, "q0");
        var na = ta.DescendantsAndSelf().ToList();
        var nb = tb.DescendantsAndSelf().ToList();
        Assert.True(na.Count > 6, $"tree too small to compare: {na.Count} nodes");
        Assert.Equal(nb.Count, na.Count);
        for (int i = 0; i < na.Count; i++)
        {
            Assert.Equal(nb[i].Text, na[i].Text);
            Assert.Equal(nb[i].IsFinal, na[i].IsFinal);
            Assert.Equal(nb[i].Score, na[i].Score, 4);
            if (i > 0) Assert.Equal(nb[i].TokenLogProbSum!.Value, na[i].TokenLogProbSum!.Value, 4);
        }
        Assert.True(ra[0].ForwardedTokens < rb[0].ForwardedTokens, $"{ra[0].ForwardedTokens} vs {rb[0].ForwardedTokens}");
    }

    [Fact]
    public void TokenLogProbSum_OfASentence_IsItsTeacherForcedLogProb_AndThePaperRewardUsesIt()
    {
        string outDir = Path.Combine(_dir, "t");
        Sample(outDir, prefix: true);
        var root = TreeFile.Read(outDir, "q0");
        Assert.All(root.DescendantsAndSelf().Skip(1), n => Assert.NotNull(n.TokenLogProbSum));
        Assert.Null(root.TokenLogProbSum);

        // first sentences whose text re-encodes to exactly the sampled tokens: no EOS, nothing trimmed, no id that
        // decodes to '#' (outside the character table) or '?' (also the unknown id)
        using var vlm = TinyLlava.Create();
        var tok = new CharTokenizer();
        var checkable = root.Children.Where(c => !c.IsFinal && tok.Encode(c.NewText, addBos: false).Length == c.NumTokens
                                                 && !c.NewText.Contains('#') && !c.NewText.Contains('?')).ToList();
        Assert.NotEmpty(checkable);
        long[] prompt = vlm.PromptIds(root.Text);
        string image = Path.Combine(_dir, "img", "img0.png");
        var seqs = checkable.Select(c => new Csr.Train.Dpo.DpoSequence([.. prompt, .. tok.Encode(c.NewText, addBos: false).Select(i => (long)i)], prompt.Length, image)).ToList();
        // teacher-forced on the pixels the sample stage saw (its default preprocessing: no pad)
        var policy = new Csr.Train.Dpo.LlavaDpoModel(vlm, new Csr.Train.Dpo.DpoOptions { LoraR = 2, LoraAlpha = 4, LoraDropout = 0, ImageAspectRatio = "none" });
        policy.SetTraining(false);
        double[] forced;
        using (TorchSharp.torch.no_grad())
        using (policy.ReferenceMode())
        using (var lp = policy.SequenceLogProbs(seqs))
            forced = lp.to_type(TorchSharp.torch.ScalarType.Float64).data<double>().ToArray();
        for (int i = 0; i < checkable.Count; i++)
        {
            Assert.Equal(forced[i], checkable[i].TokenLogProbSum!.Value, 4);
            // the paper's R_T is the sentence probability itself: lambda 0 leaves R_T alone
            Assert.Equal(Math.Exp(forced[i]), CalibratedReward.PaperReward(checkable[i], root, 0.0), 6);
        }
    }

    [Fact]
    public void TinyModelTree_Invariants()
    {
        string outDir = Path.Combine(_dir, "t");
        Sample(outDir, prefix: true);
        var root = TreeFile.Read(outDir, "q0");
        Assert.Equal(TinyLlava.Template.Format("<image>\ndescribe it."), root.Text);
        Assert.Equal(5, root.Children.Count);
        foreach (var (parent, child) in Edges(root))
        {
            Assert.True(parent.Children.Count == 5);
            Assert.StartsWith(parent.Text, child.Text);
            Assert.True(child.Score < parent.Score, "sequence scores are mean log-probs < 0");
            Assert.InRange(child.NumTokens!.Value, 1, 5);
            // a live child ended its sentence with '.' or ran out of tokens; a final one hit EOS or the length limit
            if (child.IsFinal) Assert.True(child.Text.Length >= 60 || child.NumTokens < 5 && !child.NewText.EndsWith('.') , child.Text);
            else Assert.True(child.NewText.EndsWith('.') || child.NumTokens == 5);
        }
        // per depth at most 1 best + 2 worst live nodes are expanded (or all, when fewer than 5 are live)
        var depth = new List<TreeNode> { root };
        while (depth.Count > 0)
        {
            var expanded = depth.SelectMany(n => n.Children).Where(c => c.Children.Count > 0).ToList();
            var live = depth.SelectMany(n => n.Children).Where(c => !c.IsFinal).ToList();
            Assert.Equal(live.Count >= 5 ? 3 : live.Count, expanded.Count);
            depth = expanded;
        }
    }
}
