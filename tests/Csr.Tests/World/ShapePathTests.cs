using System.Security.Cryptography;
using Csr.Train.World;
using SkiaSharp;

namespace Csr.Tests.World;

/// <summary>
/// The outline of every world shape is a fixed path: the same verbs, the same float bits of every point and conic
/// weight, and the same fill type. The renderer draws exactly these paths with fixed paints and transforms, so an
/// unchanged fingerprint means unchanged pixels on any machine, whichever Skia API builds the path.
/// </summary>
public class ShapePathTests
{
    public static readonly TheoryData<string, int, string> Golden = new()
    {
        { "circle", 9, "7fc7d851da5f9cb1bb045fe446554ab726d1e735cb98d42ff4301425990c5bd4" },
        { "square", 4, "e938891dcdf7cd2aa95e89314d8d6a1859136496215b0d1b6c8f386b1b32f7c8" },
        { "triangle", 3, "70ea2b1dca3248f8582209f9d90275e1b347d15d1337efea3f23f43b82d92ef4" },
        { "star", 10, "3e128146018a943624a15a95d943afe0c279c075b0aa66a4686bd933a401cfd3" },
        { "heart", 7, "075edd0722f0e952daeb8d37b7b470789420adf3150ea3e30dfb98a3f02a9d4e" },
        { "cross", 12, "cc75031d2e134738ea3f5eafe72af3c63e9fd446faa7345045083bdaf738fc2d" },
        { "diamond", 4, "2284f522db1ef68ada4f4f5c8bb0c88aed1e279bb907b5e65be8e2c5006309b0" },
        { "hexagon", 6, "352083abb58f02915dc8d12f8673b040de74f1f4a6eabe8880b40b121ffef9a1" },
    };

    [Theory]
    [MemberData(nameof(Golden))]
    public void ShapeOutlineIsTheFixedPath(string shape, int points, string sha256)
    {
        using var path = SceneRenderer.ShapePath(shape);
        Assert.Equal(SKPathFillType.Winding, path.FillType);
        Assert.Equal(points, path.PointCount);
        Assert.Equal(sha256, Fingerprint(path));
    }

    /// <summary>SHA-256 of the path's verbs, the bits of each verb's points and the bits of each conic weight.</summary>
    public static string Fingerprint(SKPath path)
    {
        using var bytes = new MemoryStream();
        using var w = new BinaryWriter(bytes);
        using var it = path.CreateRawIterator();
        var pts = new SKPoint[4];
        SKPathVerb verb;
        while ((verb = it.Next(pts)) != SKPathVerb.Done)
        {
            w.Write((int)verb);
            int n = verb switch { SKPathVerb.Move => 1, SKPathVerb.Line => 2, SKPathVerb.Quad or SKPathVerb.Conic => 3, SKPathVerb.Cubic => 4, _ => 0 };
            for (int i = 0; i < n; i++) { w.Write(BitConverter.SingleToInt32Bits(pts[i].X)); w.Write(BitConverter.SingleToInt32Bits(pts[i].Y)); }
            if (verb == SKPathVerb.Conic) w.Write(BitConverter.SingleToInt32Bits(it.ConicWeight()));
        }
        w.Flush();
        return Convert.ToHexString(SHA256.HashData(bytes.ToArray())).ToLowerInvariant();
    }
}
