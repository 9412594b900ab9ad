using System.Text.Json;
using Csr.Models.Vision;

namespace Csr.Tests.Vision;

/// <summary>
/// Compares the C# pipeline with Pillow's own outputs stored in tests/golden/pil_golden.json
/// (written by tests/golden/make_pil_golden.py with Pillow 9.4, Debian's python3-pil).
/// </summary>
public class PilGoldenTests
{
    private static readonly Lazy<JsonDocument> Golden = new(() =>
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "tests", "golden", "pil_golden.json")))
            dir = Path.GetDirectoryName(dir);
        if (dir is null)
            throw new FileNotFoundException("tests/golden/pil_golden.json not found above " + AppContext.BaseDirectory +
                "; regenerate it with tests/golden/make_pil_golden.py");
        return JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "tests", "golden", "pil_golden.json")));
    });

    private static JsonElement Section(string name) => Golden.Value.RootElement.GetProperty(name);

    private static byte[] B(JsonElement e, string key) => Convert.FromBase64String(e.GetProperty(key).GetString()!);

    private static int I(JsonElement e, string key) => e.GetProperty(key).GetInt32();

    private static string Diff(byte[] expected, byte[] actual, int w)
    {
        int n = 0, worst = 0, first = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            int d = Math.Abs(expected[i] - actual[i]);
            if (d == 0) continue;
            n++;
            worst = Math.Max(worst, d);
            if (first < 0) first = i;
        }
        return n == 0 ? "" : $"{n} bytes differ (max {worst}); first at x={first / 3 % w}, y={first / 3 / w}, c={first % 3}: PIL {expected[first]}, ours {actual[first]}";
    }

    [Fact]
    public void Resize_equals_pillow_byte_for_byte()
    {
        var failures = new List<string>();
        foreach (var c in Section("resize").EnumerateArray())
        {
            var img = new RgbImage(I(c, "in_w"), I(c, "in_h"), B(c, "in"));
            var r = PilResample.Resize(img, I(c, "out_w"), I(c, "out_h"), (PilFilter)I(c, "filter"));
            string d = Diff(B(c, "out"), r.Data, r.Width);
            if (d != "") failures.Add($"{img.Width}x{img.Height} -> {r.Width}x{r.Height} filter {I(c, "filter")}: {d}");
        }
        Assert.True(Section("resize").GetArrayLength() >= 10);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void Pad_resize_crop_pipeline_equals_pillow_byte_for_byte()
    {
        var failures = new List<string>();
        foreach (var c in Section("pipeline").EnumerateArray())
        {
            int size = I(c, "size");
            var p = new ImageProcessor(ImageProcessorConfig.ForSize(size));
            var r = p.Transform(new RgbImage(I(c, "in_w"), I(c, "in_h"), B(c, "in")));
            Assert.Equal((size, size), (r.Width, r.Height));
            string d = Diff(B(c, "out"), r.Data, r.Width);
            if (d != "") failures.Add($"{I(c, "in_w")}x{I(c, "in_h")} -> {size}: {d}");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Theory]
    [InlineData("rgb.png", 0)]
    [InlineData("rgba.png", 0)]
    [InlineData("grey.png", 0)]
    [InlineData("rgb.jpg", 0)]
    [InlineData("grey.jpg", 0)]
    [InlineData("cmyk.jpg", 0)]
    [InlineData("palette.png", 0)]
    [InlineData("palette_trns.png", 0)]
    [InlineData("la.png", 0)]
    [InlineData("progressive.jpg", 0)]
    [InlineData("444.jpg", 0)]
    [InlineData("odd_420.jpg", 0)]
    public void Decode_equals_pillow_convert_rgb(string name, int tolerance)
    {
        var c = Section("decode").EnumerateArray().Single(e => e.GetProperty("name").GetString() == name);
        var img = ImageDecoder.Decode(B(c, "file"), name);
        Assert.Equal((I(c, "w"), I(c, "h")), (img.Width, img.Height));
        var expected = B(c, "rgb");
        int worst = expected.Select((v, i) => Math.Abs(v - img.Data[i])).Max();
        Assert.True(worst <= tolerance, $"{name}: {Diff(expected, img.Data, img.Width)}");
    }
}
