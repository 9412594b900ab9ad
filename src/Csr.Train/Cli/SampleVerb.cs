using CommandLine;
using Csr.Train.Models;
using Csr.Train.Pipeline;
using Csr.Train.Sampling;
using Spectre.Console;

namespace Csr.Train.Cli;

[Verb("sample", HelpText = "Sentence-level beam search trees for a CSR prompt file (one <id>.json per prompt; resumable; --shard K/N).")]
public sealed class SampleVerb : PromptStageVerbBase, ISamplingVerb, ICliVerb
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

    [Option("model", Required = true, HelpText = "HF llava model directory.")]
    public string Model { get; set; } = "";

    [Option("prompts", Required = true, HelpText = "CSR prompt file (id, image, input with <image>).")]
    public string Prompts { get; set; } = "";

    [Option("out", Required = true, HelpText = "Output directory for the trees.")]
    public string Out { get; set; } = "";

    [Option("shard", HelpText = "K/N: take every N-th prompt starting at K (job arrays).")]
    public string? Shard { get; set; }

    [Option("image-aspect-ratio", Default = "none", HelpText = "Image preprocessing: none (resize shortest side + center crop, the llava-hf AutoProcessor of the official sample.py) or pad (pad to square with the CLIP mean colour first, LLaVA-1.5's image_aspect_ratio = pad).")]
    public string ImageAspectRatio { get; set; } = "none";

    /// <summary>The stage options these arguments give.</summary>
    public SampleStageOptions StageOptions() =>
        new(this.SampleOptions(Fused), PromptTemplate(), ImageRule(), Pipeline.Shard.Parse(Shard), Limit,
            ImageAspectRatioOption.Parse(ImageAspectRatio, "--image-aspect-ratio"));

    public int Execute()
    {
        var prompts = PromptFile.Read(Prompts);
        var options = StageOptions();
        var device = ResolveDevice();
        TorchSharp.torch.manual_seed(Seed);
        using var vlm = VisionLanguageModel.Load(Model, ScalarType(device), device);
        var log = new JsonlLog(Path.Combine(Out, "sample_log.jsonl"));
        var selected = SampleStage.Select(prompts, options.Shard, options.Limit);
        var throughput = new SampleThroughput();
        var records = Cli.WithProgress(p =>
        {
            p.Start("sample", selected.Count);
            return SampleRunner.Run(vlm, prompts, Out, options, r => { log.Write("sample", r); p.Advance("sample"); }, throughput: throughput);
        });
        var done = records.Where(r => !r.Skipped).ToList();
        if (records.Count > done.Count)
            Cli.Notice($"sample: skipped {records.Count - done.Count} of {records.Count} prompts (already done)");
        double? nodes = done.Count > 0 ? done.Average(r => r.Nodes) : null;
        double? tokens = done.Count > 0 ? done.Average(r => r.ForwardedTokens) : null;
        double? seconds = done.Count > 0 ? done.Average(r => r.Seconds) : null;
        Cli.Summary("sample", new Dictionary<string, object?>
        {
            ["prompts_selected"] = selected.Count, ["sampled"] = done.Count, ["skipped"] = records.Count - done.Count,
            ["nodes_per_tree_mean"] = nodes, ["forwarded_tokens_per_prompt_mean"] = tokens, ["seconds_per_prompt_mean"] = seconds,
            ["prefix_cache"] = options.Sample.PrefixCache, ["batch_prompts"] = options.Sample.BatchPromptsFor(vlm.Model.Device.type, SampleRunner.KvBytesPerTree(vlm, options.Sample)),
            ["wall_seconds_per_prompt"] = throughput.Prompts > 0 ? throughput.SecondsPerPrompt : null,
            ["rows_per_decode_forward"] = throughput.Searches > 0 ? throughput.RowsPerDecodeForward : null, ["image_aspect_ratio"] = options.ImageAspectRatio, ["out"] = Out,
        }, console =>
        {
            var table = new Table().AddColumns("sample", "value");
            table.AddRow("prompts selected", selected.Count.ToString());
            table.AddRow("sampled / skipped", $"{done.Count} / {records.Count - done.Count}");
            table.AddRow("nodes per tree (mean)", nodes?.ToString("F1") ?? "-");
            table.AddRow("forwarded tokens per prompt", tokens?.ToString("F0") ?? "-");
            table.AddRow("seconds per prompt", seconds?.ToString("F2") ?? "-");
            table.AddRow("mode", options.Sample.PrefixCache ? "prefix cache" : "no prefix cache (re-encode)");
            if (throughput.Searches > 0)
            {
                table.AddRow("prompts per batch", options.Sample.BatchPromptsFor(vlm.Model.Device.type, SampleRunner.KvBytesPerTree(vlm, options.Sample)).ToString());
                table.AddRow("wall seconds per prompt", throughput.Prompts > 0 ? throughput.SecondsPerPrompt.ToString("F2") : "-");
                table.AddRow("beam rows per decode forward", throughput.RowsPerDecodeForward.ToString("F1"));
            }
            table.AddRow("image aspect ratio", options.ImageAspectRatio);
            console.Write(table);
        });
        return 0;
    }
}
