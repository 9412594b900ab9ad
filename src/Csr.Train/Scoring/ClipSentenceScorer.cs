using Csr.Kernels;
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

    readonly FusedOps _ops;

    public ClipSentenceScorer(ClipModel clip, ClipTokenizer tokenizer, ImageProcessor images, bool fused = false)
    {
        _ops = FusedOps.For(fused);
        _clip = clip;
        _tokenizer = tokenizer;
        _images = images;
        _clip.eval();
    }

    /// <summary>
    /// Loads model, BPE files and preprocessor (CLIP style: no pad-to-square) from an HF CLIP directory through
    /// <see cref="ClipPretrained.Load"/>, which also checks the tokenizer against the text tower.
    /// </summary>
    public static ClipSentenceScorer Load(string dir, ScalarType dtype = ScalarType.Float32, bool fused = false, Device? device = null)
    {
        var p = ClipPretrained.Load(dir, dtype, device);
        return new ClipSentenceScorer(p.Model, p.Tokenizer, p.Processor, fused);
    }

    public int TextBatch { get; init; } = 256;

    public double[] Score(IReadOnlyList<string> imagePaths, IReadOnlyList<ScoreItem> items)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var device = _clip.logit_scale.device;
        var pixels = stack(imagePaths.Select(p => _images.Preprocess(p)).ToList()).to(_clip.logit_scale.dtype, device); // [I, 3, S, S]
        var img = _clip.GetImageFeatures(pixels);                                                                 // [I, D]
        double scale = _clip.logit_scale.exp().to_type(ScalarType.Float32).item<float>();
        var scores = new double[items.Count];
        for (int s = 0; s < items.Count; s += TextBatch)
        {
            using var inner = NewDisposeScope();
            var chunk = items.Skip(s).Take(TextBatch).ToList();
            var (ids, mask) = _tokenizer.EncodeBatch(chunk.Select(c => c.Text).ToList(), 77);
            // padded to the chunk's longest sentence (as processor(padding=True)): the text tower is causal and pools at
            // each sentence's end, so the columns past it change nothing
            long longest = mask.sum(1).max().item<long>();
            if (longest < ids.shape[1]) { ids = ids.narrow(1, 0, longest); mask = mask.narrow(1, 0, longest); }
            var txt = _clip.GetTextFeatures(ids.to(device), mask.to(device));               // [S, D]
            var imageIndex = tensor(chunk.Select(c => (long)c.Image).ToArray(), device: device); // [S]
            var logits = _ops.ClipPairScores(img, txt, imageIndex, scale);                 // [S] scale * cos
            var v = logits.to_type(ScalarType.Float32).data<float>().ToArray();
            for (int k = 0; k < v.Length; k++) scores[s + k] = v[k];
        }
        return scores;
    }

    public void Dispose() => _clip.Dispose();
}
