using Csr.Models.Llama;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Models.Clip;

/// <summary>HF <c>CLIPVisionModel</c>: a wrapper whose only field is <c>vision_model</c>
/// (so keys read <c>vision_model.encoder.layers.0...</c>; inside LLaVA <c>vision_tower.vision_model...</c>).</summary>
public sealed class ClipVisionModel : nn.Module<Tensor, Tensor>
{
    public readonly ClipVisionTransformer vision_model;

    public ClipVisionConfig Config => vision_model.Config;

    public ClipVisionModel(string name, ClipVisionConfig config) : base(name)
    {
        vision_model = new ClipVisionTransformer("vision_model", config);
        RegisterComponents();
    }

    public ClipVisionModel(ClipVisionConfig config) : this("vision_tower", config) { }

    public AttentionImplementation AttentionImplementation
    {
        get => vision_model.AttentionImplementation;
        set => vision_model.AttentionImplementation = value;
    }

    /// <summary>Last hidden state. [B, N+1, H]</summary>
    public override Tensor forward(Tensor pixelValues) => vision_model.forward(pixelValues);

    public Tensor[] HiddenStates(Tensor pixelValues) => vision_model.HiddenStates(pixelValues);

    public Tensor HiddenState(Tensor pixelValues, int layer) => vision_model.HiddenState(pixelValues, layer);

    public Tensor Pooled(Tensor pixelValues) => vision_model.Pooled(pixelValues);
}
