using Csr.Models.Lora;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Models.Llama;

/// <summary>HF LlamaMLP (SwiGLU): <c>down_proj(silu(gate_proj(x)) * up_proj(x))</c>.</summary>
public sealed class LlamaMLP : nn.Module<Tensor, Tensor>
{
    public LoraLinear gate_proj; // [I, H]
    public LoraLinear up_proj;   // [I, H]
    public LoraLinear down_proj; // [H, I]

    public LlamaMLP(LlamaConfig c, ScalarType dtype = ScalarType.Float32) : base(nameof(LlamaMLP))
    {
        gate_proj = new LoraLinear(c.HiddenSize, c.IntermediateSize, c.MlpBias, dtype);
        up_proj = new LoraLinear(c.HiddenSize, c.IntermediateSize, c.MlpBias, dtype);
        down_proj = new LoraLinear(c.IntermediateSize, c.HiddenSize, c.MlpBias, dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var g = nn.functional.silu(gate_proj.forward(x)); // [B, T, I]
        var u = up_proj.forward(x);                        // [B, T, I]
        return down_proj.forward(g * u).MoveToOuterDisposeScope(); // [B, T, H]
    }
}
