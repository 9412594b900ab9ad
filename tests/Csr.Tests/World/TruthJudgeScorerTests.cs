using Csr.Train.Eval;
using Csr.Train.Scoring;
using Csr.Train.World;

namespace Csr.Tests.World;

public class TruthJudgeScorerTests
{
    sealed class FixedScorer(double[] scores) : ISentenceScorer
    {
        public double[] Score(IReadOnlyList<string> imagePaths, IReadOnlyList<ScoreItem> items) => (double[])scores.Clone();
    }

    static Scene SceneOf(string id, params string[] shapes) =>
        new(id, 0, shapes.Select(s => new WorldObject(s, "red", "small", 0.5, 0.5, 0.1, 0)).ToList(), "plain", 0);

    [Fact]
    public void Sentences_naming_an_absent_shape_score_the_penalty_below_their_clip_score_and_the_rest_keep_it()
    {
        var scenes = new[] { SceneOf("a", "circle", "star"), SceneOf("b", "square") }.ToDictionary(s => s.Id);
        var lexicon = new ObjectLexicon(WorldVocabulary.Default.ObjectWords());
        var items = new List<ScoreItem>
        {
            new(0, "There is a red circle."),  // present
            new(0, "There is a red square."),  // absent in a, present in b
            new(1, "There is a red square"),   // present
            new(1, "There is a blue circle"),  // absent
            new(0, "There is a red star. There is a red heart."), // one of two absent
            new(0, "There is a red"),          // names no shape
        };
        double[] clip = [16, 17, 15, 18, 14, 12];
        var judge = new TruthJudgeScorer(new FixedScorer(clip), lexicon, scenes);
        var s = judge.Score(["/x/a.png", "/x/b.png"], items);
        Assert.Equal(new[] { 16, 17 - TruthJudgeScorer.Penalty, 15, 18 - TruthJudgeScorer.Penalty, 14 - TruthJudgeScorer.Penalty, 12 }, s);
        // the ranks it implies: every true sentence above every hallucinated one of the same image
        Assert.True(s[0] > s[1] && s[2] > s[3]);

        var unknown = Assert.Throws<InvalidDataException>(() => judge.Score(["/x/zz.png"], [new ScoreItem(0, "There is a red circle.")]));
        Assert.Contains("zz.png", unknown.Message);
    }
}
