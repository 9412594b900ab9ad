using BenchmarkDotNet.Running;

namespace Csr.Bench;

public static class Program
{
    /// <summary>dotnet run -c Release --project bench/Csr.Bench -- --filter '*'</summary>
    public static void Main(string[] args)
    {
        if (args.Contains("--kernels-memory")) { Kernels.PeakMemory.Report(); return; }
        if (args.Contains("--pipeline")) { Pipeline.PipelineReport.Run(args); return; }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
