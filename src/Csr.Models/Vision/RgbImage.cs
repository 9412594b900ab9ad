namespace Csr.Models.Vision;

/// <summary>
/// An 8-bit RGB image, row-major, channels interleaved: <c>Data[(y * Width + x) * 3 + c]</c>.
/// The working format of the preprocessing pipeline (PIL's "RGB" mode).
/// </summary>
public sealed class RgbImage
{
    public int Width { get; }
    public int Height { get; }

    /// <summary>[Height, Width, 3] bytes.</summary>
    public byte[] Data { get; }

    public RgbImage(int width, int height, byte[] data)
    {
        if (width <= 0 || height <= 0)
            throw new ArgumentException($"Image size must be positive, got {width}x{height}.");
        if (data.Length != checked(width * height * 3))
            throw new ArgumentException($"RGB buffer for {width}x{height} must hold {width * height * 3} bytes, got {data.Length}.");
        Width = width;
        Height = height;
        Data = data;
    }

    /// <summary>A width x height image filled with one colour (PIL's Image.new("RGB", size, colour)).</summary>
    public static RgbImage Filled(int width, int height, byte r, byte g, byte b)
    {
        var data = new byte[checked(width * height * 3)];
        for (int i = 0; i < data.Length; i += 3)
        {
            data[i] = r;
            data[i + 1] = g;
            data[i + 2] = b;
        }
        return new RgbImage(width, height, data);
    }

    public byte this[int x, int y, int c] => Data[(y * Width + x) * 3 + c];

    /// <summary>Copies <paramref name="src"/> into this image with its top-left corner at (x0, y0), clipped (PIL's paste).</summary>
    public void Paste(RgbImage src, int x0, int y0)
    {
        for (int y = 0; y < src.Height; y++)
        {
            int ty = y + y0;
            if (ty < 0 || ty >= Height) continue;
            int xs = Math.Max(0, -x0), xe = Math.Min(src.Width, Width - x0);
            if (xe <= xs) continue;
            Array.Copy(src.Data, (y * src.Width + xs) * 3, Data, (ty * Width + x0 + xs) * 3, (xe - xs) * 3);
        }
    }
}
