using System.Reflection;
using CommandLine;
using Csr.Train.Models;
using Csr.Train.Pipeline;
using Csr.Train.Scoring;
using Spectre.Console;
using static TorchSharp.torch;

namespace Csr.Train.Cli;

[Verb("run", HelpText = "N CSR rounds (sample -> score -> construct -> dpo -> merge) in one process, into a resumable run directory.")]
public sealed class RunVerb : DpoVerbBase, ISamplingVerb, ICliVerb
{
    public int NumBeams { get; set; } = 5;
    public int NumBeamGroups { get; set; } = 5;
    public int NumTokenBeams { get; set; } = 5;
    public double DiversityPenalty { get; set; } = 3.0;
    public int MaxNewTokens { get; set; } = 70;
    public int MaxLength { get; set; } = 1024;
    public int? SentenceEndId { get; set; }
    public bool NoPrefixCache { get; set; }
    public bool NoNodeBatch { get; set; }
    public int? BatchPrompts { get; set; }

    [Option("model", Required = true, HelpText = "HF llava model directory (round 1 base).")]
    public string Model { get; set; } = "";

    [Option("clip", Required = true, HelpText = "HF CLIP model directory.")]
    public string Clip { get; set; } = "";

    [Option("prompts", Required = true, HelpText = "CSR prompt file.")]
    public string Prompts { get; set; } = "";

    [Option("out", Required = true, HelpText = "Run directory (manifest.json, round-K/...). Re-run the same command to resume.")]
    public string Out { get; set; } = "";

    [Option("iterations", Default = 3, HelpText = "Number of CSR rounds.")]
    public int Iterations { get; set; } = 3;

    [Option("alpha", Default = CalibratedReward.DefaultAlpha, HelpText = "CLIP weight of the calibrated reward (0 = no visual constraint).")]
    public double Alpha { get; set; } = CalibratedReward.DefaultAlpha;

    [Option("reward", Default = RewardRule.Rank, HelpText = "rank (official) or paper.")]
    public RewardRule Reward { get; set; } = RewardRule.Rank;

    [Option("sample-image-aspect-ratio", Default = "none", HelpText = "Image preprocessing of the sample stage: none (resize + center crop, as the official sample.py) or pad (pad to square with the CLIP mean colour first).")]
    public string SampleImageAspectRatio { get; set; } = "none";

    [Option("dpo-image-aspect-ratio", Default = "pad", HelpText = "Image preprocessing of the DPO stage: pad (as the official training's --image_aspect_ratio pad) or none.")]
    public string DpoImageAspectRatio { get; set; } = "pad";

    [Option("image-aspect-ratio", HelpText = "pad or none for both the sample and the DPO stage (overrides --sample-image-aspect-ratio and --dpo-image-aspect-ratio).")]
    public string? ImageAspectRatio { get; set; }

    /// <summary>The image aspect ratio of the sample and the DPO stage: --image-aspect-ratio when given, else each stage's own option.</summary>
    public (string Sample, string Dpo) ImageAspectRatios() => ImageAspectRatio is { } both
        ? (ImageAspectRatioOption.Parse(both, "--image-aspect-ratio"), ImageAspectRatioOption.Parse(both, "--image-aspect-ratio"))
        : (ImageAspectRatioOption.Parse(SampleImageAspectRatio, "--sample-image-aspect-ratio"), ImageAspectRatioOption.Parse(DpoImageAspectRatio, "--dpo-image-aspect-ratio"));

    /// <summary>The run's options; <paramref name="device"/> (default CPU) is where it computes.</summary>
    public CsrRunOptions RunOptions(Device? device = null)
    {
        var d = device ?? CPU;
        var (sampleAspect, dpoAspect) = ImageAspectRatios();
        return new CsrRunOptions
        {
            OutDir = Out, Iterations = Iterations, Sample = this.SampleOptions(Fused), Construct = new ConstructOptions(Reward, Alpha) { Fused = Fused },
            Dpo = DpoOptions(dpoAspect), Template = PromptTemplate(), Images = ImageRule(), Limit = Limit, Seed = Seed,
            ScoreBatch = BatchPrompts ?? CsrRunOptions.DefaultScoreBatch, MaxLength = ModelMaxLength, DType = ScalarType(d), Device = d, SampleImageAspectRatio = sampleAspect,
        };
    }

    /// <summary>The options recorded in the run manifest: every option as given, plus the image aspect ratio each stage uses.</summary>
    public Dictionary<string, object?> ManifestOptions(CsrRunOptions options)
    {
        var values = OptionValues(this);
        values["sample-image-aspect-ratio"] = options.SampleImageAspectRatio;
        values["dpo-image-aspect-ratio"] = options.Dpo.ImageAspectRatio;
        return values;
    }

    public int Execute()
    {
        var prompts = PromptFile.Read(Prompts);
        var device = ResolveDevice();
        var options = RunOptions(device);
        options.Validate();
        var inputs = new Dictionary<string, string> { ["prompts"] = Prompts, ["model"] = Model, ["clip"] = Clip };
        var manifestOptions = ManifestOptions(options);
        CsrRun.CheckResumable(Out, manifestOptions, inputs); // before the models are loaded
        using var vlm = VisionLanguageModel.Load(Model, options.DType, device);
        using var scorer = ClipSentenceScorer.Load(Clip, options.DType, Fused, device);
        List<CsrRoundResult> results;
        try
        {
            results = Cli.WithProgress(p => new CsrRun(options) { Progress = p }.Run(vlm, scorer, prompts, manifestOptions, inputs));
        }
        catch (Dpo.DpoDivergedException ex) { throw new CsrUserException(ex.Message, ex); }
        Cli.Summary("run", new Dictionary<string, object?>
        {
            ["out"] = Out,
            ["rounds"] = results.Select(r => new Dictionary<string, object?>
            {
                ["round"] = r.Round, ["prompts"] = r.Prompts, ["trees"] = r.Trees, ["pairs"] = r.Pairs, ["dpo_steps"] = r.DpoSteps,
                ["final_loss"] = r.FinalLoss, ["final_rewards_margins"] = r.FinalRewardMargin, ["forwarded_tokens"] = r.ForwardedTokens,
                ["seconds"] = r.Seconds, ["model"] = r.ModelDir,
            }).ToList(),
            ["final_model"] = results.Count > 0 ? results[^1].ModelDir : null,
        }, console =>
        {
            var table = new Table().AddColumns("round", "prompts", "trees", "pairs", "dpo steps", "loss", "margin", "tokens fwd", "seconds");
            foreach (var r in results)
                table.AddRow(r.Round.ToString(), r.Prompts.ToString(), r.Trees.ToString(), r.Pairs.ToString(), r.DpoSteps.ToString(),
                    r.FinalLoss?.ToString("F4") ?? "-", r.FinalRewardMargin?.ToString("F4") ?? "-", r.ForwardedTokens.ToString(),
                    r.Seconds.ToString("F1"));
            console.Write(table);
            if (results.Count > 0) console.MarkupLine($"final model: [bold]{Markup.Escape(results[^1].ModelDir)}[/]");
            else console.MarkupLine($"every round in {Markup.Escape(Out)} was already complete");
        });
        return 0;
    }

    /// <summary>Every [Option] property (of the class and of the option interfaces it implements) and its value, for the manifest.</summary>
    public static Dictionary<string, object?> OptionValues(object verb) =>
        verb.GetType().GetInterfaces().Prepend(verb.GetType())
            .SelectMany(t => t.GetProperties(BindingFlags.Public | BindingFlags.Instance))
            .Select(p => (p, a: p.GetCustomAttribute<OptionAttribute>()))
            .Where(x => x.a != null)
            .ToDictionary(x => x.a!.LongName, x => x.p.GetValue(verb));
}
