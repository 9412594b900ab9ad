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
}
