// A separate project that uses the Csr.Kernels NuGet package (not a project reference): runs every public op
// through the package's public API, checks each fast path against its reference (and the DPO loss against the
// formula written out here), checks that the cuda path on CPU tensors runs the fused path with the fallback
// recorded, and exits 1 on any mismatch.
using Csr.Kernels;
using Csr.Native;
using static TorchSharp.torch;

TorchRuntime.EnsureInitialised();
using var scope = NewDisposeScope();
var g = new Generator(11);
var results = new List<KernelCheck.Result>();
KernelStats.Reset();

// DPO log-probs from logits: value and gradient, reference vs fused and vs the cuda path on CPU tensors
var logits = randn(new long[] { 4, 9, 517 }, generator: g);
var labels = randint(0, 517, new long[] { 4, 9 }, generator: g, dtype: ScalarType.Int64);
var mask = rand(new long[] { 4, 9 }, generator: g).gt(0.3).to(ScalarType.Float32);
var weights = arange(1, 5, dtype: ScalarType.Float32);
var xr = logits.clone().requires_grad_(true);
var lpRef = DpoLogRatio.SequenceLogProbs(xr, labels, mask, KernelPath.Reference);
(lpRef * weights).sum().backward();
foreach (var path in new[] { KernelPath.Fused, KernelPath.Cuda })
{
    var x = logits.clone().requires_grad_(true);
    var lp = DpoLogRatio.SequenceLogProbs(x, labels, mask, path);
    (lp * weights).sum().backward();
    results.Add(KernelCheck.Compare(lpRef, lp, 1e-4, 1e-5, $"DPO log-probs ({path})"));
    results.Add(KernelCheck.Compare(xr.grad!, x.grad!, 1e-7, 1e-4, $"DPO dlogits ({path})"));
}

// DPO log-probs from hidden states and the lm_head weight (the [N, T, V] logits never exist whole)
var hidden = randn(new long[] { 4, 9, 32 }, generator: g);
var lmHead = randn(new long[] { 517, 32 }, generator: g) * 0.2;
var hr = hidden.clone().requires_grad_(true);
var fromHiddenRef = DpoLogRatio.SequenceLogProbsReference(hr.matmul(lmHead.t()), labels, mask);
fromHiddenRef.sum().backward();
var hf = hidden.clone().requires_grad_(true);
var fromHidden = DpoLogRatio.SequenceLogProbsFromHidden(hf, lmHead, labels, mask, KernelPath.Fused);
fromHidden.sum().backward();
results.Add(KernelCheck.Compare(fromHiddenRef, fromHidden, 1e-3, 1e-5, "DPO log-probs from hidden"));
results.Add(KernelCheck.Compare(hr.grad!, hf.grad!, 1e-5, 1e-3, "DPO dhidden from hidden"));

// DPO loss on the log-probs (2 chosen, then 2 rejected) against the sigmoid DPO formula
var refLogps = randn(new long[] { 4 }, generator: g) - 30;
var lp4 = DpoLogRatio.SequenceLogProbs(logits, labels, mask);
using var loss = DpoLoss.Compute(lp4.narrow(0, 0, 2), lp4.narrow(0, 2, 2), refLogps.narrow(0, 0, 2), refLogps.narrow(0, 2, 2), beta: 0.1);
var h = (lp4.narrow(0, 0, 2) - lp4.narrow(0, 2, 2)) - (refLogps.narrow(0, 0, 2) - refLogps.narrow(0, 2, 2));
results.Add(KernelCheck.Compare(-nn.functional.logsigmoid(h * 0.1), loss.Losses, 1e-6, 1e-5, "DPO loss (sigmoid)"));

// Beam step: all groups at once and group by group, identical choices to the reference; cuda on CPU logits too
var beamLogits = randn(new long[] { 10, 1000 }, generator: g);
var beamScores = -rand(new long[] { 10 }, generator: g);
var groupTokens = randint(0, 20, new long[] { 10 }, generator: g, dtype: ScalarType.Int64);
using var bRef = BeamStep.Step(beamLogits, beamScores, groupTokens, groups: 5, diversityPenalty: 3.0, KernelPath.Reference);
foreach (var path in new[] { KernelPath.Fused, KernelPath.Cuda })
{
    using var b = BeamStep.Step(beamLogits, beamScores, groupTokens, groups: 5, diversityPenalty: 3.0, path);
    results.Add(KernelCheck.Equal(bRef.Tokens, b.Tokens, $"beam tokens ({path})"));
    results.Add(KernelCheck.Equal(bRef.Parents, b.Parents, $"beam parents ({path})"));
    results.Add(KernelCheck.Compare(bRef.Scores, b.Scores, 0, 0, $"beam scores ({path})"));
}
using (var prepared = BeamStep.Prepare(beamLogits, groups: 5))
{
    var bs = beamScores.data<float>().ToArray();
    var gt = groupTokens.data<long>().ToArray();
    var tokens = new List<long>();
    for (int grp = 0; grp < prepared.Groups; grp++)
        tokens.AddRange(prepared.SelectGroup(grp, bs.AsSpan(grp * 2, 2), gt.AsSpan(0, grp * 2), 3.0).Tokens);
    results.Add(KernelCheck.Equal(bRef.Tokens, tensor(tokens.ToArray(), bRef.Tokens.shape), "beam tokens (Prepare + SelectGroup)"));
}

// CLIP pair scores and sibling ranks
var img = randn(new long[] { 3, 64 }, generator: g);
var sent = randn(new long[] { 20, 64 }, generator: g);
var idx = randint(0, 3, new long[] { 20 }, generator: g, dtype: ScalarType.Int64);
var pr = ClipScoring.PairScores(img, sent, idx, 100, clampAtZero: true, KernelPath.Reference);
results.Add(KernelCheck.Compare(pr, ClipScoring.PairScores(img, sent, idx, 100, clampAtZero: true), 1e-4, 1e-5, "CLIP pair scores"));
results.Add(KernelCheck.Compare(pr, ClipScoring.PairScores(img, sent, idx, 100, clampAtZero: true, KernelPath.Cuda), 1e-4, 1e-5, "CLIP pair scores (cuda path)"));
var parent = arange(20, dtype: ScalarType.Int64).div(4, rounding_mode: RoundingMode.floor);
results.Add(KernelCheck.Compare(ClipScoring.SiblingRanks(pr, parent, KernelPath.Reference), ClipScoring.SiblingRanks(pr, parent), 0, 0, "sibling ranks"));

// kernels.json: the cuda path on CPU tensors ran the fused path and says so
var report = KernelStats.Snapshot();
foreach (var op in new[] { DpoLogRatio.OpName, BeamStep.OpName, ClipScoring.PairScoresOpName })
{
    bool fellBack = report.Fallbacks.TryGetValue(op, out var why) && why == "cuda->fused: CPU tensors" && report.Calls(op, "cuda") == 0;
    results.Add(new KernelCheck.Result(fellBack, 1, fellBack ? 0 : 1, 0, $"{op}: cuda path on CPU tensors -> {why ?? "no fallback recorded"}"));
}
Console.WriteLine(report.ToJson());

foreach (var r in results) Console.WriteLine(r.Report);
bool ok = results.All(r => r.Ok);
Console.WriteLine(ok ? "KernelsConsumer: OK" : "KernelsConsumer: FAILED");
return ok ? 0 : 1;
