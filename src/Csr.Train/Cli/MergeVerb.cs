using CommandLine;
using Csr.Train.Adapters;
using Spectre.Console;

namespace Csr.Train.Cli;

[Verb("merge", HelpText = "Base model + PEFT adapter -> full HF llava checkpoint (W += lora_alpha/r * B@A; projector from the adapter).")]
public sealed class MergeVerb : ICliVerb
{
    [Option("model", Required = true, HelpText = "Base HF llava model directory.")]
    public string Model { get; set; } = "";

    [Option("adapter", Required = true, HelpText = "Adapter directory (adapter_config.json + adapter_model.safetensors).")]
    public string Adapter { get; set; } = "";

    [Option("out", Required = true, HelpText = "Output directory for the merged checkpoint.")]
    public string Out { get; set; } = "";

    [Option("dtype", Default = "fp32", HelpText = "fp32 or bf16.")]
    public string DType { get; set; } = "fp32";

    public int Execute()
    {
        var dtype = DType.ToLowerInvariant() switch
        {
            "fp32" or "float32" => TorchSharp.torch.ScalarType.Float32,
            "bf16" or "bfloat16" => TorchSharp.torch.ScalarType.BFloat16,
            _ => throw new CsrUserException($"--dtype {DType}: expected fp32 or bf16"),
        };
        Csr.Native.TorchRuntime.EnsureInitialised();
        int n = MergeStage.Run(Model, Adapter, Out, dtype);
        AnsiConsole.MarkupLine($"merged {n} LoRA layers into [bold]{Markup.Escape(Out)}[/]");
        return 0;
    }
}
