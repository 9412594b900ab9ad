// A separate project that uses the Csr.Kernels NuGet package (not a project reference): checks each
// op's fused path against its reference through the package's public API and exits 1 on any mismatch.
using Csr.Kernels;
using Csr.Native;
using static TorchSharp.torch;

TorchRuntime.EnsureInitialised();
using var scope = NewDisposeScope();
var g = new Generator(11);
var results = new List<KernelCheck.Result>();

// DPO: log-probs, loss and gradient, reference vs fused (through the switchboard the pipeline uses)
var logits = randn(new long[] { 4, 9, 517 }, generator: g);
var labels = randint(0, 517, new long[] { 4, 9 }, generator: g, dtype: ScalarType.Int64);
var mask = rand(new long[] { 4, 9 }, generator: g).gt(0.3).to(ScalarType.Float32);
var refLogps = randn(new long[] { 4 }, generator: g) - 30;
var xr = logits.clone().requires_grad_(true);
var xf = logits.clone().requires_grad_(true);
DpoLossResult Loss(Tensor x, FusedOps ops)
{
    var lp = ops.SequenceLogProbs(x, labels, mask);                     // [4]: 2 chosen, then 2 rejected
    return ops.DpoLoss(lp.narrow(0, 0, 2), lp.narrow(0, 2, 2), refLogps.narrow(0, 0, 2), refLogps.narrow(0, 2, 2), beta: 0.1);
}
using var lossRef = Loss(xr, FusedOps.For(fused: false));
using var lossFused = Loss(xf, FusedOps.For(fused: true));
lossRef.Loss.backward();
lossFused.Loss.backward();
results.Add(KernelCheck.Compare(lossRef.Loss, lossFused.Loss, 1e-6, 1e-5, "DPO loss"));
results.Add(KernelCheck.Compare(xr.grad!, xf.grad!, 1e-7, 1e-4, "DPO dlogits"));

// Beam step: identical choices
var beamLogits = randn(new long[] { 10, 1000 }, generator: g);
var beamScores = -rand(new long[] { 10 }, generator: g);
var groupTokens = randint(0, 20, new long[] { 10 }, generator: g, dtype: ScalarType.Int64);
using var bRef = BeamStep.Step(beamLogits, beamScores, groupTokens, groups: 5, diversityPenalty: 3.0, KernelPath.Reference);
using var bFused = BeamStep.Step(beamLogits, beamScores, groupTokens, groups: 5, diversityPenalty: 3.0, KernelPath.Fused);
results.Add(KernelCheck.Equal(bRef.Tokens, bFused.Tokens, "beam tokens"));
results.Add(KernelCheck.Equal(bRef.Parents, bFused.Parents, "beam parents"));

// CLIP scoring and sibling ranks
var img = randn(new long[] { 3, 64 }, generator: g);
var sent = randn(new long[] { 20, 64 }, generator: g);
var idx = randint(0, 3, new long[] { 20 }, generator: g, dtype: ScalarType.Int64);
var pr = ClipScoring.PairScores(img, sent, idx, 100, clampAtZero: true, KernelPath.Reference);
results.Add(KernelCheck.Compare(pr, ClipScoring.PairScores(img, sent, idx, 100, clampAtZero: true), 1e-4, 1e-5, "CLIP pair scores"));
var parent = arange(20, dtype: ScalarType.Int64).div(4, rounding_mode: RoundingMode.floor);
results.Add(KernelCheck.Compare(ClipScoring.SiblingRanks(pr, parent, KernelPath.Reference), ClipScoring.SiblingRanks(pr, parent), 0, 0, "sibling ranks"));

foreach (var r in results) Console.WriteLine(r.Report);
bool ok = results.All(r => r.Ok);
Console.WriteLine(ok ? "KernelsConsumer: OK" : "KernelsConsumer: FAILED");
return ok ? 0 : 1;
