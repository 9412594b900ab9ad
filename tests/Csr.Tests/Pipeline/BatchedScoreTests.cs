using Csr.Models.Clip;
using Csr.Models.Tokenizers;
using Csr.Models.Vision;
using Csr.Native;
using Csr.Train.Pipeline;
using Csr.Train.Scoring;
using static TorchSharp.torch;

namespace Csr.Tests.Pipeline;

/// <summary>CLIP scores of trees scored many at a time (one text-tower call over their sentences) against one tree at a time.</summary>
public class BatchedScoreTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("csr-score-batch-").FullName;

    public BatchedScoreTests() => TorchRuntime.EnsureInitialised();

    public void Dispose() => Directory.Delete(_dir, true);

    static readonly string[] Sentences = ["a red cat sits.", "two dogs run far away from the blue car.", "a blue car is here.", "the cat.", "dogs and cats play in the red car all day."];

    static TreeNode Tree(int seed)
    {
        var rng = new Random(seed);
        var root = new TreeNode { Text = "USER: <image>\ndescribe. ASSISTANT:" };
        void Grow(TreeNode parent, int depth)
        {
            for (int i = 0; i < 3; i++)
            {
                string s = Sentences[rng.Next(Sentences.Length)];
                var c = new TreeNode { Text = parent.Text + " " + s, NewText = s, Score = parent.Score - rng.NextDouble(), IsFinal = depth == 1 };
                parent.Children.Add(c);
                if (depth < 1) Grow(c, depth + 1);
            }
        }
        Grow(root, 0);
        return root;
    }

    [Fact]
    public void BatchedScores_EqualPerTreeScores()
    {
        manual_seed(5);
        var (vocab, merges) = ClipBpeFiles.Build(Sentences);
        var tok = new ClipTokenizer(vocab, merges);
        var clip = new ClipModel(ClipConfig.Tiny(vocab: Math.Max(64, vocab.Values.Max() + 1), eosTokenId: vocab["<|endoftext|>"]));
        using var scorer = new ClipSentenceScorer(clip, tok, new ImageProcessor(ImageProcessorConfig.ForSize(32))) { TextBatch = 7 };
        string images = Path.Combine(_dir, "img"), trees = Path.Combine(_dir, "trees");
        Directory.CreateDirectory(images);
        var prompts = new List<PromptEntry>();
        for (int i = 0; i < 5; i++)
        {
            TinyLlava.WriteImage(Path.Combine(images, $"im{i}.png"), 30 + i);
            prompts.Add(new PromptEntry($"p{i}", $"im{i}.png", "<image>\ndescribe."));
            TreeFile.Write(trees, $"p{i}", Tree(i));
        }
        string one = Path.Combine(_dir, "one"), batched = Path.Combine(_dir, "batched");
        ScoreStage.Run(prompts, trees, one, new ImagePathRule(images), scorer, promptsPerBatch: 1);
        ScoreStage.Run(prompts, trees, batched, new ImagePathRule(images), scorer, promptsPerBatch: 3);
        var perImage = new HashSet<double>();
        foreach (var p in prompts)
        {
            var e = TreeFile.Read(one, p.Id).DescendantsAndSelf().Skip(1).ToList();
            var a = TreeFile.Read(batched, p.Id).DescendantsAndSelf().Skip(1).ToList();
            Assert.Equal(e.Count, a.Count);
            for (int k = 0; k < e.Count; k++)
            {
                Assert.True(Math.Abs(e[k].ClipScore!.Value - a[k].ClipScore!.Value) <= 1e-4, $"{p.Id} node {k}: {a[k].ClipScore} vs {e[k].ClipScore}");
                if (e[k].NewText == Sentences[0]) perImage.Add(Math.Round(e[k].ClipScore!.Value, 4));
            }
        }
        Assert.True(perImage.Count > 1, "one sentence scores the same against every image: the test cannot see a wrong image");
    }
}
