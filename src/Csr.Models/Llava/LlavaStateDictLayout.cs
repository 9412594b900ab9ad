using Csr.Models.Clip;
using Csr.Models.Llama;

namespace Csr.Models.Llava;

/// <summary>The (key, shape) list of <see cref="LlavaForConditionalGeneration"/> in the older llava-hf
/// naming, from the config alone (no weights allocated).</summary>
public static class LlavaStateDictLayout
{
    public static IEnumerable<(string Key, long[] Shape)> Model(LlavaConfig c)
    {
        foreach (var kv in ClipStateDictLayout.VisionTransformer(c.VisionConfig, "vision_tower.vision_model.")) yield return kv;
        long h = c.TextConfig.HiddenSize;
        yield return ("multi_modal_projector.linear_1.weight", new long[] { h, c.ProjectorInputDim });
        if (c.MultimodalProjectorBias) yield return ("multi_modal_projector.linear_1.bias", new[] { h });
        yield return ("multi_modal_projector.linear_2.weight", new[] { h, h });
        if (c.MultimodalProjectorBias) yield return ("multi_modal_projector.linear_2.bias", new[] { h });
        foreach (var kv in LlamaForCausalLM.ParameterShapes(c.TextConfig, "language_model.")) yield return kv;
    }
}
