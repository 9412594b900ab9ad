namespace Csr.Models.Vision;

/// <summary>PIL resampling filters (the values of PIL.Image.Resampling).</summary>
public enum PilFilter
{
    Bilinear = 2,
    Bicubic = 3,
}

/// <summary>
/// A re-implementation of Pillow's <c>Image.resize</c> for 8-bit images (libImaging/Resample.c):
/// separable convolution, horizontal pass first then vertical, the filter support scaled by the
/// downscale factor (antialiasing when shrinking), coefficients normalised to sum 1 and then
/// quantised to 22-bit fixed point, accumulation in 32-bit integers starting at 0.5 (rounding),
/// and the intermediate image rounded and clipped to 8 bits after each pass.
/// Bicubic is the Keys cubic with a = -0.5 and support 2.
/// </summary>
public static class PilResample
{
    private const int PrecisionBits = 32 - 8 - 2;

    /// <summary>Keys cubic convolution kernel, a = -0.5 (PIL's bicubic_filter).</summary>
    public static double BicubicKernel(double x)
    {
        const double a = -0.5;
        if (x < 0.0) x = -x;
        if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
        if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
        return 0.0;
    }

    /// <summary>Triangle kernel (PIL's bilinear_filter).</summary>
    public static double BilinearKernel(double x)
    {
        if (x < 0.0) x = -x;
        return x < 1.0 ? 1.0 - x : 0.0;
    }

    /// <summary>The per-output-pixel source windows and normalised (double) weights PIL computes
    /// for resampling <paramref name="inSize"/> samples to <paramref name="outSize"/>.</summary>
    public static (int[] Start, int[] Count, double[][] Weights) Coefficients(int inSize, int outSize, PilFilter filter)
    {
        Func<double, double> f;
        double baseSupport;
        switch (filter)
        {
            case PilFilter.Bicubic: f = BicubicKernel; baseSupport = 2.0; break;
            case PilFilter.Bilinear: f = BilinearKernel; baseSupport = 1.0; break;
            default: throw new ArgumentException($"Unsupported PIL filter {filter}.");
        }
        // box = (0, inSize) as floats, as PIL passes it.
        double scale = (double)((float)inSize - 0f) / outSize;
        double filterScale = scale < 1.0 ? 1.0 : scale;
        double support = baseSupport * filterScale;
        var start = new int[outSize];
        var count = new int[outSize];
        var weights = new double[outSize][];
        for (int xx = 0; xx < outSize; xx++)
        {
            double center = 0.0 + (xx + 0.5) * scale;
            double ss = 1.0 / filterScale;
            int xmin = (int)(center - support + 0.5); // C truncation toward zero
            if (xmin < 0) xmin = 0;
            int xmax = (int)(center + support + 0.5);
            if (xmax > inSize) xmax = inSize;
            xmax -= xmin;
            var k = new double[Math.Max(xmax, 0)];
            double ww = 0.0;
            for (int x = 0; x < xmax; x++)
            {
                double w = f((x + xmin - center + 0.5) * ss);
                k[x] = w;
                ww += w;
            }
            if (ww != 0.0)
                for (int x = 0; x < xmax; x++) k[x] /= ww;
            start[xx] = xmin;
            count[xx] = Math.Max(xmax, 0);
            weights[xx] = k;
        }
        return (start, count, weights);
    }

    /// <summary>PIL's normalize_coeffs_8bpc: round half away from zero to 22-bit fixed point.</summary>
    private static int[][] FixedPoint(double[][] weights)
    {
        var r = new int[weights.Length][];
        for (int i = 0; i < weights.Length; i++)
        {
            var w = weights[i];
            var q = new int[w.Length];
            for (int j = 0; j < w.Length; j++)
                q[j] = w[j] < 0 ? (int)(-0.5 + w[j] * (1 << PrecisionBits)) : (int)(0.5 + w[j] * (1 << PrecisionBits));
            r[i] = q;
        }
        return r;
    }

    private static byte Clip8(int acc)
    {
        int v = acc >> PrecisionBits; // arithmetic shift, as the C lookup index
        return v < 0 ? (byte)0 : v > 255 ? (byte)255 : (byte)v;
    }

    /// <summary>Resizes like <c>img.resize((width, height), resample=filter)</c> in Pillow (no box, no reducing_gap).</summary>
    public static RgbImage Resize(RgbImage img, int width, int height, PilFilter filter = PilFilter.Bicubic)
    {
        if (width <= 0 || height <= 0)
            throw new ArgumentException($"Resize target must be positive, got {width}x{height}.");
        byte[] data = Resize(img.Data, img.Width, img.Height, 3, width, height, filter);
        return new RgbImage(width, height, data);
    }

    /// <summary>Resizes an interleaved 8-bit image with <paramref name="channels"/> channels.</summary>
    public static byte[] Resize(byte[] src, int inW, int inH, int channels, int outW, int outH, PilFilter filter)
    {
        if (outW == inW && outH == inH) return (byte[])src.Clone(); // PIL returns a copy
        bool needH = outW != inW, needV = outH != inH;
        var (vStart, vCount, vW) = Coefficients(inH, outH, filter);
        int[][] vK = FixedPoint(vW);
        // rows of the source the vertical pass reads
        int yFirst = vStart[0];
        int yLast = vStart[outH - 1] + vCount[outH - 1];

        byte[] cur = src;
        int curW = inW, curH = inH, rowOffset = 0;
        if (needH)
        {
            var (hStart, hCount, hW) = Coefficients(inW, outW, filter);
            int[][] hK = FixedPoint(hW);
            int rows = yLast - yFirst;
            var tmp = new byte[checked(outW * rows * channels)];
            for (int yy = 0; yy < rows; yy++)
            {
                int srcRow = (yy + yFirst) * inW * channels;
                int dstRow = yy * outW * channels;
                for (int xx = 0; xx < outW; xx++)
                {
                    int xmin = hStart[xx], n = hCount[xx];
                    int[] k = hK[xx];
                    for (int c = 0; c < channels; c++)
                    {
                        int ss = 1 << (PrecisionBits - 1);
                        for (int x = 0; x < n; x++)
                            ss += src[srcRow + (x + xmin) * channels + c] * k[x];
                        tmp[dstRow + xx * channels + c] = Clip8(ss);
                    }
                }
            }
            cur = tmp;
            curW = outW;
            curH = rows;
            rowOffset = yFirst; // vertical bounds are shifted by the first used row
        }
        if (!needV)
            return cur == src ? (byte[])src.Clone() : cur;

        var dst = new byte[checked(curW * outH * channels)];
        for (int yy = 0; yy < outH; yy++)
        {
            int ymin = vStart[yy] - rowOffset, n = vCount[yy];
            int[] k = vK[yy];
            int dstRow = yy * curW * channels;
            for (int xx = 0; xx < curW * channels; xx++)
            {
                int ss = 1 << (PrecisionBits - 1);
                for (int y = 0; y < n; y++)
                    ss += cur[(y + ymin) * curW * channels + xx] * k[y];
                dst[dstRow + xx] = Clip8(ss);
            }
        }
        _ = curH;
        return dst;
    }
}
