using Csr.Models.Lora;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Models.Llama;

/// <summary>HF LlamaAttention: q/k/v/o projections, rotary on q and k, grouped-query attention, KV cache.</summary>
public sealed class LlamaAttention : nn.Module
{
    public LoraLinear q_proj; // [nh*hd, H]
    public LoraLinear k_proj; // [nkv*hd, H]
    public LoraLinear v_proj; // [nkv*hd, H]
    public LoraLinear o_proj; // [H, nh*hd]

    private readonly int _heads, _kvHeads, _headDim, _layerIdx;

    public AttentionImplementation Implementation { get; set; } = AttentionImplementation.Sdpa;

    public LlamaAttention(LlamaConfig c, int layerIdx, ScalarType dtype = ScalarType.Float32) : base(nameof(LlamaAttention))
    {
        _heads = c.NumAttentionHeads;
        _kvHeads = c.KvHeads;
        _headDim = c.HeadDim;
        _layerIdx = layerIdx;
        q_proj = new LoraLinear(c.HiddenSize, _heads * _headDim, c.AttentionBias, dtype);
        k_proj = new LoraLinear(c.HiddenSize, _kvHeads * _headDim, c.AttentionBias, dtype);
        v_proj = new LoraLinear(c.HiddenSize, _kvHeads * _headDim, c.AttentionBias, dtype);
        o_proj = new LoraLinear(_heads * _headDim, c.HiddenSize, c.AttentionBias, dtype);
        RegisterComponents();
    }

    /// <param name="x">[B, T, H]</param>
    /// <param name="cos">[B, T, hd]</param>
    /// <param name="sin">[B, T, hd]</param>
    /// <param name="allowed">[B, 1, T, past+T] boolean, or null for "all keys allowed"</param>
    /// <param name="isCausal">true when <paramref name="allowed"/> is null but the plain causal mask applies (no padding, no past)</param>
    /// <param name="cache">appended to when given</param>
    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, Tensor? allowed, bool isCausal, KvCache? cache)
    {
        using var scope = torch.NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        var q = q_proj.forward(x).view(b, t, _heads, _headDim).transpose(1, 2);     // [B, nh, T, hd]
        var k = k_proj.forward(x).view(b, t, _kvHeads, _headDim).transpose(1, 2);   // [B, nkv, T, hd]
        var v = v_proj.forward(x).view(b, t, _kvHeads, _headDim).transpose(1, 2);   // [B, nkv, T, hd]
        q = LlamaRotaryEmbedding.Apply(q, cos, sin);
        k = LlamaRotaryEmbedding.Apply(k, cos, sin);
        if (cache?.SharedPrefix is { } prefix)
        {
            var so = SharedPrefixAttention(q, k, v, allowed, prefix, cache);         // [B, nh, 1, hd]
            return o_proj.forward(so.transpose(1, 2).reshape(b, t, _heads * _headDim)).MoveToOuterDisposeScope();
        }
        if (cache is not null) (k, v) = cache.Append(_layerIdx, k, v);             // [B, nkv, S, hd]
        k = RepeatKv(k, _heads / _kvHeads);                                          // [B, nh, S, hd]
        v = RepeatKv(v, _heads / _kvHeads);
        var o = Implementation == AttentionImplementation.Eager
            ? Eager(q, k, v, allowed, isCausal)
            : nn.functional.scaled_dot_product_attention(q, k, v, allowed, 0.0, isCausal); // [B, nh, T, hd]
        o = o.transpose(1, 2).reshape(b, t, _heads * _headDim);                       // [B, T, nh*hd]
        return o_proj.forward(o).MoveToOuterDisposeScope();                          // [B, T, H]
    }

    /// <summary>
    /// One decode step of rows that extend a shared prefix (<see cref="KvCache.SharedPrefix"/>): the G rows of a prefix
    /// row are G queries against its keys, read once, and each row also attends to its own cached positions; one softmax
    /// over both parts. Equals attention over each row's concatenated context up to float rounding. q is
    /// <c>[N, nh, 1, hd]</c>, k/v the new position <c>[N, nkv, 1, hd]</c>, <paramref name="allowed"/> null or
    /// <c>[N, 1, 1, P + S]</c>; returns <c>[N, nh, 1, hd]</c>.
    /// </summary>
    private Tensor SharedPrefixAttention(Tensor q, Tensor k, Tensor v, Tensor? allowed, KvCache prefix, KvCache cache)
    {
        long n = q.shape[0];
        if (q.shape[2] != 1) throw new ArgumentException($"LlamaAttention: a cache over a shared prefix takes one new position per row, got {q.shape[2]}");
        int g = cache.RowsPerPrefix, rep = _heads / _kvHeads;
        double scale = 1.0 / Math.Sqrt(_headDim);
        var pk = prefix.Keys(_layerIdx)!;                                            // [B, nkv, P, hd]
        var pv = prefix.Values(_layerIdx)!;
        long nodes = cache.PrefixGroups, p = pk.shape[2];
        if (nodes * g != n) throw new ArgumentException($"LlamaAttention: {n} rows do not extend {nodes} prefix rows x {g}");
        var (sk, sv) = cache.Append(_layerIdx, k, v);                               // [N, nkv, S, hd]
        // on the CPU one fused pass (Fast.SharedPrefixDecode); elsewhere, or turned off, the composed ops below
        if (Fast.SharedPrefixDecode.Takes(q, pk, pv, sk, sv, allowed))
            return Fast.SharedPrefixDecode.RunTaken(q, pk, pv, sk, sv, allowed, g, scale, cache.PrefixRows);
        if (cache.PrefixRows is { } rows)                                            // the prefix rows these rows read
        {
            var map = torch.tensor(rows, device: pk.device);
            pk = pk.index_select(0, map);
            pv = pv.index_select(0, map);
        }
        pk = RepeatKv(pk, rep);                                                      // [B, nh, P, hd]
        pv = RepeatKv(pv, rep);
        sk = RepeatKv(sk, rep);
        sv = RepeatKv(sv, rep);
        long s = sk.shape[2];
        var qg = q.reshape(nodes, g, _heads, _headDim).transpose(1, 2);              // [B, nh, G, hd]
        var scoresPrefix = qg.matmul(pk.transpose(-2, -1)) * scale;                  // [B, nh, G, P]
        // the own part is a handful of positions per row: a broadcast product and sum (in fp32, as a matmul would
        // accumulate), not N*nh tiny matrix products
        var scoresOwn = ((q.to_type(ScalarType.Float32) * sk.to_type(ScalarType.Float32)).sum(-1) * scale) // [N, nh, S]
            .reshape(nodes, g, _heads, s).transpose(1, 2);                           // [B, nh, G, S]
        if (allowed is not null)
        {
            var a = allowed.reshape(nodes, g, 1, p + s).transpose(1, 2);             // [B, 1, G, P+S]
            scoresPrefix = scoresPrefix.masked_fill(a.narrow(3, 0, p).logical_not(), float.NegativeInfinity);
            scoresOwn = scoresOwn.masked_fill(a.narrow(3, p, s).logical_not(), float.NegativeInfinity);
        }
        var probs = torch.cat(new[] { scoresPrefix.to_type(ScalarType.Float32), scoresOwn }, 3).softmax(-1); // [B, nh, G, P+S] fp32
        var outPrefix = probs.narrow(3, 0, p).to_type(q.dtype).matmul(pv);          // [B, nh, G, hd]
        var outOwn = (probs.narrow(3, p, s).transpose(1, 2).reshape(n, _heads, s, 1) * sv.to_type(ScalarType.Float32))
            .sum(2, keepdim: true).to_type(q.dtype);                                 // [N, nh, 1, hd]
        return outPrefix.transpose(1, 2).reshape(n, _heads, 1, _headDim) + outOwn;
    }

    /// <summary>HF repeat_kv: kv head j serves query heads j*nRep .. j*nRep+nRep-1.</summary>
    public static Tensor RepeatKv(Tensor kv, int nRep)
    {
        if (nRep == 1) return kv;
        long b = kv.shape[0], h = kv.shape[1], s = kv.shape[2], d = kv.shape[3];
        return kv.unsqueeze(2).expand(b, h, nRep, s, d).reshape(b, h * nRep, s, d);
    }

    /// <summary>softmax(Q K^T / sqrt(d), masked) V as HF eager: scores in the model dtype, softmax in fp32, cast back.</summary>
    public static Tensor Eager(Tensor q, Tensor k, Tensor v, Tensor? allowed, bool isCausal)
    {
        using var scope = torch.NewDisposeScope();
        double scale = 1.0 / Math.Sqrt(q.shape[^1]);
        var scores = (q.matmul(k.transpose(-2, -1)) * scale).to_type(ScalarType.Float32); // [B, nh, T, S]
        if (allowed is null && isCausal)
        {
            long t = q.shape[2], s = k.shape[2];
            allowed = torch.ones(t, s, dtype: ScalarType.Bool, device: q.device).tril(s - t);
        }
        if (allowed is not null) scores = scores.masked_fill(allowed.logical_not(), float.NegativeInfinity);
        var p = scores.softmax(-1).to_type(q.dtype);
        return p.matmul(v).MoveToOuterDisposeScope();
    }
}
