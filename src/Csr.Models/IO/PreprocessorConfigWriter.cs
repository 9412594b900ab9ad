using System.Text.Json.Nodes;
using Csr.Models.Vision;

namespace Csr.Models.IO;

/// <summary>
/// Writes an HF <c>preprocessor_config.json</c> (CLIPImageProcessor keys) for an <see cref="ImageProcessorConfig"/>,
/// so that <see cref="ImageProcessorConfig.FromFile"/> and HF's CLIPImageProcessor read the same settings.
/// LLaVA's <c>image_aspect_ratio</c> is not an HF key and is not written (it is a model-side choice).
/// </summary>
public static class PreprocessorConfigWriter
{
    public const string FileName = "preprocessor_config.json";

    public static string ToJson(ImageProcessorConfig c)
    {
        c.Validate();
        JsonNode size = c.ShortestEdge is int se
            ? new JsonObject { ["shortest_edge"] = se }
            : new JsonObject { ["height"] = c.SizeHeight, ["width"] = c.SizeWidth };
        var o = new JsonObject
        {
            ["crop_size"] = new JsonObject { ["height"] = c.CropHeight, ["width"] = c.CropWidth },
            ["do_center_crop"] = c.DoCenterCrop,
            ["do_convert_rgb"] = true,
            ["do_normalize"] = c.DoNormalize,
            ["do_rescale"] = c.DoRescale,
            ["do_resize"] = c.DoResize,
            ["image_mean"] = new JsonArray(c.ImageMean.Select(v => (JsonNode)JsonValue.Create(v)).ToArray()),
            ["image_processor_type"] = "CLIPImageProcessor",
            ["image_std"] = new JsonArray(c.ImageStd.Select(v => (JsonNode)JsonValue.Create(v)).ToArray()),
            ["resample"] = (int)c.Resample,
            ["rescale_factor"] = c.RescaleFactor,
            ["size"] = size,
        };
        return o.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    public static string Write(string dir, ImageProcessorConfig c)
    {
        var path = Path.Combine(dir, FileName);
        AtomicFile.WriteAllText(path, ToJson(c));
        return path;
    }
}
