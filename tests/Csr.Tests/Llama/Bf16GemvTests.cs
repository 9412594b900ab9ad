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

    public static TheoryData<Bf16Gemv.Path, int, int, int> PathCases()
    {
        var data = new TheoryData<Bf16Gemv.Path, int, int, int>();
        foreach (var path in Bf16Gemv.AvailablePaths)
        {
            data.Add(path, 1, 300, 1024);  // one row of x: the unrolled body only (half = 512)
            data.Add(path, 1, 33, 119);    // half = 59: unrolled body, one 8-wide step, scalar tail, odd K
            data.Add(path, 5, 300, 1024);  // 5 beams: a group of four rows, then one
            data.Add(path, 7, 65, 83);     // four + three single rows, half = 41 (16 + 16 + 8 + 1), odd K
            data.Add(path, 16, 260, 64);   // max rows, parallel chunks (N >= 256)
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(PathCases))]
    public void Every_path_of_this_cpu_matches_a_double_precision_reference(Bf16Gemv.Path path, int m, int n, int k)
    {
        using var scope = NewDisposeScope();
        var g = new Generator((ulong)(m * 7919 + n * 31 + k));
        var w = randn(new long[] { n, k }, generator: g).to_type(ScalarType.BFloat16);
        var x = randn(new long[] { m, k }, generator: g);
        Tensor y;
        using (Bf16Gemv.UsePath(path))
        {
            Assert.Equal(path, Bf16Gemv.CurrentPath);
            y = Bf16Gemv.Linear(x, w, null);
        }
        var expected = x.to_type(ScalarType.Float64).matmul(w.to_type(ScalarType.Float64).t());
        TinyLlama.AssertClose(expected, y, 1e-4, 1e-4, $"gemv {path} m={m} n={n} k={k}");
    }

    [Theory]
    [InlineData(1, 300, 1024)] // four weight rows per pass (the 512-bit path), then the chunks' leftover rows
    [InlineData(1, 33, 119)]   // odd K: one row at a time
    [InlineData(5, 260, 64)]   // a group of four rows of x, then one
    public void Bf16_x_gives_the_fp32_x_result_rounded_as_libtorch_rounds(int m, int n, int k)
    {
        using var scope = NewDisposeScope();
        var g = new Generator((ulong)(m * 131 + n + k));
        var w = randn(new long[] { n, k }, generator: g).to_type(ScalarType.BFloat16);
        var x16 = randn(new long[] { 1, m, k }, generator: g).to_type(ScalarType.BFloat16);
        var direct = Bf16Gemv.Linear(x16, w, null);
        Assert.Equal(ScalarType.BFloat16, direct.dtype);
        Assert.Equal(new long[] { 1, m, n }, direct.shape);
        var viaFp32 = Bf16Gemv.Linear(x16.to_type(ScalarType.Float32), w, null).to_type(ScalarType.BFloat16);
        Assert.True(direct.to_type(ScalarType.Float32).eq(viaFp32.to_type(ScalarType.Float32)).all().item<bool>(), $"bf16 x path differs from the fp32 x path rounded by libtorch (m={m} n={n} k={k})");
    }

    [Fact]
    public void Rounding_to_bf16_equals_libtorch_on_ties_specials_and_subnormals()
    {
        using var scope = NewDisposeScope();
        var values = new List<float> { 0f, -0f, 1f, -1f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, float.Epsilon, -float.Epsilon,
            float.MaxValue, float.MinValue, 1e-40f, 3.4e38f };
        foreach (uint bits in new uint[] { 0x3F808000, 0x3F818000, 0x3F80_7FFF, 0x3F80_8001, 0x7F7F_FFFF, 0x0000_8000, 0x0001_8000 })
            values.Add(BitConverter.UInt32BitsToSingle(bits));
        var g = new Generator(5);
        values.AddRange(randn(new long[] { 2000 }, generator: g).mul(1000).data<float>().ToArray());
        var t = tensor(values.ToArray());
        var expected = t.to_type(ScalarType.BFloat16).data<BFloat16>().ToArray().Select(v => BitConverter.SingleToUInt32Bits((float)v) >> 16).Select(v => (short)(ushort)v).ToArray();
        for (int i = 0; i < values.Count; i++)
            if (float.IsNaN(values[i])) Assert.True((Bf16Gemv.RoundToBf16(values[i]) & 0x7FFF) > 0x7F80, "NaN must stay a NaN");
            else Assert.True((ushort)expected[i] == Bf16Gemv.RoundToBf16(values[i]),
                $"value {values[i]:R} (0x{BitConverter.SingleToUInt32Bits(values[i]):X8}): libtorch 0x{(ushort)expected[i]:X4}, ours 0x{Bf16Gemv.RoundToBf16(values[i]):X4}");
    }

    [Fact]
    public void The_default_path_is_the_widest_this_cpu_runs()
    {
        var expected = System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? Bf16Gemv.Path.Vector512
            : System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated ? Bf16Gemv.Path.Vector256 : Bf16Gemv.Path.Scalar;
        Assert.Equal(expected, Bf16Gemv.CurrentPath);
        Assert.Contains(Bf16Gemv.Path.Scalar, Bf16Gemv.AvailablePaths);
        if (!Bf16Gemv.IsAvailable(Bf16Gemv.Path.Vector512))
            Assert.Throws<ArgumentException>(() => Bf16Gemv.UsePath(Bf16Gemv.Path.Vector512));
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
