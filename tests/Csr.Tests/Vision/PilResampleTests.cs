using Csr.Models.Vision;

namespace Csr.Tests.Vision;

public class PilResampleTests
{
    [Fact]
    public void Bicubic_kernel_hand_values()
    {
        // Keys a = -0.5: 1.5|x|^3 - 2.5|x|^2 + 1 on [0,1), -0.5|x|^3 + 2.5|x|^2 - 4|x| + 2 on [1,2)
        Assert.Equal(1.0, PilResample.BicubicKernel(0));
        Assert.Equal(0.8671875, PilResample.BicubicKernel(0.25));
        Assert.Equal(0.2265625, PilResample.BicubicKernel(-0.75));
        Assert.Equal(-0.0703125, PilResample.BicubicKernel(1.25));
        Assert.Equal(0.0, PilResample.BicubicKernel(1.0));
        Assert.Equal(0.0, PilResample.BicubicKernel(2.0));
    }

    [Fact]
    public void Upscale_2_to_4_matches_hand_computed_pil_values()
    {
        // 1-D [0, 255] -> 4 samples. Centres 0.25, 0.75, 1.25, 1.75; weights bicubic(0.25)=0.8671875,
        // bicubic(1.25)=-0.0703125, bicubic(0.75)=0.2265625, normalised, 22-bit fixed point:
        // out0 = 255 * -0.0882 < 0 -> 0; out1 = (2^21 + 255*868821) >> 22 = 53;
        // out2 = (2^21 + 255*3325483) >> 22 = 202; out3 = 277.5 -> 255.
        var img = new RgbImage(2, 1, new byte[] { 0, 0, 0, 255, 255, 255 });
        var r = PilResample.Resize(img, 4, 1);
        Assert.Equal(new byte[] { 0, 53, 202, 255 }, Enumerable.Range(0, 4).Select(x => r[x, 0, 0]).ToArray());
    }

    [Fact]
    public void Upscale_2x2_to_4x4_runs_horizontal_then_vertical_with_8bit_rounding_between()
    {
        // [[0, 255], [255, 0]]: rows become [0,53,202,255] and [255,202,53,0]; column 1 is then [53, 202],
        // resampled with fixed-point weights (4564390, -370086), (3325483, 868821):
        // (2^21 + 53*4564390 - 202*370086) >> 22 = 40, (2^21 + 53*3325483 + 202*868821) >> 22 = 84, 171, 215.
        var src = new byte[12];
        void Set(int x, int y, byte v) { for (int c = 0; c < 3; c++) src[(y * 2 + x) * 3 + c] = v; }
        Set(0, 0, 0); Set(1, 0, 255); Set(0, 1, 255); Set(1, 1, 0);
        var r = PilResample.Resize(new RgbImage(2, 2, src), 4, 4);
        // columns 0 and 3 repeat the 1-D case; columns 1 and 2 are hand-computed above
        byte[,] expected =
        {
            { 0, 40, 215, 255 },
            { 53, 84, 171, 202 },
            { 202, 171, 84, 53 },
            { 255, 215, 40, 0 },
        };
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 4; x++)
                for (int c = 0; c < 3; c++)
                    Assert.True(expected[y, x] == r[x, y, c], $"pixel ({x},{y}) channel {c}: expected {expected[y, x]}, got {r[x, y, c]}");
    }

    [Theory]
    [InlineData(7, 5, 3, 11)]
    [InlineData(40, 30, 13, 9)]
    [InlineData(5, 9, 336, 200)]
    [InlineData(17, 17, 17, 4)]
    public void Constant_image_stays_constant(int w, int h, int ow, int oh)
    {
        var img = RgbImage.Filled(w, h, 200, 3, 77);
        var r = PilResample.Resize(img, ow, oh);
        Assert.Equal(ow, r.Width);
        Assert.Equal(oh, r.Height);
        for (int i = 0; i < r.Data.Length; i += 3)
            Assert.True(r.Data[i] == 200 && r.Data[i + 1] == 3 && r.Data[i + 2] == 77, $"byte {i}: {r.Data[i]},{r.Data[i + 1]},{r.Data[i + 2]}");
    }

    [Fact]
    public void Downscale_support_grows_with_the_scale_factor()
    {
        // 12 -> 3: scale 4, support 2*4 = 8: each output reads up to 16 inputs (clipped at the borders).
        var (start, count, weights) = PilResample.Coefficients(12, 3, PilFilter.Bicubic);
        // centre of output 1 is 6.0: window [int(6-8+0.5), int(6+8+0.5)) = [0, 12) clipped
        Assert.Equal(0, start[1]);
        Assert.Equal(12, count[1]);
        Assert.Equal(1.0, weights[1].Sum(), 12);
        // weights are bicubic((x - 6 + 0.5) / 4), symmetric around the centre
        for (int x = 0; x < 12; x++)
            Assert.Equal(weights[1][x], weights[1][11 - x], 12);
        double raw5 = PilResample.BicubicKernel(-0.125), raw4 = PilResample.BicubicKernel(-0.375);
        Assert.Equal(raw5 / raw4, weights[1][5] / weights[1][4], 12);
    }

    [Fact]
    public void Downscale_averages_a_fine_pattern_to_its_mean()
    {
        // columns alternating 0 / 200, 64 -> 8 wide: the widened (antialiasing) kernel averages to ~100.
        var src = new byte[64 * 2 * 3];
        for (int y = 0; y < 2; y++)
            for (int x = 0; x < 64; x++)
                for (int c = 0; c < 3; c++)
                    src[(y * 64 + x) * 3 + c] = (byte)(x % 2 == 0 ? 0 : 200);
        var r = PilResample.Resize(new RgbImage(64, 2, src), 8, 2);
        for (int x = 1; x < 7; x++)
            Assert.InRange(r[x, 0, 0], 98, 102);
    }

    [Fact]
    public void Same_size_is_a_copy()
    {
        var img = new RgbImage(2, 1, new byte[] { 1, 2, 3, 4, 5, 6 });
        var r = PilResample.Resize(img, 2, 1);
        Assert.Equal(img.Data, r.Data);
        Assert.NotSame(img.Data, r.Data);
    }
}
