using Csr.Train.Dpo;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Csr.Tests.Pipeline;

/// <summary>
/// A toy policy for trainer tests: logits = (E[x] + proj) @ (W + D)^T with frozen E, W; trainable D
/// (the "LoRA" delta, off in reference mode) and proj (the "projector", round-start copy in reference mode);
/// dropout on the hidden state in training mode.
/// </summary>
internal sealed class ToyDpoModel : IDpoModel
{
    public const int V = 11, H = 6;
    readonly Tensor _emb, _w;
    public readonly Parameter Delta, Proj;
    readonly Tensor _projStart;
    bool _reference, _training;

    public ToyDpoModel(long seed)
    {
        var g = new Generator((ulong)seed);
        _emb = randn(V, H, generator: g);
        _w = randn(V, H, generator: g);
        Delta = new Parameter(randn(V, H, generator: g) * 0.01);
        Proj = new Parameter(zeros(H));
        _projStart = Proj.detach().clone();
    }

    public Tensor SequenceLogProbs(IReadOnlyList<DpoSequence> batch)
    {
        var rows = new List<Tensor>();
        foreach (var s in batch)
        {
            var ids = tensor(s.Ids);
            var h = _emb.index_select(0, ids) + (_reference ? _projStart : Proj);
            if (_training) h = nn.functional.dropout(h, 0.1, true);
            var w = _reference ? _w : _w + Delta;
            var logits = h.matmul(w.t()).unsqueeze(0);                                    // [1, T, V]
            var labels = tensor(Csr.Train.Dpo.SequenceLogProbs.ShiftedLabels(s.Ids, s.ResponseStart)).unsqueeze(0);
            rows.Add(Csr.Train.Dpo.SequenceLogProbs.Compute(logits, labels));
        }
        return cat(rows, 0);
    }

    public IReadOnlyList<TrainableGroup> TrainableGroups(double loraLr, double projectorLr) =>
    [
        new("lora", [("delta", Delta)], loraLr),
        new("projector", [("proj", Proj)], projectorLr),
    ];

    public IDisposable ReferenceMode()
    {
        _reference = true;
        return new Restore(() => _reference = false);
    }

    public void SetTraining(bool training) => _training = training;

    sealed class Restore(Action a) : IDisposable { public void Dispose() => a(); }

    public static List<DpoExample> Data(int n, long seed)
    {
        var r = new Random((int)seed);
        return Enumerable.Range(0, n).Select(i =>
        {
            long[] prompt = [1, r.Next(2, V), r.Next(2, V)];
            long[] Resp() => Enumerable.Range(0, 3).Select(_ => (long)r.Next(2, V)).ToArray();
            return new DpoExample($"e{i}", new DpoSequence([.. prompt, .. Resp()], 3, null), new DpoSequence([.. prompt, .. Resp()], 3, null));
        }).ToList();
    }
}
