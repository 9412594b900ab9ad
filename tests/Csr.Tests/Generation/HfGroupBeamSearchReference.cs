using Csr.Models.Llama;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Tests.Generation;

/// <summary>
/// A slow, literal transcription of HF transformers' group beam search (generate with num_beam_groups &gt; 1:
/// _group_beam_search + BeamSearchScorer.process/finalize + per-(batch, group) BeamHypotheses +
/// HammingDiversityLogitsProcessor), recomputing the whole sequence every step (no KV cache), written
/// independently of Csr.Models.Generation as the test oracle.
/// </summary>
public static class HfGroupBeamSearchReference
{
    private sealed class Hyps
    {
        public readonly List<(double score, List<int> hyp, int last)> beams = new();
        public double worst = 1e9;
        private readonly int numBeams;
        private readonly bool earlyTrue;
        public Hyps(int numBeams, bool earlyTrue) { this.numBeams = numBeams; this.earlyTrue = earlyTrue; }

        public void add(List<int> hyp, double sumLogprobs, int generatedLen, int last)
        {
            double score = sumLogprobs / generatedLen; // length_penalty 1
            if (beams.Count < numBeams || score > worst)
            {
                beams.Add((score, hyp, last));
                if (beams.Count > numBeams)
                {
                    var sortedNext = beams.Select((b, i) => (b.score, i)).OrderBy(t => t.score).ThenBy(t => t.i).ToList();
                    beams.RemoveAt(sortedNext[0].i);
                    worst = sortedNext[1].score;
                }
                else worst = Math.Min(score, worst);
            }
        }

        public bool is_done(double best, int generatedLen)
        {
            if (beams.Count < numBeams) return false;
            if (earlyTrue) return true;
            return worst >= best / generatedLen;
        }
    }

    /// <summary>How many (batch, group) pairs the last <see cref="Run"/> marked done before the length limit.</summary>
    [ThreadStatic] public static int LastDoneGroups;

    /// <returns>per batch row: (generated tokens incl. the stop token when stopped, score, stopped)</returns>
    public static List<(int[] tokens, double score, bool stopped)>[] Run(LlamaForCausalLM model, long[][] prompts,
        int numBeams, int numBeamGroups, double diversityPenalty, int[] eos, int maxNewTokens, int pad, int numReturn, bool earlyTrue = false, int perBeam = 0)
    {
        int batch = prompts.Length, G = numBeamGroups, gs = numBeams / G, P = prompts[0].Length;
        var inputIds = new List<int>[batch * numBeams];
        for (int i = 0; i < inputIds.Length; i++) inputIds[i] = prompts[i / numBeams].Select(x => (int)x).ToList();
        var beamScores = new float[batch * numBeams];
        for (int i = 0; i < beamScores.Length; i++) beamScores[i] = (i % numBeams) % gs == 0 ? 0f : -1e9f;
        var hyps = Enumerable.Range(0, batch * G).Select(_ => new Hyps(gs, earlyTrue)).ToArray();
        var done = new bool[batch * G];
        int curLen = P;
        int V = model.VocabSize;
        while (true)
        {
            float[,] logp;
            using (var scope = NewDisposeScope())
            {
                var ids = tensor(inputIds.SelectMany(r => r.Select(x => (long)x)).ToArray()).reshape(inputIds.Length, curLen);
                var lp = model.ForwardIds(ids)[.., -1, ..].to_type(ScalarType.Float32).log_softmax(-1);
                var arr = lp.data<float>().ToArray();
                logp = new float[inputIds.Length, V];
                for (int r = 0; r < inputIds.Length; r++) for (int v = 0; v < V; v++) logp[r, v] = arr[r * V + v];
            }
            var currentTokens = new int[batch * numBeams];
            for (int g = 0; g < G; g++)
            {
                int start = g * gs;
                var batchGroupIndices = new List<int>();
                for (int b = 0; b < batch; b++) for (int i = start; i < start + gs; i++) batchGroupIndices.Add(b * numBeams + i);
                var groupInputIds = batchGroupIndices.Select(i => inputIds[i].ToList()).ToList();
                // scores (batch*gs, V), then Hamming diversity
                var scores = new float[batchGroupIndices.Count, V];
                for (int r = 0; r < batchGroupIndices.Count; r++) for (int v = 0; v < V; v++) scores[r, v] = logp[batchGroupIndices[r], v];
                if (start > 0)
                    for (int b = 0; b < batch; b++)
                    {
                        var freq = new int[V];
                        for (int i = b * numBeams; i < b * numBeams + start; i++) freq[currentTokens[i]]++;
                        for (int r = b * gs; r < (b + 1) * gs; r++)
                            for (int v = 0; v < V; v++) scores[r, v] = (float)(scores[r, v] - diversityPenalty * freq[v]);
                    }
                // + beam scores, view (batch, gs*V), topk
                int k = (perBeam > 0 ? perBeam : Math.Max(2, 1 + eos.Length)) * gs;
                var nextBeamScores = new float[batch * gs];
                var nextBeamTokens = new int[batch * gs];
                var nextBeamIndices = new int[batch * gs];
                for (int b = 0; b < batch; b++)
                {
                    var cand = new List<(float s, int flat)>();
                    for (int j = 0; j < gs; j++)
                        for (int v = 0; v < V; v++)
                            cand.Add((scores[b * gs + j, v] + beamScores[batchGroupIndices[b * gs + j]], j * V + v));
                    var top = cand.OrderByDescending(c => c.s).ThenBy(c => c.flat).Take(k).ToList();
                    int bg = b * G + g;
                    if (done[bg])
                    {
                        for (int j = 0; j < gs; j++) { nextBeamScores[b * gs + j] = 0; nextBeamTokens[b * gs + j] = pad; nextBeamIndices[b * gs + j] = 0; }
                        continue;
                    }
                    int beamIdx = 0;
                    for (int rank = 0; rank < top.Count; rank++)
                    {
                        int nextIndex = top[rank].flat / V, nextToken = top[rank].flat % V;
                        int batchBeamIdx = b * gs + nextIndex;
                        if (eos.Contains(nextToken))
                        {
                            if (rank >= gs) continue;
                            var hyp = groupInputIds[batchBeamIdx].ToList();
                            hyps[bg].add(hyp, top[rank].s, curLen + 1 - P, nextToken);
                        }
                        else
                        {
                            nextBeamScores[b * gs + beamIdx] = top[rank].s;
                            nextBeamTokens[b * gs + beamIdx] = nextToken;
                            nextBeamIndices[b * gs + beamIdx] = batchBeamIdx;
                            beamIdx++;
                        }
                        if (beamIdx == gs) break;
                    }
                    if (beamIdx < gs) throw new InvalidOperationException("not enough non-eos candidates");
                    done[bg] = done[bg] || hyps[bg].is_done(top.Max(t => t.s), curLen + 1 - P);
                }
                for (int r = 0; r < batchGroupIndices.Count; r++)
                {
                    beamScores[batchGroupIndices[r]] = nextBeamScores[r];
                    inputIds[batchGroupIndices[r]] = groupInputIds[nextBeamIndices[r]].ToList();
                    currentTokens[batchGroupIndices[r]] = nextBeamTokens[r];
                }
            }
            for (int i = 0; i < inputIds.Length; i++) inputIds[i].Add(currentTokens[i]);
            curLen++;
            if (done.All(d => d) || curLen - P >= maxNewTokens) break;
        }
        LastDoneGroups = done.Count(d => d);
        // finalize
        for (int bg = 0; bg < batch * G; bg++)
        {
            if (done[bg]) continue;
            for (int j = 0; j < gs; j++)
            {
                int row = bg * gs + j;
                hyps[bg].add(inputIds[row], beamScores[row], inputIds[row].Count - P, -1);
            }
        }
        var result = new List<(int[] tokens, double score, bool stopped)>[batch];
        for (int b = 0; b < batch; b++)
        {
            var candidates = Enumerable.Range(0, G).SelectMany(g => hyps[b * G + g].beams).ToList();
            var sorted = candidates.Select((c, i) => (c, i)).OrderBy(x => x.c.score).ThenBy(x => x.i).Select(x => x.c).ToList();
            result[b] = new();
            for (int r = 0; r < numReturn; r++)
            {
                var best = sorted[^1];
                sorted.RemoveAt(sorted.Count - 1);
                var gen = best.hyp.Skip(P).ToList();
                if (best.last >= 0) gen.Add(best.last);
                result[b].Add((gen.ToArray(), best.score, best.last >= 0));
            }
        }
        return result;
    }
}
