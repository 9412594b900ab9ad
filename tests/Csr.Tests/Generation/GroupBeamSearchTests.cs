using Csr.Models.Generation;
using Csr.Models.Llama;
using Csr.Native;
using Csr.Tests.Llama;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Tests.Generation;

public class GroupBeamSearchTests
{
    public GroupBeamSearchTests() => TorchRuntime.EnsureInitialised();

    private static LlamaForCausalLM Model(int vocab = 16, long seed = 21)
        => TinyLlama.Create(LlamaConfig.Tiny(vocab: vocab), seed);

    [Theory]
    [InlineData(5, 5, 3.0, new[] { 2 }, 8, false, 0)]        // CSR's setting: one beam per group
    [InlineData(5, 5, 3.0, new[] { 2, 3, 4 }, 8, false, 0)]  // CSR setting with frequent stops
    [InlineData(5, 5, 3.0, new[] { 2, 3 }, 8, false, 2)]     // older HF rule: 2 candidates per beam
    [InlineData(6, 3, 0.7, new[] { 2, 5 }, 6, false, 0)]     // two beams per group, two stop ids
    [InlineData(4, 2, 1.5, new[] { 3 }, 7, true, 0)]         // early_stopping=True
    [InlineData(4, 1, 0.0, new[] { 2 }, 6, false, 0)]        // plain beam search
    [InlineData(2, 1, 0.0, new[] { 2, 3, 4, 5 }, 10, true, 0)] // many stops, early_stopping=True: one row ends before the other
    public void Matches_a_literal_transcription_of_hf_group_beam_search(int beams, int groups, double penalty, int[] stops, int maxNew, bool earlyTrue, int perBeam)
    {
        using var scope = NewDisposeScope();
        using var m = Model();
        var prompts = new[] { new long[] { 1, 7, 9, 4 }, new long[] { 1, 12, 3, 8 } };
        var expected = HfGroupBeamSearchReference.Run(m, prompts, beams, groups, penalty, stops, maxNew, pad: 0, numReturn: beams, earlyTrue, perBeam);
        int doneGroups = HfGroupBeamSearchReference.LastDoneGroups;
        using var start = GenerationStart.PrefillIds(m, tensor(prompts.SelectMany(p => p).ToArray()).reshape(2, 4));
        using var res = GroupBeamSearch.Run(m, start, new GroupBeamSearchOptions
        {
            NumBeams = beams, NumBeamGroups = groups, DiversityPenalty = penalty, StopTokenIds = stops, MaxNewTokens = maxNew,
            PadTokenId = 0, EarlyStopping = earlyTrue ? EarlyStopping.True : EarlyStopping.Heuristic,
            CandidatesPerBeam = perBeam > 0 ? perBeam : null,
        });
        bool anyStopped = false, anyUnstopped = false;
        for (int b = 0; b < 2; b++)
            for (int r = 0; r < beams; r++)
            {
                var (tokens, score, stopped) = expected[b][r];
                var got = res.Sequences[b][r];
                Assert.True(tokens.SequenceEqual(got.Tokens), $"batch {b} rank {r}: expected [{string.Join(",", tokens)}] got [{string.Join(",", got.Tokens)}]");
                Assert.True(Math.Abs(score - got.Score) < 1e-4, $"batch {b} rank {r}: score {score} vs {got.Score}");
                Assert.Equal(stopped, got.Stopped);
                anyStopped |= stopped;
                anyUnstopped |= !stopped;
            }
        if (earlyTrue || stops.Length > 2) Assert.True(anyStopped, "the case should exercise finished hypotheses");
        if (earlyTrue || stops.Length > 2) Assert.True(doneGroups > 0, "the case should exercise groups that finish early (pad tokens in the Hamming counts)");
        // a batch row whose groups are all done leaves the forward (HF decodes padding for it): the rows forwarded are
        // each row's beams for the steps it took part in, and the results above equal HF's all the same
        Assert.Equal(2, res.ItemSteps.Length);
        Assert.All(res.ItemSteps, s => Assert.InRange(s, 1, res.Steps));
        Assert.Equal(res.ItemSteps.Sum(s => (long)(s - 1) * beams), res.DecodeRows);
        if (earlyTrue && stops.Length > 2) Assert.True(res.ItemSteps.Min() < res.Steps, $"the case should exercise a row that leaves early (steps {string.Join(", ", res.ItemSteps)} of {res.Steps})");
    }

    [Fact]
    public void Rows_that_leave_the_batch_read_their_own_context_in_the_composed_attention_too()
    {
        // the case of the transcription test where one row ends first, with the fused CPU attention and without it
        using var scope = NewDisposeScope();
        using var m = Model();
        var prompts = tensor(new long[] { 1, 7, 9, 4, 1, 12, 3, 8 }).reshape(2, 4);
        var options = new GroupBeamSearchOptions
        {
            NumBeams = 2, NumBeamGroups = 1, StopTokenIds = [2, 3, 4, 5], MaxNewTokens = 10, PadTokenId = 0,
            EarlyStopping = EarlyStopping.True,
        };
        using var start = GenerationStart.PrefillIds(m, prompts);
        using var fused = GroupBeamSearch.Run(m, start, options);
        GroupBeamSearchResult composed;
        using (Csr.Models.Fast.SharedPrefixDecode.DisableOnThisThread()) composed = GroupBeamSearch.Run(m, start, options);
        using (composed)
        {
            Assert.True(fused.ItemSteps.Min() < fused.Steps, "one row should leave the batch early");
            Assert.Equal(fused.ItemSteps, composed.ItemSteps);
            for (int b = 0; b < 2; b++)
                for (int r = 0; r < 2; r++)
                {
                    Assert.Equal(fused.Sequences[b][r].Tokens, composed.Sequences[b][r].Tokens);
                    Assert.True(Math.Abs(fused.Sequences[b][r].Score - composed.Sequences[b][r].Score) < 1e-5);
                }
        }
    }

    [Fact]
    public void Exhaustive_beam_search_returns_the_best_sequences_of_a_brute_force_enumeration()
    {
        // vocab 6, 3 steps, stop id 2: 1 + 5 + 25 stopped sequences and 125 full-length ones; 256 beams keep every prefix,
        // so beam search must return exactly the top sequences by sum(log p) / generated length.
        using var scope = NewDisposeScope();
        using var m = Model(vocab: 6, seed: 5);
        var prompt = new long[] { 1, 4, 3 };
        const int V = 6, stopId = 2, L = 3;
        var all = new List<(int[] seq, double score, bool stopped)>();
        void Enumerate(List<int> prefix, double sum)
        {
            using var s2 = NewDisposeScope();
            var ids = tensor(prompt.Concat(prefix.Select(x => (long)x)).ToArray()).reshape(1, -1);
            var lp = m.ForwardIds(ids)[0, -1].log_softmax(-1).to_type(ScalarType.Float64).data<double>().ToArray();
            for (int v = 0; v < V; v++)
            {
                var seq = prefix.Append(v).ToList();
                double total = sum + lp[v];
                if (v == stopId) all.Add((seq.ToArray(), total / seq.Count, true));
                else if (seq.Count == L) all.Add((seq.ToArray(), total / seq.Count, false));
                else Enumerate(seq, total);
            }
        }
        Enumerate(new List<int>(), 0);
        Assert.Equal(1 + 5 + 25 + 125, all.Count);
        var best = all.OrderByDescending(a => a.score).Take(8).ToList();

        using var start = GenerationStart.PrefillIds(m, tensor(prompt).reshape(1, -1));
        using var res = GroupBeamSearch.Run(m, start, new GroupBeamSearchOptions
        {
            NumBeams = 256, NumBeamGroups = 1, DiversityPenalty = 0, StopTokenIds = new[] { stopId }, MaxNewTokens = L,
            NumReturnSequences = 8,
        });
        for (int r = 0; r < 8; r++)
        {
            Assert.True(best[r].seq.SequenceEqual(res.Sequences[0][r].Tokens),
                $"rank {r}: brute force [{string.Join(",", best[r].seq)}] ({best[r].score}) vs beam [{string.Join(",", res.Sequences[0][r].Tokens)}] ({res.Sequences[0][r].Score})");
            Assert.True(Math.Abs(best[r].score - res.Sequences[0][r].Score) < 1e-5, $"rank {r}: {best[r].score} vs {res.Sequences[0][r].Score}");
            Assert.Equal(best[r].stopped, res.Sequences[0][r].Stopped);
        }
    }

    [Fact]
    public void Scores_equal_penalised_log_prob_sums_over_generated_length()
    {
        // one beam per group: a beam's score is the sum over steps of log p(token) - penalty x (earlier groups' picks of it)
        using var scope = NewDisposeScope();
        using var m = Model();
        var prompt = new long[] { 1, 5, 6 };
        using var start = GenerationStart.PrefillIds(m, tensor(prompt).reshape(1, -1));
        using var res = GroupBeamSearch.Run(m, start, new GroupBeamSearchOptions
        {
            NumBeams = 3, NumBeamGroups = 3, DiversityPenalty = 0.0, StopTokenIds = new[] { 2 }, MaxNewTokens = 5,
        });
        foreach (var beam in res.Sequences[0])
        {
            var ids = tensor(prompt.Concat(beam.Tokens.Select(x => (long)x)).ToArray()).reshape(1, -1);
            var lp = m.ForwardIds(ids)[0].log_softmax(-1);
            double sum = 0;
            for (int i = 0; i < beam.Tokens.Length; i++) sum += lp[prompt.Length - 1 + i, beam.Tokens[i]].item<float>();
            Assert.True(Math.Abs(sum / beam.Tokens.Length - beam.Score) < 1e-4, $"{sum / beam.Tokens.Length} vs {beam.Score}");
        }
    }

    [Fact]
    public void Continuing_from_a_cache_equals_prefilling_the_whole_prompt()
    {
        using var scope = NewDisposeScope();
        using var m = Model();
        var a = new long[] { 1, 9, 4, 11 };
        var b = new long[] { 13, 6 };
        var opts = new GroupBeamSearchOptions { NumBeams = 5, NumBeamGroups = 5, DiversityPenalty = 3.0, StopTokenIds = new[] { 2 }, MaxNewTokens = 6 };
        using var full = GenerationStart.PrefillIds(m, tensor(a.Concat(b).ToArray()).reshape(1, -1));
        using var r1 = GroupBeamSearch.Run(m, full, opts);
        using var parent = GenerationStart.PrefillIds(m, tensor(a).reshape(1, -1));
        // the parent's last logits are unused: the pending tokens continue its cache
        using var child = GenerationStart.FromPending(m, parent.Cache, parent.AttentionMask, tensor(b).reshape(1, -1));
        Assert.Equal(a.Length, parent.Cache.Length);                 // parent untouched
        using var r2 = GroupBeamSearch.Run(m, child, opts);
        // FromCache with explicit logits is the same start
        using var viaLogits = GenerationStart.FromCache(child.Cache, child.AttentionMask, child.NextLogits);
        using var r3 = GroupBeamSearch.Run(m, viaLogits, opts);
        for (int r = 0; r < 5; r++)
        {
            Assert.Equal(r1.Sequences[0][r].Tokens, r2.Sequences[0][r].Tokens);
            Assert.Equal(r1.Sequences[0][r].Score, r2.Sequences[0][r].Score, 4);
            Assert.Equal(r2.Sequences[0][r].Tokens, r3.Sequences[0][r].Tokens);
            Assert.Equal(r2.Sequences[0][r].Score, r3.Sequences[0][r].Score, 6);
        }
    }

    [Fact]
    public void Batched_left_padded_prompts_equal_separate_runs()
    {
        using var scope = NewDisposeScope();
        using var m = Model();
        var p0 = new long[] { 1, 9, 4, 11, 7 };
        var p1 = new long[] { 1, 3 };
        var opts = new GroupBeamSearchOptions { NumBeams = 4, NumBeamGroups = 2, DiversityPenalty = 1.0, StopTokenIds = new[] { 2, 5 }, MaxNewTokens = 6 };
        var ids = tensor(new long[] { 1, 9, 4, 11, 7, 0, 0, 0, 1, 3 }).reshape(2, 5);
        var mask = tensor(new long[] { 1, 1, 1, 1, 1, 0, 0, 0, 1, 1 }).reshape(2, 5);
        using var sb = GenerationStart.PrefillIds(m, ids, mask);
        using var rb = GroupBeamSearch.Run(m, sb, opts);
        foreach (var (p, row) in new[] { (p0, 0), (p1, 1) })
        {
            using var s = GenerationStart.PrefillIds(m, tensor(p).reshape(1, -1));
            using var r = GroupBeamSearch.Run(m, s, opts);
            for (int i = 0; i < 4; i++)
            {
                Assert.Equal(r.Sequences[0][i].Tokens, rb.Sequences[row][i].Tokens);
                Assert.Equal(r.Sequences[0][i].Score, rb.Sequences[row][i].Score, 4);
            }
        }
    }

    [Fact]
    public void Beams_over_a_shared_context_cache_equal_beams_with_copied_contexts()
    {
        using var scope = NewDisposeScope();
        using var m = Model();
        var ids = tensor(new long[] { 1, 9, 4, 11, 7, 0, 0, 0, 1, 3 }).reshape(2, 5);
        var mask = tensor(new long[] { 1, 1, 1, 1, 1, 0, 0, 0, 1, 1 }).reshape(2, 5); // left padding in the shared part
        var opts = new GroupBeamSearchOptions { NumBeams = 6, NumBeamGroups = 3, DiversityPenalty = 2.0, StopTokenIds = new[] { 2, 5 }, MaxNewTokens = 7 };
        using var s1 = GenerationStart.PrefillIds(m, ids, mask);
        using var shared = GroupBeamSearch.Run(m, s1, opts);
        using var s2 = GenerationStart.PrefillIds(m, ids, mask);
        using var copied = GroupBeamSearch.Run(m, s2, opts with { SharePrefix = false });
        Assert.True(shared.Steps > 2, "the search must run several reordering steps");
        for (int b = 0; b < 2; b++)
            for (int i = 0; i < 6; i++)
            {
                Assert.Equal(copied.Sequences[b][i].Tokens, shared.Sequences[b][i].Tokens);
                Assert.Equal(copied.Sequences[b][i].Score, shared.Sequences[b][i].Score, 5);
            }
    }

    [Fact]
    public void Returned_caches_continue_each_beam_like_a_full_recompute()
    {
        using var scope = NewDisposeScope();
        using var m = Model();
        var prompt = new long[] { 1, 9, 4 };
        using var start = GenerationStart.PrefillIds(m, tensor(prompt).reshape(1, -1));
        using var res = GroupBeamSearch.Run(m, start, new GroupBeamSearchOptions
        {
            NumBeams = 3, NumBeamGroups = 3, DiversityPenalty = 3.0, StopTokenIds = new[] { 2 }, MaxNewTokens = 5, ReturnCaches = true,
        });
        Assert.NotNull(res.Cache);
        Assert.Equal(3, res.Cache!.BatchSize);
        for (int r = 0; r < 3; r++)
        {
            var beam = res.Sequences[0][r];
            Assert.Equal(beam.Tokens[^1], (int)res.PendingIds![r].item<long>());
            using var rowCache = res.Cache.IndexSelect(tensor(new long[] { r }));
            using var cont = GenerationStart.FromPending(m, rowCache, res.AttentionMask![r..(r + 1)], res.PendingIds[r..(r + 1)]);
            var ids = tensor(prompt.Concat(beam.Tokens.Select(x => (long)x)).ToArray()).reshape(1, -1);
            var fullLast = m.ForwardIds(ids)[.., -1, ..];
            TinyLlama.AssertClose(fullLast, cont.NextLogits, 1e-5, 1e-4, $"beam {r}");
        }
    }

    [Theory]
    [InlineData(5, 5, 3.0, 1, 0)]
    [InlineData(6, 3, 0.7, 1, 0)]
    [InlineData(5, 5, 3.0, 2, 2)] // two stop ids with HF's older 2 candidates per beam
    [InlineData(5, 5, 3.0, 2, 0)] // CSR's stop rule ('.' and EOS): HF's 3 candidates per beam
    [InlineData(6, 3, 0.7, 3, 0)] // three stop ids: 4 candidates per beam, two beams per group
    public void Fused_beam_step_path_gives_the_plain_path_results_bit_for_bit(int beams, int groups, double penalty, int nStops, int perBeam)
    {
        using var scope = NewDisposeScope();
        using var m = Model();
        var ids = tensor(new long[] { 1, 7, 9, 4, 1, 12, 3, 8 }).reshape(2, 4);
        using var start = GenerationStart.PrefillIds(m, ids);
        var opts = new GroupBeamSearchOptions
        {
            NumBeams = beams, NumBeamGroups = groups, DiversityPenalty = penalty, StopTokenIds = new[] { 2, 3, 4 }.Take(nStops).ToArray(),
            MaxNewTokens = 8, CandidatesPerBeam = perBeam > 0 ? perBeam : null,
        };
        Csr.Kernels.KernelStats.Reset();
        using var plain = GroupBeamSearch.Run(m, start, opts with { StepPath = Csr.Kernels.KernelPath.Reference });
        using var fused = GroupBeamSearch.Run(m, start, opts with { StepPath = Csr.Kernels.KernelPath.Fused });
        bool anyStopped = false;
        for (int b = 0; b < 2; b++)
            for (int r = 0; r < beams; r++)
            {
                Assert.Equal(plain.Sequences[b][r].Tokens, fused.Sequences[b][r].Tokens);
                Assert.Equal(plain.Sequences[b][r].Score, fused.Sequences[b][r].Score); // exactly
                Assert.Equal(plain.Sequences[b][r].Stopped, fused.Sequences[b][r].Stopped);
                anyStopped |= plain.Sequences[b][r].Stopped;
            }
        if (nStops > 1) Assert.True(anyStopped, "the case should exercise stop candidates");
        // both ran the beam step: the plain ops as its reference path, one call per batch row and step
        var report = Csr.Kernels.KernelStats.Snapshot();
        Assert.Equal(2L * plain.Steps, report.Calls(Csr.Kernels.BeamStep.OpName, "reference"));
        Assert.Equal(2L * fused.Steps, report.Calls(Csr.Kernels.BeamStep.OpName, "fused"));
    }

    [Theory]
    [InlineData(false, 3.0)]
    [InlineData(true, 3.0)]
    [InlineData(false, 0.2)]
    [InlineData(true, 0.2)]
    public void TokenLogProbSum_is_the_teacher_forced_log_prob_of_the_returned_tokens(bool fusedStep, double penalty)
    {
        // 5 groups of one beam with a Hamming penalty (CSR's 3, and a small one that groups do pay): the beam score carries
        // the penalty and is divided by the length; the recorded sum must be the plain log-probability of the tokens
        using var scope = NewDisposeScope();
        using var m = Model();
        var prompts = new[] { new long[] { 1, 7, 9, 4 }, new long[] { 1, 12, 3, 8 } };
        using var start = GenerationStart.PrefillIds(m, tensor(prompts.SelectMany(p => p).ToArray()).reshape(2, 4));
        var opts = new GroupBeamSearchOptions
        {
            NumBeams = 5, NumBeamGroups = 5, DiversityPenalty = penalty, StopTokenIds = new[] { 2 }, MaxNewTokens = 6, CandidatesPerBeam = 2,
            StepPath = fusedStep ? Csr.Kernels.KernelPath.Fused : null,
        };
        using var res = GroupBeamSearch.Run(m, start, opts);
        int penalised = 0;
        for (int b = 0; b < 2; b++)
            for (int r = 0; r < 5; r++)
            {
                var seq = res.Sequences[b][r];
                using var s2 = NewDisposeScope();
                var ids = tensor(prompts[b].Concat(seq.Tokens.Select(t => (long)t)).ToArray()).reshape(1, -1);
                var lp = m.ForwardIds(ids)[0].log_softmax(-1).to_type(ScalarType.Float64);     // [T, V]
                double expected = 0;
                for (int j = 0; j < seq.Tokens.Length; j++) expected += lp[prompts[b].Length - 1 + j, seq.Tokens[j]].item<double>();
                Assert.True(Math.Abs(expected - seq.TokenLogProbSum) < 1e-4,
                    $"batch {b} rank {r} [{string.Join(",", seq.Tokens)}]: teacher-forced {expected}, recorded {seq.TokenLogProbSum}");
                if (Math.Abs(seq.Score * seq.Tokens.Length - expected) > 1e-3) penalised++;
            }
        if (penalty < 1) Assert.True(penalised > 0, "some returned beam should carry a diversity penalty in its score");
    }

    [Fact]
    public void Invalid_options_are_rejected_with_the_parameter_named()
    {
        Assert.Contains("num_beam_groups", Assert.Throws<ArgumentException>(() => new GroupBeamSearchOptions { NumBeams = 5, NumBeamGroups = 2 }.Validate()).Message);
        Assert.Contains("num_return_sequences", Assert.Throws<ArgumentException>(() => new GroupBeamSearchOptions { NumBeams = 2, NumBeamGroups = 1, NumReturnSequences = 3 }.Validate()).Message);
        Assert.Contains("max_new_tokens", Assert.Throws<ArgumentException>(() => new GroupBeamSearchOptions { MaxNewTokens = 0 }.Validate()).Message);
    }
}
