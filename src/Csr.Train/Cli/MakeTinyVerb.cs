using CommandLine;
using Csr.Models.Clip;
using Csr.Models.Llava;
using Csr.Native;

namespace Csr.Train.Cli;

[Verb("make-tiny", HelpText = "Write a random tiny LLaVA-1.5 checkpoint to OUT/llava and a tiny CLIP to OUT/clip, in the exact HF layouts (configs, sharded safetensors + index, tokenizer files, preprocessor config).")]
public sealed class MakeTinyVerb : ICliVerb
{
    [Option("out", Required = true, HelpText = "Output directory (gets llava/ and clip/).")]
    public string Out { get; set; } = "";

    [Option("seed", Default = 0L, HelpText = "Random seed: the same seed writes the same weights.")]
    public long Seed { get; set; }

    /// <summary>Where results go (tests swap it).</summary>
    public TextWriter Output { get; set; } = Console.Out;

    public int Execute()
    {
        TorchRuntime.EnsureInitialised();
        if (File.Exists(Out)) throw new CsrUserException($"--out {Out} is a file; give a directory");
        var llava = Path.Combine(Out, "llava");
        var clip = Path.Combine(Out, "clip");
        var a = TinyLlavaCheckpoint.Write(llava, Seed);
        var b = TinyClipCheckpoint.Write(clip, Seed);
        Output.WriteLine($"tiny LLaVA: {llava} ({a.Count} files)");
        foreach (var f in a) Output.WriteLine($"  {Path.GetFileName(f)}");
        Output.WriteLine($"tiny CLIP: {clip} ({b.Count} files)");
        foreach (var f in b) Output.WriteLine($"  {Path.GetFileName(f)}");
        return 0;
    }
}
