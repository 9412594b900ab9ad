using BenchmarkDotNet.Attributes;
using Csr.Models.IO;
using Csr.Native;
using static TorchSharp.torch;

namespace Csr.Bench.IO;

/// <summary>
/// Streaming a 256 MiB bf16 safetensors file (8 tensors of 4096 x 4096) into existing parameters: same dtype
/// (file bytes straight into the storage), converted to fp32 (16 MiB staging chunks), against the baseline of
/// reading the same bytes into one reused byte[] (what the page cache and memory can deliver). The file is in the
/// page cache after the first iteration, so this measures the reader's overhead, not the disk.
/// </summary>
[MemoryDiagnoser]
public class CheckpointLoadBench
{
    private const int N = 8, Rows = 4096, Cols = 4096;
    private string _dir = "", _file = "";
    private Tensor[] _bf16 = [], _fp32 = [];
    private byte[] _buffer = [];

    [GlobalSetup]
    public void Setup()
    {
        TorchRuntime.EnsureInitialised();
        _dir = Path.Combine(Path.GetTempPath(), "csr-bench-io-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
        var g = new Generator(1);
        var tensors = Enumerable.Range(0, N).Select(i => ($"layers.{i}.weight", randn(new long[] { Rows, Cols }, generator: g).to_type(ScalarType.BFloat16))).ToList();
        CheckpointWriter.Save(tensors, _dir);
        _file = Path.Combine(_dir, CheckpointFiles.SingleFileName);
        _bf16 = tensors.Select(t => zeros(new long[] { Rows, Cols }, ScalarType.BFloat16)).ToArray();
        _fp32 = tensors.Select(t => zeros(new long[] { Rows, Cols }, ScalarType.Float32)).ToArray();
        _buffer = new byte[Rows * Cols * 2];
        foreach (var (_, t) in tensors) t.Dispose();
    }

    [GlobalCleanup]
    public void Cleanup() => Directory.Delete(_dir, true);

    [Benchmark(Baseline = true)]
    public long RawFileReadIntoByteArray()
    {
        using var fs = new FileStream(_file, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        long total = 0;
        int n;
        while ((n = fs.Read(_buffer, 0, _buffer.Length)) > 0) total += n;
        return total;
    }

    [Benchmark]
    public void ReadIntoBf16Parameters()
    {
        using var f = SafeTensorsFile.Open(_file);
        for (int i = 0; i < N; i++) f.ReadInto($"layers.{i}.weight", _bf16[i]);
    }

    [Benchmark]
    public void ReadIntoFp32ParametersConverting()
    {
        using var f = SafeTensorsFile.Open(_file);
        for (int i = 0; i < N; i++) f.ReadInto($"layers.{i}.weight", _fp32[i]);
    }
}
