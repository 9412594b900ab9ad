namespace Csr.Train.Scoring;

/// <summary>One sentence to score against image <see cref="Image"/> (an index into the batch's image list).</summary>
public readonly record struct ScoreItem(int Image, string Text);

/// <summary>CLIP relevance of sentences to their images (logits_per_image = logit_scale * cos), batched across nodes and prompts.</summary>
public interface ISentenceScorer
{
    /// <returns>One score per item, in order.</returns>
    double[] Score(IReadOnlyList<string> imagePaths, IReadOnlyList<ScoreItem> items);
}
