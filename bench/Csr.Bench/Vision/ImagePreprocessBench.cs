using BenchmarkDotNet.Attributes;
using Csr.Models.Vision;
using Csr.Native;
using SkiaSharp;
using static TorchSharp.torch;

namespace Csr.Bench.Vision;

/// <summary>One COCO-sized JPEG (640 x 480) through the LLaVA-1.5 preprocessing to [3, 336, 336]:
/// decode, pad to square, PIL bicubic resize 640 -> 336 (antialiased), crop, normalise.</summary>
[MemoryDiagnoser]
public class ImagePreprocessBench
{
    private string _path = "";
    private byte[] _jpeg = Array.Empty<byte>();
    private RgbImage _decoded = null!;
    private ImageProcessor _processor = null!;

    [GlobalSetup]
    public void Setup()
    {
        TorchRuntime.EnsureInitialised();
        using var bmp = new SKBitmap(new SKImageInfo(640, 480, SKColorType.Rgba8888, SKAlphaType.Opaque));
        var rng = new Random(1);
        for (int y = 0; y < 480; y++)
            for (int x = 0; x < 640; x++)
                bmp.SetPixel(x, y, new SKColor((byte)(x * 255 / 639), (byte)(y * 255 / 479), (byte)rng.Next(256)));
        using var img = SKImage.FromBitmap(bmp);
        using var data = img.Encode(SKEncodedImageFormat.Jpeg, 90);
        _jpeg = data.ToArray();
        _path = Path.Combine(Path.GetTempPath(), "csr-bench-640x480.jpg");
        File.WriteAllBytes(_path, _jpeg);
        _decoded = ImageDecoder.Decode(_jpeg);
        _processor = new ImageProcessor(ImageProcessorConfig.Clip336);
    }

    [Benchmark(Baseline = true)]
    public RgbImage Decode() => ImageDecoder.Decode(_jpeg);

    [Benchmark]
    public RgbImage PadResizeCrop() => _processor.Transform(_decoded);

    [Benchmark]
    public long FileToTensor()
    {
        using var t = _processor.Preprocess(_path);
        return t.shape[2];
    }
}
