namespace Csr.Models.Clip;

/// <summary>
/// The HF state-dict (key, shape) list of CLIP modules, computed from a config alone (no weights
/// allocated), in HF's order. Used to check real configs (ViT-L/14-336 has 577 positions...) and
/// to check that a module built from a tiny config has exactly these keys and shapes.
/// </summary>
public static class ClipStateDictLayout
{
    public static IEnumerable<(string Key, long[] Shape)> EncoderLayers(string prefix, int layers, int hidden, int intermediate)
    {
        for (int i = 0; i < layers; i++)
        {
            string p = $"{prefix}encoder.layers.{i}.";
            foreach (var proj in new[] { "k_proj", "v_proj", "q_proj", "out_proj" })
            {
                yield return ($"{p}self_attn.{proj}.weight", new long[] { hidden, hidden });
                yield return ($"{p}self_attn.{proj}.bias", new long[] { hidden });
            }
            yield return ($"{p}layer_norm1.weight", new long[] { hidden });
            yield return ($"{p}layer_norm1.bias", new long[] { hidden });
            yield return ($"{p}mlp.fc1.weight", new long[] { intermediate, hidden });
            yield return ($"{p}mlp.fc1.bias", new long[] { intermediate });
            yield return ($"{p}mlp.fc2.weight", new long[] { hidden, intermediate });
            yield return ($"{p}mlp.fc2.bias", new long[] { hidden });
            yield return ($"{p}layer_norm2.weight", new long[] { hidden });
            yield return ($"{p}layer_norm2.bias", new long[] { hidden });
        }
    }

    /// <summary>CLIPVisionTransformer keys under <paramref name="prefix"/> (e.g. "vision_model." or
    /// "vision_tower.vision_model.").</summary>
    public static IEnumerable<(string Key, long[] Shape)> VisionTransformer(ClipVisionConfig c, string prefix = "vision_model.")
    {
        long h = c.HiddenSize;
        yield return ($"{prefix}embeddings.class_embedding", new[] { h });
        yield return ($"{prefix}embeddings.patch_embedding.weight", new long[] { h, c.NumChannels, c.PatchSize, c.PatchSize });
        yield return ($"{prefix}embeddings.position_embedding.weight", new long[] { c.NumPositions, h });
        yield return ($"{prefix}pre_layrnorm.weight", new[] { h });
        yield return ($"{prefix}pre_layrnorm.bias", new[] { h });
        foreach (var kv in EncoderLayers(prefix, c.NumHiddenLayers, c.HiddenSize, c.IntermediateSize)) yield return kv;
        yield return ($"{prefix}post_layernorm.weight", new[] { h });
        yield return ($"{prefix}post_layernorm.bias", new[] { h });
    }

    public static IEnumerable<(string Key, long[] Shape)> TextTransformer(ClipTextConfig c, string prefix = "text_model.")
    {
        long h = c.HiddenSize;
        yield return ($"{prefix}embeddings.token_embedding.weight", new long[] { c.VocabSize, h });
        yield return ($"{prefix}embeddings.position_embedding.weight", new long[] { c.MaxPositionEmbeddings, h });
        foreach (var kv in EncoderLayers(prefix, c.NumHiddenLayers, c.HiddenSize, c.IntermediateSize)) yield return kv;
        yield return ($"{prefix}final_layer_norm.weight", new[] { h });
        yield return ($"{prefix}final_layer_norm.bias", new[] { h });
    }

    /// <summary>CLIPModel: logit_scale first (own parameters precede children in torch's state_dict).</summary>
    public static IEnumerable<(string Key, long[] Shape)> Model(ClipConfig c)
    {
        yield return ("logit_scale", Array.Empty<long>());
        foreach (var kv in TextTransformer(c.TextConfig)) yield return kv;
        foreach (var kv in VisionTransformer(c.VisionConfig)) yield return kv;
        yield return ("visual_projection.weight", new long[] { c.ProjectionDim, c.VisionConfig.HiddenSize });
        yield return ("text_projection.weight", new long[] { c.ProjectionDim, c.TextConfig.HiddenSize });
    }

    /// <summary>Total parameter count of a layout.</summary>
    public static long ParameterCount(IEnumerable<(string Key, long[] Shape)> layout) =>
        layout.Sum(kv => kv.Shape.Aggregate(1L, (a, b) => a * b));
}
