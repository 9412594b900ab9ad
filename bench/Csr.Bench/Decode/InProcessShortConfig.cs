using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace Csr.Bench.Decode;

/// <summary>
/// ShortRun (1 launch, 3 warm-up, 3 measured iterations) in-process: libtorch is loaded once with the OpenMP
/// settings of <c>Program.Main</c>, and no per-benchmark project is built (2 shared cores).
/// </summary>
public sealed class InProcessShortConfig : ManualConfig
{
    public InProcessShortConfig()
    {
        AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance).WithId("InProcessShort"));
    }
}
