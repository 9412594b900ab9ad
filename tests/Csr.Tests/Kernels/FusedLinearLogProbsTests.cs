using Csr.Kernels;
using Csr.Native;
using FsCheck.Xunit;
using static TorchSharp.torch;

namespace Csr.Tests.Kernels;

public class FusedLinearLogProbsTests
{
    public FusedLinearLogProbsTests() => TorchRuntime.EnsureInitialised();

    [Property(MaxTest = 10)]
    public void From_hidden_matches_reference_values_and_gradients(int seed, byte n, byte t, byte h, ushort v)
    {
        using var scope = NewDisposeScope();
        var g = new Generator((ulong)(uint)seed);
        long N = 1 + n % 3, T = 1 + t % 300, H = 1 + h % 24, V = 2 + v % 700;   // T up to 300: more than one row chunk
        var hidden = randn(new[] { N, T, H }, generator: g);
        var weight = randn(new[] { V, H }, generator: g) * 0.5;
        var labels = KernelTestData.Labels(N, T, V, g);
        var mask = KernelTestData.Mask(N, T, g, allMaskedRow: seed % 2 == 0 ? N - 1 : -1);

        var hr = hidden.clone().requires_grad_(true);
        var wr = weight.clone().requires_grad_(true);
        var hf = hidden.clone().requires_grad_(true);
        var wf = weight.clone().requires_grad_(true);
        var lpRef = DpoLogRatio.SequenceLogProbsReference(hr.matmul(wr.t()), labels, mask);
        var lpFused = DpoLogRatio.SequenceLogProbsFromHidden(hf, wf, labels, mask);
        KernelCheck.Require(KernelCheck.Compare(lpRef, lpFused, 1e-4 * T, 1e-5, "logps from hidden"));

        var up = randn(new[] { N }, generator: g);
        (lpRef * up).sum().backward();
        (lpFused * up).sum().backward();
        KernelCheck.Require(KernelCheck.Compare(hr.grad!, hf.grad!, 1e-4, 1e-4, "dhidden"));
        KernelCheck.Require(KernelCheck.Compare(wr.grad!, wf.grad!, 1e-4 * Math.Sqrt(N * T), 1e-4, "dweight"));
    }

    [Fact]
    public void Switchboard_selects_reference_or_fused()
    {
        Assert.Equal(KernelPath.Reference, FusedOps.For(fused: false).Path);
        if (Environment.GetEnvironmentVariable("CSR_KERNEL_PATH") is null)
            Assert.Equal(KernelPath.Fused, FusedOps.For(fused: true).Path);
    }

    [Fact]
    public void Dpo_loss_and_metrics_match_hand_computed_values()
    {
        using var scope = NewDisposeScope();
        var pc = tensor(new float[] { -10, -20 }).requires_grad_(true);
        var pr = tensor(new float[] { -12, -15 }).requires_grad_(true);
        var rc = tensor(new float[] { -11, -20 });
        var rr = tensor(new float[] { -11, -16 });
        const double beta = 0.1;
        using var res = DpoLoss.Compute(pc, pr, rc, rr, beta);
        // h = (pc - pr) - (rc - rr) = (2 - 0, -5 - (-4)) = (2, -1)
        double[] h = { 2, -1 };
        double expected = h.Select(x => Math.Log(1 + Math.Exp(-beta * x))).Average();
        Assert.Equal(expected, res.Loss.item<float>(), 5);
        Assert.Equal((0.1 * 1 + 0.1 * 0) / 2, res.Metrics["rewards/chosen"], 5);
        Assert.Equal((0.1 * -1 + 0.1 * 1) / 2, res.Metrics["rewards/rejected"], 5);
        Assert.Equal(0.5, res.Metrics["rewards/accuracies"], 5);      // pair 0: 0.1 > -0.1; pair 1: 0 < 0.1
        Assert.Equal(((0.1 - -0.1) + (0 - 0.1)) / 2, res.Metrics["rewards/margins"], 5);
        Assert.Equal(-15, res.Metrics["logps/chosen"], 5);
        Assert.Equal(-13.5, res.Metrics["logps/rejected"], 5);
        res.Loss.backward();
        // d/dpc of mean(-logsigmoid(beta h)) = -beta * sigmoid(-beta h) / B
        Assert.Equal(-beta / (1 + Math.Exp(beta * 2)) / 2, pc.grad![0].item<float>(), 5);

        using var hinge = DpoLoss.Compute(pc, pr, rc, rr, beta, DpoLossType.Hinge);
        Assert.Equal(((1 - 0.2) + (1 + 0.1)) / 2, hinge.Loss.item<float>(), 5);
        using var ipo = DpoLoss.Compute(pc, pr, rc, rr, beta, DpoLossType.Ipo);
        Assert.Equal((Math.Pow(2 - 5, 2) + Math.Pow(-1 - 5, 2)) / 2, ipo.Loss.item<float>(), 4);
    }

    [Fact]
    public void Dpo_loss_from_logits_fused_equals_reference()
    {
        using var scope = NewDisposeScope();
        var g = new Generator(5);
        var logits = randn(new long[] { 4, 7, 301 }, generator: g);
        var labels = KernelTestData.Labels(4, 7, 301, g);
        var mask = KernelTestData.Mask(4, 7, g, -1);
        var refLogps = randn(new long[] { 4 }, generator: g) - 20;
        var xr = logits.clone().requires_grad_(true);
        var xf = logits.clone().requires_grad_(true);
        DpoLossResult Loss(Tensor x, FusedOps ops)
        {
            var lp = ops.SequenceLogProbs(x, labels, mask);                  // [4]: 2 chosen, then 2 rejected
            return ops.DpoLoss(lp.narrow(0, 0, 2), lp.narrow(0, 2, 2), refLogps.narrow(0, 0, 2), refLogps.narrow(0, 2, 2), 0.1);
        }
        using var r = Loss(xr, new FusedOps(KernelPath.Reference));
        using var f = Loss(xf, FusedOps.For(fused: true));
        KernelCheck.Require(KernelCheck.Compare(r.Loss, f.Loss, 1e-6, 1e-5, "loss"));
        foreach (var k in r.Metrics.Keys) Assert.Equal(r.Metrics[k], f.Metrics[k], 4);
        r.Loss.backward();
        f.Loss.backward();
        KernelCheck.Require(KernelCheck.Compare(xr.grad!, xf.grad!, 1e-7, 1e-4, "dlogits of the DPO loss"));
    }
}
