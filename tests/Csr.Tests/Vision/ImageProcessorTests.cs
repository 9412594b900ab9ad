using Csr.Models.Vision;
using Csr.Native;
using SkiaSharp;
using static TorchSharp.torch;

namespace Csr.Tests.Vision;

public sealed class ImageProcessorTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "csr-vision-" + Guid.NewGuid().ToString("N"));

    public ImageProcessorTests()
    {
        TorchRuntime.EnsureInitialised();
        Directory.CreateDirectory(_dir);
    }

    public void Dispose() => Directory.Delete(_dir, true);

    /// <summary>Writes an image with SkiaSharp; pixel (x, y) = f(x, y) as (r, g, b, a), stored unpremultiplied.</summary>
    private string Write(string name, int w, int h, Func<int, int, (byte R, byte G, byte B, byte A)> f,
        SKEncodedImageFormat format = SKEncodedImageFormat.Png, SKColorType colorType = SKColorType.Rgba8888, int quality = 100)
    {
        var info = new SKImageInfo(w, h, colorType, colorType == SKColorType.Gray8 ? SKAlphaType.Opaque : SKAlphaType.Unpremul);
        using var bmp = new SKBitmap(info);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                var (r, g, b, a) = f(x, y);
                if (colorType == SKColorType.Gray8) bmp.GetPixelSpan()[y * bmp.RowBytes + x] = r;
                else
                {
                    var span = bmp.GetPixelSpan();
                    int o = y * bmp.RowBytes + x * 4;
                    span[o] = r; span[o + 1] = g; span[o + 2] = b; span[o + 3] = a;
                }
            }
        using var image = SKImage.FromBitmap(bmp);
        using var data = image.Encode(format, quality);
        string path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, data.ToArray());
        return path;
    }

    private static ImageProcessor Processor(int size, string aspect = "pad") => new(ImageProcessorConfig.Clip336 with
    {
        ShortestEdge = size, CropHeight = size, CropWidth = size, ImageAspectRatio = aspect,
    });

    private static float Norm(byte v, int c) =>
        ((float)(v * (1.0 / 255.0)) - (float)ImageProcessorConfig.ClipMean[c]) / (float)ImageProcessorConfig.ClipStd[c];

    [Fact]
    public void Png_pixels_come_through_pad_and_normalise_exactly()
    {
        // 4 x 2 image -> padded to 4 x 4 with the mean colour at rows 0 and 3; resize/crop to 4 are identities
        string path = Write("a.png", 4, 2, (x, y) => ((byte)(10 * x), (byte)(100 + y), (byte)(250 - x), 255));
        using var scope = NewDisposeScope();
        var t = Processor(4).Preprocess(path);
        Assert.Equal(new long[] { 3, 4, 4 }, t.shape);
        Assert.Equal(ScalarType.Float32, t.dtype);
        var v = t.data<float>().ToArray();
        float At(int c, int y, int x) => v[(c * 4 + y) * 4 + x];
        byte[] pad = { 122, 116, 104 };
        for (int c = 0; c < 3; c++)
            for (int x = 0; x < 4; x++)
            {
                Assert.Equal(Norm(pad[c], c), At(c, 0, x));
                Assert.Equal(Norm(pad[c], c), At(c, 3, x));
            }
        Assert.Equal(Norm(30, 0), At(0, 1, 3));
        Assert.Equal(Norm(101, 1), At(1, 2, 0));
        Assert.Equal(Norm(248, 2), At(2, 2, 2));
    }

    [Fact]
    public void Without_pad_a_wide_image_is_resized_then_center_cropped()
    {
        // 6 x 2 constant-per-column image, shortest edge 2 -> stays 6 x 2, crop 2 takes columns 2..3
        string path = Write("b.png", 6, 2, (x, y) => ((byte)(40 * x), 0, 0, 255));
        using var scope = NewDisposeScope();
        var v = Processor(2, "none").Preprocess(path).data<float>().ToArray();
        Assert.Equal(Norm(80, 0), v[0]);
        Assert.Equal(Norm(120, 0), v[1]);
        Assert.Equal(Norm(0, 1), v[4]);
    }

    [Fact]
    public void Grey_png_becomes_equal_rgb_channels()
    {
        string path = Write("g.png", 3, 3, (x, y) => ((byte)(20 * (x + 3 * y)), 0, 0, 255), colorType: SKColorType.Gray8);
        var img = ImageDecoder.Decode(path);
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 3; x++)
            {
                Assert.Equal(20 * (x + 3 * y), img[x, y, 0]);
                Assert.Equal(img[x, y, 0], img[x, y, 1]);
                Assert.Equal(img[x, y, 0], img[x, y, 2]);
            }
    }

    [Fact]
    public void Alpha_is_dropped_without_compositing_like_pil_convert_rgb()
    {
        string path = Write("a.png", 2, 1, (x, y) => (200, 100, 50, (byte)(x == 0 ? 128 : 255)));
        var img = ImageDecoder.Decode(path);
        Assert.Equal(new byte[] { 200, 100, 50, 200, 100, 50 }, img.Data);
    }

    [Fact]
    public void Jpeg_of_a_flat_colour_decodes_close_to_it()
    {
        string path = Write("c.jpg", 16, 16, (x, y) => (180, 60, 90, 255), SKEncodedImageFormat.Jpeg, quality: 95);
        var img = ImageDecoder.Decode(path);
        Assert.Equal(16, img.Width);
        for (int i = 0; i < img.Data.Length; i += 3)
        {
            Assert.InRange(img.Data[i], 176, 184);
            Assert.InRange(img.Data[i + 1], 56, 64);
            Assert.InRange(img.Data[i + 2], 86, 94);
        }
    }

    [Fact]
    public void Batch_stacks_the_single_results()
    {
        string a = Write("p.png", 5, 3, (x, y) => ((byte)(x * 50), (byte)(y * 80), 7, 255));
        string b = Write("q.png", 3, 5, (x, y) => (9, (byte)(x * 50), (byte)(y * 60), 255));
        using var scope = NewDisposeScope();
        var p = Processor(8);
        var batch = p.PreprocessBatch(new[] { a, b });
        Assert.Equal(new long[] { 2, 3, 8, 8 }, batch.shape);
        Assert.True(batch[0].equal(p.Preprocess(a)).all().item<bool>());
        Assert.True(batch[1].equal(p.Preprocess(b)).all().item<bool>());
        Assert.False(batch[0].equal(batch[1]).all().item<bool>());
    }

    [Fact]
    public void Missing_corrupt_and_truncated_files_are_errors_naming_the_file()
    {
        var p = Processor(4);
        string missing = Path.Combine(_dir, "nope.png");
        var nf = Assert.Throws<FileNotFoundException>(() => p.Preprocess(missing));
        Assert.Contains(missing, nf.Message);

        string junk = Path.Combine(_dir, "junk.jpg");
        File.WriteAllBytes(junk, Enumerable.Range(0, 100).Select(i => (byte)(i * 7)).ToArray());
        Assert.Contains(junk, Assert.Throws<InvalidDataException>(() => p.Preprocess(junk)).Message);

        string good = Write("t.png", 32, 32, (x, y) => ((byte)(x * y), (byte)x, (byte)y, 255));
        var bytes = File.ReadAllBytes(good);
        string cut = Path.Combine(_dir, "cut.png");
        File.WriteAllBytes(cut, bytes.Take(bytes.Length / 2).ToArray());
        Assert.Contains(cut, Assert.Throws<InvalidDataException>(() => p.Preprocess(cut)).Message);

        string empty = Path.Combine(_dir, "empty.png");
        File.WriteAllBytes(empty, Array.Empty<byte>());
        Assert.Contains(empty, Assert.Throws<InvalidDataException>(() => p.Preprocess(empty)).Message);
    }

    [Fact]
    public void Preprocessor_config_reads_both_hf_layouts()
    {
        string newer = Path.Combine(_dir, "new.json");
        File.WriteAllText(newer, """
            {"crop_size": {"height": 336, "width": 336}, "do_center_crop": true, "do_convert_rgb": true,
             "do_normalize": true, "do_rescale": true, "do_resize": true,
             "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_processor_type": "CLIPImageProcessor",
             "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3,
             "rescale_factor": 0.00392156862745098, "size": {"shortest_edge": 336}}
            """);
        var c = ImageProcessorConfig.FromFile(newer);
        Assert.Equal(336, c.ShortestEdge);
        Assert.Equal((336, 336), (c.CropHeight, c.CropWidth));
        Assert.Equal(PilFilter.Bicubic, c.Resample);
        Assert.Equal("pad", c.ImageAspectRatio);

        string older = Path.Combine(_dir, "old.json");
        File.WriteAllText(older, """{"crop_size": 224, "size": 256, "resample": 2, "do_normalize": false}""");
        var o = ImageProcessorConfig.FromFile(older, "none");
        Assert.Equal(256, o.ShortestEdge);
        Assert.Equal((224, 224), (o.CropHeight, o.CropWidth));
        Assert.Equal(PilFilter.Bilinear, o.Resample);
        Assert.False(o.DoNormalize);

        string bad = Path.Combine(_dir, "bad.json");
        File.WriteAllText(bad, """{"resample": 1}""");
        Assert.Contains(bad, Assert.Throws<InvalidDataException>(() => ImageProcessorConfig.FromFile(bad)).Message);
    }

    [Fact]
    public void Real_size_pipeline_gives_336_square_with_pad_rows_at_the_mean_colour()
    {
        // 640 x 480 flat image: padded to 640 x 640 (rows 0..79 and 560..639 mean colour), resized to 336.
        string path = Write("big.png", 640, 480, (x, y) => (255, 255, 255, 255));
        using var scope = NewDisposeScope();
        var t = new ImageProcessor(ImageProcessorConfig.Clip336).Preprocess(path);
        Assert.Equal(new long[] { 3, 336, 336 }, t.shape);
        // row 0 is entirely mean colour: normalised value ~ (122/255 - mean)/std, i.e. about -0.0117 for red
        Assert.Equal(Norm(122, 0), t[0, 0, 100].item<float>());
        Assert.Equal(Norm(255, 0), t[0, 168, 100].item<float>());
    }

    [Fact]
    public void Preprocessor_config_json_round_trips()
    {
        var c = ImageProcessorConfig.ForSize(48) with { Resample = PilFilter.Bilinear, DoNormalize = false };
        string path = Path.Combine(_dir, "preprocessor_config.json");
        File.WriteAllText(path, c.ToJson());
        var back = ImageProcessor.FromPretrained(_dir).Config;
        Assert.Equal(48, back.ShortestEdge);
        Assert.Equal((48, 48), (back.CropHeight, back.CropWidth));
        Assert.Equal(PilFilter.Bilinear, back.Resample);
        Assert.False(back.DoNormalize);
        Assert.Equal(c.ImageMean, back.ImageMean);
        Assert.Equal(c.ImageStd, back.ImageStd);
        Assert.Equal(c.RescaleFactor, back.RescaleFactor);
    }

    [Fact]
    public void Exact_height_width_size_resizes_without_keeping_the_aspect()
    {
        string path = Write("hw.png", 5, 3, (x, y) => (77, 88, 99, 255));
        using var scope = NewDisposeScope();
        var p = new ImageProcessor(ImageProcessorConfig.ForSize(4) with
        {
            ShortestEdge = null, SizeHeight = 2, SizeWidth = 6, DoCenterCrop = false, ImageAspectRatio = "none",
        });
        var t = p.Preprocess(path);
        Assert.Equal(new long[] { 3, 2, 6 }, t.shape);
        Assert.Equal(Norm(88, 1), t[1, 1, 5].item<float>());
    }

    [Fact]
    public void Batch_error_names_the_bad_file_and_uncropped_sizes_must_agree()
    {
        string good = Write("ok.png", 4, 4, (x, y) => (1, 2, 3, 255));
        string bad = Path.Combine(_dir, "bad.png");
        File.WriteAllBytes(bad, new byte[] { 1, 2, 3 });
        var p = Processor(4);
        Assert.Contains(bad, Assert.Throws<InvalidDataException>(() => p.PreprocessBatch(new[] { good, bad })).Message);
        string wide = Write("wide.png", 8, 4, (x, y) => (1, 2, 3, 255));
        var noCrop = new ImageProcessor(ImageProcessorConfig.ForSize(4) with { DoCenterCrop = false, ImageAspectRatio = "none" });
        Assert.Throws<InvalidOperationException>(() => noCrop.PreprocessBatch(new[] { good, wide }));
    }
}
