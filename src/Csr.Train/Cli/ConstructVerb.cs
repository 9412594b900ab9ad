using CommandLine;
using Csr.Train.Pipeline;
using Spectre.Console;

namespace Csr.Train.Cli;

[Verb("construct", HelpText = "Scored trees -> preference pairs (calibrated reward: best path chosen, worst rejected).")]
public sealed class ConstructVerb : ICliVerb
{
    [Option("trees", Required = true, Separator = ',', HelpText = "Scored tree directories (comma-separated; all shards).")]
    public IEnumerable<string> Trees { get; set; } = [];

    [Option("prompts", Required = true, HelpText = "CSR prompt file (id, image, input).")]
    public string Prompts { get; set; } = "";

    [Option("out", Required = true, HelpText = "Output preference JSON file.")]
    public string Out { get; set; } = "";

    [Option("alpha", Default = CalibratedReward.DefaultAlpha, HelpText = "Weight of the CLIP term (lambda for --reward paper); 0 = no visual constraint.")]
    public double Alpha { get; set; } = CalibratedReward.DefaultAlpha;

    [Option("reward", Default = RewardRule.Rank, HelpText = "rank (official code) or paper (lambda*R_I + (1-lambda)*R_T).")]
    public RewardRule Reward { get; set; } = RewardRule.Rank;

    [Option("fused", Default = false, HelpText = "Rank siblings with the fused Csr.Kernels op (same ranks as the reference).")]
    public bool Fused { get; set; }

    public int Execute()
    {
        var prompts = PromptFile.Read(Prompts);
        var options = new ConstructOptions(Reward, Alpha) { Fused = Fused };
        Csr.Native.TorchRuntime.EnsureInitialised();
        Csr.Kernels.KernelStats.Reset();
        var result = ConstructStage.Run(Trees, prompts, options);
        PreferenceFile.Write(Out, result.Pairs);
        Csr.Kernels.KernelStats.Snapshot().Write(Path.GetDirectoryName(Path.GetFullPath(Out))!); // kernels.json next to the pairs
        var table = new Table().AddColumns("construct", "value");
        table.AddRow("prompts", prompts.Count.ToString());
        table.AddRow("pairs written", result.Pairs.Count.ToString());
        table.AddRow("prompts without tree", result.MissingTrees.Count.ToString());
        table.AddRow("trees without final path", result.NoFinalPath.Count.ToString());
        table.AddRow("nodes cleaned", result.CleanedNodes.ToString());
        table.AddRow("mean |value gap|", result.MeanValueGap.ToString("F4"));
        table.AddRow("output", Markup.Escape(Out));
        AnsiConsole.Write(table);
        return result.Pairs.Count > 0 ? 0 : 3;
    }
}
