using Csr.Models.Clip;
using Csr.Models.Llama;
using Csr.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Tests.Clip;

public class ClipBuildingBlockTests
{
    public ClipBuildingBlockTests() => TorchRuntime.EnsureInitialised();

    /// <summary>erf by Simpson integration of 2/sqrt(pi) exp(-t^2) (independent of any library erf).</summary>
    private static double Erf(double x)
    {
        int n = 2000;
        double h = x / n, s = 0;
        for (int i = 0; i <= n; i++)
        {
            double w = i == 0 || i == n ? 1 : i % 2 == 1 ? 4 : 2;
            s += w * Math.Exp(-(i * h) * (i * h));
        }
        return s * h / 3 * 2 / Math.Sqrt(Math.PI);
    }

    private static readonly double[] Xs = { -6, -3.5, -1.702, -1, -0.3, 0, 0.25, 1, 2.2, 5 };

    [Theory]
    [InlineData("quick_gelu")]
    [InlineData("gelu")]
    [InlineData("gelu_new")]
    [InlineData("gelu_pytorch_tanh")]
    [InlineData("relu")]
    public void Activations_match_their_formulas(string name)
    {
        using var scope = NewDisposeScope();
        Func<double, double> f = name switch
        {
            "quick_gelu" => x => x / (1 + Math.Exp(-1.702 * x)),
            "gelu" => x => 0.5 * x * (1 + Erf(x / Math.Sqrt(2))),
            "relu" => x => Math.Max(0, x),
            _ => x => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x))),
        };
        var y = ClipActivation.Apply(name, tensor(Xs.Select(v => (float)v).ToArray()));
        TensorCheck.Close(Xs.Select(f).ToArray(), TensorCheck.Floats(y), 1e-6, 1e-5, name);
    }

    [Fact]
    public void Gelu_variants_differ_where_they_should()
    {
        using var scope = NewDisposeScope();
        var x = tensor(new float[] { 1.0f });
        float exact = ClipActivation.Apply("gelu", x).item<float>();
        float quick = ClipActivation.Apply("quick_gelu", x).item<float>();
        Assert.Equal(0.841345, exact, 5);
        Assert.Equal(0.845796, quick, 5); // 1 / (1 + e^-1.702)
    }

    /// <summary>softmax(QK^T / sqrt(d) + mask) V per head, in doubles from the raw weights.</summary>
    private static double[] NaiveAttention(ClipAttention a, float[] x, int b, int t, int h, bool causal)
    {
        float[] W(TorchSharp.Modules.Linear l) => TensorCheck.Floats(l.weight!);
        float[] Bv(TorchSharp.Modules.Linear l) => TensorCheck.Floats(l.bias!);
        double[] Proj(float[] w, float[] bias, double[] inp) // inp [b*t, h]
        {
            var o = new double[b * t * h];
            for (int r = 0; r < b * t; r++)
                for (int j = 0; j < h; j++)
                {
                    double s = bias[j];
                    for (int k = 0; k < h; k++) s += w[j * h + k] * inp[r * h + k];
                    o[r * h + j] = s;
                }
            return o;
        }
        var xin = x.Select(v => (double)v).ToArray();
        var q = Proj(W(a.q_proj), Bv(a.q_proj), xin);
        var k = Proj(W(a.k_proj), Bv(a.k_proj), xin);
        var v = Proj(W(a.v_proj), Bv(a.v_proj), xin);
        int nh = a.NumHeads, hd = a.HeadDim;
        var ctx = new double[b * t * h];
        for (int bb = 0; bb < b; bb++)
            for (int head = 0; head < nh; head++)
                for (int i = 0; i < t; i++)
                {
                    var sc = new double[t];
                    for (int j = 0; j < t; j++)
                    {
                        double s = 0;
                        for (int d = 0; d < hd; d++) s += q[(bb * t + i) * h + head * hd + d] * k[(bb * t + j) * h + head * hd + d];
                        sc[j] = causal && j > i ? double.NegativeInfinity : s / Math.Sqrt(hd);
                    }
                    double mx = sc.Max(), z = sc.Sum(s => Math.Exp(s - mx));
                    for (int d = 0; d < hd; d++)
                    {
                        double acc = 0;
                        for (int j = 0; j < t; j++) acc += Math.Exp(sc[j] - mx) / z * v[(bb * t + j) * h + head * hd + d];
                        ctx[(bb * t + i) * h + head * hd + d] = acc;
                    }
                }
        return Proj(W(a.out_proj), Bv(a.out_proj), ctx);
    }

    [Theory]
    [InlineData(false, AttentionImplementation.Eager)]
    [InlineData(true, AttentionImplementation.Eager)]
    [InlineData(false, AttentionImplementation.Sdpa)]
    [InlineData(true, AttentionImplementation.Sdpa)]
    public void Attention_matches_naive_softmax_qk_v(bool causal, AttentionImplementation impl)
    {
        using var scope = NewDisposeScope();
        random.manual_seed(3);
        int b = 2, t = 5, h = 12;
        using var attn = new ClipAttention("self_attn", h, 3) { Implementation = impl };
        var x = randn(b, t, h);
        var mask = causal ? ClipTextTransformer.BuildMask(t, null, ScalarType.Float32) : null;
        var y = attn.Forward(x, mask);
        var expected = NaiveAttention(attn, TensorCheck.Floats(x), b, t, h, causal);
        TensorCheck.Close(expected, TensorCheck.Floats(y), 1e-5, 1e-4, "attention");
    }

    [Fact]
    public void Text_mask_is_causal_and_drops_padded_keys()
    {
        using var scope = NewDisposeScope();
        var m = ClipTextTransformer.BuildMask(3, tensor(new long[] { 1, 1, 0 }).view(1, 3), ScalarType.Float32);
        var f = TensorCheck.Floats(m);
        bool[] keep = { true, false, false, true, true, false, true, true, false };
        for (int i = 0; i < 9; i++)
            Assert.True(keep[i] ? f[i] == 0 : f[i] == float.MinValue, $"mask entry {i} = {f[i]}");
    }

    [Fact]
    public void Patch_embedding_equals_explicit_patch_dot_products()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(5);
        var vc = ClipTestConfigs.TinyVision();
        using var emb = new ClipVisionEmbeddings("embeddings", vc);
        var px = randn(1, 3, vc.ImageSize, vc.ImageSize);
        var y = TensorCheck.Floats(emb.forward(px)); // [1, N+1, H]
        var w = TensorCheck.Floats(emb.patch_embedding.weight!); // [H, 3, P, P]
        var pos = TensorCheck.Floats(emb.position_embedding.weight!);
        var cls = TensorCheck.Floats(emb.class_embedding);
        var p = TensorCheck.Floats(px);
        int hdim = vc.HiddenSize, ps = vc.PatchSize, s = vc.ImageSize, g = s / ps;
        var expected = new double[(g * g + 1) * hdim];
        for (int j = 0; j < hdim; j++) expected[j] = cls[j] + pos[j];
        for (int py = 0; py < g; py++)
            for (int pxi = 0; pxi < g; pxi++)
                for (int j = 0; j < hdim; j++)
                {
                    double acc = 0;
                    for (int c = 0; c < 3; c++)
                        for (int dy = 0; dy < ps; dy++)
                            for (int dx = 0; dx < ps; dx++)
                                acc += w[((j * 3 + c) * ps + dy) * ps + dx] * p[(c * s + py * ps + dy) * s + pxi * ps + dx];
                    int n = 1 + py * g + pxi; // row-major patch order, after the class token
                    expected[n * hdim + j] = acc + pos[n * hdim + j];
                }
        TensorCheck.Close(expected, y, 1e-5, 1e-4, "embeddings");
    }

    [Fact]
    public void Wrong_pixel_shape_is_an_error_with_both_shapes()
    {
        using var scope = NewDisposeScope();
        using var m = new ClipVisionModel(ClipTestConfigs.TinyVision());
        var ex = Assert.Throws<ArgumentException>(() => m.forward(zeros(1, 3, 10, 10)));
        Assert.Contains("[B, 3, 12, 12]", ex.Message);
        Assert.Contains("[1, 3, 10, 10]", ex.Message);
    }
}
