using CommandLine;
using Csr.Native;
using static TorchSharp.torch;

namespace Csr.Train.Cli;

/// <summary>The option every verb that computes shares: where it computes (<c>--device</c>).</summary>
public abstract class ComputeVerbBase
{
    [Option("device", Default = "auto", HelpText = "Where to compute: cpu, cuda, cuda:N or auto (the first GPU when TorchSharp's CUDA runtime is loaded and a GPU is visible, else cpu).")]
    public string Device { get; set; } = "auto";

    [Option("quiet", HelpText = "Print errors and the final summary only (no progress, no notices).")]
    public bool Quiet { get; set; }

    [Option("json", HelpText = "Print the final summary as one JSON object on stdout, its only content; progress and notices go to stderr.")]
    public bool Json { get; set; }

    CliOutput? _output;

    /// <summary>Where the verb writes (progress, notices, summary); the console in the mode --quiet / --json ask for,
    /// unless a caller (a test) sets it.</summary>
    public CliOutput Cli
    {
        get => _output ??= CliOutput.ForConsole(Quiet, Json);
        set => _output = value;
    }

    /// <summary>Resolves and validates <see cref="Device"/> and initialises libtorch for it (one-line error when CUDA is asked for but missing).</summary>
    public Device ResolveDevice(int? threads = null) => ComputeDevice.Resolve(Device, threads);

    /// <summary>
    /// A <c>--dtype</c> text on <paramref name="device"/>: auto = bf16 on CUDA and on CPUs with native bf16
    /// (AVX512_BF16 / AMX-BF16), fp32 on other CPUs. What auto chose, and why, goes to stderr once per process.
    /// </summary>
    public static ScalarType ResolveDType(string dtype, Device device) => ResolveDType(dtype, device, Console.Error, ref _autoReported);

    /// <summary>
    /// <see cref="ResolveDType(string, Device)"/> writing to <paramref name="report"/>: the line is written when
    /// <c>auto</c> was resolved and <paramref name="reported"/> is 0, which it then sets to 1.
    /// </summary>
    public static ScalarType ResolveDType(string dtype, Device device, TextWriter report, ref int reported)
    {
        var choice = ComputeDevice.ResolveDTypeChoice(dtype, device);
        if (choice.IsAuto && Interlocked.Exchange(ref reported, 1) == 0) report.WriteLine(choice.ToString());
        return choice.DType;
    }

    private static int _autoReported;
}
