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
        Console.WriteLine(CudaLine());
        Console.WriteLine(Csr.Native.Profiling.Nvtx.Enabled ? "nvtx: ranges on (a profiler is attached)" : $"nvtx: off, {Csr.Native.Profiling.Nvtx.Status}");
        return 0;
    }

    /// <summary>Whether libtorch has CUDA here and a tensor op runs on cuda:0 ("cuda ok: ..." / "cuda: ...").</summary>
    static string CudaLine()
    {
        try
        {
            if (!torch.cuda.is_available()) return "cuda: not available (CPU libtorch or no GPU)";
            using var c = torch.ones(2, 2, device: torch.CUDA);
            using var s = c.sum();
            return $"cuda ok: {torch.cuda.device_count()} device(s), sum(ones(2,2)) on cuda:0 = {s.item<float>()}";
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return $"cuda: failed ({ex.GetType().Name}: {ex.Message.Split('\n')[0]})";
        }
    }
}
