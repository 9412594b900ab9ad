using SkiaSharp;

namespace Csr.Models.Vision;

/// <summary>
/// Decodes JPEG / PNG (anything SkiaSharp's codecs read) to 8-bit RGB the way PIL's
/// <c>Image.open(path).convert("RGB")</c> does for the common cases:
/// greyscale is replicated to R=G=B, alpha is dropped without compositing (colours are decoded
/// unpremultiplied), CMYK JPEGs are converted to RGB by Skia's codec (PIL's own CMYK->RGB formula can
/// differ by rounding), no EXIF orientation and no ICC colour management are applied (PIL applies neither).
/// </summary>
public static class ImageDecoder
{
    /// <summary>Decodes the file; a missing file is a <see cref="FileNotFoundException"/>, an undecodable
    /// or truncated one an <see cref="InvalidDataException"/>, both naming the file.</summary>
    public static RgbImage Decode(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"Image file not found: '{path}'.", path);
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // surfaced as a data error so that callers (and the CLI) report it with the file name
            throw new InvalidDataException($"Image file '{path}' could not be read: {ex.Message}", ex);
        }
        return Decode(bytes, path);
    }

    /// <summary>Decodes encoded bytes; <paramref name="name"/> is used in error messages.</summary>
    public static RgbImage Decode(byte[] encoded, string name = "<memory>")
    {
        if (encoded.Length == 0)
            throw new InvalidDataException($"Image file '{name}' is empty.");
        using var stream = new SKMemoryStream(encoded);
        using var codec = SKCodec.Create(stream)
            ?? throw new InvalidDataException($"Image file '{name}' is not a decodable image (unknown format or corrupt header).");
        int w = codec.Info.Width, h = codec.Info.Height;
        if (w <= 0 || h <= 0)
            throw new InvalidDataException($"Image file '{name}' has an invalid size {w}x{h}.");
        // No colour space on the destination: Skia then does no colour conversion (PIL ignores ICC profiles).
        var info = new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var rgba = new byte[checked(w * h * 4)];
        SKCodecResult result;
        unsafe
        {
            fixed (byte* p = rgba)
                result = codec.GetPixels(info, (IntPtr)p);
        }
        if (result != SKCodecResult.Success)
            throw new InvalidDataException($"Image file '{name}' could not be decoded ({result}; truncated or corrupt data).");
        var rgb = new byte[checked(w * h * 3)];
        for (int i = 0, j = 0; i < rgb.Length; i += 3, j += 4)
        {
            rgb[i] = rgba[j];
            rgb[i + 1] = rgba[j + 1];
            rgb[i + 2] = rgba[j + 2];
        }
        return new RgbImage(w, h, rgb);
    }
}
