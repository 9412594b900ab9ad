using System.Text.Json;
using Csr.Train.Cli;
using Csr.Train.Dpo;
using Csr.Train.Models;
using Csr.Train.Pipeline;
using Csr.Train.Scoring;
using static TorchSharp.torch;

namespace Csr.Tests.Pipeline;

/// <summary>State in an output directory that no longer matches its inputs is recomputed or refused, never reused.</summary>
public class StaleStateTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("csr-stale-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    static DpoOptions TinyDpo => new() { LoraR = 4, LoraAlpha = 8, LoraDropout = 0.0, LearningRate = 1e-2, ProjectorLearningRate = 1e-3, WarmupRatio = 0, SaveSteps = 1, MaxSteps = 1 };

    string Images => Path.Combine(_dir, "img");

    List<PreferencePair> Pairs(int n) =>
        TinyLlava.Prompts(Images, n).Select(p => PreferencePair.Create(p.Id, p.Image, p.HumanTurn, "a cat is here.", "no dog.")).ToList();

    DpoStageResult Dpo(VisionLanguageModel vlm, IReadOnlyList<PreferencePair> pairs, string outDir, bool resume, List<string> notices, DpoOptions? o = null) =>
        DpoStage.Run(vlm, pairs, outDir, o ?? TinyDpo, TinyLlava.Template, new ImagePathRule(Images), resume, onNotice: notices.Add, maxLength: 256);

    static double[] CachedChosen(string outDir) =>
        File.ReadAllLines(Path.Combine(outDir, ReferenceLogProbCache.FileName))
            .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("chosen").GetDouble()).ToArray();

    [Fact]
    public void Dpo_AnotherModel_RecomputesTheReference_AndRefusesToResume_SameModelReuses()
    {
        var pairs = Pairs(2);
        string outDir = Path.Combine(_dir, "dpo");
        var notices = new List<string>();
        using (var a = TinyLlava.Create(seed: 7))
            Assert.Equal(2, Dpo(a, pairs, outDir, resume: false, notices).Training.ReferenceComputed);
        var first = CachedChosen(outDir);
        Assert.True(File.Exists(Path.Combine(outDir, DpoIdentity.ReferenceFileName)));
        Assert.True(File.Exists(Path.Combine(DpoCheckpoint.Latest(outDir)!, DpoIdentity.CheckpointFileName)));

        // the same weights (a fresh copy): the cache is reused and the checkpoint resumes
        using (var same = TinyLlava.Create(seed: 7))
        {
            var r = Dpo(same, pairs, outDir, resume: true, notices);
            Assert.Equal(0, r.Training.ReferenceComputed);
            Assert.Equal(1, r.Training.StartStep);
        }
        Assert.Empty(notices);

        // other weights: --resume is refused in one line naming the model ...
        using (var other = TinyLlava.Create(seed: 8))
        {
            var ex = Assert.Throws<CsrUserException>(() => Dpo(other, pairs, outDir, resume: true, notices));
            Assert.True(CliApp.IsUserError(ex));
            Assert.StartsWith("--resume: checkpoint-1 was trained on model ", ex.Message);
            Assert.Contains("remove " + outDir, ex.Message);
            Assert.DoesNotContain('\n', ex.Message);
        }
        // ... and without --resume the reference log-probs are recomputed, with a notice saying why
        using (var other = TinyLlava.Create(seed: 8))
        {
            var r = Dpo(other, pairs, outDir, resume: false, notices);
            Assert.Equal(2, r.Training.ReferenceComputed);
            Assert.Equal(0, r.Training.StartStep);
        }
        var notice = Assert.Single(notices);
        Assert.Contains("computed for model", notice);
        Assert.Contains("recomputing", notice);
        var second = CachedChosen(outDir);
        Assert.Equal(2, second.Length);
        Assert.All(first.Zip(second), x => Assert.NotEqual(x.First, x.Second, 6));
    }

    [Fact]
    public void Dpo_ResumeWithAnotherTrainingOption_IsRefusedNamingIt()
    {
        var pairs = Pairs(2);
        string outDir = Path.Combine(_dir, "dpo");
        var notices = new List<string>();
        using (var a = TinyLlava.Create())
            Dpo(a, pairs, outDir, resume: false, notices);
        using var b = TinyLlava.Create();
        var ex = Assert.Throws<CsrUserException>(() => Dpo(b, pairs, outDir, resume: true, notices, TinyDpo with { LoraR = 8 }));
        Assert.Contains("option LoraR 4, not 8", ex.Message);
    }

    [Fact]
    public void Dpo_AnotherImageAspectRatio_RecomputesTheReference_AndRefusesToResume()
    {
        var pairs = Pairs(2);
        string outDir = Path.Combine(_dir, "dpo");
        var notices = new List<string>();
        using (var a = TinyLlava.Create())
            Assert.Equal(2, Dpo(a, pairs, outDir, resume: false, notices, TinyDpo with { ImageAspectRatio = "pad" }).Training.ReferenceComputed);
        using (var b = TinyLlava.Create())
        {
            var ex = Assert.Throws<CsrUserException>(() => Dpo(b, pairs, outDir, resume: true, notices, TinyDpo with { ImageAspectRatio = "none" }));
            Assert.Contains("image_processor", ex.Message);
        }
        using (var c = TinyLlava.Create())
            Assert.Equal(2, Dpo(c, pairs, outDir, resume: false, notices, TinyDpo with { ImageAspectRatio = "none" }).Training.ReferenceComputed);
        Assert.Contains("image_processor", Assert.Single(notices));
    }

    [Fact]
    public void PairCacheKey_ChangesWithTheImageBytes()
    {
        var pairs = Pairs(2);
        using var vlm = TinyLlava.Create();
        var rule = new ImagePathRule(Images);
        var before = DpoDataset.Build(pairs, vlm, TinyLlava.Template, rule).Select(e => e.CacheKey).ToList();
        TinyLlava.WriteImage(Path.Combine(Images, "img1.png"), 99); // same name, other pixels
        var after = DpoDataset.Build(pairs, vlm, TinyLlava.Template, rule).Select(e => e.CacheKey).ToList();
        Assert.Equal(before[0], after[0]);
        Assert.NotEqual(before[1], after[1]);
    }

    [Fact]
    public void FrozenProjector_TakesNoGradient_AndKeepsItsWeights()
    {
        var pairs = Pairs(2);
        using var vlm = TinyLlava.Create();
        var before = vlm.Model.multi_modal_projector.named_parameters().Select(p => (p.name, p.parameter.detach().clone())).ToList();
        var r = Dpo(vlm, pairs, Path.Combine(_dir, "dpo"), resume: false, [], TinyDpo with { ProjectorLearningRate = 0 });
        Assert.Equal(1, r.Training.Steps);
        var after = vlm.Model.multi_modal_projector.named_parameters().ToList();
        Assert.Equal(before.Count, after.Count);
        for (int i = 0; i < after.Count; i++)
        {
            Assert.False(after[i].parameter.requires_grad, after[i].name);
            Assert.Null(after[i].parameter.grad);
            Assert.True(allclose(before[i].Item2, after[i].parameter, 0, 0), after[i].name);
        }
        Assert.False(File.Exists(Path.Combine(r.AdapterDir, "non_lora_trainables.safetensors")));
    }

    sealed class NoScorer : ISentenceScorer
    {
        public double[] Score(IReadOnlyList<string> imagePaths, IReadOnlyList<ScoreItem> items) => throw new NotSupportedException();
    }

    /// <summary>A run directory whose single round is finished (nothing needs to be recomputed to resume it).</summary>
    (CsrRunOptions Options, List<PromptEntry> Prompts) FinishedRun(IReadOnlyDictionary<string, object?> options)
    {
        var prompts = TinyLlava.Prompts(Images, 1);
        var o = new CsrRunOptions { OutDir = Path.Combine(_dir, "run"), Iterations = 1, Images = new ImagePathRule(Images) };
        Directory.CreateDirectory(Path.Combine(CsrRunOptions.RoundDir(o.OutDir, 1), "model"));
        var manifest = RunManifest.Create(options, o.Seed, new Dictionary<string, string>());
        manifest.Save(o.OutDir);
        manifest.MarkCompleted("round-1/merge", o.OutDir);
        return (o, prompts);
    }

    [Fact]
    public void Run_WithAnotherAlpha_IsRefusedNamingIt_SameOrNeutralOptionsResume()
    {
        var recorded = new Dictionary<string, object?> { ["alpha"] = 0.9, ["lr"] = 0.01, ["batch-prompts"] = 8, ["limit"] = null };
        var (o, prompts) = FinishedRun(recorded);
        using var vlm = TinyLlava.Create();
        Assert.Empty(new CsrRun(o).Run(vlm, new NoScorer(), prompts, recorded, new Dictionary<string, string>()));
        // the CLIP batch size changes no result
        Assert.Empty(new CsrRun(o).Run(vlm, new NoScorer(), prompts, new Dictionary<string, object?>(recorded) { ["batch-prompts"] = 16 }, new Dictionary<string, string>()));

        var ex = Assert.Throws<CsrUserException>(() => new CsrRun(o).Run(vlm, new NoScorer(), prompts,
            new Dictionary<string, object?>(recorded) { ["alpha"] = 0.5 }, new Dictionary<string, string>()));
        Assert.Equal($"--out {o.OutDir} was run with --alpha 0.9; this run has --alpha 0.5: use another --out or the same options", ex.Message);
        var unset = Assert.Throws<CsrUserException>(() => new CsrRun(o).Run(vlm, new NoScorer(), prompts,
            new Dictionary<string, object?>(recorded) { ["limit"] = 3 }, new Dictionary<string, string>()));
        Assert.Contains("--limit (not set); this run has --limit 3", unset.Message);
    }

    [Fact]
    public void RunVerb_WithAnotherAlpha_ExitsWith2_BeforeLoadingAnyModel()
    {
        var (o, prompts) = FinishedRun(new Dictionary<string, object?> { ["alpha"] = 0.9 });
        string promptFile = Path.Combine(_dir, "prompts.json");
        File.WriteAllText(promptFile, JsonSerializer.Serialize(prompts.Select(p => new { id = p.Id, image = p.Image, input = p.Input })));
        var err = new StringWriter();
        var old = Console.Error;
        Console.SetError(err);
        int rc;
        try
        {
            rc = CliApp.Run(["run", "--model", Path.Combine(_dir, "no-model"), "--clip", Path.Combine(_dir, "no-clip"), "--prompts", promptFile,
                "--out", o.OutDir, "--images", Images, "--alpha", "0.5"]);
        }
        finally { Console.SetError(old); }
        Assert.Equal(2, rc);
        // The process-wide "dtype auto: ..." notice may come first (printed once, by whichever verb resolves auto
        // first); apart from it the verb writes exactly one line, the error, and no stack trace.
        var lines = err.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.StartsWith("dtype auto:")).ToArray();
        var line = Assert.Single(lines);
        Assert.StartsWith("error:", line);
        Assert.Contains("was run with --alpha 0.9; this run has --alpha 0.5", line);
    }
}

/// <summary>Where a run computes and how it reports change no result, so a rerun may change them.</summary>
public class ResultNeutralOptionTests
{
    [Fact]
    public void EveryOptionSharedByTheComputingVerbsMayDifferOnResume()
    {
        var names = typeof(ComputeVerbBase).GetProperties()
            .Select(p => p.GetCustomAttributes(typeof(CommandLine.OptionAttribute), true).Cast<CommandLine.OptionAttribute>().FirstOrDefault()?.LongName)
            .Where(n => n != null).ToList();
        Assert.Contains("json", names);
        foreach (var n in names) Assert.Contains(n!, RunManifest.ResultNeutralOptions);
    }
}

/// <summary>The demo's arm directories record every setting that changes an arm's result.</summary>
public class DemoArmManifestTests
{
    static CsrRunOptions Arm(double dpoLr = 1e-3, int beams = 5, double alpha = 0.9) => new()
    {
        OutDir = "arm", Images = new ImagePathRule("img"), Sample = new Csr.Train.Sampling.SampleOptions { NumBeams = beams },
        Construct = new ConstructOptions(RewardRule.Rank, alpha), Dpo = new DpoOptions { LearningRate = dpoLr },
    };

    [Fact]
    public void Another_dpo_lr_beam_count_or_alpha_changes_the_recorded_options_the_run_compares()
    {
        var a = Csr.Train.World.WorldDemo.ArmManifestOptions("csr", Arm());
        Assert.Equal(a.Select(kv => (kv.Key, kv.Value?.ToString())), Csr.Train.World.WorldDemo.ArmManifestOptions("csr", Arm()).Select(kv => (kv.Key, kv.Value?.ToString())));
        foreach (var (key, other) in new[] { ("dpo-lr", Arm(dpoLr: 5e-4)), ("num-beams", Arm(beams: 3)), ("alpha", Arm(alpha: 0.0)) })
        {
            var b = Csr.Train.World.WorldDemo.ArmManifestOptions("csr", other);
            Assert.NotEqual(a[key]?.ToString(), b[key]?.ToString());
            Assert.DoesNotContain(key, RunManifest.ResultNeutralOptions);
        }
    }
}
