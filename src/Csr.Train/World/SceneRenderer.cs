using SkiaSharp;

namespace Csr.Train.World;

/// <summary>Draws a <see cref="Scene"/> with SkiaSharp: a lightly textured background and filled shapes.
/// Output is a pure function of the scene and the image size (PNG bytes are identical for equal scenes).</summary>
public sealed class SceneRenderer
{
    private static readonly SKColor[] Tones =
    [
        new(236, 236, 228), new(226, 231, 239), new(239, 229, 226), new(229, 237, 229),
    ];

    public WorldVocabulary Vocabulary { get; }
    public int ImageSize { get; }

    public SceneRenderer(int imageSize, WorldVocabulary? vocabulary = null)
    {
        if (imageSize < 8) throw new ArgumentOutOfRangeException(nameof(imageSize), imageSize, "image size must be at least 8 px");
        ImageSize = imageSize;
        Vocabulary = vocabulary ?? WorldVocabulary.Default;
    }

    /// <summary>The scene as PNG bytes.</summary>
    public byte[] RenderPng(Scene scene)
    {
        using var bitmap = RenderBitmap(scene);
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    /// <summary>The scene as interleaved RGB bytes [H, W, 3] (no PNG round trip; for training).</summary>
    public byte[] RenderRgb(Scene scene)
    {
        using var bitmap = RenderBitmap(scene);
        var rgb = new byte[ImageSize * ImageSize * 3];
        for (int y = 0; y < ImageSize; y++)
        for (int x = 0; x < ImageSize; x++)
        {
            var c = bitmap.GetPixel(x, y);
            int o = (y * ImageSize + x) * 3;
            rgb[o] = c.Red; rgb[o + 1] = c.Green; rgb[o + 2] = c.Blue;
        }
        return rgb;
    }

    public void RenderToFile(Scene scene, string path)
    {
        var bytes = RenderPng(scene);
        var tmp = $"{path}.{Environment.ProcessId}-{Guid.NewGuid():N}.tmp"; // unique: concurrent writers never share it
        File.WriteAllBytes(tmp, bytes);
        File.Move(tmp, path, overwrite: true);
    }

    public SKBitmap RenderBitmap(Scene scene)
    {
        int s = ImageSize;
        var bitmap = new SKBitmap(new SKImageInfo(s, s, SKColorType.Rgba8888, SKAlphaType.Premul));
        using var canvas = new SKCanvas(bitmap);
        var tone = Tones[((scene.BackgroundTone % Tones.Length) + Tones.Length) % Tones.Length];
        canvas.Clear(tone);
        DrawTexture(canvas, scene, tone);

        using var paint = new SKPaint { IsAntialias = true, Style = SKPaintStyle.Fill };
        // A dark outline of constant colour makes each silhouette visible the same way whatever its fill.
        using var outline = new SKPaint { IsAntialias = true, Style = SKPaintStyle.Stroke, Color = new SKColor(40, 40, 40) };
        foreach (var obj in scene.Objects)
        {
            var colour = Vocabulary.Colour(obj.Colour);
            paint.Color = new SKColor(colour.R, colour.G, colour.B);
            using var path = ShapePath(obj.Shape);
            canvas.Save();
            canvas.Translate((float)(obj.X * s), (float)(obj.Y * s));
            canvas.RotateDegrees((float)obj.Rotation);
            canvas.Scale((float)(obj.Radius * s));
            canvas.DrawPath(path, paint);
            outline.StrokeWidth = (float)(1.6 / (obj.Radius * s));
            canvas.DrawPath(path, outline);
            canvas.Restore();
        }
        canvas.Flush();
        return bitmap;
    }

    private void DrawTexture(SKCanvas canvas, Scene scene, SKColor tone)
    {
        int s = ImageSize;
        var shade = new SKColor((byte)(tone.Red - 18), (byte)(tone.Green - 18), (byte)(tone.Blue - 18));
        using var paint = new SKPaint { IsAntialias = false, Color = shade, Style = SKPaintStyle.Fill, StrokeWidth = 1 };
        int step = Math.Max(4, s / 8);
        switch (scene.BackgroundTexture)
        {
            case "plain":
                break;
            case "stripes":
                paint.Style = SKPaintStyle.Stroke;
                for (int k = -s; k < s; k += step) canvas.DrawLine(k, 0, k + s, s, paint);
                break;
            case "dots":
                for (int y = step / 2; y < s; y += step)
                for (int x = step / 2; x < s; x += step) canvas.DrawRect(x, y, 1, 1, paint);
                break;
            case "checker":
                for (int y = 0; y < s; y += step)
                for (int x = 0; x < s; x += step)
                    if (((x / step) + (y / step)) % 2 == 0) canvas.DrawRect(x, y, step, step, paint);
                break;
            case "grain":
                var rng = new SplitMix64((ulong)(uint)scene.Index * 7919UL + (ulong)scene.Id.Length);
                for (int n = 0; n < s * s / 12; n++) canvas.DrawRect(rng.Next(s), rng.Next(s), 1, 1, paint);
                break;
            default:
                throw new ArgumentException($"unknown background texture '{scene.BackgroundTexture}' in scene {scene.Id}");
        }
    }

    /// <summary>The outline of a shape in unit coordinates (centre 0, extent about 1).</summary>
    public static SKPath ShapePath(string shape)
    {
        using var p = new SKPathBuilder();
        switch (shape)
        {
            case "circle":
                p.AddCircle(0, 0, 1, SKPathDirection.Clockwise);
                break;
            case "square":
                p.AddRect(new SKRect(-0.8f, -0.8f, 0.8f, 0.8f), SKPathDirection.Clockwise);
                break;
            case "triangle":
                p.AddPoly(Regular(3, 1.05f, -90, 0.15f), close: true);
                break;
            case "star":
                p.AddPoly(Star(5, 1.05f, 0.45f), close: true);
                break;
            case "heart":
                p.MoveTo(0, 0.95f);
                p.CubicTo(-1.3f, -0.05f, -0.65f, -1.15f, 0, -0.45f);
                p.CubicTo(0.65f, -1.15f, 1.3f, -0.05f, 0, 0.95f);
                p.Close();
                break;
            case "cross":
                const float a = 0.3f, b = 0.95f;
                p.AddPoly([new(-a, -b), new(a, -b), new(a, -a), new(b, -a), new(b, a), new(a, a), new(a, b), new(-a, b), new(-a, a), new(-b, a), new(-b, -a), new(-a, -a)], close: true);
                break;
            case "diamond":
                p.AddPoly([new(0, -1.05f), new(0.7f, 0), new(0, 1.05f), new(-0.7f, 0)], close: true);
                break;
            case "hexagon":
                p.AddPoly(Regular(6, 1f, 0, 0), close: true);
                break;
            default:
                throw new ArgumentException($"no drawing for shape '{shape}'", nameof(shape));
        }
        return p.Detach();
    }

    private static SKPoint[] Regular(int n, float r, float startDeg, float dy) =>
        Enumerable.Range(0, n).Select(i =>
        {
            double t = (startDeg + 360.0 * i / n) * Math.PI / 180;
            return new SKPoint((float)(r * Math.Cos(t)), (float)(r * Math.Sin(t)) + dy);
        }).ToArray();

    private static SKPoint[] Star(int n, float outer, float inner) =>
        Enumerable.Range(0, 2 * n).Select(i =>
        {
            double t = (-90 + 180.0 * i / n) * Math.PI / 180;
            float r = i % 2 == 0 ? outer : inner;
            return new SKPoint((float)(r * Math.Cos(t)), (float)(r * Math.Sin(t)) + 0.05f);
        }).ToArray();
}
