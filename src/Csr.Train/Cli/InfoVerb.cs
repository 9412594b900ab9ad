using CommandLine;
using Csr.Native;
using TorchSharp;

namespace Csr.Train.Cli;

[Verb("info", HelpText = "Print versions and check that TorchSharp loads on this machine.")]
public sealed class InfoVerb : ICliVerb
{
    public int Execute()
    {
        TorchRuntime.EnsureInitialised();
        Console.WriteLine($"csr-train {typeof(InfoVerb).Assembly.GetName().Version}");
        Console.WriteLine($"TorchSharp {typeof(torch).Assembly.GetName().Version}, threads {torch.get_num_threads()}");
        using var t = torch.ones(2, 2); // host: a load check of libtorch itself
        Console.WriteLine($"torch ok: sum(ones(2,2)) = {t.sum().item<float>()}");
        return 0;
    }
}
