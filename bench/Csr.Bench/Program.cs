using BenchmarkDotNet.Running;

namespace Csr.Bench;

public static class Program
{
    /// <summary>
    /// dotnet run -c Release --project bench/Csr.Bench -- --filter '*'   (BenchmarkDotNet)
    /// dotnet run -c Release --project bench/Csr.Bench -- decode [--quick] (plain timed decode/prefill report)
    /// dotnet run -c Release --project bench/Csr.Bench -- --sampling --model world|mid (sampling: re-encode / prefix cache / batched)
    /// dotnet run -c Release --project bench/Csr.Bench -- decode --gemv (Bf16Gemv per path vs torch, GB/s vs bandwidth)
    /// </summary>
    public static void Main(string[] args)
    {
        // before libtorch loads: its OpenMP workers must not spin between ops (see OpenMpSettings)
        Csr.Models.Fast.OpenMpSettings.PreferPassiveWait();
        if (args.Contains("--kernels-memory")) { Kernels.PeakMemory.Report(); return; }
        if (args.Contains("--pipeline")) { Pipeline.PipelineReport.Run(args); return; }
        if (args.Contains("--sampling")) { Pipeline.SamplingReport.Run(args); return; }
        if (args.Length > 0 && args[0] == "decode")
        {
            Csr.Native.TorchRuntime.EnsureInitialised();
            if (args.Contains("--gemv")) Decode.GemvReport.Run(args);
            else Decode.DecodeReport.Run(args);
            return;
        }
        if (args.Contains("--kernels-beam")) { Kernels.BeamStepReport.Run(args); return; }
        if (args.Contains("--kernels-profile")) { Kernels.QuickProfile.Run(); return; }
        if (args.Contains("--kernels-gpu-check")) { Environment.ExitCode = Kernels.GpuCheck.Run(); return; }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
