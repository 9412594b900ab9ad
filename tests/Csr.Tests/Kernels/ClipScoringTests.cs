using Csr.Kernels;
using Csr.Native;
using FsCheck.Xunit;
using static TorchSharp.torch;

namespace Csr.Tests.Kernels;

public class ClipScoringTests
{
    public ClipScoringTests() => TorchRuntime.EnsureInitialised();

    private static (Tensor img, Tensor sent, Tensor idx) Inputs(int seed, byte i, byte s, byte d)
    {
        var g = new Generator((ulong)(uint)seed);
        long I = 1 + i % 6, S = 1 + s % 40, D = 1 + d % 70;
        return (randn(new[] { I, D }, generator: g), randn(new[] { S, D }, generator: g), randint(0, I, new[] { S }, generator: g, dtype: ScalarType.Int64));
    }

    [Property(MaxTest = 25)]
    public void Fused_and_ilgpu_scores_match_the_reference(int seed, byte i, byte s, byte d, bool clamp)
    {
        using var scope = NewDisposeScope();
        var (img, sent, idx) = Inputs(seed, i, s, d);
        var pr = ClipScoring.PairScoresReference(img, sent, idx, 100, clamp);
        foreach (var path in new[] { KernelPath.Fused, KernelPath.Ilgpu })
            KernelCheck.Require(KernelCheck.Compare(pr, ClipScoring.PairScores(img, sent, idx, 100, clamp, path), 1e-4, 1e-5, $"pair {path}"));
        // independent: 100 * cos computed in float64 from the raw embeddings
        var i64 = img.to(ScalarType.Float64).index_select(0, idx);
        var s64 = sent.to(ScalarType.Float64);
        var cos = (i64 * s64).sum(-1) / (i64.norm(1) * s64.norm(1)).clamp_min(1e-24) * 100;
        KernelCheck.Require(KernelCheck.Compare(clamp ? cos.clamp_min(0) : cos, pr, 1e-4, 1e-5, "pair vs float64 cosine"));
        if (clamp) Assert.True(pr.min().item<float>() >= 0);
    }

    [Property(MaxTest = 25)]
    public void Fused_ranks_match_the_reference_including_ties(int seed, byte s, byte parents)
    {
        using var scope = NewDisposeScope();
        var g = new Generator((ulong)(uint)seed);
        long S = 1 + s % 60;
        var scores = (randn(new[] { S }, generator: g) * 2).round();              // many ties
        var parent = randint(0, 1 + parents % 8, new[] { S }, generator: g, dtype: ScalarType.Int64);
        KernelCheck.Require(KernelCheck.Compare(ClipScoring.SiblingRanksReference(scores, parent), ClipScoring.SiblingRanks(scores, parent), 0, 0, "ranks"));
    }

    [Fact]
    public void Ranks_follow_the_calibrated_reward_definition()
    {
        using var scope = NewDisposeScope();
        // parent 7: scores 1, 3, 3 -> the two 3s keep index order; parent 2: single child -> 1
        var scores = tensor(new float[] { 1, 3, 5, 3 });
        var parent = tensor(new long[] { 7, 7, 2, 7 });
        var r = ClipScoring.SiblingRanks(scores, parent).data<float>().ToArray();
        Assert.Equal(new float[] { 1f, 1f / 3, 1f, 2f / 3 }, r);
    }

    [Fact]
    public void Known_cosines()
    {
        using var scope = NewDisposeScope();
        var img = tensor(new float[] { 1, 0, 0, 2 }).reshape(2, 2);
        var sent = tensor(new float[] { 3, 0, 1, 1, -1, 0 }).reshape(3, 2);
        var idx = tensor(new long[] { 0, 1, 1 });
        var p = ClipScoring.PairScores(img, sent, idx, 100).data<float>().ToArray();
        Assert.Equal(100f, p[0], 4);
        Assert.Equal(100f / MathF.Sqrt(2), p[1], 3);
        Assert.Equal(0f, p[2], 4);
        var c = ClipScoring.PairScores(img, -sent, idx, 100, clampAtZero: true).data<float>().ToArray();
        Assert.Equal(new float[] { 0, 0, 0 }, c.Select(x => MathF.Abs(x)).ToArray());
    }

    [Fact]
    public void Image_index_out_of_range_is_reported()
    {
        using var scope = NewDisposeScope();
        var ex = Assert.Throws<ArgumentException>(() => ClipScoring.PairScores(zeros(2, 3), zeros(1, 3), tensor(new long[] { 2 }), 100));
        Assert.Contains("outside [0, 2)", ex.Message);
    }
}
