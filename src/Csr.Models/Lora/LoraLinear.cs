using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Csr.Models.Lora;

/// <summary>
/// A linear layer with the parameters and state-dict keys of <c>nn.Linear</c> (<c>weight</c> [out, in],
/// optional <c>bias</c> [out]) that can carry a LoRA adapter (PEFT semantics):
/// <c>y = x W^T + b + (alpha / r) * lora_B(lora_A(dropout(x)))</c>, with <c>lora_A</c> [r, in]
/// (Kaiming-uniform as PEFT) and <c>lora_B</c> [out, r] (zeros). Dropout applies only in training mode.
/// </summary>
public sealed class LoraLinear : nn.Module<Tensor, Tensor>
{
    public Parameter weight;          // [out, in]
    public Parameter? bias;           // [out]
    public Linear? lora_A;            // weight [r, in]
    public Linear? lora_B;            // weight [out, r]

    public int InFeatures { get; }
    public int OutFeatures { get; }
    public int Rank { get; private set; }
    public double Alpha { get; private set; }
    public double Dropout { get; private set; }
    /// <summary>alpha / r (0 without an adapter).</summary>
    public double Scaling => Rank > 0 ? Alpha / Rank : 0.0;
    public bool HasLora => lora_A is not null;
    /// <summary>false = base weights only (the DPO reference pass). Has no effect without an adapter.</summary>
    public bool LoraEnabled { get; set; } = true;

    /// <summary>Creates the layer with uninitialised weights (<c>torch.empty</c>) unless a generator is given.</summary>
    public LoraLinear(int inFeatures, int outFeatures, bool hasBias = false, ScalarType dtype = ScalarType.Float32,
        Generator? init = null) : base(nameof(LoraLinear))
    {
        if (inFeatures <= 0 || outFeatures <= 0)
            throw new ArgumentException($"LoraLinear: features must be > 0, got in={inFeatures}, out={outFeatures}");
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        var w = torch.empty(new long[] { outFeatures, inFeatures }, dtype: dtype); // default device: modules are built inside ComputeDevice.CreateOn
        if (init is not null)
        {
            // nn.Linear default: kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in))
            double bound = 1.0 / Math.Sqrt(inFeatures);
            using (torch.no_grad()) w.uniform_(-bound, bound, init);
        }
        weight = new Parameter(w);
        if (hasBias)
        {
            var b = torch.zeros(outFeatures, dtype: dtype); // default device: as the weight
            bias = new Parameter(b);
        }
        RegisterComponents();
    }

    /// <summary>
    /// Adds a LoRA adapter (<c>lora_A</c>, <c>lora_B</c>). A is Kaiming-uniform U(-1/sqrt(in), 1/sqrt(in)) from
    /// <paramref name="generator"/>, B is zero, so the output is unchanged until B is trained.
    /// The adapter is created in <paramref name="dtype"/> (default: the weight's dtype).
    /// </summary>
    public void AttachLora(int r, double alpha, double dropout, Generator? generator = null, ScalarType? dtype = null)
    {
        if (r <= 0) throw new ArgumentOutOfRangeException(nameof(r), r, "LoRA rank must be > 0");
        if (dropout < 0 || dropout >= 1) throw new ArgumentOutOfRangeException(nameof(dropout), dropout, "LoRA dropout must be in [0, 1)");
        if (HasLora) throw new InvalidOperationException("LoraLinear already has a LoRA adapter; merge or detach it first");
        var dt = dtype ?? weight.dtype;
        var a = nn.Linear(InFeatures, r, hasBias: false, device: weight.device, dtype: dt);
        var b = nn.Linear(r, OutFeatures, hasBias: false, device: weight.device, dtype: dt);
        using (torch.no_grad())
        {
            double bound = 1.0 / Math.Sqrt(InFeatures);
            a.weight!.uniform_(-bound, bound, generator);
            b.weight!.zero_();
        }
        lora_A = a;
        lora_B = b;
        register_module("lora_A", a);
        register_module("lora_B", b);
        Rank = r;
        Alpha = alpha;
        Dropout = dropout;
        LoraEnabled = true;
        if (!training) { a.eval(); b.eval(); }
    }

    public override Tensor forward(Tensor x)
    {
        var y = Fast.FastLinear.Linear(x, weight, bias); // [.., out]
        if (lora_A is null || lora_B is null || !LoraEnabled) return y;
        using var scope = torch.NewDisposeScope();
        var xl = x.dtype == lora_A.weight!.dtype ? x : x.to_type(lora_A.weight!.dtype);
        if (training && Dropout > 0) xl = nn.functional.dropout(xl, Dropout, training: true);
        var delta = lora_B.forward(lora_A.forward(xl)) * Scaling; // [.., out]
        if (delta.dtype != y.dtype) delta = delta.to_type(y.dtype);
        return y.add_(delta).MoveToOuterDisposeScope();
    }

    /// <summary>The effective weight <c>W + (alpha/r) B A</c> (fp32 accumulate, in W's dtype); W when there is no adapter.</summary>
    public Tensor MergedWeight()
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        if (lora_A is null || lora_B is null) return weight.detach().clone().MoveToOuterDisposeScope();
        var delta = lora_B.weight!.to_type(ScalarType.Float32).matmul(lora_A.weight!.to_type(ScalarType.Float32)) * Scaling;
        return (weight.to_type(ScalarType.Float32) + delta).to_type(weight.dtype).MoveToOuterDisposeScope();
    }

    /// <summary><c>W += (alpha/r) B A</c>, then removes the adapter (keys are plain <c>weight</c>/<c>bias</c> again).</summary>
    public void MergeLora()
    {
        if (!HasLora) throw new InvalidOperationException("LoraLinear.MergeLora: no LoRA adapter attached");
        using (torch.no_grad())
        {
            using var merged = MergedWeight();
            weight.copy_(merged);
        }
        DetachLora();
    }

    /// <summary>Removes the adapter without merging it.</summary>
    public void DetachLora()
    {
        if (!HasLora) return;
        _internal_submodules.Remove("lora_A");
        _internal_submodules.Remove("lora_B");
        lora_A!.Dispose();
        lora_B!.Dispose();
        lora_A = null;
        lora_B = null;
        Rank = 0;
        Alpha = 0;
        Dropout = 0;
    }
}
