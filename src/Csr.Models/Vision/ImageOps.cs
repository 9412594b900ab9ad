namespace Csr.Models.Vision;

/// <summary>The geometric steps of the LLaVA / HF CLIP preprocessing, each as its reference does it.</summary>
public static class ImageOps
{
    /// <summary>LLaVA's <c>expand2square</c>: a square of side max(w, h) filled with <paramref name="colour"/>,
    /// the image pasted centred along the short axis at offset (long - short) // 2.</summary>
    public static RgbImage ExpandToSquare(RgbImage img, (byte R, byte G, byte B) colour)
    {
        if (img.Width == img.Height) return img;
        int side = Math.Max(img.Width, img.Height);
        var result = RgbImage.Filled(side, side, colour.R, colour.G, colour.B);
        if (img.Width > img.Height) result.Paste(img, 0, (img.Width - img.Height) / 2);
        else result.Paste(img, (img.Height - img.Width) / 2, 0);
        return result;
    }

    /// <summary>HF <c>get_resize_output_image_size(default_to_square=False)</c>: the short side becomes
    /// <paramref name="shortestEdge"/>, the long side <c>int(shortestEdge * long / short)</c>.</summary>
    public static (int Width, int Height) ShortestEdgeSize(int width, int height, int shortestEdge)
    {
        bool widthIsShort = width <= height;
        int shortSide = widthIsShort ? width : height, longSide = widthIsShort ? height : width;
        int newLong = (int)((double)((long)shortestEdge * longSide) / shortSide);
        return widthIsShort ? (shortestEdge, newLong) : (newLong, shortestEdge);
    }

    /// <summary>HF <c>image_transforms.center_crop</c>: top = (h - ch) // 2, left = (w - cw) // 2
    /// (floor division); a crop larger than the image is zero-padded as HF does.</summary>
    public static RgbImage CenterCrop(RgbImage img, int cropHeight, int cropWidth)
    {
        int h = img.Height, w = img.Width;
        int top = FloorDiv(h - cropHeight, 2), left = FloorDiv(w - cropWidth, 2);
        if (top >= 0 && left >= 0 && top + cropHeight <= h && left + cropWidth <= w)
            return Crop(img, left, top, cropWidth, cropHeight);
        // pad to at least the crop size (zeros), image placed at ceil((new - orig) / 2), then crop
        int newH = Math.Max(cropHeight, h), newW = Math.Max(cropWidth, w);
        int topPad = (newH - h + 1) / 2, leftPad = (newW - w + 1) / 2;
        var padded = new RgbImage(newW, newH, new byte[newW * newH * 3]);
        padded.Paste(img, leftPad, topPad);
        top += topPad;
        left += leftPad;
        int t0 = Math.Max(0, top), t1 = Math.Min(newH, top + cropHeight);
        int l0 = Math.Max(0, left), l1 = Math.Min(newW, left + cropWidth);
        return Crop(padded, l0, t0, l1 - l0, t1 - t0);
    }

    public static RgbImage Crop(RgbImage img, int left, int top, int width, int height)
    {
        var data = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
            Array.Copy(img.Data, ((top + y) * img.Width + left) * 3, data, y * width * 3, width * 3);
        return new RgbImage(width, height, data);
    }

    private static int FloorDiv(int a, int b) => (int)Math.Floor((double)a / b);
}
