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
        var records = Cli.WithProgress(p =>
        {
            p.Start("score", selected.Count);
            return ScoreStage.Run(selected, Trees, Out, images, scorer, BatchPrompts, r => { log.Write("score", r); p.Advance("score"); });
        });
        int skipped = records.Count(r => r.Skipped);
        if (skipped > 0) Cli.Notice($"score: skipped {skipped} of {records.Count} prompts (already scored)");
        int scored = records.Count(r => !r.Skipped && !r.MissingTree), missing = records.Count(r => r.MissingTree);
        int sentences = records.Sum(r => r.Scored), cleaned = records.Sum(r => r.Cleaned);
        Cli.Summary("score", new Dictionary<string, object?>
        {
            ["prompts_selected"] = selected.Count, ["scored"] = scored, ["skipped"] = skipped, ["no_tree"] = missing,
            ["sentences_scored"] = sentences, ["nodes_cleaned"] = cleaned, ["out"] = Out,
        }, console =>
        {
            var table = new Table().AddColumns("score", "value");
            table.AddRow("prompts selected", selected.Count.ToString());
            table.AddRow("scored / skipped / no tree", $"{scored} / {skipped} / {missing}");
            table.AddRow("sentences scored", sentences.ToString());
            table.AddRow("nodes cleaned", cleaned.ToString());
            console.Write(table);
        });
        return 0;
    }

    IReadOnlyList<PromptEntry> SampleStageSelect(IReadOnlyList<PromptEntry> prompts) =>
        Sampling.SampleStage.Select(prompts, Pipeline.Shard.Parse(Shard), Limit);
}
