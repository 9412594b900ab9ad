using Csr.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Tests;

public class TorchRuntimeTests
{
    [Fact]
    public void Torch_initialises_and_computes_a_matmul_and_a_gradient()
    {
        TorchRuntime.EnsureInitialised();
        using var scope = NewDisposeScope();
        var a = tensor(new float[] { 1, 2, 3, 4 }, new long[] { 2, 2 }).requires_grad_(true);
        var b = tensor(new float[] { 5, 6, 7, 8 }, new long[] { 2, 2 });
        var c = a.matmul(b);
        Assert.Equal(new float[] { 19, 22, 43, 50 }, c.data<float>().ToArray());
        c.sum().backward();
        // d(sum(a@b))/da = 1 @ b^T: row sums of b
        Assert.Equal(new float[] { 11, 15, 11, 15 }, a.grad!.data<float>().ToArray());
    }

    [Fact]
    public void Bf16_matmul_runs_and_is_close_to_fp32()
    {
        TorchRuntime.EnsureInitialised();
        using var scope = NewDisposeScope();
        var g = new torch.Generator(1);
        var a = randn(new long[] { 64, 64 }, generator: g);
        var b = randn(new long[] { 64, 64 }, generator: g);
        var ref32 = a.matmul(b);
        var lo = a.to(ScalarType.BFloat16).matmul(b.to(ScalarType.BFloat16)).to(ScalarType.Float32);
        var err = (ref32 - lo).abs().max().item<float>();
        var scale = ref32.abs().max().item<float>();
        Assert.True(err < 0.02f * scale, $"bf16 error {err} vs scale {scale}");
    }
}
