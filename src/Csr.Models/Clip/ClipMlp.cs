using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Csr.Models.Clip;

/// <summary>HF <c>CLIPMLP</c>: fc2(act(fc1(x))).</summary>
public sealed class ClipMlp : nn.Module<Tensor, Tensor>
{
    public readonly Linear fc1; // (I, H)
    public readonly Linear fc2; // (H, I)
    public string Activation { get; }

    public ClipMlp(string name, int hidden, int intermediate, string activation) : base(name)
    {
        ClipActivation.Check(activation, "hidden_act");
        Activation = activation;
        fc1 = nn.Linear(hidden, intermediate, hasBias: true);
        fc2 = nn.Linear(intermediate, hidden, hasBias: true);
        RegisterComponents();
    }

    /// <param name="x">[B, T, H]</param>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var a = ClipActivation.Apply(Activation, fc1.forward(x)); // [B, T, I]
        return fc2.forward(a).MoveToOuterDisposeScope();
    }
}
