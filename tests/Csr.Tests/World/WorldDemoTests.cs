using System.Text.Json;
using Csr.Native;
using Csr.Train.Cli;
using Csr.Train.World;
using Csr.Train.World.Training;

namespace Csr.Tests.World;

public class WorldDemoTests
{
    [Fact]
    public void TinyDemoWritesTheReportWithEveryFieldAndReusesCachedBaseModels()
    {
        TorchRuntime.EnsureInitialised();
        var root = Path.Combine(Path.GetTempPath(), "csr-demo-" + Guid.NewGuid().ToString("N"));
        try
        {
            var verb = new DemoVerb { Out = Path.Combine(root, "out"), Cache = Path.Combine(root, "cache"), Rounds = 1, Prompts = 2, EvalScenes = 3, Tiny = true, Seed = 4 };
            var options = verb.Options();
            var first = new WorldDemo(options).Run();
            Assert.False(first.BaseModels.FromCache);
            foreach (var f in new[] { "config.json", "tokenizer.model", "preprocessor_config.json", "model.safetensors.index.json" })
                Assert.True(File.Exists(Path.Combine(first.BaseModels.LlavaDir, f)), f);
            foreach (var f in new[] { "config.json", "vocab.json", "merges.txt" })
                Assert.True(File.Exists(Path.Combine(first.BaseModels.ClipDir, f)), f);

            using var doc = JsonDocument.Parse(File.ReadAllText(first.Paths.Json));
            var arms = doc.RootElement.GetProperty("arms");
            Assert.Equal(new[] { "csr", "ablation" }, arms.EnumerateArray().Select(a => a.GetProperty("name").GetString()));
            foreach (var arm in arms.EnumerateArray())
            {
                var rounds = arm.GetProperty("rounds").EnumerateArray().ToList();
                // round 0 is the base; a tiny, barely trained model may write nothing CSR can pair, which the report must say
                Assert.Equal(0, rounds[0].GetProperty("round").GetInt32());
                if (rounds.Count == 1)
                    Assert.Contains(doc.RootElement.GetProperty("notes").EnumerateArray(), n => n.GetString()!.StartsWith(arm.GetProperty("name").GetString() + ": stopped after round 0"));
                else
                    Assert.Equal(new[] { 0, 1 }, rounds.Select(r => r.GetProperty("round").GetInt32()));
                foreach (var r in rounds)
                {
                    Assert.InRange(r.GetProperty("chair_s").GetDouble(), 0, 100);
                    Assert.InRange(r.GetProperty("chair_i").GetDouble(), 0, 100);
                    foreach (var split in new[] { "random", "popular", "adversarial" })
                        foreach (var key in new[] { "acc", "precision", "recall", "f1", "yes_ratio" })
                            Assert.InRange(r.GetProperty("pope").GetProperty(split).GetProperty(key).GetDouble(), 0, 100);
                }
            }
            var md = File.ReadAllText(first.Paths.Markdown);
            Assert.Contains("| csr | 0.9 | 0 |", md);
            Assert.Contains("| ablation | 0 | 0 |", md);
            Assert.True(new FileInfo(first.Paths.Plot).Length > 1000);

            // the demo's sampling settings reach the arms' runs (and their manifests, so a rerun with others is refused)
            Assert.Equal(1.5, options.DiversityPenalty);
            Assert.Equal("1.5", ManifestOption(Path.Combine(root, "out", "csr"), "diversity-penalty"));
            Assert.Equal("48", ManifestOption(Path.Combine(root, "out", "csr"), "max-answer-tokens"));
            Assert.Null(ManifestOption(Path.Combine(root, "out", "csr"), "judge"));

            var second = new WorldDemo(options with { OutDir = Path.Combine(root, "out2"), NoAblation = true, TruthJudge = true, DiversityPenalty = 0.5, MaxAnswerTokens = 20 }).Run();
            Assert.True(second.BaseModels.FromCache);
            Assert.Equal(first.BaseModels.LlavaDir, second.BaseModels.LlavaDir);
            Assert.Equal("truth", ManifestOption(Path.Combine(root, "out2", "csr"), "judge"));
            Assert.Equal("0.5", ManifestOption(Path.Combine(root, "out2", "csr"), "diversity-penalty"));
            Assert.Equal("20", ManifestOption(Path.Combine(root, "out2", "csr"), "max-answer-tokens"));
            Assert.Contains(second.Report.Notes, n => n.StartsWith("diagnostic run:"));
        }
        finally { if (Directory.Exists(root)) Directory.Delete(root, true); }
    }

    static string? ManifestOption(string runDir, string key)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(runDir, "manifest.json")));
        return doc.RootElement.GetProperty("options").TryGetProperty(key, out var v) ? v.GetString() : null;
    }

    [Fact]
    public void SamplingOptionsOverrideTheDemoDefaultsAndRefuseInvalidValuesByName()
    {
        Assert.Equal(new WorldDemoOptions { OutDir = "o", CacheDir = "c" }.DiversityPenalty, new DemoVerb().Options().DiversityPenalty);
        Assert.Equal(3.0, new DemoVerb { DiversityPenalty = 3.0 }.Options().DiversityPenalty);
        foreach (var bad in new[] { -1.0, double.NaN, double.PositiveInfinity })
        {
            var ex = Assert.Throws<CsrUserException>(() => new DemoVerb { DiversityPenalty = bad, Out = Path.Combine(Path.GetTempPath(), "never-" + Guid.NewGuid().ToString("N")) }.Execute());
            Assert.StartsWith("--diversity-penalty", ex.Message);
        }
        // the answer cap: the demo's default, a given value, or 0 for none (the official bound only)
        Assert.Equal(48, new DemoVerb().Options().MaxAnswerTokens);
        Assert.Equal(20, new DemoVerb { MaxAnswerTokens = 20 }.Options().MaxAnswerTokens);
        Assert.Null(new DemoVerb { MaxAnswerTokens = 0 }.Options().MaxAnswerTokens);
        var negative = Assert.Throws<CsrUserException>(() => new DemoVerb { MaxAnswerTokens = -1 }.Execute());
        Assert.StartsWith("--max-answer-tokens -1", negative.Message);
    }

    [Fact]
    public void PathMeanOptionSelectsTheRankRulesDivisorAndRefusesOtherValuesByName()
    {
        var official = new WorldDemoOptions { OutDir = "o", CacheDir = "c" }.PathMeanOverSentences;
        Assert.Equal(official, new DemoVerb().Options().PathMeanOverSentences);
        Assert.True(new DemoVerb { PathMean = "sentences" }.Options().PathMeanOverSentences);
        Assert.False(new DemoVerb { PathMean = "nodes" }.Options().PathMeanOverSentences);
        var bad = Assert.Throws<CsrUserException>(() => new DemoVerb { PathMean = "root" }.Options());
        Assert.StartsWith("--path-mean root", bad.Message);
    }

    [Fact]
    public void ModelSettingsJsonOverridesNamedSettingsAndRefusesUnknownOnes()
    {
        var verb = new DemoVerb { Out = "o", Cache = "c", ModelSettings = "{\"LmLayers\": 3, \"ProbeShare\": 0.7}", LlavaSteps = 11, DpoLr = 1e-4 };
        var o = verb.Options();
        Assert.Equal(3, o.Models.LmLayers);
        Assert.Equal(0.7, o.Models.ProbeShare);
        Assert.Equal(11, o.Models.LlavaSteps);
        Assert.Equal(new WorldModelSettings().LmHidden, o.Models.LmHidden);
        Assert.Equal(1e-4, o.DpoLearningRate);
        Assert.Equal(new WorldDemoOptions { OutDir = "o", CacheDir = "c" }.DpoProjectorLearningRate, o.DpoProjectorLearningRate);
        Assert.Equal(0.0, new DemoVerb { DpoProjectorLr = 0 }.Options().DpoProjectorLearningRate);
        Assert.Equal(1, o.CsrThreads); // --threads 0 (auto): all cores for the base models, then 1
        Assert.Null(new DemoVerb { Threads = 2 }.Options().CsrThreads);
        var unknown = Assert.Throws<CsrUserException>(() => new DemoVerb { ModelSettings = "{\"LmLayer\": 3}" }.Options());
        Assert.Contains("unknown setting 'LmLayer'", unknown.Message);
        Assert.Contains("LmLayers", unknown.Message);
        Assert.Throws<CsrUserException>(() => new DemoVerb { ModelSettings = "[1]" }.Options());
        var badType = Assert.Throws<CsrUserException>(() => new DemoVerb { ModelSettings = "{\"LmLayers\": \"three\"}" }.Options());
        Assert.StartsWith("--model-settings", badType.Message);
    }

    [Fact]
    public void WorldSettingsJsonOverridesTheGeneratorAndRefusesUnknownOrInvalidSettingsByName()
    {
        var o = new DemoVerb { Out = "o", Cache = "c", WorldSettingsJson = "{\"HallucinationRate\": 0.6}" }.Options();
        Assert.Equal(0.6, o.World.HallucinationRate);
        Assert.Equal(new WorldSettings().CompanionRate, o.World.CompanionRate);
        Assert.NotEqual(new WorldSettings().Fingerprint(), o.World.Fingerprint()); // so the base models are keyed apart
        var unknown = Assert.Throws<CsrUserException>(() => new DemoVerb { WorldSettingsJson = "{\"Hallucination\": 0.5}" }.Options());
        Assert.StartsWith("--world-settings: unknown setting 'Hallucination'", unknown.Message);
        Assert.Contains("HallucinationRate", unknown.Message);
        var invalid = Assert.Throws<CsrUserException>(() => new DemoVerb { WorldSettingsJson = "{\"HallucinationRate\": 1.5}" }.Options());
        Assert.StartsWith("--world-settings: HallucinationRate 1.5", invalid.Message);
    }
}
