using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using Csr.Native.Profiling;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Kernels;

/// <summary>
/// The result of the one pass over beam-step logits <c>[G*B, V]</c>: per row the max m, log(sum exp(x - m))
/// and the top-K raw logits (value descending, index ascending). <see cref="SelectGroup"/> resolves a
/// group's C*B best candidates (C = <see cref="CandidatesPerBeam"/>) after the Hamming penalty and beam
/// scores exactly from these: a row's best C*B non-penalised tokens are among its top C*B + P raw logits
/// (P = distinct penalised tokens), and the P penalised tokens are read directly. A candidate's log-prob is
/// the float32 rounding of the float64 <c>(x - m) - log(sum exp(x - m))</c>, as the reference's float64
/// log-softmax rounded to float32; then, in float32 as the reference, <c>(lp - penalty * count) + beamScore</c>.
/// On the fused CPU path the float64 sum makes the log-probs those of the reference bit for bit (up to a
/// float64 rounding that lands exactly on a float32 rounding boundary); the GPU paths sum in float32.
/// </summary>
public sealed unsafe partial class BeamStepRows : IDisposable
{
    private readonly Tensor _x;        // [G*B, V] contiguous, float32 or bf16
    private readonly float[] _max;     // [G*B]
    private readonly double[] _logSum; // [G*B] log(sum exp(x - max))
    private readonly float[] _topV;    // [G*B, K]
    private readonly int[] _topI;      // [G*B, K]

    /// <summary>Groups G.</summary>
    public int Groups { get; }
    /// <summary>Beams per group B.</summary>
    public int Beams { get; }
    /// <summary>Vocabulary size V.</summary>
    public int Vocab { get; }
    /// <summary>Candidates kept per row K = C*B + (G-1)*B, at most V.</summary>
    public int K { get; }
    /// <summary>Candidates per beam C: each group yields min(C*B, B*V) candidates.</summary>
    public int CandidatesPerBeam { get; }
    /// <summary>The path that made the pass (after any fallback).</summary>
    public KernelPath Path { get; }

    /// <summary>Candidates a group yields: min(C*B, B*V).</summary>
    public int Wanted => (int)Math.Min((long)CandidatesPerBeam * Beams, (long)Beams * Vocab);

    internal BeamStepRows(Tensor x, int groups, int candidatesPerBeam, int k, float[] max, double[] logSum, float[] topV, int[] topI, KernelPath path)
    {
        _x = x;
        Groups = groups;
        Beams = (int)(x.size(0) / groups);
        Vocab = (int)x.size(1);
        CandidatesPerBeam = candidatesPerBeam;
        K = k;
        Path = path;
        _max = max;
        _logSum = logSum;
        _topV = topV;
        _topI = topI;
    }

    private float Logit(long row, int token)
    {
        if (_x.device_type != DeviceType.CPU)
        {
            // CUDA logits (the CUDA pass): one value read from the device per penalised token or LogProb call.
            using var e = _x[row, token];
            using var f = e.to(ScalarType.Float32);
            return f.item<float>();
        }
        return LogitOnHost(row, token);
    }

    private float LogitOnHost(long row, int token) => _x.dtype == ScalarType.BFloat16
        ? Bf16.ToFloat(TensorMemory.Ptr<ushort>(_x, "logits")[row * Vocab + token])
        : TensorMemory.Ptr<float>(_x, "logits")[row * Vocab + token];

    /// <summary>log_softmax(logits[row])[token], unpenalised, rounded as the reference rounds it.</summary>
    public float LogProb(long row, int token)
    {
        if ((ulong)row >= (ulong)_max.Length) throw new ArgumentOutOfRangeException(nameof(row), row, $"row must be in [0, {_max.Length}).");
        if ((uint)token >= (uint)Vocab) throw new ArgumentOutOfRangeException(nameof(token), token, $"token must be in [0, {Vocab}).");
        return LogProbOfLogit(row, Logit(row, token));
    }

    /// <summary>The row's log-prob of a token with raw logit <paramref name="x"/>, as the reference rounds it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private float LogProbOfLogit(long row, float x) => (float)(((double)x - _max[row]) - _logSum[row]);

    /// <summary>
    /// Group <paramref name="g"/>'s <see cref="Wanted"/> best candidates, best first. <paramref name="beamScores"/>:
    /// the group's B beam scores; <paramref name="previousTokens"/>: tokens chosen at this step by the beams of
    /// groups &lt; g (HF current_tokens[:g*B]); each occurrence lowers that token's score by <paramref name="penalty"/>.
    /// </summary>
    public (long[] Tokens, long[] Parents, float[] Scores) SelectGroup(int g, ReadOnlySpan<float> beamScores, ReadOnlySpan<long> previousTokens, double penalty)
    {
        using var range = Nvtx.Range("kernel BeamStepRows.SelectGroup");
        long start = Stopwatch.GetTimestamp();
        if ((uint)g >= (uint)Groups) throw new ArgumentOutOfRangeException(nameof(g), g, $"group must be in [0, {Groups}).");
        if (beamScores.Length != Beams) throw new ArgumentException($"beamScores: expected {Beams} scores for group {g}, got {beamScores.Length}.", nameof(beamScores));
        var counts = new Dictionary<int, int>();
        if (penalty != 0)
            foreach (var t in previousTokens)
            {
                if (t < 0 || t >= Vocab) throw new ArgumentException($"previousTokens: token {t} outside the vocabulary of {Vocab}.", nameof(previousTokens));
                counts[(int)t] = counts.GetValueOrDefault((int)t) + 1;
            }
        int want = Wanted;
        if (counts.Count > K - want && K < Vocab)
            throw new ArgumentException($"previousTokens: {counts.Count} distinct penalised tokens exceed what this pass kept (K = {K}); call Prepare with the right group count.", nameof(previousTokens));
        float pen = (float)penalty;
        var cand = new List<(float Score, long Flat)>(Beams * (want + counts.Count));
        for (int b = 0; b < Beams; b++)
        {
            long row = (long)g * Beams + b;
            float beam = beamScores[b];
            int taken = 0;
            for (int j = 0; j < K && taken < want; j++)
            {
                int tok = _topI[row * K + j];
                if (counts.ContainsKey(tok)) continue;
                cand.Add((LogProbOfLogit(row, _topV[row * K + j]) + beam, (long)b * Vocab + tok));
                taken++;
            }
            foreach (var (tok, c) in counts)
                cand.Add(((LogProbOfLogit(row, Logit(row, tok)) - pen * c) + beam, (long)b * Vocab + tok));
        }
        cand.Sort((p, q) => p.Score != q.Score ? q.Score.CompareTo(p.Score) : p.Flat.CompareTo(q.Flat));
        var tokens = new long[want];
        var parents = new long[want];
        var scores = new float[want];
        for (int i = 0; i < want; i++)
        {
            tokens[i] = cand[i].Flat % Vocab;
            parents[i] = cand[i].Flat / Vocab;
            scores[i] = cand[i].Score;
        }
        KernelStats.Record(BeamStep.OpName, Path, Stopwatch.GetElapsedTime(start).TotalSeconds, calls: 0);
        return (tokens, parents, scores);
    }

    /// <summary>
    /// All groups, group g penalised by <paramref name="groupTokens"/>[0 : g*B] (null = no penalty). The
    /// <c>[G*B]</c> scores and tokens are read to the host for the selection; the result's tensors are on
    /// <paramref name="beamScores"/>' device.
    /// </summary>
    public BeamStepResult SelectAll(Tensor beamScores, Tensor? groupTokens, double penalty)
    {
        float[] bs;
        using (var t = beamScores.to(ScalarType.Float32).cpu().contiguous()) bs = t.data<float>().ToArray();
        long[] gt = Array.Empty<long>();
        if (groupTokens is not null)
            using (var t = groupTokens.to(ScalarType.Int64).cpu().contiguous()) gt = t.data<long>().ToArray();
        int want = Wanted;
        var tok = new long[Groups * want];
        var par = new long[Groups * want];
        var sc = new float[Groups * want];
        for (int g = 0; g < Groups; g++)
        {
            var prev = groupTokens is null ? ReadOnlySpan<long>.Empty : gt.AsSpan(0, g * Beams);
            var (t, p, s) = SelectGroup(g, bs.AsSpan(g * Beams, Beams), prev, penalty);
            t.CopyTo(tok, g * want);
            p.CopyTo(par, g * want);
            s.CopyTo(sc, g * want);
        }
        long[] shape = { Groups, want };
        bool host = beamScores.device_type == DeviceType.CPU;
        Tensor On(Tensor t)
        {
            if (host) return t;
            using (t) return t.to(beamScores.device);
        }
        return new BeamStepResult(On(tensor(tok, shape)), On(tensor(par, shape)), On(tensor(sc, shape)));
    }

    /// <summary>Releases the logits reference the pass holds.</summary>
    public void Dispose() => _x.Dispose();
}
