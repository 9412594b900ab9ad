using Csr.Train.Eval;
using Csr.Train.World;
using SkiaSharp;

namespace Csr.Tests.World;

public class SceneGeneratorTests
{
    [Fact]
    public void SameSeedGivesIdenticalScenesAndPngBytes()
    {
        var a = new SceneGenerator(7);
        var b = new SceneGenerator(7);
        var r = new SceneRenderer(64);
        for (int i = 0; i < 5; i++)
        {
            var sa = a.Generate(i);
            var sb = b.Generate(i);
            Assert.Equal(sa.Objects, sb.Objects);
            Assert.Equal(sa.BackgroundTexture, sb.BackgroundTexture);
            Assert.Equal(r.RenderPng(sa), r.RenderPng(sb));
        }
    }

    [Fact]
    public void DifferentSeedOrStreamGivesDifferentScenes()
    {
        var a = new SceneGenerator(7).GenerateMany(10).ToList();
        var b = new SceneGenerator(8).GenerateMany(10).ToList();
        var c = new SceneGenerator(7).GenerateMany(10, SceneGenerator.EvalStream).ToList();
        Assert.NotEqual(a.Select(s => s.Objects[0].X), b.Select(s => s.Objects[0].X));
        Assert.NotEqual(a.Select(s => s.Objects[0].X), c.Select(s => s.Objects[0].X));
        var r = new SceneRenderer(64);
        Assert.NotEqual(r.RenderPng(a[0]), r.RenderPng(b[0]));
    }

    [Fact]
    public void SceneIsIndependentOfGenerationOrder()
    {
        var g = new SceneGenerator(3);
        var direct = g.Generate(41);
        var viaMany = g.GenerateMany(42).Last();
        Assert.Equal(direct.Objects, viaMany.Objects);
    }

    [Fact]
    public void ObjectsAreUniquePerCategoryInCanonicalOrderAndInsideTheImage()
    {
        var g = new SceneGenerator(11);
        var vocab = g.Vocabulary;
        foreach (var s in g.GenerateMany(300))
        {
            Assert.InRange(s.Objects.Count, 1, g.Settings.MaxObjects);
            var idx = s.Objects.Select(o => vocab.ShapeIndex(o.Shape)).ToList();
            Assert.Equal(idx.OrderBy(i => i), idx);
            Assert.Equal(idx.Count, idx.Distinct().Count());
            int cells = g.Settings.GridCells;
            var cellOf = s.Objects.Select(o => ((int)(o.X * cells), (int)(o.Y * cells))).ToList();
            Assert.Equal(cellOf.Count, cellOf.Distinct().Count());
            foreach (var o in s.Objects)
            {
                // each object lies inside one grid cell, i.e. inside one ViT patch
                Assert.Equal((int)((o.X - o.Radius) * cells), (int)((o.X + o.Radius) * cells));
                Assert.Equal((int)((o.Y - o.Radius) * cells), (int)((o.Y + o.Radius) * cells));
                Assert.InRange(o.X - o.Radius, 0, 1);
                Assert.InRange(o.X + o.Radius, 0, 1);
                Assert.InRange(o.Y - o.Radius, 0, 1);
                Assert.InRange(o.Y + o.Radius, 0, 1);
            }
            for (int i = 0; i < s.Objects.Count; i++)
            for (int j = i + 1; j < s.Objects.Count; j++)
            {
                var (p, q) = (s.Objects[i], s.Objects[j]);
                Assert.True(Math.Sqrt((p.X - q.X) * (p.X - q.X) + (p.Y - q.Y) * (p.Y - q.Y)) > p.Radius + q.Radius, $"objects overlap in {s.Id}");
            }
        }
    }

    [Fact]
    public void RenderedPngDecodesAndShowsEachObjectsColourAtItsCentre()
    {
        var g = new SceneGenerator(5);
        var r = new SceneRenderer(96);
        foreach (var s in g.GenerateMany(20))
        {
            using var bmp = SKBitmap.Decode(r.RenderPng(s));
            Assert.Equal(96, bmp.Width);
            Assert.Equal(96, bmp.Height);
            foreach (var o in s.Objects)
            {
                var c = bmp.GetPixel((int)(o.X * 96), (int)(o.Y * 96));
                var want = g.Vocabulary.Colour(o.Colour);
                Assert.True(Math.Abs(c.Red - want.R) + Math.Abs(c.Green - want.G) + Math.Abs(c.Blue - want.B) < 12,
                    $"{s.Id}: {o.Colour} {o.Shape} centre is ({c.Red},{c.Green},{c.Blue})");
            }
            var rgb = r.RenderRgb(s);
            Assert.Equal(96 * 96 * 3, rgb.Length);
            var p = bmp.GetPixel(3, 5);
            Assert.Equal(new[] { p.Red, p.Green, p.Blue }, rgb.Skip((5 * 96 + 3) * 3).Take(3));
        }
    }

    [Fact]
    public void CompanionsCoOccurFarMoreOftenThanOtherPairs()
    {
        var scenes = new SceneGenerator(1).GenerateMany(3000).ToList();
        double Cond(string b, string a) =>
            scenes.Count(s => s.Contains(a) && s.Contains(b)) / (double)Math.Max(1, scenes.Count(s => s.Contains(a)));
        Assert.True(Cond("square", "circle") > 0.5, $"P(square|circle) = {Cond("square", "circle")}");
        Assert.True(Cond("star", "circle") < 0.3, $"P(star|circle) = {Cond("star", "circle")}");
        Assert.True(Cond("hexagon", "diamond") > 2 * Cond("hexagon", "heart"));
    }

    [Fact]
    public void InvalidSettingsAreRejectedWithTheSettingNamed()
    {
        var ex = Assert.Throws<ArgumentException>(() => new SceneGenerator(1, new WorldSettings { HallucinationRate = 1.5 }));
        Assert.Contains("HallucinationRate", ex.Message);
    }

    [Fact]
    public void WorldDatasetWritesImagesScenesAndCsrPrompts()
    {
        var dir = Path.Combine(Path.GetTempPath(), "csr-world-" + Guid.NewGuid().ToString("N"));
        try
        {
            var g = new SceneGenerator(2);
            var scenes = WorldDataset.Write(g, SceneGenerator.EvalStream, 4, dir);
            var back = WorldDataset.ReadScenes(Path.Combine(dir, "scenes.jsonl"));
            Assert.Equal(scenes.Select(s => s.Id), back.Select(s => s.Id));
            Assert.Equal(scenes[2].Objects, back[2].Objects);
            foreach (var s in scenes) Assert.True(File.Exists(Path.Combine(dir, "images", s.ImageFileName)));
            var prompts = System.Text.Json.JsonSerializer.Deserialize<List<PromptRecord>>(File.ReadAllText(Path.Combine(dir, "prompts.json")))!;
            Assert.Equal(4, prompts.Count);
            Assert.All(prompts, p => Assert.EndsWith("\n<image>", p.Input));
            Assert.All(prompts, p => Assert.Contains(p.Input[..^8], CaptionGrammar.DescribePrompts));
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }
}
