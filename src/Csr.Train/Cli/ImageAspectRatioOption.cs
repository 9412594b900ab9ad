using Csr.Models.Vision;

namespace Csr.Train.Cli;

/// <summary>
/// Values of the <c>--image-aspect-ratio</c> options: "pad" (pad to square with the CLIP mean colour, then resize and
/// center crop: LLaVA-1.5's image_aspect_ratio = pad, used by the official DPO training and LLaVA's evaluation) or
/// "none" (resize the shortest side and center crop only: the llava-hf AutoProcessor of the official sample.py).
/// </summary>
public static class ImageAspectRatioOption
{
    /// <summary>The lower-cased mode; a value other than pad / none is a user error naming <paramref name="option"/>.</summary>
    public static string Parse(string? value, string option)
    {
        var v = (value ?? "").Trim().ToLowerInvariant();
        if (!ImageProcessorConfig.AspectRatioModes.Contains(v))
            throw new CsrUserException($"{option} '{value}': expected {string.Join(" or ", ImageProcessorConfig.AspectRatioModes)}");
        return v;
    }
}
