using BenchmarkDotNet.Attributes;
using Csr.Models.Clip;
using Csr.Models.Llama;
using Csr.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Bench.Vision;

/// <summary>
/// The LLaVA-1.5 vision tower's per-image cost: CLIP ViT-L/14 at 336 px (577 tokens, hidden 1024,
/// MLP 4096) with 4 of its 24 layers, so one forward is 1/6 of the real tower's; eager vs sdpa, fp32 vs bf16.
/// </summary>
[MemoryDiagnoser]
public class ClipVisionBench
{
    private ClipVisionModel _model = null!;
    private Tensor _pixels = null!;
    private Tensor _x = null!, _wSquare = null!, _wUp = null!, _wDown = null!, _h = null!;

    [Params(ScalarType.Float32, ScalarType.BFloat16)]
    public ScalarType DType { get; set; }

    [Params(AttentionImplementation.Eager, AttentionImplementation.Sdpa)]
    public AttentionImplementation Attention { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        TorchRuntime.EnsureInitialised();
        var c = new ClipVisionConfig
        {
            HiddenSize = 1024, IntermediateSize = 4096, NumHiddenLayers = 4, NumAttentionHeads = 16,
            ImageSize = 336, PatchSize = 14, ProjectionDim = 768,
        };
        _model = new ClipVisionModel(c);
        _model.eval();
        _model.to(DType);
        _model.AttentionImplementation = Attention;
        _pixels = randn(1, 3, 336, 336);
        _x = randn(577, 1024).to(DType);
        _wSquare = randn(1024, 1024).to(DType);
        _wUp = randn(1024, 4096).to(DType);
        _wDown = randn(4096, 1024).to(DType);
        _h = randn(577, 4096).to(DType);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _model.Dispose();
        _pixels.Dispose();
    }

    /// <summary>The same layers' matmuls alone (4 x (4 square projections + fc1 + fc2) on 577 rows):
    /// the bound the tower can approach on this machine at this moment.</summary>
    [Benchmark(Baseline = true)]
    public long MatmulsOnly()
    {
        using var scope = NewDisposeScope();
        long n = 0;
        for (int layer = 0; layer < 4; layer++)
        {
            for (int i = 0; i < 4; i++) n += _x.matmul(_wSquare).shape[0];
            n += _x.matmul(_wUp).shape[0];
            n += _h.matmul(_wDown).shape[0];
        }
        return n;
    }

    [Benchmark]
    public long FourLayersOneImage()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        return _model.HiddenState(_pixels, -1).shape[1];
    }
}
