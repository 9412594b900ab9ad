using BenchmarkDotNet.Attributes;
using Csr.Models.Fast;
using Csr.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Bench.Decode;

/// <summary>
/// One decode-sized projection (W [11264, 1024], 23 MB in bf16) for M rows of x: torch fp32 (baseline), torch bf16,
/// and <see cref="Bf16Gemv"/>. <c>dotnet run -c Release --project bench/Csr.Bench -- --filter '*Bf16Gemv*'</c>.
/// </summary>
[Config(typeof(InProcessShortConfig))]
[MemoryDiagnoser]
public class Bf16GemvBenchmarks
{
    [Params(1, 5)]
    public int M { get; set; }

    private Tensor _w32 = null!, _w16 = null!, _x32 = null!, _x16 = null!;

    [GlobalSetup]
    public void Setup()
    {
        TorchRuntime.EnsureInitialised();
        var g = new Generator(3);
        _w32 = torch.randn(new long[] { 11264, 1024 }, generator: g);
        _w16 = _w32.to_type(ScalarType.BFloat16);
        _x32 = torch.randn(new long[] { M, 1024 }, generator: g);
        _x16 = _x32.to_type(ScalarType.BFloat16);
    }

    [Benchmark(Baseline = true)]
    public void TorchFp32() { using var _ = torch.no_grad(); nn.functional.linear(_x32, _w32).Dispose(); }

    [Benchmark]
    public void TorchBf16() { using var _ = torch.no_grad(); nn.functional.linear(_x16, _w16).Dispose(); }

    [Benchmark]
    public void Bf16GemvKernel() { using var _ = torch.no_grad(); Bf16Gemv.Linear(_x16, _w16, null).Dispose(); }

    [GlobalCleanup]
    public void Cleanup()
    {
        _w32.Dispose(); _w16.Dispose(); _x32.Dispose(); _x16.Dispose();
    }
}
