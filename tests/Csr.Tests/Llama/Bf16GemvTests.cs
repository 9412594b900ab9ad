using Csr.Models.Fast;
using Csr.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Tests.Llama;

public class Bf16GemvTests
{
    public Bf16GemvTests() => TorchRuntime.EnsureInitialised();

    [Theory]
    [InlineData(1, 7, 64)]      // scalar tail only
    [InlineData(1, 300, 1024)]  // vector body, parallel rows
    [InlineData(5, 513, 37)]    // odd K
    [InlineData(16, 40, 130)]   // max rows, K not a multiple of the vector width
    public void Matches_a_double_precision_reference_on_bf16_weights(int m, int n, int k)
    {
        using var scope = NewDisposeScope();
        var g = new Generator((ulong)(m * 1000 + n + k));
        var w = randn(new long[] { n, k }, generator: g).to_type(ScalarType.BFloat16);
        var x = randn(new long[] { m, k }, generator: g);
        var b = randn(new long[] { n }, generator: g);
        var y = Bf16Gemv.Linear(x, w, b);
        var expected = x.to_type(ScalarType.Float64).matmul(w.to_type(ScalarType.Float64).t()) + b.to_type(ScalarType.Float64);
        TinyLlama.AssertClose(expected, y, 1e-4, 1e-4, $"gemv m={m} n={n} k={k}");
    }

    [Fact]
    public void Bf16_model_logits_with_and_without_the_kernel_agree()
    {
        using var scope = NewDisposeScope();
        using var m = TinyLlama.Create(dtype: ScalarType.BFloat16);
        var ids = TinyLlama.RandomIds(new Generator(1), 2, 1, m.VocabSize);
        Tensor a, b;
        using (no_grad())
        {
            Assert.True(Bf16Gemv.Enabled);
            a = m.ForwardIds(ids).to_type(ScalarType.Float32);
            using (Bf16Gemv.DisableOnThisThread())
            {
                Assert.False(Bf16Gemv.Enabled);
                b = m.ForwardIds(ids).to_type(ScalarType.Float32);
            }
            Assert.True(Bf16Gemv.Enabled);
        }
        var err = (a - b).abs().max().item<float>();
        var scale = b.abs().max().item<float>();
        Assert.True(err <= 0.03f * scale, $"kernel vs torch bf16 logits: max error {err}, scale {scale}");
    }
}
