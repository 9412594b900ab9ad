using Csr.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Models.Vision;

/// <summary>
/// HF <c>CLIPImageProcessor</c> (+ LLaVA-1.5's <c>image_aspect_ratio = pad</c>) in C#:
/// decode -> expand to square with the mean colour -> resize shortest edge (PIL bicubic, 8-bit)
/// -> center crop -> rescale -> normalise -> [3, H, W] float32.
/// </summary>
public sealed class ImageProcessor
{
    public ImageProcessorConfig Config { get; }

    public ImageProcessor(ImageProcessorConfig config)
    {
        config.Validate();
        Config = config;
    }

    /// <summary>Reads <c>preprocessor_config.json</c> from a model directory or a file path.</summary>
    public static ImageProcessor FromPretrained(string dirOrFile, string imageAspectRatio = "pad")
    {
        string path = Directory.Exists(dirOrFile) ? Path.Combine(dirOrFile, "preprocessor_config.json") : dirOrFile;
        return new ImageProcessor(ImageProcessorConfig.FromFile(path, imageAspectRatio));
    }

    /// <summary>This processor with LLaVA's <c>image_aspect_ratio</c> set to <paramref name="mode"/> ("pad" or "none");
    /// itself when it already has that mode.</summary>
    public ImageProcessor WithAspectRatio(string mode) =>
        Config.ImageAspectRatio == mode ? this : new ImageProcessor(Config with { ImageAspectRatio = mode });

    /// <summary>The 8-bit image after pad / resize / crop, before rescale and normalise.</summary>
    public RgbImage Transform(RgbImage img)
    {
        var c = Config;
        if (c.ImageAspectRatio == "pad") img = ImageOps.ExpandToSquare(img, c.PadColour);
        if (c.DoResize)
        {
            var (w, h) = c.ShortestEdge is int se
                ? ImageOps.ShortestEdgeSize(img.Width, img.Height, se)
                : (c.SizeWidth!.Value, c.SizeHeight!.Value);
            img = PilResample.Resize(img, w, h, c.Resample);
        }
        if (c.DoCenterCrop) img = ImageOps.CenterCrop(img, c.CropHeight, c.CropWidth);
        return img;
    }

    /// <summary>Rescale and normalise in float32 as HF does (x * factor, then (x - mean) / std), CHW.</summary>
    public float[] ToChw(RgbImage img)
    {
        var c = Config;
        int n = img.Width * img.Height;
        var result = new float[3 * n];
        for (int ch = 0; ch < 3; ch++)
        {
            float mean = (float)c.ImageMean[ch], std = (float)c.ImageStd[ch];
            for (int i = 0; i < n; i++)
            {
                float v = c.DoRescale ? (float)(img.Data[i * 3 + ch] * c.RescaleFactor) : img.Data[i * 3 + ch];
                if (c.DoNormalize) v = (v - mean) / std;
                result[ch * n + i] = v;
            }
        }
        return result;
    }

    /// <summary>[3, H, W] float32 pixel values for an already decoded image.</summary>
    public Tensor Preprocess(RgbImage img)
    {
        TorchRuntime.EnsureInitialised();
        var t = Transform(img);
        return tensor(ToChw(t), new long[] { 3, t.Height, t.Width }, ScalarType.Float32);
    }

    /// <summary>[3, H, W] float32 pixel values of an image file; errors name the file.</summary>
    public Tensor Preprocess(string path) => Preprocess(ImageDecoder.Decode(path));

    /// <summary>[B, 3, H, W] float32 pixel values of several image files.</summary>
    public Tensor PreprocessBatch(IReadOnlyList<string> paths)
    {
        if (paths.Count == 0) throw new ArgumentException("PreprocessBatch needs at least one image path.");
        TorchRuntime.EnsureInitialised();
        // decode and resize (plain C#) in parallel; errors keep naming their file
        var chw = new float[paths.Count][];
        var sizes = new (int W, int H)[paths.Count];
        try
        {
            Parallel.For(0, paths.Count, i =>
            {
                var t = Transform(ImageDecoder.Decode(paths[i]));
                chw[i] = ToChw(t);
                sizes[i] = (t.Width, t.Height);
            });
        }
        catch (AggregateException ex) when (ex.InnerExceptions.Count >= 1)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(ex.InnerExceptions[0]).Throw();
            throw;
        }
        if (sizes.Distinct().Count() != 1)
            throw new InvalidOperationException($"Preprocessed images differ in size ({string.Join(", ", sizes.Distinct())}); enable center crop or an exact size to batch them.");
        using var scope = NewDisposeScope();
        var items = chw.Select((d, i) => tensor(d, new long[] { 3, sizes[i].H, sizes[i].W }, ScalarType.Float32)).ToArray();
        return stack(items, 0).MoveToOuterDisposeScope();
    }
}
