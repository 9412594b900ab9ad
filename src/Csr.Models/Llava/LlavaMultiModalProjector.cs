using Csr.Models.Clip;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Csr.Models.Llava;

/// <summary>HF <c>LlavaMultiModalProjector</c> (LLaVA-1.5's mlp2x_gelu): linear_2(act(linear_1(x))).</summary>
public sealed class LlavaMultiModalProjector : nn.Module<Tensor, Tensor>
{
    public readonly Linear linear_1; // (H_text, H_vision * n_layers)
    public readonly Linear linear_2; // (H_text, H_text)
    public string Activation { get; }

    public LlavaMultiModalProjector(string name, int inputDim, int textHidden, string activation, bool bias) : base(name)
    {
        ClipActivation.Check(activation, "projector_hidden_act");
        Activation = activation;
        linear_1 = nn.Linear(inputDim, textHidden, hasBias: bias);
        linear_2 = nn.Linear(textHidden, textHidden, hasBias: bias);
        RegisterComponents();
    }

    /// <param name="x">[B, N, H_vision * n_layers]</param>
    /// <returns>[B, N, H_text]</returns>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = ClipActivation.Apply(Activation, linear_1.forward(x));
        return linear_2.forward(h).MoveToOuterDisposeScope();
    }
}
