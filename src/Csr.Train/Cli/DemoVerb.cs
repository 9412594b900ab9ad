using CommandLine;
using Csr.Native;
using Csr.Train.World;
using Csr.Train.World.Training;
using Spectre.Console;

namespace Csr.Train.Cli;

/// <summary>The default verb: CSR end to end on the embedded world, with a report.</summary>
[Verb("demo", isDefault: true, HelpText = "Run CSR end to end on the embedded generated world (tiny CLIP + tiny LLaVA built on this CPU), with the alpha = 0 ablation, and write report.md / report.json / report.png. This is what `csr-train` with no verb does. Exits 3 when an arm stops before its last round (the report is still written).")]
public sealed class DemoVerb : ComputeVerbBase, ICliVerb
{
    [Option("fused", HelpText = "Use the fused ops of Csr.Kernels (beam step, DPO log-ratio, CLIP pair scores, sibling ranks); the report lists what ran.")]
    public bool Fused { get; set; }

    [Option("seed", Default = 1, HelpText = "World and training seed.")]
    public int Seed { get; set; } = 1;

    [Option("out", Default = "csr-demo", HelpText = "Output folder (report, run folders, world data).")]
    public string Out { get; set; } = "csr-demo";

    [Option("cache", HelpText = "Base-model cache folder (default: $XDG_CACHE_HOME/csr-train/world or ~/.cache/csr-train/world).")]
    public string? Cache { get; set; }

    [Option("rounds", Default = 3, HelpText = "CSR rounds per arm (0: build or load the base models and evaluate them only).")]
    public int Rounds { get; set; } = 3;

    [Option("prompts", Default = 96, HelpText = "CSR prompts per round.")]
    public int Prompts { get; set; } = 96;

    [Option("eval-scenes", Default = 500, HelpText = "Held-out scenes for CHAIR and POPE.")]
    public int EvalScenes { get; set; } = 500;

    [Option("alpha", Default = 0.9, HelpText = "CLIP weight of the calibrated reward in the CSR arm.")]
    public double Alpha { get; set; } = 0.9;

    [Option("no-ablation", HelpText = "Skip the alpha = 0 arm.")]
    public bool NoAblation { get; set; }

    [Option("threads", Default = 0, HelpText = "Torch CPU threads (0 = all cores to build the base models, then 1 for evaluation and the CSR rounds, which is faster for models this small).")]
    public int Threads { get; set; }

    [Option("llava-steps", HelpText = "Training steps of the world's base LLaVA (default 1200; part of the base-model cache key).")]
    public int? LlavaSteps { get; set; }

    [Option("model-settings", HelpText = "JSON object overriding base-model settings, e.g. '{\"LmLayers\": 3, \"ProbeShare\": 0.6}' (names as in WorldModelSettings; part of the cache key).")]
    public string? ModelSettings { get; set; }

    [Option("world-settings", HelpText = "JSON object overriding the world generator's settings, e.g. '{\"HallucinationRate\": 0.5}' (names as in WorldSettings; part of the cache key).")]
    public string? WorldSettingsJson { get; set; }

    [Option("dpo-lr", HelpText = "DPO learning rate of the LoRA weights in each CSR round.")]
    public double? DpoLr { get; set; }

    [Option("dpo-projector-lr", HelpText = "DPO learning rate of the multimodal projector (0 = projector frozen).")]
    public double? DpoProjectorLr { get; set; }

    [Option("dpo-epochs", HelpText = "DPO epochs over each round's preference pairs.")]
    public int? DpoEpochs { get; set; }

    [Option("dpo-beta", HelpText = "DPO beta.")]
    public double? DpoBeta { get; set; }

    [Option("diversity-penalty", HelpText = "Diverse beam search's penalty in the CSR sampling (default 1.5; the official value is 3.0).")]
    public double? DiversityPenalty { get; set; }

    [Option("max-answer-tokens", HelpText = "A CSR tree's answers end at this many tokens (default 48, the evaluation's answer budget; 0 = only the official 1024-character bound).")]
    public int? MaxAnswerTokens { get; set; }

    [Option("truth-judge", Hidden = true, HelpText = "Diagnostic: score sentences by the scene's truth (a sentence naming an absent shape scores 100 below its CLIP score).")]
    public bool TruthJudge { get; set; }

    [Option("image-aspect-ratio", HelpText = "pad or none for every stage (default per stage, as the official scripts: sample none, DPO and evaluation pad; the world's scenes are square, so both give the same pixels).")]
    public string? ImageAspectRatio { get; set; }

    [Option("path-mean", HelpText = "How the rank rule averages a path's node values: nodes (the official rule: sum / nodes including the root, which favours short paths) or sentences (sum / sentences).")]
    public string? PathMean { get; set; }

    [Option("tiny", HelpText = "Tiny models and budgets (seconds; for tests and smoke runs, not for results).")]
    public bool Tiny { get; set; }

    public static string DefaultCache()
    {
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        var root = !string.IsNullOrEmpty(xdg) ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(root, "csr-train", "world");
    }

    public WorldDemoOptions Options()
    {
        var defaults = new WorldDemoOptions { OutDir = Out, CacheDir = Cache ?? DefaultCache() };
        var models = Tiny ? WorldModelSettings.Tiny : new WorldModelSettings();
        if (ModelSettings is { } json) models = MergeSettings(models, json);
        if (LlavaSteps is { } steps) models = models with { LlavaSteps = steps };
        var aspect = ImageAspectRatio is { } a ? ImageAspectRatioOption.Parse(a, "--image-aspect-ratio") : null;
        var world = WorldSettingsJson is { } wjson ? MergeSettings(defaults.World, wjson, "--world-settings") : defaults.World;
        try { world.Validate(); }
        catch (ArgumentException ex) { throw new CsrUserException($"--world-settings: {ex.Message}"); }
        bool? overSentences = PathMean switch
        {
            null => null, "nodes" => false, "sentences" => true,
            _ => throw new CsrUserException($"--path-mean {PathMean}: expected nodes or sentences"),
        };
        return defaults with
        {
            PathMeanOverSentences = overSentences ?? defaults.PathMeanOverSentences,
            Seed = Seed, Rounds = Rounds, Prompts = Prompts, EvalScenes = EvalScenes,
            Alpha = Alpha, Fused = Fused, NoAblation = NoAblation,
            CsrThreads = Threads > 0 ? null : 1,
            Models = models,
            World = world,
            MaxNewTokens = Tiny ? 12 : defaults.MaxNewTokens,
            NumBeams = Tiny ? 2 : defaults.NumBeams,
            DpoEpochs = DpoEpochs ?? (Tiny ? 1 : defaults.DpoEpochs),
            DpoLearningRate = DpoLr ?? defaults.DpoLearningRate,
            DpoBeta = DpoBeta ?? defaults.DpoBeta,
            DiversityPenalty = DiversityPenalty ?? defaults.DiversityPenalty,
            TruthJudge = TruthJudge,
            MaxAnswerTokens = MaxAnswerTokens is int cap ? (cap == 0 ? null : cap) : defaults.MaxAnswerTokens,
            DpoProjectorLearningRate = DpoProjectorLr ?? defaults.DpoProjectorLearningRate,
            SampleImageAspectRatio = aspect ?? defaults.SampleImageAspectRatio,
            DpoImageAspectRatio = aspect ?? defaults.DpoImageAspectRatio,
            EvalImageAspectRatio = aspect ?? defaults.EvalImageAspectRatio,
        };
    }

    /// <summary>Overrides the named properties of <paramref name="baseline"/> with those of a JSON object.</summary>
    public static WorldModelSettings MergeSettings(WorldModelSettings baseline, string json) => MergeSettings(baseline, json, "--model-settings");

    /// <summary>Overrides the named properties of a settings record with those of a JSON object; errors name <paramref name="option"/> and the key.</summary>
    public static T MergeSettings<T>(T baseline, string json, string option)
    {
        System.Text.Json.Nodes.JsonObject over;
        try { over = System.Text.Json.Nodes.JsonNode.Parse(json) as System.Text.Json.Nodes.JsonObject ?? throw new CsrUserException($"{option}: expected a JSON object, got {json}"); }
        catch (System.Text.Json.JsonException ex) { throw new CsrUserException($"{option}: not JSON: {ex.Message}"); }
        var merged = System.Text.Json.Nodes.JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(baseline))!.AsObject();
        foreach (var (key, value) in over)
        {
            if (!merged.ContainsKey(key))
                throw new CsrUserException($"{option}: unknown setting '{key}' (known: {string.Join(", ", merged.Select(p => p.Key))})");
            merged[key] = value?.DeepClone();
        }
        try { return System.Text.Json.JsonSerializer.Deserialize<T>(merged)!; }
        catch (System.Text.Json.JsonException ex) { throw new CsrUserException($"{option}: {ex.Message}"); }
    }

    public int Execute()
    {
        if (Rounds < 0) throw new CsrUserException($"--rounds {Rounds}: must be >= 0 (0 evaluates the base model only)");
        if (LlavaSteps is < 1) throw new CsrUserException($"--llava-steps {LlavaSteps}: must be >= 1");
        if (DpoEpochs is < 1) throw new CsrUserException($"--dpo-epochs {DpoEpochs}: must be >= 1");
        if (DpoLr is <= 0 || DpoBeta is <= 0) throw new CsrUserException("--dpo-lr and --dpo-beta must be > 0");
        if (DiversityPenalty is < 0 || DiversityPenalty is double d && !double.IsFinite(d))
            throw new CsrUserException($"--diversity-penalty {DiversityPenalty}: must be a finite number >= 0");
        if (MaxAnswerTokens is < 0) throw new CsrUserException($"--max-answer-tokens {MaxAnswerTokens}: must be >= 0 (0 = no cap)");
        if (DpoProjectorLr is < 0) throw new CsrUserException($"--dpo-projector-lr {DpoProjectorLr}: must be >= 0 (0 freezes the projector)");
        if (Prompts < 1 || EvalScenes < 1) throw new CsrUserException("--prompts and --eval-scenes must be >= 1");
        var device = ResolveDevice();
        TorchSharp.torch.set_num_threads(Threads > 0 ? Threads : Environment.ProcessorCount);
        var options = Options() with { Device = device };
        Cli.Notice($"CSR on the embedded world (seed {Seed}, {Rounds} rounds, {(Fused ? "fused ops" : "reference ops")})");
        var outcome = Cli.WithProgress(p => new WorldDemo(options) { Progress = p }.Run());
        int exit = ExitCode(outcome.Report);
        Cli.Summary("demo", new Dictionary<string, object?>
        {
            ["exit_code"] = exit,
            ["report"] = Path.GetFullPath(outcome.Paths.Markdown), ["report_json"] = Path.GetFullPath(outcome.Paths.Json),
            ["plot"] = Path.GetFullPath(outcome.Paths.Plot),
            ["checks"] = Report.ReportChecks.From(outcome.Report) is { } checks ? Report.ReportWriter.CheckLines(checks) : Array.Empty<string>(),
            ["arms"] = outcome.Report.Arms,
        }, console =>
        {
            foreach (var line in SummaryLines(outcome.Report)) console.MarkupLine(Markup.Escape(line));
            console.MarkupLine($"report: [bold]{Markup.Escape(Path.GetFullPath(outcome.Paths.Markdown))}[/]");
        });
        return exit;
    }

    /// <summary>Exit code when an arm stopped before its last round.</summary>
    public const int ArmFailedExitCode = 3;

    /// <summary>0 when every arm ran all its rounds, else <see cref="ArmFailedExitCode"/>.</summary>
    public static int ExitCode(Report.ReportData report) => report.Arms.Any(a => a.Error != null) ? ArmFailedExitCode : 0;

    /// <summary>What the demo prints after the run: the checks (none without a CSR round) and each arm that stopped early.</summary>
    public static IReadOnlyList<string> SummaryLines(Report.ReportData report)
    {
        var lines = new List<string>();
        if (Report.ReportChecks.From(report) is { } checks)
        {
            lines.Add("Checks:");
            lines.AddRange(Report.ReportWriter.CheckLines(checks));
        }
        foreach (var arm in report.Arms.Where(a => a.Error != null)) lines.Add($"arm {arm.Name} failed: {arm.Error}");
        return lines;
    }
}
