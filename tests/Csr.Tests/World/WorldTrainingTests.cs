using Csr.Models.Vision;
using Csr.Native;
using Csr.Train.Pipeline;
using Csr.Train.World;
using Csr.Train.World.Training;
using static TorchSharp.torch;

namespace Csr.Tests.World;

public class WorldTrainingTests
{
    public WorldTrainingTests() => TorchRuntime.EnsureInitialised();

    [Fact]
    public void RenderedPixelsEqualTheImageProcessorsOutputForTheSavedPng()
    {
        var dir = Path.Combine(Path.GetTempPath(), "csr-wpix-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var g = new SceneGenerator(3);
            var scenes = g.GenerateMany(2).ToList();
            var renderer = new SceneRenderer(g.Settings.ImageSize);
            using var direct = WorldPixels.Build(renderer, scenes);
            int s = g.Settings.ImageSize;
            // the LLaVA checkpoint's processor: pad to square, shortest edge = crop = image size
            var proc = new ImageProcessor(new ImageProcessorConfig { ShortestEdge = s, CropHeight = s, CropWidth = s, ImageAspectRatio = "pad" });
            for (int i = 0; i < scenes.Count; i++)
            {
                var path = Path.Combine(dir, scenes[i].ImageFileName);
                renderer.RenderToFile(scenes[i], path);
                using var viaPng = proc.Preprocess(path);
                Assert.Equal(new long[] { 3, s, s }, viaPng.shape);
                double maxDiff = (viaPng - direct[i]).abs().max().item<float>();
                Assert.True(maxDiff < 1e-5, $"scene {i}: max |diff| {maxDiff}");
            }
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void WorldTokenizerMakesEachGrammarWordOneTokenAndRoundTrips()
    {
        var dir = Path.Combine(Path.GetTempPath(), "csr-wtok-" + Guid.NewGuid().ToString("N"));
        try
        {
            var grammar = new CaptionGrammar();
            var (pieces, tok, imageId, padId) = WorldLlavaTrainer.BuildTokenizer(WorldLlavaTrainer.Words(grammar, PromptTemplate.Default), dir, 512);
            Assert.Equal(pieces.Count, imageId);
            Assert.Equal(imageId, tok.TokenToId("<image>"));
            var sentence = "There is an orange hexagon.";
            var ids = tok.Encode(sentence, addBos: false);
            Assert.Equal(6, ids.Length); // There, is, an, orange, hexagon, .
            Assert.Equal(tok.TokenToId("."), ids[^1]);
            Assert.Equal(sentence, tok.Decode(ids).Trim());
            var prompt = PromptTemplate.Default.Format("<image>\nDescribe this image.");
            var pids = tok.Encode(prompt, addBos: true);
            Assert.Single(pids, imageId);
            Assert.DoesNotContain(pids, id => id == tok.UnkId);
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public void CacheKeyChangesWithAnySettingAndSeed()
    {
        var t = PromptTemplate.Default;
        var k = WorldBaseModels.Key(1, new WorldSettings(), new WorldModelSettings(), t);
        Assert.Equal(k, WorldBaseModels.Key(1, new WorldSettings(), new WorldModelSettings(), t));
        Assert.NotEqual(k, WorldBaseModels.Key(2, new WorldSettings(), new WorldModelSettings(), t));
        Assert.NotEqual(k, WorldBaseModels.Key(1, new WorldSettings { HallucinationRate = 0.3 }, new WorldModelSettings(), t));
        Assert.NotEqual(k, WorldBaseModels.Key(1, new WorldSettings(), new WorldModelSettings { ClipSteps = 5 }, t));
    }

    [Fact]
    public void ClipKeyIgnoresLanguageModelSettingsOnly()
    {
        var m = new WorldModelSettings();
        var k = WorldBaseModels.ClipKey(1, new WorldSettings(), m);
        Assert.Equal(k, WorldBaseModels.ClipKey(1, new WorldSettings(), m with { LlavaSteps = 7, LmHidden = 64, ProbeShare = 0.9 }));
        Assert.NotEqual(k, WorldBaseModels.ClipKey(2, new WorldSettings(), m));
        Assert.NotEqual(k, WorldBaseModels.ClipKey(1, new WorldSettings { ImageSize = 64 }, m));
        Assert.NotEqual(k, WorldBaseModels.ClipKey(1, new WorldSettings(), m with { ClipSteps = 5 }));
        Assert.NotEqual(k, WorldBaseModels.ClipKey(1, new WorldSettings(), m with { VisionHidden = 96 }));
        Assert.NotEqual(k, WorldBaseModels.ClipKey(1, new WorldSettings(), m with { TrainScenes = 10 }));
        // the scorer's settings key the scorer only
        Assert.Equal(k, WorldBaseModels.ClipKey(1, new WorldSettings(), m with { ScorerSynonymRate = 0, ScorerSteps = 1 }));
        Assert.NotEqual(WorldBaseModels.ScorerKey(m), WorldBaseModels.ScorerKey(m with { ScorerSynonymRate = 0 }));
        Assert.NotEqual(WorldBaseModels.ScorerKey(m), WorldBaseModels.ScorerKey(m with { ScorerSameColourNegatives = 0.5 }));
        Assert.NotEqual(WorldBaseModels.ScorerKey(m), WorldBaseModels.ScorerKey(m with { ScorerPairLoss = 0.5 }));
        Assert.NotEqual(WorldBaseModels.ScorerKey(m), WorldBaseModels.ScorerKey(m with { ScorerFreezeVision = true }));
        Assert.NotEqual(WorldBaseModels.ScorerKey(m), WorldBaseModels.ScorerKey(m with { ScorerBindingNegatives = 0.25 }));
        Assert.Equal(WorldBaseModels.Key(1, new WorldSettings(), m, PromptTemplate.Default),
            WorldBaseModels.Key(1, new WorldSettings(), m with { ScorerBindingNegatives = 0.25 }, PromptTemplate.Default));
        Assert.Throws<ArgumentException>(() => (m with { ScorerBindingNegatives = 1.5 }).Validate());
        // the full key does change with LLaVA settings
        Assert.NotEqual(WorldBaseModels.Key(1, new WorldSettings(), m, PromptTemplate.Default),
            WorldBaseModels.Key(1, new WorldSettings(), m with { LlavaSteps = 7 }, PromptTemplate.Default));
    }

    [Fact]
    public void LlavaInitStdSetsTheLanguageModelsWeightScaleAndTheObjectWordLossAddsToTheFirstStepsLoss()
    {
        var dir = Path.Combine(Path.GetTempPath(), "csr-winit-" + Guid.NewGuid().ToString("N"));
        try
        {
            var world = new WorldSettings { ImageSize = 32, GridCells = 2 };
            var gen = new SceneGenerator(4, world);
            var m = WorldModelSettings.Tiny with { LlavaSteps = 1, ProbeShare = 1.0, LmHidden = 64, LmIntermediate = 128 };
            var scenes = gen.GenerateMany(m.TrainScenes).ToList();
            using var pixels = WorldPixels.Build(new SceneRenderer(world.ImageSize, gen.Vocabulary), scenes);
            var clip = WorldClipTrainer.Train(scenes, pixels, gen.Vocabulary, world, m, 4).Model;
            WorldLlavaTrainer.Result Train(WorldModelSettings s) =>
                WorldLlavaTrainer.Train(clip, scenes, pixels, gen.Vocabulary, world, s, PromptTemplate.Default, 4, Path.Combine(dir, Guid.NewGuid().ToString("N")));
            double Std(WorldLlavaTrainer.Result r) => r.Model.language_model.model.layers[0].mlp.gate_proj.weight!.std().item<float>();

            var wide = Train(m with { LmInitStd = 0.1, ObjectWordAux = 0 });
            var hf = Train(m with { LmInitStd = 0.02, ObjectWordAux = 0 });
            Assert.InRange(Std(wide), 0.085, 0.115);
            Assert.InRange(Std(hf), 0.0, 0.04);

            // the first step's loss is taken before any update: with the read-out it gains the logistic loss of an untrained
            // head (about ln 2) times the weight, and nothing else changes
            var aux = Train(m with { LmInitStd = 0.1, ObjectWordAux = 1.0 });
            Assert.InRange(aux.FinalLoss - wide.FinalLoss, 0.3, 1.5);
            var half = Train(m with { LmInitStd = 0.1, ObjectWordAux = 0.5 });
            Assert.InRange((half.FinalLoss - wide.FinalLoss) / (aux.FinalLoss - wide.FinalLoss), 0.45, 0.55);
            foreach (var r in new[] { wide, hf, aux, half }) r.Model.Dispose();
            clip.Dispose();
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public void ChangingOnlyTheLlavaSettingsReusesTheCachedClipAndBuildsTheSameLlavaAsAFreshBuild()
    {
        var root = Path.Combine(Path.GetTempPath(), "csr-wcache-" + Guid.NewGuid().ToString("N"));
        try
        {
            var world = new WorldSettings { ImageSize = 32, GridCells = 2 };
            var m = WorldModelSettings.Tiny with { LlavaSteps = 3 };
            var t = PromptTemplate.Default;
            var first = WorldBaseModels.BuildOrLoad(Path.Combine(root, "a"), 5, world, m, t);
            Assert.False(first.FromCache);
            Assert.False(first.ClipFromCache);
            var again = WorldBaseModels.BuildOrLoad(Path.Combine(root, "a"), 5, world, m, t);
            Assert.True(again.FromCache);
            Assert.Equal(first.LlavaFinalLoss, again.LlavaFinalLoss);
            Assert.InRange(first.ClipSiblingAccuracy!.Value, 0.0, 1.0);
            Assert.Equal(first.ClipSiblingAccuracy, again.ClipSiblingAccuracy); // read back from the marker

            var m2 = m with { LlavaSteps = 4 };
            var reused = WorldBaseModels.BuildOrLoad(Path.Combine(root, "a"), 5, world, m2, t);
            Assert.False(reused.FromCache);
            Assert.True(reused.ClipFromCache);
            Assert.Equal(first.ClipDir, reused.ClipDir);
            var fresh = WorldBaseModels.BuildOrLoad(Path.Combine(root, "b"), 5, world, m2, t);
            Assert.False(fresh.ClipFromCache);
            // the LLaVA trained on the reloaded CLIP is the one a fresh build trains
            Assert.Equal(fresh.LlavaFinalLoss, reused.LlavaFinalLoss);
            var shards = Directory.GetFiles(fresh.LlavaDir, "*.safetensors").Select(Path.GetFileName).Order().ToList();
            Assert.NotEmpty(shards);
            foreach (var shard in shards)
                Assert.Equal(File.ReadAllBytes(Path.Combine(fresh.LlavaDir, shard!)), File.ReadAllBytes(Path.Combine(reused.LlavaDir, shard!)));
        }
        finally { if (Directory.Exists(root)) Directory.Delete(root, true); }
    }

    [Fact]
    public void ClipSiblingAccuracyEqualsAPairByPairReference()
    {
        var world = new WorldSettings { ImageSize = 32, GridCells = 2 };
        var m = WorldModelSettings.Tiny with { ClipSteps = 4 };
        var gen = new SceneGenerator(4, world);
        // (the sibling check is what the scorer tuning is judged by)
        var vocab = gen.Vocabulary;
        var train = gen.GenerateMany(16).ToList();
        var renderer = new SceneRenderer(world.ImageSize, vocab);
        using var pixels = WorldPixels.Build(renderer, train);
        var r = WorldClipTrainer.Train(train, pixels, vocab, world, m, 4);
        using var model = r.Model;
        var check = gen.GenerateMany(5, WorldBaseModels.ClipCheckStream).ToList();
        using var checkPixels = WorldPixels.Build(renderer, check);
        double batched = WorldClipTrainer.SiblingAccuracy(model, r.Tokenizer, check, checkPixels, vocab);

        // reference: one image and two sentences at a time
        int right = 0, total = 0;
        using var _ = no_grad();
        for (int i = 0; i < check.Count; i++)
        {
            var s = check[i];
            foreach (var o in s.Objects)
            {
                var comp = vocab.Companion.GetValueOrDefault(o.Shape);
                var absent = comp != null && !s.Contains(comp) ? new List<string> { comp } : vocab.Shapes.Select(x => x.Name).Where(x => !s.Contains(x)).ToList();
                foreach (var noun in vocab.Shape(o.Shape).Synonyms.Prepend(o.Shape))
                    foreach (var a in absent)
                    {
                        var t = CaptionGrammar.ObjectSentence(o.Colour, noun)[..^1];
                        var f = CaptionGrammar.ObjectSentence(o.Colour, a)[..^1];
                        var (ids, mask) = r.Tokenizer.EncodeBatch(new[] { t, f }, 16);
                        using var l = model.LogitsPerImage(checkPixels.narrow(0, i, 1), ids, mask);
                        total++;
                        if (l[0, 0].item<float>() > l[0, 1].item<float>()) right++;
                    }
            }
        }
        Assert.True(total > 5);
        Assert.Equal((double)right / total, batched, 12);
    }

    [Fact]
    public void ScorerNegativesBindColourToShapeAtTheBindingShareAndNameAnAbsentShapeOtherwise()
    {
        var vocab = WorldVocabulary.Default;
        var scene = new Scene("s", 0, new[]
        {
            new WorldObject("circle", "yellow", "small", 0, 0, 1, 0),
            new WorldObject("square", "green", "small", 0, 0, 1, 0),
            new WorldObject("hexagon", "yellow", "small", 0, 0, 1, 0),
        }, "plain", 0);
        var o = scene.Objects[1];
        var rng = SplitMix64.For(1, 2, 3);
        var binding = new WorldClipTrainer.Recipe(1, 1e-3, 0, 0.8, 0, 79, BindingNegatives: 1.0);
        int seenColour = 0;
        for (int i = 0; i < 400; i++)
        {
            var (shape, colour) = WorldClipTrainer.Negative(scene, o, vocab, binding, rng);
            Assert.Equal("square", shape);
            Assert.NotEqual("green", colour);
            if (colour == "yellow") seenColour++;
        }
        Assert.InRange(seenColour, 150, 300); // half the draws take a colour seen in the image (the only one here: yellow), plus its share of the rest
        var plain = binding with { BindingNegatives = 0 };
        for (int i = 0; i < 400; i++)
            Assert.False(scene.Contains(WorldClipTrainer.Negative(scene, o, vocab, plain, rng).Shape));
        int bound = Enumerable.Range(0, 1000).Count(_ => WorldClipTrainer.Negative(scene, o, vocab, binding with { BindingNegatives = 0.3 }, rng).Shape == "square");
        Assert.InRange(bound, 240, 360);
    }

    [Fact]
    public void ModelSettingsRejectAShareOutsideZeroToOneByName()
    {
        var e = Assert.Throws<ArgumentException>(() => new WorldModelSettings { ScorerSynonymRate = 1.5 }.Validate());
        Assert.Contains("ScorerSynonymRate", e.Message);
    }

    [Fact]
    public void ProbeConversationsAskDistinctShapesWithTrueAnswers()
    {
        var gen = new SceneGenerator(9);
        var grammar = new CaptionGrammar(gen.Vocabulary);
        var rng = SplitMix64.For(9, 1, 2);
        int multi = 0;
        foreach (var scene in gen.GenerateMany(200))
        {
            var turns = WorldLlavaTrainer.Example(scene, grammar, gen.Settings, rng, probeShare: 1.0, probeTurns: 3);
            Assert.InRange(turns.Count, 1, 3);
            multi += turns.Count == 3 ? 1 : 0;
            var shapes = new List<string>();
            foreach (var (q, a) in turns)
            {
                var shape = gen.Vocabulary.Shapes.Single(s => q == CaptionGrammar.ProbeQuestion(s.Name)).Name;
                shapes.Add(shape);
                Assert.Equal(CaptionGrammar.ProbeAnswer(scene.Contains(shape)), a);
            }
            Assert.Equal(shapes.Count, shapes.Distinct().Count());
        }
        Assert.True(multi > 150, $"only {multi} of 200 conversations had 3 turns");
        // a description is always one turn
        var d = WorldLlavaTrainer.Example(gen.Generate(0), grammar, gen.Settings, rng, probeShare: 0.0, probeTurns: 3);
        Assert.Single(d);
        Assert.Contains(d[0].Question, CaptionGrammar.DescribePrompts);
    }

    [Fact]
    public void TheScorerIsATunedCopyCachedBesideItsClipAndChangingItKeepsTheLlava()
    {
        var root = Path.Combine(Path.GetTempPath(), "csr-wscorer-" + Guid.NewGuid().ToString("N"));
        try
        {
            var world = new WorldSettings { ImageSize = 32, GridCells = 2 };
            var m = WorldModelSettings.Tiny with { LlavaSteps = 2, ScorerSteps = 3 };
            var t = PromptTemplate.Default;
            var first = WorldBaseModels.BuildOrLoad(root, 6, world, m, t);
            Assert.NotEqual(first.ClipDir, first.ScorerDir);
            Assert.StartsWith(Path.GetDirectoryName(first.ClipDir)!, first.ScorerDir);
            Assert.InRange(first.ScorerSiblingAccuracy!.Value, 0.0, 1.0);
            // a complete HF CLIP folder (tokenizer and processor files copied), loadable by the scorer, with other weights
            using (var scorer = Csr.Train.Scoring.ClipSentenceScorer.Load(first.ScorerDir)) { }
            using (var a = Csr.Models.Clip.ClipModel.FromPretrained(first.ClipDir))
            using (var b = Csr.Models.Clip.ClipModel.FromPretrained(first.ScorerDir))
            {
                var wa = a.text_projection.weight!;
                var wb = b.text_projection.weight!;
                Assert.True((wa - wb).abs().max().item<float>() > 0, "tuning left the scorer equal to the CLIP");
            }
            var again = WorldBaseModels.BuildOrLoad(root, 6, world, m, t);
            Assert.True(again.FromCache);
            Assert.Equal(first.ScorerSiblingAccuracy, again.ScorerSiblingAccuracy);
            Assert.Equal(first.ScorerDir, again.ScorerDir);

            // other scorer settings: a new scorer, the same CLIP and LLaVA (keys), nothing retrained but the scorer
            var other = WorldBaseModels.BuildOrLoad(root, 6, world, m with { ScorerSteps = 2 }, t);
            Assert.False(other.FromCache);
            Assert.False(other.ScorerFromCache);
            Assert.True(other.ClipFromCache);
            Assert.Equal(first.LlavaDir, other.LlavaDir);
            Assert.Equal(first.LlavaFinalLoss, other.LlavaFinalLoss); // read from the marker: not retrained
            Assert.NotEqual(first.ScorerDir, other.ScorerDir);
            Assert.Equal(WorldBaseModels.Key(6, world, m, t), WorldBaseModels.Key(6, world, m with { ScorerSteps = 9, ScorerLr = 1 }, t));

            // no tuning: the scorer is the CLIP
            var none = WorldBaseModels.BuildOrLoad(root, 6, world, m with { ScorerSteps = 0 }, t);
            Assert.Equal(none.ClipDir, none.ScorerDir);
        }
        finally { if (Directory.Exists(root)) Directory.Delete(root, true); }
    }

    [Fact]
    public void LlavaKeyTextLeavesOutSettingsAddedLaterWhileAtTheirDefaults()
    {
        // at the values they had before they were settings, the LLaVA's key text is the one older caches were written with
        var m = new WorldModelSettings { ProbeTurns = 1, ObjectWordAux = 0, LmInitStd = 0.02 };
        var json = m.Fingerprint();
        foreach (var name in new[] { "Scorer", "ProbeTurns", "ObjectWordAux", "LmInitStd" })
            Assert.DoesNotContain(name, json);
        var current = new WorldModelSettings().Fingerprint();
        Assert.Contains("\"ProbeTurns\":3", current);
        Assert.Contains("\"ObjectWordAux\":1", current);
        Assert.Contains("\"LmInitStd\":0.1", current);
        Assert.StartsWith("{\"TrainScenes\":4000,", json);
    }
}
