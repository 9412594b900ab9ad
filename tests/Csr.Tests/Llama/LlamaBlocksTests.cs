using Csr.Models.Llama;
using Csr.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Tests.Llama;

public class LlamaBlocksTests
{
    public LlamaBlocksTests() => TorchRuntime.EnsureInitialised();

    [Fact]
    public void RmsNorm_matches_the_formula_computed_in_double()
    {
        using var scope = NewDisposeScope();
        var g = new Generator(3);
        var norm = new LlamaRMSNorm(8, 1e-5);
        using (no_grad()) norm.weight.copy_(randn(8, generator: g));
        var x = randn(new long[] { 2, 3, 8 }, generator: g);
        var y = norm.forward(x);
        var xs = x.data<float>().ToArray();
        var w = norm.weight.data<float>().ToArray();
        var expected = new float[xs.Length];
        for (int r = 0; r < 6; r++)
        {
            double ms = 0;
            for (int i = 0; i < 8; i++) ms += (double)xs[r * 8 + i] * xs[r * 8 + i];
            ms /= 8;
            for (int i = 0; i < 8; i++) expected[r * 8 + i] = (float)(w[i] * xs[r * 8 + i] / Math.Sqrt(ms + 1e-5));
        }
        TinyLlama.AssertClose(tensor(expected).reshape(2, 3, 8), y, 1e-6, 1e-5, "rmsnorm");
    }

    [Fact]
    public void Rotary_cos_sin_match_theta_power_formula_and_rotation_is_pairwise()
    {
        using var scope = NewDisposeScope();
        var c = LlamaConfig.Tiny() with { RopeTheta = 500.0 };
        int d = c.HeadDim; // 8
        var rope = new LlamaRotaryEmbedding(c);
        var pos = tensor(new long[] { 0, 1, 5, 17 }).reshape(1, 4);
        var (cos, sin) = rope.Forward(pos, ScalarType.Float32);
        var cs = cos.data<float>().ToArray();
        var sn = sin.data<float>().ToArray();
        long[] p = { 0, 1, 5, 17 };
        for (int t = 0; t < 4; t++)
            for (int j = 0; j < d; j++)
            {
                double f = Math.Pow(500.0, -2.0 * (j % (d / 2)) / d);
                Assert.Equal(Math.Cos(p[t] * f), cs[t * d + j], 4);
                Assert.Equal(Math.Sin(p[t] * f), sn[t * d + j], 4);
            }
        // rotation: (x_i, x_{i+d/2}) -> (x_i cos - x_{i+d/2} sin, x_{i+d/2} cos + x_i sin)
        var g = new Generator(5);
        var x = randn(new long[] { 1, 2, 4, d }, generator: g);
        var y = LlamaRotaryEmbedding.Apply(x, cos, sin).data<float>().ToArray();
        var xs = x.data<float>().ToArray();
        for (int h = 0; h < 2; h++)
            for (int t = 0; t < 4; t++)
                for (int i = 0; i < d / 2; i++)
                {
                    int b0 = (h * 4 + t) * d;
                    double f = Math.Pow(500.0, -2.0 * i / d), a = p[t] * f;
                    double x1 = xs[b0 + i], x2 = xs[b0 + i + d / 2];
                    Assert.Equal(x1 * Math.Cos(a) - x2 * Math.Sin(a), y[b0 + i], 4);
                    Assert.Equal(x2 * Math.Cos(a) + x1 * Math.Sin(a), y[b0 + i + d / 2], 4);
                }
    }

    [Fact]
    public void Rotary_scaling_linear_divides_frequencies_and_llama3_follows_its_bands()
    {
        var baseCfg = LlamaConfig.Tiny() with { HiddenSize = 128, NumAttentionHeads = 2, NumKeyValueHeads = 2 }; // d = 64
        var plain = LlamaRotaryEmbedding.ComputeInvFreq(baseCfg, null);
        var lin = LlamaRotaryEmbedding.ComputeInvFreq(baseCfg with { RopeScaling = new RopeScaling { Type = "linear", Factor = 4 } }, null);
        for (int i = 0; i < plain.Length; i++) Assert.Equal(plain[i] / 4.0, lin[i], 6);

        var rs = new RopeScaling { RopeType = "llama3", Factor = 8, LowFreqFactor = 1, HighFreqFactor = 4, OriginalMaxPositionEmbeddings = 64 };
        var l3 = LlamaRotaryEmbedding.ComputeInvFreq(baseCfg with { RopeScaling = rs }, null);
        int high = 0, low = 0, mid = 0;
        for (int i = 0; i < plain.Length; i++)
        {
            double f = plain[i], wl = 2 * Math.PI / f, expected;
            if (wl < 64 / 4.0) { expected = f; high++; }
            else if (wl > 64 / 1.0) { expected = f / 8; low++; }
            else { double s = (64 / wl - 1) / (4 - 1); expected = (1 - s) * f / 8 + s * f; mid++; }
            Assert.True(Math.Abs(expected - l3[i]) <= 1e-6 * Math.Abs(expected) + 1e-9, $"llama3 inv_freq[{i}]: {expected} vs {l3[i]}");
        }
        Assert.True(high > 0 && low > 0 && mid > 0, $"test must cover every band: high {high}, mid {mid}, low {low}");

        // dynamic NTK: unchanged within max_position_embeddings, base grows beyond it
        var dyn = baseCfg with { MaxPositionEmbeddings = 16, RopeScaling = new RopeScaling { Type = "dynamic", Factor = 2 } };
        Assert.Equal(plain, LlamaRotaryEmbedding.ComputeInvFreq(dyn, 10));
        var grown = LlamaRotaryEmbedding.ComputeInvFreq(dyn, 32);
        double theta2 = 10000.0 * Math.Pow(2.0 * 32 / 16 - 1, 64.0 / 62.0);
        for (int i = 0; i < grown.Length; i++) Assert.Equal(Math.Pow(theta2, -2.0 * i / 64), grown[i], 6);
    }

    [Theory]
    [InlineData(AttentionImplementation.Eager)]
    [InlineData(AttentionImplementation.Sdpa)]
    public void Attention_with_gqa_and_padding_matches_naive_softmax_loops(AttentionImplementation impl)
    {
        using var scope = NewDisposeScope();
        var g = new Generator(11);
        long b = 2, nh = 4, nkv = 2, t = 3, past = 2, d = 8, s = past + t;
        var q = randn(new long[] { b, nh, t, d }, generator: g);
        var k = randn(new long[] { b, nkv, s, d }, generator: g);
        var v = randn(new long[] { b, nkv, s, d }, generator: g);
        var mask = tensor(new long[] { 0, 1, 1, 1, 1, 1, 1, 1, 1, 1 }).reshape(b, s); // row 0 has one left pad
        var allowed = AttentionMask.Allowed(mask, t);
        var kr = LlamaAttention.RepeatKv(k, (int)(nh / nkv));
        var vr = LlamaAttention.RepeatKv(v, (int)(nh / nkv));
        var o = impl == AttentionImplementation.Eager
            ? LlamaAttention.Eager(q, kr, vr, allowed, false)
            : nn.functional.scaled_dot_product_attention(q, kr, vr, allowed, 0, false);
        var Q = q.data<float>().ToArray(); var K = k.data<float>().ToArray(); var V = v.data<float>().ToArray();
        var m = mask.data<long>().ToArray();
        var exp = new double[b * nh * t * d];
        for (int bi = 0; bi < b; bi++)
            for (int h = 0; h < nh; h++)
                for (int i = 0; i < t; i++)
                {
                    int kvh = h / (int)(nh / nkv);
                    var scores = new List<(double score, int j)>();
                    for (int j = 0; j <= past + i; j++)
                    {
                        if (m[bi * s + j] == 0) continue;
                        double dot = 0;
                        for (int e = 0; e < d; e++)
                            dot += (double)Q[((bi * nh + h) * t + i) * d + e] * K[((bi * nkv + kvh) * s + j) * d + e];
                        scores.Add((dot / Math.Sqrt(d), j));
                    }
                    double mx = scores.Max(x => x.score), z = scores.Sum(x => Math.Exp(x.score - mx));
                    foreach (var (sc, j) in scores)
                        for (int e = 0; e < d; e++)
                            exp[((bi * nh + h) * t + i) * d + e] += V[((bi * nkv + kvh) * s + j) * d + e] * Math.Exp(sc - mx) / z;
                }
        var expected = tensor(exp).reshape(b, nh, t, d);
        TinyLlama.AssertClose(expected, o, 1e-5, 1e-4, impl.ToString());
    }

    [Fact]
    public void Position_ids_follow_hf_cumsum_rule_with_left_padding()
    {
        using var scope = NewDisposeScope();
        var mask = tensor(new long[] { 0, 0, 1, 1, 1, 1, 1, 1, 1, 1 }).reshape(2, 5);
        var pos = AttentionMask.PositionIds(mask, 3).data<long>().ToArray();
        Assert.Equal(new long[] { 0, 1, 2, 2, 3, 4 }, pos);
        var all = AttentionMask.PositionIds(mask, 5).data<long>().ToArray();
        Assert.Equal(new long[] { 1, 1, 0, 1, 2, 0, 1, 2, 3, 4 }, all);
    }
}
