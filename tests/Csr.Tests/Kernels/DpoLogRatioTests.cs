using Csr.Kernels;
using Csr.Native;
using FsCheck.Xunit;
using static TorchSharp.torch;

namespace Csr.Tests.Kernels;

public class DpoLogRatioTests
{
    public DpoLogRatioTests() => TorchRuntime.EnsureInitialised();

    private static (Tensor logits, Tensor labels, Tensor mask) Inputs(int seed, byte n, byte t, ushort v, bool bf16, bool extremes)
    {
        var g = new Generator((ulong)(uint)seed);
        long N = 1 + n % 4, T = 1 + t % 9, V = 1 + v % (2 * DpoLogRatio.VocabChunk + 300); // V crosses chunk boundaries
        var logits = KernelTestData.Logits(new[] { N, T, V }, g, extremes, bf16 ? ScalarType.BFloat16 : ScalarType.Float32);
        return (logits, KernelTestData.Labels(N, T, V, g), KernelTestData.Mask(N, T, g, allMaskedRow: seed % 3 == 0 ? 0 : -1));
    }

    /// <summary>Tolerance: fp32 summation-order error grows with T and the logits' magnitude (1e4 gives lse ~ 1e4).</summary>
    private static (double atol, double rtol) Tol(Tensor logits, bool extremes) =>
        (extremes ? 2e-3 * logits.shape[1] : 2e-4 * logits.shape[1], 1e-5);

    [Property(MaxTest = 25)]
    public void Fused_forward_and_gradient_match_the_reference(int seed, byte n, byte t, ushort v, bool bf16, bool extremes)
    {
        using var scope = NewDisposeScope();
        var (logits, labels, mask) = Inputs(seed, n, t, v, bf16, extremes);
        var (atol, rtol) = Tol(logits, extremes);

        var xr = logits.detach().clone().requires_grad_(true);
        var xf = logits.detach().clone().requires_grad_(true);
        var lpRef = DpoLogRatio.SequenceLogProbsReference(xr, labels, mask);
        var lpFused = DpoLogRatio.SequenceLogProbsFused(xf, labels, mask);
        KernelCheck.Require(KernelCheck.Compare(lpRef, lpFused, atol, rtol, "logps fused vs reference"));

        var w = randn(lpRef.shape, generator: new Generator((ulong)(uint)seed + 1)); // arbitrary upstream gradient
        (lpRef * w).sum().backward();
        (lpFused * w).sum().backward();
        Assert.Equal(logits.dtype, xf.grad!.dtype);
        // softmax entries are in [0, 1]; bf16 gradients carry bf16 rounding (8 bits of mantissa); with logits
        // of 1e4 the float32 ulp of x - lse is ~1e-3, so softmax itself is only good to ~1e-3 relative in both.
        double grtol = bf16 ? 1e-2 : extremes ? 3e-3 : 1e-4;
        KernelCheck.Require(KernelCheck.Compare(xr.grad!, xf.grad!, bf16 ? 1e-2 : 1e-5, grtol, "dlogits fused vs reference autograd"));
    }

    [Property(MaxTest = 8)]
    public void Ilgpu_and_cuda_paths_match_the_reference(int seed, byte n, byte t, ushort v, bool bf16)
    {
        using var scope = NewDisposeScope();
        var (logits, labels, mask) = Inputs(seed, n, t, (ushort)(v % 700), bf16, extremes: seed % 2 == 0);
        var (atol, rtol) = Tol(logits, seed % 2 == 0);
        var lpRef = DpoLogRatio.SequenceLogProbsReference(logits, labels, mask);
        KernelCheck.Require(KernelCheck.Compare(lpRef, DpoLogRatio.SequenceLogProbsIlgpu(logits, labels, mask), atol, rtol, "logps ILGPU vs reference"));
        // Without a GPU the CUDA path logs one line and falls back to the fused CPU path.
        KernelCheck.Require(KernelCheck.Compare(lpRef, DpoLogRatio.SequenceLogProbsCuda(logits, labels, mask), atol, rtol, "logps CUDA(or fallback) vs reference"));
    }

    [Property(MaxTest = 8)]
    public void Ilgpu_and_cuda_gradients_match_reference_autograd(int seed, byte n, byte t, ushort v, bool bf16)
    {
        using var scope = NewDisposeScope();
        var (logits, labels, mask) = Inputs(seed, n, t, (ushort)(v % 700), bf16, extremes: false);
        var xr = logits.clone().requires_grad_(true);
        DpoLogRatio.SequenceLogProbsReference(xr, labels, mask).sum().backward();
        foreach (var path in new[] { KernelPath.Ilgpu, KernelPath.Cuda })
        {
            var x = logits.clone().requires_grad_(true);
            DpoLogRatio.SequenceLogProbs(x, labels, mask, path).sum().backward();
            Assert.Equal(logits.dtype, x.grad!.dtype);
            // bf16 gradients carry bf16 rounding (8 bits of mantissa), as in the fused test.
            KernelCheck.Require(KernelCheck.Compare(xr.grad!, x.grad!, bf16 ? 1e-2 : 1e-5, bf16 ? 1e-2 : 1e-4, $"dlogits {path} vs reference autograd"));
        }
    }

    [Fact]
    public void All_masked_sequences_give_zero_and_zero_gradient()
    {
        using var scope = NewDisposeScope();
        var logits = randn(2, 3, 50).requires_grad_(true);
        var labels = zeros(new long[] { 2, 3 }, dtype: ScalarType.Int64);
        var mask = zeros(2, 3);
        var lp = DpoLogRatio.SequenceLogProbsFused(logits, labels, mask);
        Assert.Equal(new float[] { 0, 0 }, lp.data<float>().ToArray());
        lp.sum().backward();
        Assert.Equal(0f, logits.grad!.abs().max().item<float>());
    }

    [Fact]
    public void Known_value_uniform_logits_give_minus_T_log_V()
    {
        using var scope = NewDisposeScope();
        var logits = zeros(1, 4, 1000);
        var labels = tensor(new long[] { 3, 999, 0, 5 }).reshape(1, 4);
        var mask = tensor(new float[] { 1, 1, 0, 1 }).reshape(1, 4);
        var lp = DpoLogRatio.SequenceLogProbsFused(logits, labels, mask).item<float>();
        Assert.Equal(-3 * Math.Log(1000), lp, 4);
    }

    [Fact]
    public void Label_outside_vocabulary_names_the_position()
    {
        using var scope = NewDisposeScope();
        var logits = zeros(1, 2, 10);
        var labels = tensor(new long[] { 1, 10 }).reshape(1, 2);
        var ex = Assert.Throws<ArgumentException>(() => DpoLogRatio.SequenceLogProbsFused(logits, labels, ones(1, 2)));
        Assert.Contains("[0, 1]", ex.Message);
    }

    [Fact]
    public void Shape_mismatch_is_reported_with_shapes()
    {
        using var scope = NewDisposeScope();
        var ex = Assert.Throws<ArgumentException>(() => DpoLogRatio.SequenceLogProbsFused(zeros(2, 3, 5), zeros(new long[] { 2, 4 }, dtype: ScalarType.Int64), ones(2, 3)));
        Assert.Contains("[2, 3]", ex.Message);
    }
}
