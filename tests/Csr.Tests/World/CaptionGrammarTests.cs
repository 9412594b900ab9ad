using Csr.Train.Eval;
using Csr.Train.World;

namespace Csr.Tests.World;

public class CaptionGrammarTests
{
    private static readonly ObjectLexicon Lexicon = new(WorldVocabulary.Default.ObjectWords());

    [Fact]
    public void TruthCaptionIsOneSentencePerObjectInOrder()
    {
        var scene = new Scene("x", 0,
        [
            new WorldObject("circle", "red", "small", 0.3, 0.3, 0.1, 0),
            new WorldObject("star", "orange", "large", 0.7, 0.7, 0.1, 0),
        ], "plain", 0);
        Assert.Equal("There is a red circle. There is an orange star", new CaptionGrammar().TruthCaption(scene));
    }

    [Fact]
    public void WithoutPriorTrainingCaptionsAreTheTruth()
    {
        var g = new SceneGenerator(4);
        var grammar = new CaptionGrammar();
        var settings = new WorldSettings { HallucinationRate = 0, SynonymRate = 0 };
        var rng = new SplitMix64(1);
        foreach (var s in g.GenerateMany(50))
        {
            var (text, hal) = grammar.TrainingCaption(s, settings, rng);
            Assert.Equal(grammar.TruthCaption(s), text);
            Assert.Empty(hal);
        }
    }

    [Fact]
    public void FullPriorNamesEveryAbsentCompanionAndOnlyThose()
    {
        var g = new SceneGenerator(4);
        var grammar = new CaptionGrammar();
        var settings = new WorldSettings { HallucinationRate = 1, SynonymRate = 0.5 };
        var rng = new SplitMix64(2);
        var chair = new ChairEvaluator(Lexicon);
        foreach (var s in g.GenerateMany(100))
        {
            var (text, hal) = grammar.TrainingCaption(s, settings, rng);
            var expected = s.Objects.Select(o => g.Vocabulary.Companion[o.Shape]).Where(c => !s.Contains(c)).Distinct().OrderBy(x => x).ToList();
            Assert.Equal(expected, hal.OrderBy(x => x).ToList());
            var scored = chair.Score(new ChairCaption(s.Id, text, s.Categories.ToHashSet()));
            Assert.Equal(expected, scored.Hallucinated.Select(m => m.Category).OrderBy(x => x).ToList());
            Assert.Equal(s.Objects.Count + expected.Count, scored.Mentions.Count);
        }
    }

    [Fact]
    public void ProbeQuestionsFollowPopeWording()
    {
        Assert.Equal("Is there a circle in the image?", CaptionGrammar.ProbeQuestion("circle"));
        Assert.Equal(PopeSampler.Question("hexagon"), CaptionGrammar.ProbeQuestion("hexagon"));
        Assert.True(PopeAnswerRule.IsYes(CaptionGrammar.ProbeAnswer(true)));
        Assert.False(PopeAnswerRule.IsYes(CaptionGrammar.ProbeAnswer(false)));
    }
}
