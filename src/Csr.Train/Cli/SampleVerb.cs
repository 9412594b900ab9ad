using CommandLine;
using Csr.Train.Models;
using Csr.Train.Pipeline;
using Csr.Train.Sampling;
using Spectre.Console;

namespace Csr.Train.Cli;

[Verb("sample", HelpText = "Sentence-level beam search trees for a CSR prompt file (one <id>.json per prompt; resumable; --shard K/N).")]
public sealed class SampleVerb : SamplingVerbBase, ICliVerb
{
    [Option("model", Required = true, HelpText = "HF llava model directory.")]
    public string Model { get; set; } = "";

    [Option("prompts", Required = true, HelpText = "CSR prompt file (id, image, input with <image>).")]
    public string Prompts { get; set; } = "";

    [Option("out", Required = true, HelpText = "Output directory for the trees.")]
    public string Out { get; set; } = "";

    [Option("shard", HelpText = "K/N: take every N-th prompt starting at K (job arrays).")]
    public string? Shard { get; set; }

    public int Execute()
    {
        var prompts = PromptFile.Read(Prompts);
        var options = new SampleStageOptions(SampleOptions(), PromptTemplate(), ImageRule(), Pipeline.Shard.Parse(Shard), Limit);
        Csr.Native.TorchRuntime.EnsureInitialised();
        TorchSharp.torch.manual_seed(Seed);
        using var vlm = VisionLanguageModel.Load(Model, ScalarType());
        var log = new JsonlLog(Path.Combine(Out, "sample_log.jsonl"));
        var selected = SampleStage.Select(prompts, options.Shard, options.Limit);
        var records = SpectreProgress.Run(p =>
        {
            p.Start("sample", selected.Count);
            return SampleRunner.Run(vlm, prompts, Out, options, r => { log.Write("sample", r); p.Advance("sample"); });
        });
        var done = records.Where(r => !r.Skipped).ToList();
        if (records.Count > done.Count)
            AnsiConsole.WriteLine($"sample: skipped {records.Count - done.Count} of {records.Count} prompts (already done)");
        var table = new Table().AddColumns("sample", "value");
        table.AddRow("prompts selected", selected.Count.ToString());
        table.AddRow("sampled / skipped", $"{done.Count} / {records.Count - done.Count}");
        table.AddRow("nodes per tree (mean)", done.Count > 0 ? done.Average(r => r.Nodes).ToString("F1") : "-");
        table.AddRow("forwarded tokens per prompt", done.Count > 0 ? done.Average(r => r.ForwardedTokens).ToString("F0") : "-");
        table.AddRow("seconds per prompt", done.Count > 0 ? done.Average(r => r.Seconds).ToString("F2") : "-");
        table.AddRow("mode", options.Sample.PrefixCache ? "prefix cache" : "no prefix cache (re-encode)");
        AnsiConsole.Write(table);
        return 0;
    }
}
