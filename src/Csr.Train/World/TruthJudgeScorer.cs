using Csr.Train.Eval;
using Csr.Train.Scoring;

namespace Csr.Train.World;

/// <summary>
/// A diagnostic judge: the CLIP's score of each sentence, lowered by <see cref="Penalty"/> when the sentence names a shape
/// that its scene does not contain (matched as CHAIR matches words). CSR's rank rule then ranks every hallucinated sentence
/// below its true siblings, and the CLIP orders the rest. It shows what a perfect judge of object presence would give;
/// it reads the scenes' truth, so its figures are never CSR results.
/// </summary>
public sealed class TruthJudgeScorer(ISentenceScorer clip, ObjectLexicon lexicon, IReadOnlyDictionary<string, Scene> scenesById) : ISentenceScorer
{
    public const double Penalty = 100;

    public double[] Score(IReadOnlyList<string> imagePaths, IReadOnlyList<ScoreItem> items)
    {
        var scores = clip.Score(imagePaths, items);
        var present = imagePaths.Select(p =>
        {
            var id = Path.GetFileNameWithoutExtension(p);
            return scenesById.TryGetValue(id, out var scene)
                ? scene.Categories.ToHashSet()
                : throw new InvalidDataException($"truth judge: image {p} is not a scene of this world");
        }).ToList();
        for (int i = 0; i < items.Count; i++)
            if (lexicon.Extract(items[i].Text).Any(m => !present[items[i].Image].Contains(m.Category))) scores[i] -= Penalty;
        return scores;
    }
}
