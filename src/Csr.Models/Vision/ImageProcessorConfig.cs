using System.Text.Json;

namespace Csr.Models.Vision;

/// <summary>
/// HF <c>CLIPImageProcessor</c> settings from <c>preprocessor_config.json</c>, plus LLaVA's
/// <c>image_aspect_ratio</c> (not an HF processor key; "pad" as LLaVA-1.5 / CSR, or "none").
/// <c>size</c> and <c>crop_size</c> may be an int or a dict, as HF accepts:
/// size int n -> shortest_edge n; crop_size int n -> n x n.
/// </summary>
public sealed record ImageProcessorConfig
{
    public static readonly double[] ClipMean = { 0.48145466, 0.4578275, 0.40821073 };
    public static readonly double[] ClipStd = { 0.26862954, 0.26130258, 0.27577711 };

    public bool DoResize { get; init; } = true;
    /// <summary>size.shortest_edge (null when size is given as height/width).</summary>
    public int? ShortestEdge { get; init; } = 224;
    /// <summary>size.height / size.width (exact resize), used when <see cref="ShortestEdge"/> is null.</summary>
    public int? SizeHeight { get; init; }
    public int? SizeWidth { get; init; }
    public PilFilter Resample { get; init; } = PilFilter.Bicubic;
    public bool DoCenterCrop { get; init; } = true;
    public int CropHeight { get; init; } = 224;
    public int CropWidth { get; init; } = 224;
    public bool DoRescale { get; init; } = true;
    public double RescaleFactor { get; init; } = 1.0 / 255.0;
    public bool DoNormalize { get; init; } = true;
    public double[] ImageMean { get; init; } = ClipMean;
    public double[] ImageStd { get; init; } = ClipStd;
    /// <summary>"pad" (expand to square with the mean colour first, LLaVA-1.5) or "none" (HF processor alone).</summary>
    public string ImageAspectRatio { get; init; } = "pad";

    /// <summary>The values <see cref="ImageAspectRatio"/> takes.</summary>
    public static readonly IReadOnlyList<string> AspectRatioModes = ["pad", "none"];

    /// <summary>The CLIP ViT-L/14-336 processor with LLaVA-1.5's pad: 336 shortest edge, 336 crop.</summary>
    public static ImageProcessorConfig Clip336 => new()
    {
        ShortestEdge = 336, CropHeight = 336, CropWidth = 336,
    };

    public void Validate()
    {
        if (ShortestEdge is int s && s <= 0) throw new ArgumentException($"size.shortest_edge must be positive, got {s}.");
        if (ShortestEdge is null && (SizeHeight is not > 0 || SizeWidth is not > 0))
            throw new ArgumentException("size needs shortest_edge or positive height and width.");
        if (CropHeight <= 0 || CropWidth <= 0) throw new ArgumentException($"crop_size must be positive, got {CropHeight}x{CropWidth}.");
        if (ImageMean.Length != 3 || ImageStd.Length != 3)
            throw new ArgumentException($"image_mean and image_std need 3 values, got {ImageMean.Length} and {ImageStd.Length}.");
        if (ImageStd.Any(v => v == 0)) throw new ArgumentException("image_std must not contain 0.");
        if (ImageAspectRatio is not ("pad" or "none"))
            throw new ArgumentException($"image_aspect_ratio must be 'pad' or 'none', got '{ImageAspectRatio}'.");
    }

    /// <summary>The padding colour of LLaVA's expand2square: <c>int(x * 255)</c> of each mean.</summary>
    public (byte R, byte G, byte B) PadColour => ((byte)(int)(ImageMean[0] * 255), (byte)(int)(ImageMean[1] * 255), (byte)(int)(ImageMean[2] * 255));

    /// <summary>HF <c>preprocessor_config.json</c> content (CLIPImageProcessor, dict sizes). image_aspect_ratio is
    /// LLaVA's model option, not a processor key, and is not written.</summary>
    public string ToJson()
    {
        var o = new System.Text.Json.Nodes.JsonObject
        {
            ["image_processor_type"] = "CLIPImageProcessor",
            ["do_resize"] = DoResize,
            ["size"] = ShortestEdge is int se
                ? new System.Text.Json.Nodes.JsonObject { ["shortest_edge"] = se }
                : new System.Text.Json.Nodes.JsonObject { ["height"] = SizeHeight, ["width"] = SizeWidth },
            ["resample"] = (int)Resample,
            ["do_center_crop"] = DoCenterCrop,
            ["crop_size"] = new System.Text.Json.Nodes.JsonObject { ["height"] = CropHeight, ["width"] = CropWidth },
            ["do_rescale"] = DoRescale,
            ["rescale_factor"] = RescaleFactor,
            ["do_normalize"] = DoNormalize,
            ["do_convert_rgb"] = true,
            ["image_mean"] = new System.Text.Json.Nodes.JsonArray(ImageMean.Select(v => (System.Text.Json.Nodes.JsonNode)v).ToArray()),
            ["image_std"] = new System.Text.Json.Nodes.JsonArray(ImageStd.Select(v => (System.Text.Json.Nodes.JsonNode)v).ToArray()),
        };
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>The processor for a square input of <paramref name="size"/> px (shortest edge = crop = size).</summary>
    public static ImageProcessorConfig ForSize(int size) => new() { ShortestEdge = size, CropHeight = size, CropWidth = size };

    public static ImageProcessorConfig FromFile(string path, string imageAspectRatio = "pad")
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Preprocessor config not found: '{path}'.", path);
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            return FromJson(doc.RootElement, imageAspectRatio);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException or ArgumentException or KeyNotFoundException)
        {
            throw new InvalidDataException($"Invalid preprocessor config '{path}': {ex.Message}", ex);
        }
    }

    public static ImageProcessorConfig FromJson(JsonElement e, string imageAspectRatio = "pad")
    {
        var c = new ImageProcessorConfig { ImageAspectRatio = imageAspectRatio };
        if (e.TryGetProperty("do_resize", out var v)) c = c with { DoResize = v.GetBoolean() };
        if (e.TryGetProperty("size", out v))
        {
            if (v.ValueKind == JsonValueKind.Number) c = c with { ShortestEdge = v.GetInt32() };
            else if (v.TryGetProperty("shortest_edge", out var se)) c = c with { ShortestEdge = se.GetInt32() };
            else c = c with { ShortestEdge = null, SizeHeight = v.GetProperty("height").GetInt32(), SizeWidth = v.GetProperty("width").GetInt32() };
        }
        if (e.TryGetProperty("resample", out v))
        {
            int r = v.GetInt32();
            if (r != 2 && r != 3) throw new ArgumentException($"resample {r} is not supported (2 = bilinear, 3 = bicubic).");
            c = c with { Resample = (PilFilter)r };
        }
        if (e.TryGetProperty("do_center_crop", out v)) c = c with { DoCenterCrop = v.GetBoolean() };
        if (e.TryGetProperty("crop_size", out v))
        {
            if (v.ValueKind == JsonValueKind.Number) c = c with { CropHeight = v.GetInt32(), CropWidth = v.GetInt32() };
            else c = c with { CropHeight = v.GetProperty("height").GetInt32(), CropWidth = v.GetProperty("width").GetInt32() };
        }
        if (e.TryGetProperty("do_rescale", out v)) c = c with { DoRescale = v.GetBoolean() };
        if (e.TryGetProperty("rescale_factor", out v)) c = c with { RescaleFactor = v.GetDouble() };
        if (e.TryGetProperty("do_normalize", out v)) c = c with { DoNormalize = v.GetBoolean() };
        if (e.TryGetProperty("image_mean", out v)) c = c with { ImageMean = v.EnumerateArray().Select(x => x.GetDouble()).ToArray() };
        if (e.TryGetProperty("image_std", out v)) c = c with { ImageStd = v.EnumerateArray().Select(x => x.GetDouble()).ToArray() };
        if (e.TryGetProperty("image_aspect_ratio", out v)) c = c with { ImageAspectRatio = v.GetString() ?? "pad" };
        c.Validate();
        return c;
    }
}
