using Csr.Models.Generation;
using Csr.Models.Llama;
using Csr.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Bench.Decode;

/// <summary>The mid-size decoder of the decode benchmark (hidden 1024, 8 layers, vocab 32000) and its timed operations.</summary>
public sealed class DecodeWorkload : IDisposable
{
    public static readonly LlamaConfig Config = new()
    {
        VocabSize = 32000, HiddenSize = 1024, IntermediateSize = 2816, NumHiddenLayers = 8,
        NumAttentionHeads = 16, NumKeyValueHeads = 16, MaxPositionEmbeddings = 4096, RmsNormEps = 1e-5,
    };

    public LlamaForCausalLM Model { get; }
    public ScalarType Dtype { get; }

    public DecodeWorkload(ScalarType dtype)
    {
        TorchRuntime.EnsureInitialised();
        Dtype = dtype;
        Model = new LlamaForCausalLM(Config, dtype, new Generator(1234));
        Model.eval();
    }

    /// <summary>Bytes read per decoded token: every decoder weight and the output projection once (one embedding row is negligible).</summary>
    public long WeightBytesPerToken()
    {
        long n = 0;
        foreach (var (name, p) in Model.named_parameters())
            if (name != "model.embed_tokens.weight") n += p.numel() * p.ElementSize;
        if (Config.TieWordEmbeddings) n += Model.LmHeadWeight.numel() * Model.LmHeadWeight.ElementSize;
        return n;
    }

    public Tensor Prompt(int length) => torch.randint(3, Config.VocabSize, new long[] { 1, length }, dtype: ScalarType.Int64, generator: new Generator(7));

    /// <summary>One prefill forward of <paramref name="ids"/> (last-position logits only).</summary>
    public void Prefill(Tensor ids)
    {
        using var start = GenerationStart.PrefillIds(Model, ids);
    }

    /// <summary>Greedy decode of <paramref name="tokens"/> new tokens with the KV cache from a prefilled start.</summary>
    public GenerationOutput DecodeCached(GenerationStart start, int tokens) => Decoding.Greedy(Model, start, tokens);

    /// <summary>Greedy decode without a cache: every step recomputes the whole sequence.</summary>
    public int[] DecodeUncached(Tensor prompt, int tokens)
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var seq = prompt.data<long>().ToList();
        var outp = new int[tokens];
        for (int i = 0; i < tokens; i++)
        {
            using var s = torch.NewDisposeScope();
            var ids = torch.tensor(seq.ToArray()).reshape(1, -1);
            var mask = torch.ones_like(ids);
            var logits = GenerationStart.LastLogits(Model, Model.Embed(ids), mask, null);
            long next = logits.argmax(-1).item<long>();
            outp[i] = (int)next;
            seq.Add(next);
        }
        return outp;
    }

    public void Dispose() => Model.Dispose();
}
