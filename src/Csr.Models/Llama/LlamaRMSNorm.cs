using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Csr.Models.Llama;

/// <summary>HF LlamaRMSNorm: <c>weight * (x / sqrt(mean(x^2) + eps))</c>, computed in fp32, cast back.</summary>
public sealed class LlamaRMSNorm : nn.Module<Tensor, Tensor>
{
    public Parameter weight; // [H]
    private readonly double _eps;
    private readonly Scalar _epsScalar;

    public LlamaRMSNorm(int hidden, double eps, ScalarType dtype = ScalarType.Float32) : base(nameof(LlamaRMSNorm))
    {
        weight = new Parameter(torch.ones(hidden, dtype: dtype)); // default device: modules are built inside ComputeDevice.CreateOn
        _eps = eps;
        _epsScalar = eps;
        RegisterComponents();
    }

    public double Eps => _eps;

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var dtype = x.dtype;
        var h = x.to_type(ScalarType.Float32);                        // [.., H]
        var variance = (h * h).mean(new long[] { -1 }, keepdim: true); // [.., 1] (not pow(2): that passes a temporary Scalar)
        h = h * torch.rsqrt(variance.Plus(_epsScalar));
        return (weight * h.to_type(dtype)).MoveToOuterDisposeScope();
    }
}
