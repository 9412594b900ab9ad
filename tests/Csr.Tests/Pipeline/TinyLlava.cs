using Csr.Models.Llama;
using Csr.Models.Llava;
using Csr.Models.Vision;
using Csr.Native;
using Csr.Train.Models;
using Csr.Train.Pipeline;
using SkiaSharp;
using TorchSharp;

namespace Csr.Tests.Pipeline;

/// <summary>A random tiny LLaVA (32 px, 16 patches, 2+2 layers) with the char tokenizer, and small test images.</summary>
internal static class TinyLlava
{
    public static readonly PromptTemplate Template = new("test", "chat.");

    public static VisionLanguageModel Create(int seed = 7)
    {
        TorchRuntime.EnsureInitialised();
        var text = LlamaConfig.Tiny(vocab: 64) with { MaxPositionEmbeddings = 512 };
        var cfg = LlavaConfig.Tiny(text, CharTokenizer.ImageId, imageSize: 32, patchSize: 8);
        var m = new LlavaForConditionalGeneration(cfg, init: new torch.Generator((ulong)seed));
        m.eval();
        return new VisionLanguageModel(m, new CharTokenizer(), new ImageProcessor(ImageProcessorConfig.ForSize(32)));
    }

    public static void WriteImage(string path, int seed)
    {
        var r = new Random(seed);
        using var bmp = new SKBitmap(40, 32);
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 40; x++)
                bmp.SetPixel(x, y, new SKColor((byte)r.Next(256), (byte)r.Next(256), (byte)r.Next(256)));
        using var data = bmp.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, data.ToArray());
    }

    public static List<PromptEntry> Prompts(string imageDir, int n)
    {
        Directory.CreateDirectory(imageDir);
        var list = new List<PromptEntry>();
        for (int i = 0; i < n; i++)
        {
            WriteImage(Path.Combine(imageDir, $"img{i}.png"), i);
            list.Add(new PromptEntry($"q{i}", $"img{i}.png", i % 2 == 0 ? "describe it.\n<image>" : "<image>\nwhat is here?"));
        }
        return list;
    }
}
