using Csr.Models.Clip;
using Csr.Models.Tokenizers;
using Csr.Models.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Train.Scoring;

/// <summary>
/// CLIP logits_per_image of each sentence against its own image (= exp(logit_scale) * cos), as the official
/// score.py, but batched: each image of the batch is encoded once, the sentences in chunks of
/// <see cref="TextBatch"/>.
/// </summary>
public sealed class ClipSentenceScorer : ISentenceScorer, IDisposable
{
    readonly ClipModel _clip;
    readonly ClipTokenizer _tokenizer;
    readonly ImageProcessor _images;

    public ClipSentenceScorer(ClipModel clip, ClipTokenizer tokenizer, ImageProcessor images)
    {
        _clip = clip;
        _tokenizer = tokenizer;
        _images = images;
        _clip.eval();
    }

    /// <summary>Loads model, BPE files and preprocessor (CLIP style: no pad-to-square) from an HF CLIP directory.</summary>
    public static ClipSentenceScorer Load(string dir, ScalarType dtype = ScalarType.Float32)
    {
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"CLIP directory not found: {dir}");
        return new ClipSentenceScorer(ClipModel.FromPretrained(dir, dtype), ClipTokenizer.FromDirectory(dir), ImageProcessor.FromPretrained(dir, "none"));
    }

    public int TextBatch { get; init; } = 256;

    public double[] Score(IReadOnlyList<string> imagePaths, IReadOnlyList<ScoreItem> items)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var pixels = stack(imagePaths.Select(p => _images.Preprocess(p)).ToList()).to_type(_clip.logit_scale.dtype); // [I, 3, S, S]
        var img = _clip.GetImageFeatures(pixels);                                                                 // [I, D]
        img = img / img.norm(-1, true, 2);
        double scale = _clip.logit_scale.exp().to_type(ScalarType.Float32).item<float>();
        var scores = new double[items.Count];
        for (int s = 0; s < items.Count; s += TextBatch)
        {
            using var inner = NewDisposeScope();
            var chunk = items.Skip(s).Take(TextBatch).ToList();
            var (ids, mask) = _tokenizer.EncodeBatch(chunk.Select(c => c.Text).ToList(), 77);
            var txt = _clip.GetTextFeatures(ids, mask);                                     // [S, D]
            txt = txt / txt.norm(-1, true, 2);
            var own = img.index_select(0, tensor(chunk.Select(c => (long)c.Image).ToArray())); // [S, D]
            var cos = (own * txt).sum(-1).to_type(ScalarType.Float32) * scale;             // [S]
            var v = cos.data<float>().ToArray();
            for (int k = 0; k < v.Length; k++) scores[s + k] = v[k];
        }
        return scores;
    }

    public void Dispose() => _clip.Dispose();
}
