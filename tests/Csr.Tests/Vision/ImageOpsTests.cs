using Csr.Models.Vision;

namespace Csr.Tests.Vision;

public class ImageOpsTests
{
    [Fact]
    public void Pad_colour_is_int_of_mean_times_255()
    {
        var c = ImageProcessorConfig.Clip336;
        Assert.Equal(((byte)122, (byte)116, (byte)104), c.PadColour);
    }

    [Fact]
    public void Expand_to_square_centres_a_wide_image_vertically()
    {
        // 5 wide x 2 high -> 5x5, pasted at y = (5 - 2) // 2 = 1
        var img = RgbImage.Filled(5, 2, 9, 9, 9);
        var sq = ImageOps.ExpandToSquare(img, (122, 116, 104));
        Assert.Equal(5, sq.Width);
        Assert.Equal(5, sq.Height);
        for (int y = 0; y < 5; y++)
            for (int x = 0; x < 5; x++)
            {
                bool inside = y is 1 or 2;
                Assert.Equal(inside ? 9 : 122, sq[x, y, 0]);
                Assert.Equal(inside ? 9 : 104, sq[x, y, 2]);
            }
    }

    [Fact]
    public void Expand_to_square_centres_a_tall_image_horizontally()
    {
        // 1 wide x 4 high -> 4x4, pasted at x = (4 - 1) // 2 = 1
        var img = new RgbImage(1, 4, Enumerable.Range(0, 12).Select(i => (byte)(i + 1)).ToArray());
        var sq = ImageOps.ExpandToSquare(img, (0, 0, 0));
        for (int y = 0; y < 4; y++)
        {
            Assert.Equal(0, sq[0, y, 0]);
            Assert.Equal(y * 3 + 1, sq[1, y, 0]);
            Assert.Equal(y * 3 + 3, sq[1, y, 2]);
            Assert.Equal(0, sq[2, y, 1]);
        }
    }

    [Theory]
    [InlineData(640, 480, 336, 448, 336)]   // int(336 * 640 / 480) = 448
    [InlineData(480, 640, 336, 336, 448)]
    [InlineData(500, 333, 336, 504, 336)]   // int(336 * 500 / 333) = int(504.50...) = 504
    [InlineData(300, 300, 336, 336, 336)]
    [InlineData(1000, 3, 224, 74666, 224)]  // int(224 * 1000 / 3) = 74666
    public void Shortest_edge_size_truncates_like_hf(int w, int h, int edge, int ew, int eh)
    {
        Assert.Equal((ew, eh), ImageOps.ShortestEdgeSize(w, h, edge));
    }

    [Fact]
    public void Center_crop_uses_floor_offsets()
    {
        // 5x4 -> 2x2: top = (4-2)//2 = 1, left = (5-2)//2 = 1
        var img = new RgbImage(5, 4, Enumerable.Range(0, 60).Select(i => (byte)i).ToArray());
        var c = ImageOps.CenterCrop(img, 2, 2);
        Assert.Equal(img[1, 1, 0], c[0, 0, 0]);
        Assert.Equal(img[2, 2, 2], c[1, 1, 2]);
    }

    [Fact]
    public void Center_crop_larger_than_the_image_zero_pads_like_hf()
    {
        // 2x1 image, crop 4x3: padded to 4 wide x 3 high, image at top = ceil(2/2) = 1, left = ceil(2/2) = 1
        var img = new RgbImage(2, 1, new byte[] { 10, 11, 12, 20, 21, 22 });
        var c = ImageOps.CenterCrop(img, 3, 4);
        Assert.Equal(4, c.Width);
        Assert.Equal(3, c.Height);
        Assert.Equal(10, c[1, 1, 0]);
        Assert.Equal(22, c[2, 1, 2]);
        Assert.Equal(0, c[0, 1, 0]);
        Assert.Equal(0, c[1, 0, 0]);
        Assert.Equal(0, c[3, 2, 0]);
    }
}
