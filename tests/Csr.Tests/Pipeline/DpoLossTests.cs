using Csr.Kernels;
using Csr.Native;
using Csr.Train.Dpo;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Tests.Pipeline;

public class DpoLossTests
{
    public DpoLossTests() => TorchRuntime.EnsureInitialised();

    static (Tensor pc, Tensor pr, Tensor rc, Tensor rr) Inputs()
    {
        var pc = tensor(new double[] { -3.0 }, requires_grad: true);
        var pr = tensor(new double[] { -5.0 }, requires_grad: true);
        return (pc, pr, tensor(new double[] { -4.0 }), tensor(new double[] { -4.5 }));
    }

    // h = (-3 - -4) - (-5 - -4.5) = 1.5, beta = 0.1
    [Theory]
    [InlineData(DpoLossType.Sigmoid)]
    [InlineData(DpoLossType.Hinge)]
    [InlineData(DpoLossType.Ipo)]
    public void LossAndGradient_MatchHandComputation(DpoLossType type)
    {
        var (pc, pr, rc, rr) = Inputs();
        using var o = DpoLoss.Compute(pc, pr, rc, rr, 0.1, type);
        o.Loss.backward();
        double sig = 1 / (1 + Math.Exp(-0.15));
        var (loss, grad) = type switch
        {
            DpoLossType.Sigmoid => (Math.Log(1 + Math.Exp(-0.15)), -0.1 * (1 - sig)),
            DpoLossType.Hinge => (0.85, -0.1),
            _ => (12.25, 2 * (1.5 - 5.0)),
        };
        Assert.Equal(loss, o.Loss.item<float>(), 5);
        Assert.Equal(grad, pc.grad!.item<double>(), 5);
        Assert.Equal(-grad, pr.grad!.item<double>(), 5);
        Assert.Equal(0.1, o.ChosenRewards.item<float>(), 5);
        Assert.Equal(-0.05, o.RejectedRewards.item<float>(), 5);
    }

    [Theory]
    [InlineData(KernelPath.Reference)]
    [InlineData(KernelPath.Fused)]
    public void SequenceLogProbs_SumsOnlyUnmaskedLabels(KernelPath path)
    {
        var logits = tensor(new float[] { 1, 2, 3, 0, 0, 0, 5, 1, 1, 2, 2, 2 }).reshape(1, 4, 3);
        var labels = tensor(new long[] { -100, 2, 0, -100 }).reshape(1, 4);
        var lp = SequenceLogProbs.Compute(logits, labels, path);
        double Lse(params double[] x) => Math.Log(x.Sum(Math.Exp));
        double expected = (0 - Lse(0, 0, 0)) + (5 - Lse(5, 1, 1));
        Assert.Equal(expected, lp.item<float>(), 5);
    }

    [Fact]
    public void KernelOps_Ipo_AveragesThePolicyLogProbsOverTheCountedTokens()
    {
        // rows: chosen counts 2 positions, rejected 1; uniform logits over 4 tokens give log(1/4) per position
        var logits = zeros(2, 3, 4);
        var labels = tensor(new long[] { 1, 2, -100, 3, -100, -100 }).reshape(2, 3);
        var mask = ones(2, 3);
        var counts = tensor(new float[] { 2f, 1f });
        var refLogps = tensor(new float[] { -2f, -1f });                 // per-token means, as IPO compares them
        double l4 = Math.Log(0.25);
        DpoLossResult Loss(DpoLossType type)
        {
            var sums = DpoLogRatio.SequenceLogProbs(logits, labels, mask, KernelPath.Reference); // [2]
            var lp = DpoLoss.SequenceLogps(sums, counts, type);
            return DpoLoss.Compute(lp.narrow(0, 0, 1), lp.narrow(0, 1, 1), refLogps.narrow(0, 0, 1), refLogps.narrow(0, 1, 1), 0.1, type);
        }
        // h = (l4 - l4) - (-2 - -1) = 1; loss = (1 - 5)^2 = 16 (with sums: h = (2 l4 - l4) + 1 = 1 - 1.386, another loss)
        using var ipo = Loss(DpoLossType.Ipo);
        Assert.Equal(16.0, ipo.Loss.item<float>(), 4);
        using var sig = Loss(DpoLossType.Sigmoid);
        Assert.Equal(Math.Log(1 + Math.Exp(-0.1 * (l4 + 1))), sig.Loss.item<float>(), 4);
    }

    [Fact]
    public void ShiftedLabels_MaskThePrompt() =>
        Assert.Equal(new long[] { -100, -100, 12, 13, -100 }, SequenceLogProbs.ShiftedLabels([1, 10, 11, 12, 13], 3));

    [Fact]
    public void CosineSchedule_WarmsUpThenDecays()
    {
        var s = new CosineSchedule(100, 0.03);
        Assert.Equal(3, s.WarmupSteps);
        Assert.Equal(0.0, s.Factor(0));
        Assert.Equal(2.0 / 3, s.Factor(2), 12);
        Assert.Equal(1.0, s.Factor(3), 12);
        Assert.Equal(0.5 * (1 + Math.Cos(Math.PI * 48 / 97)), s.Factor(51), 12);
        Assert.Equal(0.0, s.Factor(100), 12);
    }
}
