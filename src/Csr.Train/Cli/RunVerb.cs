using System.Reflection;
using CommandLine;
using Csr.Train.Models;
using Csr.Train.Pipeline;
using Csr.Train.Scoring;
using Spectre.Console;

namespace Csr.Train.Cli;

[Verb("run", HelpText = "N CSR rounds (sample -> score -> construct -> dpo -> merge) in one process, into a resumable run directory.")]
public sealed class RunVerb : DpoVerbBase, ICliVerb
{
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

    [Option("batch-prompts", Default = 8, HelpText = "Prompts per CLIP scoring batch.")]
    public int BatchPrompts { get; set; } = 8;

    public int Execute()
    {
        var prompts = PromptFile.Read(Prompts);
        var options = new CsrRunOptions
        {
            OutDir = Out, Iterations = Iterations, Sample = SampleOptions(), Construct = new ConstructOptions(Reward, Alpha) { Fused = Fused },
            Dpo = DpoOptions(), Template = PromptTemplate(), Images = ImageRule(), Limit = Limit, Seed = Seed,
            ScoreBatch = BatchPrompts, MaxLength = ModelMaxLength, DType = ScalarType(),
        };
        options.Validate();
        Csr.Native.TorchRuntime.EnsureInitialised();
        using var vlm = VisionLanguageModel.Load(Model, options.DType);
        using var scorer = ClipSentenceScorer.Load(Clip, options.DType, Fused);
        List<CsrRoundResult> results;
        try
        {
            results = SpectreProgress.Run(p => new CsrRun(options) { Progress = p }.Run(vlm, scorer, prompts, OptionValues(this),
                new Dictionary<string, string> { ["prompts"] = Prompts, ["model"] = Model, ["clip"] = Clip }));
        }
        catch (Dpo.DpoDivergedException ex) { throw new CsrUserException(ex.Message, ex); }
        var table = new Table().AddColumns("round", "prompts", "trees", "pairs", "dpo steps", "loss", "margin", "tokens fwd", "seconds");
        foreach (var r in results)
            table.AddRow(r.Round.ToString(), r.Prompts.ToString(), r.Trees.ToString(), r.Pairs.ToString(), r.DpoSteps.ToString(),
                r.FinalLoss?.ToString("F4") ?? "-", r.FinalRewardMargin?.ToString("F4") ?? "-", r.ForwardedTokens.ToString(),
                r.Seconds.ToString("F1"));
        AnsiConsole.Write(table);
        if (results.Count > 0) AnsiConsole.MarkupLine($"final model: [bold]{Markup.Escape(results[^1].ModelDir)}[/]");
        else AnsiConsole.MarkupLine($"every round in {Markup.Escape(Out)} was already complete");
        return 0;
    }

    /// <summary>Every [Option] property and its value, for the manifest.</summary>
    public static Dictionary<string, object?> OptionValues(object verb) =>
        verb.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Select(p => (p, a: p.GetCustomAttribute<OptionAttribute>()))
            .Where(x => x.a != null)
            .ToDictionary(x => x.a!.LongName, x => x.p.GetValue(verb));
}
