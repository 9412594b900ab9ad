using System.Text.Json;
using Csr.Models.Generation;
using Csr.Models.Llama;
using Csr.Native;
using Csr.Tests.Golden;
using static TorchSharp.torch;

namespace Csr.Tests.Llama;

/// <summary>Against transformers' LlamaForCausalLM and generate() (tests/golden/hf/llama/&lt;case&gt;, from
/// make_hf_llama_golden.py): logits of a left-padded batch (golden.json) and diverse group beam search (gbs.json).</summary>
public class HfGoldenLlamaTests
{
    private const string Generator = "make_hf_llama_golden.py";
    private const string BeamGenerator = Generator + " and transformers < 4.56 (later versions moved group beam search to the Hub)";

    [GoldenFact("hf/llama/gqa/golden.json", Generator)]
    public void Gqa_model_matches_transformers() => Check("gqa");

    [GoldenFact("hf/llama/llama3_rope_tied/golden.json", Generator)]
    public void Llama3_rope_tied_model_matches_transformers() => Check("llama3_rope_tied");

    [GoldenFact("hf/llama/linear_rope/golden.json", Generator)]
    public void Linear_rope_model_matches_transformers() => Check("linear_rope");

    [GoldenFact("hf/llama/gqa/gbs.json", BeamGenerator)]
    public void Gqa_group_beam_search_matches_transformers() => CheckGroupBeamSearch("gqa");

    [GoldenFact("hf/llama/llama3_rope_tied/gbs.json", BeamGenerator)]
    public void Llama3_rope_tied_group_beam_search_matches_transformers() => CheckGroupBeamSearch("llama3_rope_tied");

    [GoldenFact("hf/llama/linear_rope/gbs.json", BeamGenerator)]
    public void Linear_rope_group_beam_search_matches_transformers() => CheckGroupBeamSearch("linear_rope");

    private static void Check(string name)
    {
        TorchRuntime.EnsureInitialised();
        using var scope = NewDisposeScope();
        string dir = Path.GetDirectoryName(GoldenFiles.Find($"hf/llama/{name}/golden.json")!)!;
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "golden.json")));
        var g = doc.RootElement;
        using var m = LlamaForCausalLM.FromPretrained(dir);
        var ids = GoldenFiles.ReadIds(g, "input_ids");
        var mask = tensor(g.GetProperty("attention_mask").EnumerateArray().Select(x => x.GetInt64()).ToArray()).reshape(ids.shape);
        var expected = GoldenFiles.ReadTensor(g.GetProperty("logits"));
        foreach (var impl in new[] { AttentionImplementation.Eager, AttentionImplementation.Sdpa })
        {
            m.AttentionImplementation = impl;
            var logits = m.ForwardIds(ids, mask);
            var m0 = mask.data<long>().ToArray();
            for (int b = 0; b < ids.shape[0]; b++)
                for (int t = 0; t < ids.shape[1]; t++)
                    if (m0[b * ids.shape[1] + t] == 1)
                        TinyLlama.AssertClose(expected[b, t], logits[b, t], 1e-4, 1e-4, $"{name} {impl} logits[{b}, {t}]");
        }
    }

    private static void CheckGroupBeamSearch(string name)
    {
        TorchRuntime.EnsureInitialised();
        using var scope = NewDisposeScope();
        string dir = Path.GetDirectoryName(GoldenFiles.Find($"hf/llama/{name}/gbs.json")!)!;
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "gbs.json")));
        var gbs = doc.RootElement;
        using var m = LlamaForCausalLM.FromPretrained(dir);
        var prompt = tensor(gbs.GetProperty("prompt").EnumerateArray().Select(x => x.GetInt64()).ToArray()).reshape(1, -1);
        using var start = GenerationStart.PrefillIds(m, prompt);
        using var res = GroupBeamSearch.Run(m, start, new GroupBeamSearchOptions
        {
            NumBeams = 5, NumBeamGroups = 5, DiversityPenalty = 3.0, StopTokenIds = new[] { 2 }, MaxNewTokens = 8, PadTokenId = 0,
        });
        var seqs = gbs.GetProperty("sequences").EnumerateArray().Select(r => r.EnumerateArray().Select(x => x.GetInt32()).ToArray()).ToArray();
        var scores = gbs.GetProperty("sequences_scores").EnumerateArray().Select(x => x.GetDouble()).ToArray();
        for (int r = 0; r < 5; r++)
        {
            Assert.True(seqs[r].SequenceEqual(res.Sequences[0][r].Tokens),
                $"{name} beam {r}: transformers [{string.Join(",", seqs[r])}] vs [{string.Join(",", res.Sequences[0][r].Tokens)}]");
            Assert.True(Math.Abs(scores[r] - res.Sequences[0][r].Score) < 1e-4, $"{name} beam {r}: score {scores[r]} vs {res.Sequences[0][r].Score}");
        }
    }
}
