using Csr.Models.Clip;
using Csr.Models.Tokenizers;
using Csr.Models.Vision;
using Csr.Native;
using Csr.Train.Scoring;
using static TorchSharp.torch;

namespace Csr.Tests.Pipeline;

public class ClipScorerTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("csr-clip-").FullName;

    public ClipScorerTests() => TorchRuntime.EnsureInitialised();

    public void Dispose() => Directory.Delete(_dir, true);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Scores_AreLogitsPerImageOfEachSentenceWithItsOwnImage(bool fused)
    {
        manual_seed(5);
        string[] texts = ["a red cat.", "two dogs run", "a blue car is here.", "cat"];
        var (vocab, merges) = ClipBpeFiles.Build(texts);
        var tok = new ClipTokenizer(vocab, merges);
        var clip = new ClipModel(ClipConfig.Tiny(vocab: Math.Max(64, vocab.Values.Max() + 1), eosTokenId: vocab["<|endoftext|>"]));
        clip.eval();
        var proc = new ImageProcessor(ImageProcessorConfig.ForSize(32));
        var paths = new[] { Path.Combine(_dir, "a.png"), Path.Combine(_dir, "b.png") };
        for (int i = 0; i < 2; i++) TinyLlava.WriteImage(paths[i], 10 + i);
        var items = new[] { new ScoreItem(0, texts[0]), new ScoreItem(1, texts[1]), new ScoreItem(1, texts[2]), new ScoreItem(0, texts[3]) };

        var scorer = new ClipSentenceScorer(clip, tok, proc, fused) { TextBatch = 3 };
        var scores = scorer.Score(paths, items);

        using var _ = no_grad();
        var pixels = stack(paths.Select(proc.Preprocess).ToList());
        var (ids, mask) = tok.EncodeBatch(texts, 77);
        var full = clip.LogitsPerImage(pixels, ids, mask); // [I, S] HF logits_per_image
        for (int s = 0; s < items.Length; s++)
            Assert.Equal(full[items[s].Image, s].item<float>(), scores[s], 3);
    }
}
