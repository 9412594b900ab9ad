using System.Text.Json;
using System.Text.Json.Nodes;

namespace Csr.Models.Clip;

/// <summary>
/// HF <c>CLIPConfig</c>: <c>text_config</c>, <c>vision_config</c>, <c>projection_dim</c>,
/// <c>logit_scale_init_value</c>. Old configs that carry <c>text_config_dict</c> /
/// <c>vision_config_dict</c> are read too (the *_dict wins, as HF does).
/// </summary>
public sealed record ClipConfig
{
    public ClipTextConfig TextConfig { get; init; } = new();
    public ClipVisionConfig VisionConfig { get; init; } = new();
    public int ProjectionDim { get; init; } = 512;
    /// <summary>Initial value of the <c>logit_scale</c> parameter (log of 1/0.07).</summary>
    public double LogitScaleInitValue { get; init; } = 2.6592;

    /// <summary>A tiny CLIP for tests and the demo world (same architecture, small sizes).</summary>
    public static ClipConfig Tiny(int imageSize = 32, int patchSize = 8, int hidden = 32, int layers = 2, int heads = 4,
        int vocab = 512, int maxPositions = 77, int projectionDim = 32, int eosTokenId = 2) => new ClipConfig
    {
        TextConfig = new ClipTextConfig
        {
            VocabSize = vocab, HiddenSize = hidden, IntermediateSize = 2 * hidden, NumHiddenLayers = layers,
            NumAttentionHeads = heads, MaxPositionEmbeddings = maxPositions, ProjectionDim = projectionDim,
            BosTokenId = Math.Min(0, vocab - 1), PadTokenId = Math.Min(1, vocab - 1), EosTokenId = eosTokenId,
        },
        VisionConfig = new ClipVisionConfig
        {
            HiddenSize = hidden, IntermediateSize = 2 * hidden, NumHiddenLayers = layers, NumAttentionHeads = heads,
            ImageSize = imageSize, PatchSize = patchSize, ProjectionDim = projectionDim,
        },
        ProjectionDim = projectionDim,
    }.Validate();

    public ClipConfig Validate()
    {
        TextConfig.Validate();
        VisionConfig.Validate();
        ConfigChecks.Positive(ProjectionDim, "projection_dim");
        return this;
    }

    private static readonly JsonElement EmptyObject = JsonDocument.Parse("{}").RootElement.Clone();

    public static ClipConfig FromJson(JsonElement e)
    {
        JsonElement Section(string name)
        {
            if (e.TryGetProperty(name + "_dict", out var d) && d.ValueKind == JsonValueKind.Object) return d;
            if (e.TryGetProperty(name, out var s) && s.ValueKind == JsonValueKind.Object) return s;
            return EmptyObject;
        }
        var c = new ClipConfig
        {
            TextConfig = ClipTextConfig.FromJson(Section("text_config")),
            VisionConfig = ClipVisionConfig.FromJson(Section("vision_config")),
        };
        if (e.TryGetProperty("projection_dim", out var p)) c = c with { ProjectionDim = p.GetInt32() };
        if (e.TryGetProperty("logit_scale_init_value", out var l)) c = c with { LogitScaleInitValue = l.GetDouble() };
        return c.Validate();
    }

    /// <summary>Reads a config.json (file or directory holding one); errors name the file.</summary>
    public static ClipConfig FromFile(string dirOrFile)
    {
        string path = Directory.Exists(dirOrFile) ? Path.Combine(dirOrFile, "config.json") : dirOrFile;
        if (!File.Exists(path)) throw new FileNotFoundException($"CLIP config not found: '{path}'.", path);
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            return FromJson(doc.RootElement);
        }
        catch (Exception ex) when (ex is JsonException or ArgumentException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"Invalid CLIP config '{path}': {ex.Message}", ex);
        }
    }

    /// <summary>HF-layout config.json content (model_type "clip").</summary>
    public string ToJson()
    {
        var o = new JsonObject
        {
            ["architectures"] = new JsonArray("CLIPModel"),
            ["model_type"] = "clip",
            ["projection_dim"] = ProjectionDim,
            ["logit_scale_init_value"] = LogitScaleInitValue,
            ["text_config"] = JsonNode.Parse(TextConfig.ToJson().GetRawText()),
            ["vision_config"] = JsonNode.Parse(VisionConfig.ToJson().GetRawText()),
            ["torch_dtype"] = "float32",
        };
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }
}
