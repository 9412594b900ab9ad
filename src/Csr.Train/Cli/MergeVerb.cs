using CommandLine;
using Csr.Train.Adapters;
using Spectre.Console;

namespace Csr.Train.Cli;

[Verb("merge", HelpText = "Base model + PEFT adapter -> full HF llava checkpoint (W += lora_alpha/r * B@A; projector from the adapter).")]
public sealed class MergeVerb : ComputeVerbBase, ICliVerb
{
    [Option("model", Required = true, HelpText = "Base HF llava model directory.")]
    public string Model { get; set; } = "";

    [Option("adapter", Required = true, HelpText = "Adapter directory (adapter_config.json + adapter_model.safetensors).")]
    public string Adapter { get; set; } = "";

    [Option("out", Required = true, HelpText = "Output directory for the merged checkpoint.")]
    public string Out { get; set; } = "";

    [Option("dtype", Default = "auto", HelpText = "auto (bf16 on CUDA and on CPUs with AVX512_BF16 or AMX-BF16, else fp32), fp32 or bf16.")]
    public string DType { get; set; } = "auto";

    [Option("max-shard-size", Default = "5GB", HelpText = "Largest weight shard (bytes, or with KB/MB/GB/KiB/MiB/GiB); more weights go to model-0000K-of-0000N.safetensors.")]
    public string MaxShardSize { get; set; } = "5GB";

    public int Execute()
    {
        long maxShard = ParseSize(MaxShardSize);
        if (Path.GetFullPath(Out).TrimEnd('/') == Path.GetFullPath(Model).TrimEnd('/') || Path.GetFullPath(Out).TrimEnd('/') == Path.GetFullPath(Adapter).TrimEnd('/'))
            throw new CsrUserException($"--out {Out}: must differ from --model and --adapter (the output directory is replaced)");
        var device = ResolveDevice();
        var r = MergeStage.Run(Model, Adapter, Out, StageVerbBase.ParseDType(DType, device), maxShard, device);
        if (r.SkippedShards > 0) Cli.Notice($"merge: skipped {r.SkippedShards} of {r.Shards} shards already written");
        Cli.Summary("merge", new Dictionary<string, object?>
        {
            ["layers"] = r.Layers, ["shards"] = r.Shards, ["skipped_shards"] = r.SkippedShards, ["out"] = Out,
        }, console => console.MarkupLine($"merged {r.Layers} LoRA layers into [bold]{Markup.Escape(Out)}[/] ({r.Shards} weight shard{(r.Shards == 1 ? "" : "s")})"));
        return 0;
    }

    static long ParseSize(string text)
    {
        var m = System.Text.RegularExpressions.Regex.Match(text.Trim(), @"^(\d+)\s*(B|KB|MB|GB|KIB|MIB|GIB)?$", System.Text.RegularExpressions.RegexOptions.IgnoreCase);
        if (!m.Success || !long.TryParse(m.Groups[1].Value, out long n) || n <= 0 || n > long.MaxValue / (1L << 30))
            throw new CsrUserException($"--max-shard-size {text}: expected a positive size such as 5GB, 500MB or 1048576");
        long unit = m.Groups[2].Value.ToUpperInvariant() switch
        {
            "KB" => 1000, "MB" => 1000_000, "GB" => 1000_000_000,
            "KIB" => 1L << 10, "MIB" => 1L << 20, "GIB" => 1L << 30,
            _ => 1,
        };
        return n * unit;
    }
}
