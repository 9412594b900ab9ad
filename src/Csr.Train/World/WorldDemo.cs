using System.Diagnostics;
using System.Text.Json;
using Csr.Train.Dpo;
using Csr.Train.Eval;
using Csr.Train.Models;
using Csr.Train.Pipeline;
using Csr.Train.Report;
using Csr.Train.Sampling;
using Csr.Train.Scoring;
using Csr.Train.World.Training;

namespace Csr.Train.World;

/// <summary>
/// The embedded default: build (or load from the cache) the world's tiny CLIP and LLaVA, evaluate the base model,
/// run CSR rounds with the real pipeline for alpha (CSR) and alpha = 0 (ablation), evaluate after each round, and
/// write report.md / report.json / report.png.
/// </summary>
public sealed class WorldDemo(WorldDemoOptions o)
{
    public IStageProgress Progress { get; init; } = NoProgress.Instance;

    public sealed record Outcome(ReportData Report, ReportWriter.Paths Paths, WorldBaseModelPaths BaseModels)
    {
        /// <summary>The arms that stopped before their last round.</summary>
        public IReadOnlyList<ArmReport> FailedArms => Report.Arms.Where(a => a.Error != null).ToList();
    }

    public Outcome Run()
    {
        var timings = new Dictionary<string, double>();
        var total = Stopwatch.StartNew();
        var template = PromptTemplate.Default;
        Directory.CreateDirectory(o.OutDir);
        TorchSharp.torch.manual_seed(o.Seed); // global-RNG users (LoRA dropout, heads) follow the run's seed

        // 1. base models
        var sw = Stopwatch.StartNew();
        var started = new HashSet<string>();
        var baseModels = WorldBaseModels.BuildOrLoad(o.CacheDir, o.Seed, o.World, o.Models, template, (stage, step, of, loss) =>
        {
            if (started.Add(stage)) Progress.Start(stage, of);
            Progress.Advance(stage);
        });
        if (baseModels.FromCache) timings["base models (cached)"] = sw.Elapsed.TotalSeconds;
        else
        {
            timings[baseModels.ClipFromCache ? "base models: load cached CLIP" : "base models: train CLIP"] = baseModels.ClipSeconds;
            if (baseModels.ScorerDir != baseModels.ClipDir) // a tuned scorer (WorldModelSettings.ScorerSteps > 0)
                timings[baseModels.ScorerFromCache ? "base models: cached CLIP scorer" : "base models: tune CLIP scorer"] = baseModels.ScorerSeconds;
            timings[baseModels.LlavaSeconds < 0.5 ? "base models: cached LLaVA" : "base models: train LLaVA"] = baseModels.LlavaSeconds;
        }
        Progress.Message($"base models: {Path.GetDirectoryName(baseModels.LlavaDir)} ({(baseModels.FromCache ? "cached" : "built")})");

        if (o.CsrThreads is int threads) TorchSharp.torch.set_num_threads(threads);

        // 2. data: CSR prompts and held-out evaluation scenes
        sw.Restart();
        var gen = new SceneGenerator(o.Seed, o.World);
        var dataDir = Path.Combine(o.OutDir, "data");
        var csrScenes = WorldDataset.Write(gen, SceneGenerator.CsrStream, o.Prompts, Path.Combine(dataDir, "csr"));
        var prompts = PromptFile.Read(Path.Combine(dataDir, "csr", "prompts.json"));
        var evaluator = new WorldEvaluator(gen, Path.Combine(dataDir, "eval"), o.EvalScenes);
        timings["world data"] = sw.Elapsed.TotalSeconds;

        // 3. base evaluation (round 0 of both arms)
        sw.Restart();
        using var baseVlm = VisionLanguageModel.Load(baseModels.LlavaDir, device: o.Device);
        var baseEval = Evaluate(baseVlm, template, evaluator, 0, "base");
        timings["eval"] = sw.Elapsed.TotalSeconds;

        using var scorer = ClipSentenceScorer.Load(baseModels.ScorerDir, fused: o.Fused, device: o.Device);
        var arms = new List<ArmReport>();
        var examples = new List<ExamplePair>();
        var scenesById = csrScenes.ToDictionary(s => s.Id);
        var notes = new List<string>();
        notes.Add($"base models ({(baseModels.FromCache ? "cached" : baseModels.ClipFromCache ? "cached CLIP, the rest built in this run" : "built in this run")}): " +
                  $"CLIP pair accuracy (true vs absent-object sentence, last batch) {baseModels.ClipPairAccuracy?.ToString("F3") ?? "-"}, " +
                  $"held-out sibling accuracy (true sentence, any noun, vs the same colour's absent shape) of the CLIP {baseModels.ClipSiblingAccuracy?.ToString("F3") ?? "-"} " +
                  (baseModels.ScorerDir == baseModels.ClipDir ? "(the CSR scorer is this CLIP), "
                      : $"and of the CSR scorer tuned from it {baseModels.ScorerSiblingAccuracy?.ToString("F3") ?? "-"}, ") +
                  $"LLaVA final training loss {baseModels.LlavaFinalLoss?.ToString("F3") ?? "-"}, " +
                  $"LLaVA yes/no probe accuracy over its last {WorldLlavaTrainer.ProbeWindow} training steps (teacher-forced) {baseModels.LlavaProbeAccuracy?.ToString("F3") ?? "-"}");
        ISentenceScorer judge = o.TruthJudge
            ? new TruthJudgeScorer(scorer, new Csr.Train.Eval.ObjectLexicon(gen.Vocabulary.ObjectWords()), scenesById)
            : scorer;
        if (o.TruthJudge) notes.Add("diagnostic run: sentences naming an absent shape were scored 100 below their CLIP score (--truth-judge); these figures show what a perfect judge gives and are not CSR results");
        var armList = new List<(string Name, double Alpha)> { ("csr", o.Alpha) };
        if (!o.NoAblation) armList.Add(("ablation", 0.0));
        foreach (var (name, alpha) in armList)
        {
            var rounds = new List<RoundReport> { baseEval.Metrics };
            string? armError = null;
            var stageTotals = new Dictionary<string, double>(); // seconds per stage over this arm's rounds
            if (o.Rounds == 0) { arms.Add(new ArmReport(name, alpha, rounds)); continue; } // base evaluation only
            var runOptions = new CsrRunOptions
            {
                OutDir = Path.Combine(o.OutDir, name),
                Iterations = o.Rounds,
                Device = o.Device,
                Sample = new SampleOptions
                {
                    NumBeams = o.NumBeams, NumBeamGroups = o.NumBeams, NumTokenBeams = o.NumBeams, MaxNewTokens = 16, MaxLength = 1024, MaxAnswerTokens = o.MaxAnswerTokens,
                    SentenceEndId = baseVlm.Tokenizer.TokenToId("."), Fused = o.Fused, DiversityPenalty = o.DiversityPenalty,
                },
                Construct = new ConstructOptions(RewardRule.Rank, alpha) { Fused = o.Fused, MeanOverSentences = o.PathMeanOverSentences },
                Dpo = new DpoOptions
                {
                    LearningRate = o.DpoLearningRate, ProjectorLearningRate = o.DpoProjectorLearningRate, Beta = o.DpoBeta,
                    LoraR = o.LoraR, LoraAlpha = o.LoraAlpha, LoraDropout = 0.0, Epochs = o.DpoEpochs, BatchSize = o.DpoBatchSize,
                    WarmupRatio = 0.1, SaveSteps = 0, Seed = o.Seed, Fused = o.Fused, ImageAspectRatio = o.DpoImageAspectRatio,
                },
                SampleImageAspectRatio = o.SampleImageAspectRatio,
                Template = template,
                Images = new ImagePathRule(Path.Combine(dataDir, "csr", "images")),
                Seed = o.Seed,
                MaxLength = 512,
            };
            var run = new CsrRun(runOptions)
            {
                Progress = new PrefixedProgress(Progress, name + " "), // both arms run rounds 1..N: their stages need their own names
                OnRoundEnd = (r, vlm) =>
                {
                    var t = Stopwatch.StartNew();
                    timings[$"{name} round {r.Round}: sample+score+construct+dpo+merge"] = r.Seconds;
                    foreach (var (stage, seconds) in r.StageSeconds)
                        stageTotals[stage] = stageTotals.GetValueOrDefault(stage) + seconds;
                    rounds.Add(Evaluate(vlm, template, evaluator, r.Round, $"{name} round {r.Round}").Metrics);
                    timings["eval"] += t.Elapsed.TotalSeconds;
                    var pair = FirstPair(Path.Combine(CsrRunOptions.RoundDir(runOptions.OutDir, r.Round), "preferences.json"));
                    if (pair != null && scenesById.TryGetValue(Path.GetFileNameWithoutExtension(pair.Value.Image), out var scene))
                        examples.Add(new ExamplePair(name, r.Round, pair.Value.Image, pair.Value.Prompt, pair.Value.Chosen, pair.Value.Rejected, scene.Categories.ToList()));
                },
            };
            // a fresh copy of the base model per arm: the run merges LoRA into the model it is given
            try
            {
                for (int attempt = 1; ; attempt++)
                {
                    using var armBase = VisionLanguageModel.Load(baseModels.LlavaDir, device: o.Device);
                    try
                    {
                        run.Run(armBase, judge, prompts, ArmManifestOptions(name, runOptions, o.TruthJudge),
                            new Dictionary<string, string>
                            {
                                ["prompts"] = Path.Combine(dataDir, "csr", "prompts.json"),
                                ["model"] = baseModels.LlavaDir, ["clip"] = baseModels.ScorerDir,
                            });
                        break;
                    }
                    catch (Exception ex) when (IsScalarRace(ex) && attempt <= RaceRetries)
                    {
                        // the run resumes from its manifest: finished rounds are loaded from disk, the failed stage is redone
                        notes.Add($"{name}: transient TorchSharp Scalar error ({ex.Message.Split('\n')[0]}); resumed the run ({attempt}/{RaceRetries})");
                        Progress.Message(notes[^1]);
                    }
                }
            }
            catch (Exception ex) when (ex is InvalidDataException or System.Runtime.InteropServices.ExternalException)
            {
                // e.g. a model too weak to write sentences the tree cleaner keeps ("no preference pairs"), or a native
                // error in a stage: the report says where the arm stopped instead of the whole run failing
                var first = ex.Message.Split('\n')[0];
                var errorFile = Path.Combine(runOptions.OutDir, "error.txt");
                File.WriteAllText(errorFile, ex.ToString());
                armError = $"stopped after round {rounds.Count - 1} of {o.Rounds}: {ex.GetType().Name}: {first} (details: {errorFile})";
                notes.Add($"{name}: {armError}");
                Progress.Message(notes[^1]);
            }
            arms.Add(new ArmReport(name, alpha, rounds) { Error = armError });
            foreach (var (stage, seconds) in stageTotals) timings[$"{name}, all rounds: {stage}"] = seconds;
        }
        timings["total"] = total.Elapsed.TotalSeconds;
        var kernels = new Csr.Kernels.KernelReport();
        foreach (var (name, _) in armList)
            if (Csr.Kernels.KernelReport.TryRead(Path.Combine(o.OutDir, name)) is { } k) kernels.Merge(k);

        var report = new ReportData(o.Seed, arms, examples)
        {
            Notes = notes,
            TimingsSeconds = timings,
            Kernels = kernels.Lines().ToList(),
            Settings = new Dictionary<string, string>
            {
                ["world"] = o.World.Fingerprint(),
                ["models"] = o.Models.Fingerprint(),
                ["base model cache"] = Path.GetDirectoryName(baseModels.LlavaDir)!,
                ["rounds"] = o.Rounds.ToString(),
                ["csr prompts per round"] = o.Prompts.ToString(),
                ["held-out scenes"] = o.EvalScenes.ToString(),
                ["fused"] = o.Fused.ToString(),
                ["path value"] = o.PathMeanOverSentences
                    ? "sum of node values / sentences (the official rank rule divides by nodes including the root, which favours short paths)"
                    : "sum of node values / nodes including the root (official rank rule)",
                ["image aspect ratio"] = $"sample {o.SampleImageAspectRatio}, dpo {o.DpoImageAspectRatio}, eval {o.EvalImageAspectRatio}",
                ["sampling"] = $"{o.NumBeams} beams in {o.NumBeams} groups, diversity penalty {o.DiversityPenalty} (official 3.0), answers end at EOS or 1024 characters of text (official){(o.MaxAnswerTokens is int cap ? $" or {cap} tokens" : "")}",
                ["judge"] = o.TruthJudge ? "the scene's truth (diagnostic, --truth-judge)" : baseModels.ScorerDir == baseModels.ClipDir ? "the world CLIP" : $"the world CLIP tuned as the CSR scorer: {o.Models.ScorerFingerprint()}",
                ["dpo"] = $"lr {o.DpoLearningRate}, projector lr {o.DpoProjectorLearningRate}, beta {o.DpoBeta}, LoRA r {o.LoraR} alpha {o.LoraAlpha}, epochs {o.DpoEpochs}, batch {o.DpoBatchSize}",
            },
        };
        var paths = ReportWriter.Write(report, o.OutDir);
        return new Outcome(report, paths, baseModels);
    }

    /// <summary>Retries of a step that failed with TorchSharp's Scalar race (see <see cref="IsScalarRace"/>).</summary>
    public const int RaceRetries = 3;

    /// <summary>
    /// The options an arm's run directory records and compares on a rerun: every setting that changes the arm's trees,
    /// pairs or weights, so a rerun of the demo into the same --out with other settings is refused, not reused.
    /// </summary>
    public static Dictionary<string, object?> ArmManifestOptions(string arm, CsrRunOptions r, bool truthJudge = false)
    {
        var options = ArmManifestCore(arm, r);
        if (r.Construct.MeanOverSentences) options["path-mean"] = "sentences";
        if (truthJudge) options["judge"] = "truth";
        if (r.Sample.MaxAnswerTokens is int cap) options["max-answer-tokens"] = cap;
        return options;
    }

    private static Dictionary<string, object?> ArmManifestCore(string arm, CsrRunOptions r) => new()
    {
        ["arm"] = arm, ["alpha"] = r.Construct.Alpha, ["reward"] = r.Construct.Rule, ["seed"] = r.Seed,
        ["num-beams"] = r.Sample.NumBeams, ["num-beam-groups"] = r.Sample.NumBeamGroups, ["num-token-beams"] = r.Sample.NumTokenBeams,
        ["diversity-penalty"] = r.Sample.DiversityPenalty, ["max-new-tokens"] = r.Sample.MaxNewTokens,
        ["dpo-lr"] = r.Dpo.LearningRate, ["dpo-projector-lr"] = r.Dpo.ProjectorLearningRate, ["dpo-beta"] = r.Dpo.Beta,
        ["lora-r"] = r.Dpo.LoraR, ["lora-alpha"] = r.Dpo.LoraAlpha, ["dpo-epochs"] = r.Dpo.Epochs, ["dpo-batch-size"] = r.Dpo.BatchSize,
        ["sample-image-aspect-ratio"] = r.SampleImageAspectRatio, ["dpo-image-aspect-ratio"] = r.Dpo.ImageAspectRatio,
        ["template"] = r.Template.Name, ["dtype"] = r.DType,
    };

    /// <summary>
    /// TorchSharp 0.107 creates temporary Scalars (add/sub's alpha, implicit double -> Scalar) whose finalizer can free
    /// them while the native op still reads them, when a GC runs on another thread during the call. libtorch then
    /// throws, and TorchSharp rethrows as a plain <see cref="System.Runtime.InteropServices.ExternalException"/>, one
    /// of: "Unknown scalar type" (the freed Scalar's tag is garbage), "false INTERNAL ASSERT FAILED at
    /// .../c10/core/Scalar.h" (Scalar's own assert), or the bare "Expected false to be true, but got false." of a
    /// message-less check, when no other source file is named. Such a failure is transient: the same step run again
    /// gives the right result (every step here is deterministic and resumable). Anything else is not retried.
    /// </summary>
    public static bool IsScalarRace(Exception ex)
    {
        if (ex.GetType() != typeof(System.Runtime.InteropServices.ExternalException)) return false;
        var m = ex.Message;
        if (m.Contains("Unknown scalar type", StringComparison.Ordinal)) return true;
        bool atScalarH = m.Contains("c10/core/Scalar.h", StringComparison.Ordinal);
        if (m.StartsWith("false INTERNAL ASSERT FAILED at", StringComparison.Ordinal)) return atScalarH;
        if (m.StartsWith(BareCheckMessage, StringComparison.Ordinal))
            return atScalarH || !NamesSourceFile(m);
        return false;
    }

    /// <summary>What c10 says for a failed <c>TORCH_CHECK(false)</c> that carries no message of its own.</summary>
    const string BareCheckMessage = "Expected false to be true, but got false.";

    static bool NamesSourceFile(string message) =>
        System.Text.RegularExpressions.Regex.IsMatch(message, @"[\w/]+\.(h|cpp|cc|cu|cuh)\b");

    private WorldEvaluation Evaluate(VisionLanguageModel vlm, PromptTemplate template, WorldEvaluator evaluator, int round, string label)
    {
        for (int attempt = 1; ; attempt++)
        {
            try { return EvaluateOnce(vlm, template, evaluator, round, label); }
            catch (Exception ex) when (IsScalarRace(ex) && attempt <= RaceRetries)
            {
                Progress.Message($"eval {label}: transient TorchSharp Scalar error ({ex.Message.Split('\n')[0]}); evaluating again ({attempt}/{RaceRetries})");
            }
        }
    }

    private WorldEvaluation EvaluateOnce(VisionLanguageModel vlm, PromptTemplate template, WorldEvaluator evaluator, int round, string label)
    {
        string stage = $"eval {label}";
        Progress.Start(stage, evaluator.PromptCount);
        using var chat = new VisionChatModel(vlm, template, imageAspectRatio: o.EvalImageAspectRatio);
        var result = evaluator.Evaluate(chat, round, o.MaxNewTokens, n => Progress.Advance(stage, n));
        var m = result.Metrics;
        Progress.Message($"{label}: CHAIR_S {m.ChairS:F1}  CHAIR_I {m.ChairI:F1}  POPE F1 rand {m.Pope["random"].F1:F1} pop {m.Pope["popular"].F1:F1} adv {m.Pope["adversarial"].F1:F1}");
        return result;
    }

    private static (string Image, string Prompt, string Chosen, string Rejected)? FirstPair(string path)
    {
        if (!File.Exists(path)) return null;
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        foreach (var p in doc.RootElement.EnumerateArray())
        {
            string Gpt(string key) => p.GetProperty(key).EnumerateArray().Last().GetProperty("value").GetString() ?? "";
            string human = p.GetProperty("conversations").EnumerateArray().First().GetProperty("value").GetString() ?? "";
            var chosen = Gpt("conversations");
            var rejected = Gpt("rejected_conversations");
            if (chosen != rejected) return (p.GetProperty("image").GetString() ?? "", human, chosen, rejected);
        }
        return null;
    }
}
