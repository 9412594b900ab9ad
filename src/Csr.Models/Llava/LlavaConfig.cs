using System.Text.Json;
using System.Text.Json.Nodes;
using Csr.Models.Clip;
using Csr.Models.Llama;

namespace Csr.Models.Llava;

/// <summary>
/// HF <c>LlavaConfig</c> (llava-hf <c>config.json</c>). Partial sections take HF's defaults:
/// a <c>text_config</c> holding only a few keys (as llava-hf/llava-1.5-7b-hf's does) is a Llama config
/// with LlamaConfig defaults (Llama-2-7B sizes); a <c>vision_config</c> dict takes CLIPVisionConfig defaults;
/// an absent <c>vision_config</c> is HF's LLaVA default (CLIP ViT-L/14-336).
/// <c>vision_feature_layer</c> may be an int (-2) or a list (features concatenated, newer HF).
/// </summary>
public sealed record LlavaConfig
{
    public LlamaConfig TextConfig { get; init; } = new();
    public ClipVisionConfig VisionConfig { get; init; } = DefaultVision;
    public int IgnoreIndex { get; init; } = -100;
    public int ImageTokenIndex { get; init; } = 32000;
    public string ProjectorHiddenAct { get; init; } = "gelu";
    /// <summary>"default" drops the class token, "full" keeps it.</summary>
    public string VisionFeatureSelectStrategy { get; init; } = "default";
    public int[] VisionFeatureLayers { get; init; } = { -2 };
    /// <summary>Image tokens per image in the expanded prompt (576 for 336 px / patch 14, "default").</summary>
    public int ImageSeqLength { get; init; } = 576;
    public bool MultimodalProjectorBias { get; init; } = true;
    public int? PadTokenId { get; init; }
    public bool TieWordEmbeddings { get; init; }

    /// <summary>A tiny LLaVA for tests and the demo world: the given Llama config and a small CLIP ViT.</summary>
    public static LlavaConfig Tiny(LlamaConfig text, int imageTokenIndex, int imageSize = 32, int patchSize = 8,
        int visionHidden = 32, int visionLayers = 2, int visionHeads = 4, int? padTokenId = null)
    {
        var vision = new ClipVisionConfig
        {
            HiddenSize = visionHidden, IntermediateSize = 2 * visionHidden, NumHiddenLayers = visionLayers,
            NumAttentionHeads = visionHeads, ImageSize = imageSize, PatchSize = patchSize, ProjectionDim = visionHidden,
        };
        return new LlavaConfig
        {
            TextConfig = text, VisionConfig = vision, ImageTokenIndex = imageTokenIndex,
            ImageSeqLength = vision.NumPatches, PadTokenId = padTokenId ?? text.PadTokenId,
        }.Validate();
    }

    /// <summary>HF's LLaVA default vision tower: CLIP ViT-L/14 at 336 px.</summary>
    public static ClipVisionConfig DefaultVision => new()
    {
        IntermediateSize = 4096, HiddenSize = 1024, PatchSize = 14, ImageSize = 336,
        NumHiddenLayers = 24, NumAttentionHeads = 16, ProjectionDim = 768,
    };

    /// <summary>Image features per image: patches (+1 with "full").</summary>
    public int FeaturesPerImage => VisionConfig.NumPatches + (VisionFeatureSelectStrategy == "full" ? 1 : 0);

    /// <summary>Input width of the projector: vision hidden x number of feature layers.</summary>
    public int ProjectorInputDim => VisionConfig.HiddenSize * VisionFeatureLayers.Length;

    public LlavaConfig Validate(string source = "<config>")
    {
        try
        {
            TextConfig.Validate(source + " text_config");
            VisionConfig.Validate();
            ClipActivation.Check(ProjectorHiddenAct, "projector_hidden_act");
        }
        catch (ArgumentException ex) { throw new InvalidDataException($"{source}: {ex.Message}", ex); }
        if (VisionFeatureSelectStrategy is not ("default" or "full"))
            throw new InvalidDataException($"{source}: 'vision_feature_select_strategy' must be 'default' or 'full', got '{VisionFeatureSelectStrategy}'");
        if (VisionFeatureLayers.Length == 0)
            throw new InvalidDataException($"{source}: 'vision_feature_layer' is empty");
        int n = VisionConfig.NumHiddenLayers + 1;
        foreach (var l in VisionFeatureLayers)
            if (l < -n || l >= n)
                throw new InvalidDataException($"{source}: 'vision_feature_layer' {l} is outside -{n}..{n - 1} for a {VisionConfig.NumHiddenLayers}-layer vision tower");
        if (ImageSeqLength != FeaturesPerImage)
            throw new InvalidDataException($"{source}: 'image_seq_length' {ImageSeqLength} does not match the vision tower's {FeaturesPerImage} features per image " +
                $"(({VisionConfig.ImageSize}/{VisionConfig.PatchSize})^2{(VisionFeatureSelectStrategy == "full" ? " + 1" : "")})");
        if (VisionConfig.ModelType is not ("clip_vision_model" or "clip"))
            throw new InvalidDataException($"{source}: vision_config.model_type '{VisionConfig.ModelType}' is not supported (only CLIP vision towers, 'clip_vision_model')");
        if (TextConfig.ModelType is not (null or "llama"))
            throw new InvalidDataException($"{source}: text_config.model_type '{TextConfig.ModelType}' is not supported (only 'llama')");
        return this;
    }

    public static LlavaConfig FromJson(JsonElement e, string source = "<json>")
    {
        var c = new LlavaConfig();
        try
        {
            if (e.TryGetProperty("text_config", out var t) && t.ValueKind == JsonValueKind.Object)
                c = c with { TextConfig = LlamaConfig.FromJson(t, source + " text_config") };
            if (e.TryGetProperty("vision_config", out var v) && v.ValueKind == JsonValueKind.Object)
                c = c with { VisionConfig = ClipVisionConfig.FromJson(v) };
            if (e.TryGetProperty("ignore_index", out var x)) c = c with { IgnoreIndex = x.GetInt32() };
            if (e.TryGetProperty("image_token_index", out x) || e.TryGetProperty("image_token_id", out x)) c = c with { ImageTokenIndex = x.GetInt32() };
            if (e.TryGetProperty("projector_hidden_act", out x)) c = c with { ProjectorHiddenAct = x.GetString() ?? "gelu" };
            if (e.TryGetProperty("vision_feature_select_strategy", out x)) c = c with { VisionFeatureSelectStrategy = x.GetString() ?? "default" };
            if (e.TryGetProperty("vision_feature_layer", out x))
                c = c with { VisionFeatureLayers = x.ValueKind == JsonValueKind.Array ? x.EnumerateArray().Select(i => i.GetInt32()).ToArray() : new[] { x.GetInt32() } };
            if (e.TryGetProperty("multimodal_projector_bias", out x)) c = c with { MultimodalProjectorBias = x.GetBoolean() };
            if (e.TryGetProperty("pad_token_id", out x) && x.ValueKind == JsonValueKind.Number) c = c with { PadTokenId = x.GetInt32() };
            if (e.TryGetProperty("tie_word_embeddings", out x)) c = c with { TieWordEmbeddings = x.GetBoolean() };
            c = c with
            {
                ImageSeqLength = e.TryGetProperty("image_seq_length", out x) ? x.GetInt32() : c.FeaturesPerImage,
            };
        }
        catch (Exception ex) when (ex is InvalidOperationException or FormatException or ArgumentException or JsonException)
        {
            throw new InvalidDataException($"{source}: invalid LLaVA config: {ex.Message}", ex);
        }
        return c.Validate(source);
    }

    /// <summary>Reads config.json (a file or a directory holding one); errors name the file.</summary>
    public static LlavaConfig FromFile(string dirOrFile)
    {
        string path = Directory.Exists(dirOrFile) ? Path.Combine(dirOrFile, "config.json") : dirOrFile;
        if (!File.Exists(path)) throw new FileNotFoundException($"LLaVA config not found: '{path}'.", path);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllText(path)); }
        catch (JsonException ex) { throw new InvalidDataException($"{path}: not valid JSON: {ex.Message}", ex); }
        using (doc) return FromJson(doc.RootElement, path);
    }

    /// <summary>HF-layout config.json (model_type "llava", full text_config and vision_config).</summary>
    public string ToJson()
    {
        var o = new JsonObject
        {
            ["architectures"] = new JsonArray("LlavaForConditionalGeneration"),
            ["model_type"] = "llava",
            ["ignore_index"] = IgnoreIndex,
            ["image_token_index"] = ImageTokenIndex,
            ["projector_hidden_act"] = ProjectorHiddenAct,
            ["vision_feature_select_strategy"] = VisionFeatureSelectStrategy,
            ["vision_feature_layer"] = VisionFeatureLayers.Length == 1 ? JsonValue.Create(VisionFeatureLayers[0]) : new JsonArray(VisionFeatureLayers.Select(l => (JsonNode)JsonValue.Create(l)!).ToArray()),
            ["image_seq_length"] = ImageSeqLength,
            ["multimodal_projector_bias"] = MultimodalProjectorBias,
            ["tie_word_embeddings"] = TieWordEmbeddings,
            ["vocab_size"] = TextConfig.VocabSize,
            ["text_config"] = JsonNode.Parse(TextConfig.ToJson()),
            ["vision_config"] = JsonNode.Parse(VisionConfig.ToJson().GetRawText()),
        };
        if (PadTokenId is int p) o["pad_token_id"] = p;
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }
}
