using System.Diagnostics;
using Csr.Kernels;
using Csr.Native;
using Csr.Native.Cuda;
using static TorchSharp.torch;

namespace Csr.Bench.Kernels;

/// <summary>
/// The prepared GPU validation (eng/gpu-check.sh): every CUDA / ILGPU kernel against the CPU reference at
/// benchmark shapes through <see cref="KernelCheck"/>, then the DPO row kernel timed on device-resident logits
/// and stated as achieved GB/s over the card's peak. Exit code 1 on any mismatch. The cuda path gets CUDA
/// tensors (a CUDA build of TorchSharp); without one it is skipped with a line, and ILGPU runs on its CPU accelerator.
/// Run: <c>dotnet run -c Release --project bench/Csr.Bench -- --kernels-gpu-check</c>.
/// </summary>
public static class GpuCheck
{
    public static int Run()
    {
        TorchRuntime.EnsureInitialised();
        var rt = CudaKernelRuntime.TryGet(out var reason);
        Console.WriteLine(rt is null ? $"CUDA: not available ({reason})" : $"CUDA device: {rt.DeviceName}");
        Console.WriteLine($"ILGPU accelerator: {IlgpuRuntime.Accelerator.Name} ({IlgpuRuntime.Accelerator.AcceleratorType})");
        var results = new List<KernelCheck.Result>();
        var g = new Generator(1);

        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.BFloat16 })
        {
            using var scope = NewDisposeScope();
            var logits = (randn(new long[] { 2, 1024, 32000 }, generator: g) * 3).to(dtype);
            var labels = randint(0, 32000, new long[] { 2, 1024 }, generator: g, dtype: ScalarType.Int64);
            var mask = rand(new long[] { 2, 1024 }, generator: g).gt(0.2).to(ScalarType.Float32);
            var reference = DpoLogRatio.SequenceLogProbsReference(logits, labels, mask);
            var xr = logits.detach().requires_grad_(true);
            DpoLogRatio.SequenceLogProbsReference(xr, labels, mask).sum().backward();
            foreach (var path in new[] { KernelPath.Cuda, KernelPath.Ilgpu, KernelPath.Fused })
            {
                if (!OnDevice(path, out var dev)) continue;
                var x = logits.to(dev).detach().requires_grad_(true);
                var sw = Stopwatch.StartNew();
                var got = DpoLogRatio.SequenceLogProbs(x, labels.to(dev), mask.to(dev), path);
                double f = sw.Elapsed.TotalMilliseconds;
                got.sum().backward();
                Console.WriteLine($"DPO log-probs {dtype} {path}: forward {f:F1} ms, backward {sw.Elapsed.TotalMilliseconds - f:F1} ms (tensors on {dev})");
                results.Add(KernelCheck.Compare(reference, got, 0.5, 1e-5, $"DPO log-probs {dtype} {path}"));
                results.Add(KernelCheck.Compare(xr.grad!, x.grad!, dtype == ScalarType.BFloat16 ? 1e-2 : 1e-5, dtype == ScalarType.BFloat16 ? 1e-2 : 1e-3,
                    $"DPO dlogits {dtype} {path}"));
            }
        }

        {
            using var scope = NewDisposeScope();
            var logits = randn(new long[] { 25, 32000 }, generator: g) * 3;
            var scores = -rand(new long[] { 25 }, generator: g) * 10;
            var tokens = randint(0, 50, new long[] { 25 }, generator: g, dtype: ScalarType.Int64);
            using var reference = BeamStep.StepReference(logits, scores, tokens, 5, 3.0);
            foreach (var path in new[] { KernelPath.Cuda, KernelPath.Ilgpu, KernelPath.Fused })
            {
                if (!OnDevice(path, out var dev)) continue;
                var sw = Stopwatch.StartNew();
                using var got = BeamStep.Step(logits.to(dev), scores.to(dev), tokens.to(dev), 5, 3.0, path);
                Console.WriteLine($"beam step {path}: {sw.Elapsed.TotalMilliseconds:F2} ms");
                results.Add(KernelCheck.Equal(reference.Tokens, got.Tokens, $"beam tokens {path}"));
                results.Add(KernelCheck.Equal(reference.Parents, got.Parents, $"beam parents {path}"));
                results.Add(KernelCheck.Compare(reference.Scores, got.Scores, 1e-4, 1e-5, $"beam scores {path}"));
            }
        }

        {
            using var scope = NewDisposeScope();
            var img = randn(new long[] { 64, 768 }, generator: g);
            var sent = randn(new long[] { 4096, 768 }, generator: g);
            var idx = randint(0, 64, new long[] { 4096 }, generator: g, dtype: ScalarType.Int64);
            var reference = ClipScoring.PairScoresReference(img, sent, idx, 100, true);
            foreach (var path in new[] { KernelPath.Cuda, KernelPath.Ilgpu, KernelPath.Fused })
            {
                if (!OnDevice(path, out var dev)) continue;
                var sw = Stopwatch.StartNew();
                var got = ClipScoring.PairScores(img.to(dev), sent.to(dev), idx.to(dev), 100, clampAtZero: true, path);
                Console.WriteLine($"CLIP pair scores {path}: {sw.Elapsed.TotalMilliseconds:F2} ms (tensors on {dev})");
                results.Add(KernelCheck.Compare(reference, got.cpu(), 1e-3, 1e-5, $"CLIP pair {path}"));
            }
        }

        if (rt is not null) TimeDpoKernel(rt);
        foreach (var r in results) Console.WriteLine(r.Report);
        bool ok = results.All(r => r.Ok);
        Console.WriteLine(ok ? "gpu-check: OK" : "gpu-check: FAILED");
        return ok ? 0 : 1;
    }

    /// <summary>
    /// The device a path's inputs go to: CUDA tensors for the cuda path (it runs on CPU tensors only as the fused
    /// path), the CPU otherwise; false (with a line) when TorchSharp has no CUDA device for the cuda path.
    /// </summary>
    private static bool OnDevice(KernelPath path, out Device device)
    {
        device = CPU;
        if (path != KernelPath.Cuda) return true;
        if (!cuda.is_available())
        {
            Console.WriteLine("cuda path: skipped, TorchSharp has no CUDA device (this build's libtorch is CPU-only)");
            return false;
        }
        device = CUDA;
        return true;
    }

    /// <summary>dpo_rows_bf16 over device-resident [8, 1024, 32000] bf16 logits (all rows counted): GB/s read.</summary>
    private static unsafe void TimeDpoKernel(CudaKernelRuntime rt)
    {
        var fn = rt.TryGetFunction("dpo_logratio", "dpo_rows_bf16", out var why);
        if (fn is null) { Console.WriteLine($"timing skipped: {why}"); return; }
        using var scope = NewDisposeScope();
        const int rows = 8 * 1024, v = 32000;
        var x = randn(new long[] { rows, v }).to(ScalarType.BFloat16);
        var lab = randint(0, v, new long[] { rows }, dtype: ScalarType.Int64);
        var val = ones(rows);
        long bytes = (long)rows * v * 2;
        using var dx = CudaDeviceMemory.FromHost(Ptr(x), bytes);
        using var dl = CudaDeviceMemory.FromHost(Ptr(lab), rows * 8L);
        using var dv = CudaDeviceMemory.FromHost(Ptr(val), rows * 4L);
        using var dlp = CudaDeviceMemory.Allocate(rows * 4L);
        using var dlse = CudaDeviceMemory.Allocate(rows * 4L);
        rt.Launch(fn.Value, (rows, 1, 1), (256, 1, 1), 0, dx, dl, dv, dlp, dlse, rows, v); // warm-up
        const int reps = 20;
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < reps; i++) rt.Launch(fn.Value, (rows, 1, 1), (256, 1, 1), 0, dx, dl, dv, dlp, dlse, rows, v);
        double s = sw.Elapsed.TotalSeconds / reps;
        double gbs = bytes / s / 1e9;
        var peak = rt.PeakMemoryBandwidthGBs();
        Console.WriteLine($"dpo_rows_bf16 [8x1024x32000]: {s * 1e3:F3} ms per launch (incl. sync), {gbs:F0} GB/s read" +
            (peak > 0 ? $" = {100 * gbs / peak:F0}% of peak {peak:F0} GB/s" : ""));
    }

    private static unsafe void* Ptr(Tensor t)
    {
        fixed (byte* p = t.bytes) return p;
    }
}
