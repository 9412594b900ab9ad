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

    [Option("dtype", Default = "auto", HelpText = "auto (bf16 on CUDA, fp32 on the CPU), fp32 or bf16.")]
    public string DType { get; set; } = "auto";

    public int Execute()
    {
        var device = ResolveDevice();
        int n = MergeStage.Run(Model, Adapter, Out, ResolveDType(DType, device), device);
        AnsiConsole.MarkupLine($"merged {n} LoRA layers into [bold]{Markup.Escape(Out)}[/]");
        return 0;
    }
}
