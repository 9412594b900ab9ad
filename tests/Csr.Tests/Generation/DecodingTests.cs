using Csr.Models.Generation;
using Csr.Models.Llama;
using Csr.Native;
using Csr.Tests.Llama;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Tests.Generation;

public class DecodingTests
{
    public DecodingTests() => TorchRuntime.EnsureInitialised();

    [Fact]
    public void Greedy_with_cache_equals_argmax_loop_with_full_recompute_and_stops()
    {
        using var scope = NewDisposeScope();
        using var m = TinyLlama.Create(LlamaConfig.Tiny(vocab: 32), 3);
        var prompts = new[] { new long[] { 1, 5, 9 }, new long[] { 1, 20, 4 } };
        using var start = GenerationStart.PrefillIds(m, tensor(prompts.SelectMany(p => p).ToArray()).reshape(2, 3));
        // pick as stop token the 3rd greedy token of row 0, so that row stops early
        var probe = Decoding.Greedy(m, start, 10);
        int stopTok = probe.Tokens[0][2];
        var outp = Decoding.Greedy(m, start, 10, new[] { stopTok });
        for (int b = 0; b < 2; b++)
        {
            var seq = prompts[b].ToList();
            var expected = new List<int>();
            for (int i = 0; i < 10; i++)
            {
                using var s = NewDisposeScope();
                int next = (int)m.ForwardIds(tensor(seq.ToArray()).reshape(1, -1))[0, -1].argmax().item<long>();
                expected.Add(next);
                seq.Add(next);
                if (next == stopTok) break;
            }
            Assert.Equal(expected, outp.Tokens[b]);
            Assert.Equal(expected[^1] == stopTok, outp.Stopped[b]);
        }
        Assert.True(outp.Stopped[0]);
        Assert.True(outp.Tokens[0].Length <= 3);
    }

    [Fact]
    public void Top_p_keeps_the_smallest_set_reaching_p_as_hf()
    {
        using var scope = NewDisposeScope();
        // probs 0.5, 0.25, 0.15, 0.1: top_p 0.7 keeps {0.5, 0.25}; top_p 0.8 keeps three
        var logits = tensor(new[] { 0.5f, 0.25f, 0.15f, 0.1f }).log().reshape(1, 4);
        var a = LogitsWarpers.TopP(logits, 0.7).data<float>().ToArray();
        Assert.True(float.IsFinite(a[0]) && float.IsFinite(a[1]) && float.IsNegativeInfinity(a[2]) && float.IsNegativeInfinity(a[3]));
        var b = LogitsWarpers.TopP(logits, 0.8).data<float>().ToArray();
        Assert.Equal(3, b.Count(float.IsFinite));
        var c = LogitsWarpers.TopP(logits, 0.01).data<float>().ToArray();
        Assert.Equal(1, c.Count(float.IsFinite)); // always keeps one
        var k = LogitsWarpers.TopK(logits, 2).data<float>().ToArray();
        Assert.Equal(2, k.Count(float.IsFinite));
    }

    [Fact]
    public void Sampling_is_seeded_follows_the_warped_distribution_and_tiny_top_p_is_greedy()
    {
        using var scope = NewDisposeScope();
        using var m = TinyLlama.Create(LlamaConfig.Tiny(vocab: 16), 4);
        const int n = 3000;
        var ids = tensor(Enumerable.Repeat(new long[] { 1, 7, 3 }, n).SelectMany(x => x).ToArray()).reshape(n, 3);
        using var start = GenerationStart.PrefillIds(m, ids);
        var opts = new SamplingOptions { MaxNewTokens = 1, Temperature = 0.7, TopP = 0.9 };
        var s1 = Decoding.Sample(m, start, opts, new Generator(42));
        var s2 = Decoding.Sample(m, start, opts, new Generator(42));
        Assert.Equal(s1.Tokens.Select(t => t[0]), s2.Tokens.Select(t => t[0]));

        // expected distribution: softmax(logits / T) restricted to the top-p set, renormalised
        var logits = start.NextLogits[0].to_type(ScalarType.Float64).data<double>().ToArray();
        var p = logits.Select(l => Math.Exp(l / 0.7)).ToArray();
        double z = p.Sum();
        p = p.Select(x => x / z).ToArray();
        var order = Enumerable.Range(0, p.Length).OrderBy(i => p[i]).ToArray(); // ascending
        double cum = 0;
        var keep = new bool[p.Length];
        for (int j = 0; j < order.Length; j++) { cum += p[order[j]]; keep[order[j]] = cum > 1 - 0.9 || j == order.Length - 1; }
        double kept = Enumerable.Range(0, p.Length).Where(i => keep[i]).Sum(i => p[i]);
        var counts = new int[p.Length];
        foreach (var t in s1.Tokens) counts[t[0]]++;
        for (int v = 0; v < p.Length; v++)
        {
            double q = keep[v] ? p[v] / kept : 0, f = counts[v] / (double)n;
            double tol = 4 * Math.Sqrt(q * (1 - q) / n) + 1e-9;
            Assert.True(Math.Abs(f - q) <= tol, $"token {v}: frequency {f} vs probability {q} (tol {tol})");
        }

        using var one = GenerationStart.PrefillIds(m, tensor(new long[] { 1, 7, 3 }).reshape(1, 3));
        var greedy = Decoding.Greedy(m, one, 6);
        var tiny = Decoding.Sample(m, one, new SamplingOptions { MaxNewTokens = 6, TopP = 1e-6 }, new Generator(1));
        Assert.Equal(greedy.Tokens[0], tiny.Tokens[0]);
    }
}
