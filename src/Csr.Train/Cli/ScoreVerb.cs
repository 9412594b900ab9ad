using CommandLine;
using Csr.Train.Pipeline;
using Csr.Train.Scoring;
using Spectre.Console;

namespace Csr.Train.Cli;

[Verb("score", HelpText = "CLIP relevance of every tree node's new sentence vs its image (resumable; --shard K/N).")]
public sealed class ScoreVerb : StageVerbBase, ICliVerb
{
    [Option("clip", Required = true, HelpText = "HF CLIP model directory.")]
    public string Clip { get; set; } = "";

    [Option("prompts", Required = true, HelpText = "CSR prompt file.")]
    public string Prompts { get; set; } = "";

    [Option("trees", Required = true, HelpText = "Directory of sampled trees.")]
    public string Trees { get; set; } = "";

    [Option("out", Required = true, HelpText = "Output directory for the scored trees.")]
    public string Out { get; set; } = "";

    [Option("shard", HelpText = "K/N: take every N-th prompt starting at K.")]
    public string? Shard { get; set; }

    [Option("batch-prompts", Default = 8, HelpText = "Prompts whose sentences go to CLIP as one batch.")]
    public int BatchPrompts { get; set; } = 8;

    public int Execute()
    {
        var prompts = PromptFile.Read(Prompts);
        var images = ImageRule();
        if (!Directory.Exists(Trees)) throw new CsrUserException($"--trees {Trees}: directory not found");
        var selected = SampleStageSelect(prompts);
        var device = ResolveDevice();
        using var scorer = ClipSentenceScorer.Load(Clip, ScalarType(device), Fused, device);
        var log = new JsonlLog(Path.Combine(Out, "score_log.jsonl"));
        var records = SpectreProgress.Run(p =>
        {
            p.Start("score", selected.Count);
            return ScoreStage.Run(selected, Trees, Out, images, scorer, BatchPrompts, r => { log.Write("score", r); p.Advance("score"); });
        });
        int skipped = records.Count(r => r.Skipped);
        if (skipped > 0) AnsiConsole.WriteLine($"score: skipped {skipped} of {records.Count} prompts (already scored)");
        var table = new Table().AddColumns("score", "value");
        table.AddRow("prompts selected", selected.Count.ToString());
        table.AddRow("scored / skipped / no tree", $"{records.Count(r => !r.Skipped && !r.MissingTree)} / {records.Count(r => r.Skipped)} / {records.Count(r => r.MissingTree)}");
        table.AddRow("sentences scored", records.Sum(r => r.Scored).ToString());
        table.AddRow("nodes cleaned", records.Sum(r => r.Cleaned).ToString());
        AnsiConsole.Write(table);
        return 0;
    }

    IReadOnlyList<PromptEntry> SampleStageSelect(IReadOnlyList<PromptEntry> prompts) =>
        Sampling.SampleStage.Select(prompts, Pipeline.Shard.Parse(Shard), Limit);
}
