using System.Text.Json;
using Csr.Models.IO;
using Csr.Train.Dpo;
using Csr.Train.Pipeline;
using Csr.Train.Sampling;
using Csr.Train.Scoring;
using static TorchSharp.torch;

namespace Csr.Tests.Pipeline;

public class TinyRunTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("csr-run-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    /// <summary>A deterministic stand-in for CLIP: longer sentences about "a" score higher.</summary>
    sealed class LetterScorer : ISentenceScorer
    {
        public double[] Score(IReadOnlyList<string> imagePaths, IReadOnlyList<ScoreItem> items) =>
            items.Select(i => 10.0 * i.Text.Count(c => c == 'a') + i.Text.Length * 0.1 + i.Image).ToArray();
    }

    static DpoOptions TinyDpo => new() { LoraR = 4, LoraAlpha = 8, LoraDropout = 0.0, LearningRate = 1e-2, ProjectorLearningRate = 1e-3, WarmupRatio = 0, SaveSteps = 1 };

    [Fact]
    public void TwoRounds_WriteEveryArtifact_AndARerunSkipsThem()
    {
        var prompts = TinyLlava.Prompts(Path.Combine(_dir, "img"), 2);
        var options = new CsrRunOptions
        {
            OutDir = Path.Combine(_dir, "run"), Iterations = 2, Images = new ImagePathRule(Path.Combine(_dir, "img")),
            Template = TinyLlava.Template, Sample = new SampleOptions { MaxNewTokens = 4, MaxLength = 52, SentenceEndId = CharTokenizer.Period },
            Dpo = TinyDpo, MaxLength = 256,
        };
        var promptFile = Path.Combine(_dir, "prompts.json");
        File.WriteAllText(promptFile, JsonSerializer.Serialize(prompts.Select(p => new { id = p.Id, image = p.Image, input = p.Input })));
        using var vlm = TinyLlava.Create();
        var ends = new List<int>();
        var results = new CsrRun(options) { OnRoundEnd = (r, _) => ends.Add(r.Round) }
            .Run(vlm, new LetterScorer(), prompts, new Dictionary<string, object?> { ["iterations"] = 2 }, new Dictionary<string, string> { ["prompts"] = promptFile });

        Assert.Equal([1, 2], ends);
        Assert.All(results, r => Assert.InRange(r.Pairs, 1, 2));
        Assert.All(results, r =>
        {
            Assert.Equal(["sample", "score", "construct", "dpo", "merge"], r.StageSeconds.Keys);
            Assert.All(r.StageSeconds.Values, v => Assert.True(v >= 0));
            Assert.True(r.StageSeconds.Values.Sum() <= r.Seconds + 1e-6, $"stages {r.StageSeconds.Values.Sum()} s > round {r.Seconds} s");
        });
        string r1 = Path.Combine(options.OutDir, "round-1");
        Assert.Equal(["kernels.json", "q0.json", "q1.json"], Directory.GetFiles(Path.Combine(r1, "trees"), "*.json").Select(Path.GetFileName).Order());
        // kernels.json: each stage's own, the round's = their sum (+ construct), the run's = the rounds' sum
        var sample1 = Csr.Kernels.KernelReport.TryRead(Path.Combine(r1, "trees"))!;
        var dpo1 = Csr.Kernels.KernelReport.TryRead(Path.Combine(r1, "dpo"))!;
        var round1 = Csr.Kernels.KernelReport.TryRead(r1)!;
        var round2 = Csr.Kernels.KernelReport.TryRead(Path.Combine(options.OutDir, "round-2"))!;
        var run = Csr.Kernels.KernelReport.TryRead(options.OutDir)!;
        Assert.True(sample1.Calls("BeamStep", "reference") > 0);
        Assert.Equal(sample1.Calls("BeamStep", "reference"), round1.Calls("BeamStep", "reference"));
        Assert.True(round1.Calls("ClipScoring.SiblingRanks", "reference") > 0);
        Assert.Equal(dpo1.Calls("DpoLogRatio.SequenceLogProbs", "reference"), round1.Calls("DpoLogRatio.SequenceLogProbs", "reference"));
        Assert.True(round1.Calls("DpoLoss", "reference") > 0);
        foreach (var (op, path) in new[] { ("BeamStep", "reference"), ("DpoLogRatio.SequenceLogProbs", "reference"), ("ClipScoring.SiblingRanks", "reference") })
            Assert.Equal(round1.Calls(op, path) + round2.Calls(op, path), run.Calls(op, path));
        var scored = TreeFile.Read(Path.Combine(r1, "scored"), "q0");
        Assert.All(scored.DescendantsAndSelf().Skip(1), n => Assert.NotNull(n.ClipScore));
        var prefs = PreferenceFile.Read(Path.Combine(r1, "preferences.json"));
        Assert.All(prefs, p => Assert.NotEqual(p.Chosen, p.Rejected));
        using (var st = SafeTensorsFile.Open(Path.Combine(r1, "dpo", "adapter", "adapter_model.safetensors")))
            Assert.Contains("base_model.model.language_model.model.layers.0.self_attn.q_proj.lora_A.weight", st.Keys);
        Assert.True(File.Exists(Path.Combine(r1, "dpo", "adapter", "non_lora_trainables.safetensors")));
        Assert.True(File.Exists(Path.Combine(r1, "model", "config.json")));
        Assert.Equal(results[0].DpoSteps, File.ReadAllLines(Path.Combine(r1, "dpo", DpoTrainer.LogFileName)).Length);
        var manifest = RunManifest.TryRead(options.OutDir)!;
        Assert.True(manifest.IsCompleted("round-2/merge"));
        Assert.Equal(64, manifest.InputHash("prompts")!.Length);
        Assert.DoesNotContain(vlm.Model.state_dict().Keys, k => k.Contains("lora_")); // merged in place

        var again = new CsrRun(options).Run(vlm, new LetterScorer(), prompts, new Dictionary<string, object?>(), new Dictionary<string, string> { ["prompts"] = promptFile });
        Assert.Empty(again);
    }

    [Fact]
    public void ReferenceMode_IsTheRoundStartModel_AfterTraining()
    {
        var prompts = TinyLlava.Prompts(Path.Combine(_dir, "img"), 2);
        using var trained = TinyLlava.Create();
        using var fresh = TinyLlava.Create();
        var pairs = prompts.Select(p => PreferencePair.Create(p.Id, p.Image, p.HumanTurn, "a cat is here.", "no dog.")).ToList();
        var images = new ImagePathRule(Path.Combine(_dir, "img"));
        var examples = DpoDataset.Build(pairs, trained, TinyLlava.Template, images);
        Assert.Equal(examples[0].Chosen.Ids.Length - "a cat is here.".Length - 1, examples[0].Chosen.ResponseStart);

        var policy = new LlavaDpoModel(trained, TinyDpo);
        var before = Logps(policy, examples);
        var r = new DpoTrainer(policy, TinyDpo with { MaxSteps = 2 }, Path.Combine(_dir, "dpo")).Train(examples, resume: false);
        Assert.Equal(2, r.Steps);
        var after = Logps(policy, examples);
        Assert.False(allclose(before, after, 1e-4, 1e-4)); // LoRA and projector moved
        Tensor reference;
        using (policy.ReferenceMode()) reference = Logps(policy, examples);
        var baseLogps = Logps(new LlavaDpoModel(fresh, TinyDpo), examples);
        Assert.True(allclose(baseLogps, reference, 1e-4, 1e-5), $"{string.Join(",", baseLogps.data<float>().ToArray())} vs {string.Join(",", reference.data<float>().ToArray())}");
        Assert.True(allclose(after, Logps(policy, examples), 0, 0)); // reference mode restored the policy
    }

    [Fact]
    public void FusedLogProbs_FromHiddenStates_EqualTheReference()
    {
        var prompts = TinyLlava.Prompts(Path.Combine(_dir, "img"), 2);
        using var vlm = TinyLlava.Create();
        var pairs = prompts.Select(p => PreferencePair.Create(p.Id, p.Image, p.HumanTurn, "a cat is here.", "no dog.")).ToList();
        var examples = DpoDataset.Build(pairs, vlm, TinyLlava.Template, new ImagePathRule(Path.Combine(_dir, "img")));
        var reference = Logps(new LlavaDpoModel(vlm, TinyDpo), examples);
        var fused = Logps(new LlavaDpoModel(vlm, TinyDpo with { Fused = true }), examples);
        Assert.True(allclose(reference, fused, 1e-4, 1e-4));
    }

    [Fact]
    public void PixelCacheNeverDisposesAnImageOfTheCurrentBatch()
    {
        // regression: with more than 64 images seen, evicting inside the per-image lookup disposed an image the same
        // batch had already taken from the cache ("Tensor invalid -- empty handle" in DPO with 96 CSR prompts)
        int n = LlavaDpoModel.PixelCacheSize + 6;
        var prompts = TinyLlava.Prompts(Path.Combine(_dir, "img"), n);
        using var vlm = TinyLlava.Create();
        var pairs = prompts.Select(p => PreferencePair.Create(p.Id, p.Image, p.HumanTurn, "a cat is here.", "no dog.")).ToList();
        var examples = DpoDataset.Build(pairs, vlm, TinyLlava.Template, new ImagePathRule(Path.Combine(_dir, "img")));
        var policy = new LlavaDpoModel(vlm, TinyDpo);
        using var _ = no_grad();
        policy.SetTraining(false);
        int oldest = n - LlavaDpoModel.PixelCacheSize; // after one pass the cache holds images oldest..n-1
        for (int i = 0; i < n; i++) policy.SequenceLogProbs([examples[i].Chosen]).Dispose();
        var first = new LlavaDpoModel(vlm, TinyDpo).SequenceLogProbs([examples[oldest].Chosen]);
        // the oldest cached image is taken first; the uncached ones after it push the cache past its size
        var batch = new[] { examples[oldest].Chosen, examples[0].Chosen, examples[1].Chosen, examples[2].Rejected };
        var again = policy.SequenceLogProbs(batch);
        Assert.True(allclose(first, again.narrow(0, 0, 1), 1e-5, 1e-6));
        var fresh = new LlavaDpoModel(vlm, TinyDpo).SequenceLogProbs([examples[0].Chosen]);
        Assert.True(allclose(fresh, again.narrow(0, 1, 1), 1e-5, 1e-6));
    }

    static Tensor Logps(IDpoModel m, IReadOnlyList<DpoExample> ex)
    {
        using var _ = no_grad();
        m.SetTraining(false);
        return m.SequenceLogProbs(ex.SelectMany(e => new[] { e.Chosen, e.Rejected }).ToList());
    }
}
