using static TorchSharp.torch;

namespace Csr.Models.Clip;

/// <summary>The activations HF's ACT2FN maps CLIP / LLaVA configs to.</summary>
public static class ClipActivation
{
    public static readonly string[] Supported = { "quick_gelu", "gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "silu" };

    public static void Check(string name, string key)
    {
        if (!Supported.Contains(name))
            throw new ArgumentException($"{key} '{name}' is not supported (supported: {string.Join(", ", Supported)}).");
    }

    /// <summary>quick_gelu: x * sigmoid(1.702 x); gelu: exact (erf); gelu_new / gelu_pytorch_tanh: tanh approximation.</summary>
    public static Tensor Apply(string name, Tensor x) => name switch
    {
        "quick_gelu" => x * sigmoid(1.702 * x),
        "gelu" => nn.functional.gelu(x),
        "gelu_new" or "gelu_pytorch_tanh" => GeluTanh(x),
        "relu" => nn.functional.relu(x),
        "silu" => nn.functional.silu(x),
        _ => throw new ArgumentException($"Unknown activation '{name}'."),
    };

    /// <summary>0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).</summary>
    private static Tensor GeluTanh(Tensor x) =>
        0.5 * x * (1.0 + tanh(Math.Sqrt(2.0 / Math.PI) * (x + 0.044715 * x.pow(3))));
}
