using BenchmarkDotNet.Attributes;
using Csr.Models.Generation;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Bench.Decode;

/// <summary>
/// Prefill and greedy decode of the mid-size decoder (hidden 1024, 8 layers, vocab 32000), fp32 and bf16.
/// <c>dotnet run -c Release --project bench/Csr.Bench -- --filter '*DecodeBenchmarks*'</c> (short in-process job).
/// Tokens/s = tokens / mean time; <c>decode</c> prints them next to the memory-bandwidth bound.
/// </summary>
[Config(typeof(InProcessShortConfig))]
[MemoryDiagnoser]
public class DecodeBenchmarks
{
    public const int PrefillTokens = 128, PromptTokens = 16, DecodeTokens = 16, UncachedTokens = 8;

    [Params(ScalarType.Float32, ScalarType.BFloat16)]
    public ScalarType Dtype { get; set; }

    private DecodeWorkload _w = null!;
    private Tensor _prefillIds = null!, _prompt = null!;
    private GenerationStart _start = null!;

    [GlobalSetup]
    public void Setup()
    {
        _w = new DecodeWorkload(Dtype);
        _prefillIds = _w.Prompt(PrefillTokens);
        _prompt = _w.Prompt(PromptTokens);
        _start = GenerationStart.PrefillIds(_w.Model, _prompt);
    }

    [Benchmark(Baseline = true, Description = "prefill 128 tokens")]
    public void Prefill() => _w.Prefill(_prefillIds);

    [Benchmark(Description = "greedy decode 16 tokens, KV cache")]
    public GenerationOutput DecodeCached() => _w.DecodeCached(_start, DecodeTokens);

    [Benchmark(Description = "greedy decode 8 tokens, no cache")]
    public int[] DecodeUncached() => _w.DecodeUncached(_prompt, UncachedTokens);

    [GlobalCleanup]
    public void Cleanup()
    {
        _start.Dispose();
        _prefillIds.Dispose();
        _prompt.Dispose();
        _w.Dispose();
    }
}
