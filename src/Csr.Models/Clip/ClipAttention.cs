using Csr.Models.Llama;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Csr.Models.Clip;

/// <summary>HF <c>CLIPAttention</c>: multi-head attention with biased q/k/v/out projections,
/// scale head_dim^-0.5, optional additive mask. <see cref="Implementation"/> picks HF's eager path
/// (softmax in float32) or torch's scaled_dot_product_attention (HF's default, "sdpa").</summary>
public sealed class ClipAttention : nn.Module<Tensor, Tensor>
{
    // field order = HF's registration order (k, v, q, out)
    public readonly Linear k_proj; // (H, H)
    public readonly Linear v_proj; // (H, H)
    public readonly Linear q_proj; // (H, H)
    public readonly Linear out_proj; // (H, H)

    public AttentionImplementation Implementation { get; set; } = AttentionImplementation.Sdpa;

    public int NumHeads { get; }
    public int HeadDim { get; }

    public ClipAttention(string name, int hidden, int numHeads) : base(name)
    {
        if (hidden % numHeads != 0) throw new ArgumentException($"hidden {hidden} not divisible by heads {numHeads}.");
        NumHeads = numHeads;
        HeadDim = hidden / numHeads;
        k_proj = nn.Linear(hidden, hidden, hasBias: true);
        v_proj = nn.Linear(hidden, hidden, hasBias: true);
        q_proj = nn.Linear(hidden, hidden, hasBias: true);
        out_proj = nn.Linear(hidden, hidden, hasBias: true);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => Forward(x, null);

    /// <param name="x">[B, T, H]</param>
    /// <param name="additiveMask">[B or 1, 1, T, T] added to the scores (0 = keep, very negative = drop), or null.</param>
    /// <returns>[B, T, H]</returns>
    public Tensor Forward(Tensor x, Tensor? additiveMask)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1], h = x.shape[2];
        Tensor Heads(Tensor y) => y.view(b, t, NumHeads, HeadDim).transpose(1, 2); // [B, nh, T, hd]
        var q = Heads(q_proj.forward(x));
        var k = Heads(k_proj.forward(x));
        var v = Heads(v_proj.forward(x));
        Tensor ctx; // [B, nh, T, hd]
        if (Implementation == AttentionImplementation.Eager)
        {
            var scores = q.matmul(k.transpose(-1, -2)) * Math.Pow(HeadDim, -0.5); // [B, nh, T, T]
            if (additiveMask is not null) scores = scores + additiveMask.to(scores.dtype);
            var probs = scores.softmax(-1, ScalarType.Float32).to(q.dtype);
            ctx = probs.matmul(v);
        }
        else
        {
            // default scale 1/sqrt(hd), as CLIP's
            ctx = nn.functional.scaled_dot_product_attention(q, k, v, additiveMask?.to(q.dtype), 0.0, false);
        }
        ctx = ctx.transpose(1, 2).reshape(b, t, h); // [B, T, H]
        return out_proj.forward(ctx).MoveToOuterDisposeScope();
    }
}
