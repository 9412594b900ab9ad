using Csr.Native;
using Csr.Train.Eval;
using Csr.Train.World;
using Csr.Train.World.Training;
using static TorchSharp.torch;

namespace Csr.Tests.World;

public class WorldProbeTests
{
    public WorldProbeTests() => TorchRuntime.EnsureInitialised();

    /// <summary>[N, cells, shapes + 1]: each patch one-hot of the shape drawn in its cell (0 = empty), features that
    /// say exactly where each shape is.</summary>
    static Tensor CellFeatures(IReadOnlyList<Scene> scenes, WorldVocabulary vocab, int cells) =>
        nn.functional.one_hot(WorldPixels.CellLabels(scenes, Enumerable.Range(0, scenes.Count).ToList(), vocab, cells, colour: false),
            vocab.Shapes.Count + 1).to_type(ScalarType.Float32);

    [Fact]
    public void PresenceProbeReadsShapesFromFeaturesThatShowThemAndFailsOnOtherScenesFeatures()
    {
        using var scope = NewDisposeScope();
        var gen = new SceneGenerator(7);
        int cells = gen.Settings.GridCells;
        var train = gen.GenerateMany(200, SceneGenerator.TrainStream).ToList();
        var held = gen.GenerateMany(100, SceneGenerator.EvalStream).ToList();
        var sampler = new PopeSampler(gen.Vocabulary.Shapes.Select(s => s.Name).ToList(),
            train.Select(s => new AnnotatedImage(s.ImageFileName, s.Categories.ToHashSet())));
        var questions = sampler.Sample(held.Select(s => new AnnotatedImage(s.ImageFileName, s.Categories.ToHashSet())), PopeSplit.Adversarial, 3, 7);
        var index = WorldProbe.Questions(questions, held, gen.Vocabulary);
        Assert.Equal(questions.Count, index.Count);
        Assert.Equal(questions.Count(q => q.LabelYes), index.Count(q => q.Yes));

        var f = CellFeatures(train, gen.Vocabulary, cells);
        var g = CellFeatures(held, gen.Vocabulary, cells);
        var max = WorldProbe.FitPresence(f, train, g, held, index, gen.Vocabulary, perPatchMax: true);
        Assert.True(max.HeldOut > 0.99, $"held-out {max.HeldOut}");
        Assert.True(max.Pope > 0.99, $"POPE {max.Pope}");

        // the same read-out of another scene's features knows only how common each shape is: chance on balanced probes
        var wrong = WorldProbe.FitPresence(f.roll(1, 0), train, g.roll(1, 0), held, index, gen.Vocabulary, perPatchMax: true);
        Assert.True(wrong.Pope < 0.7, $"POPE on other scenes' features {wrong.Pope}");
    }
}
