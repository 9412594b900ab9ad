using System.Runtime;
using Csr.Models;
using Csr.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Tests.Hardening;

public class GcQuietTests
{
    public GcQuietTests() => TorchRuntime.EnsureInitialised();

    [Fact]
    public void NoCollectionStartsInsideTheRegionAndNestedOrLapsedRegionsAreHarmless()
    {
        using (var outer = GcQuiet.Enter())
        {
            Assert.True(outer.Active);
            int before = GC.CollectionCount(0);
            using (var inner = GcQuiet.Enter()) Assert.False(inner.Active); // nested: a no-op that must not end the outer one
            Assert.True(outer.Active);
            var keep = new List<byte[]>();
            for (int i = 0; i < 200; i++) keep.Add(new byte[16 * 1024]); // 3 MB, inside the budget
            Assert.Equal(before, GC.CollectionCount(0));
            GC.KeepAlive(keep);
        }
        Assert.NotEqual(GCLatencyMode.NoGCRegion, GCSettings.LatencyMode);

        var lapsed = GcQuiet.Enter(1L << 20);
        var big = new List<byte[]>();
        for (int i = 0; i < 64; i++) big.Add(new byte[256 * 1024]); // 16 MB, past the 1 MB budget: the region lapses
        GC.KeepAlive(big);
        lapsed.Dispose(); // must not throw
        Assert.NotEqual(GCLatencyMode.NoGCRegion, GCSettings.LatencyMode);
    }

    [Fact]
    public void KeptScalarAdditionsEqualPlainOnes()
    {
        using var a = randn(3, 4);
        using var b = randn(3, 4);
        Scalar eps = 1e-5;
        Assert.True((a + b).allclose(a.Plus(b)));
        Assert.True((a + 1e-5).allclose(a.Plus(eps)));
    }

    [Theory]
    [InlineData("Unknown scalar type", true)]
    [InlineData("Expected false to be true, but got false.  (Could this error message be improved?", true)]
    [InlineData("false INTERNAL ASSERT FAILED at \"/pytorch/c10/core/Scalar.h\":279, please report a bug to PyTorch.", true)]
    [InlineData("Expected false to be true, but got false.  (Could this error message be improved?\nException raised from checked_convert at /pytorch/c10/core/Scalar.h:279", true)]
    [InlineData("mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)", false)]
    // the same wording from other code is no Scalar race
    [InlineData("Expected false to be true, but got false.  (Could this error message be improved?\nException raised from index_select at /pytorch/aten/src/ATen/native/TensorShape.cpp:1210", false)]
    [InlineData("Expected false to be true: the tokenizer's pad id is out of range", false)]
    [InlineData("false INTERNAL ASSERT FAILED at \"/pytorch/aten/src/ATen/native/Linear.cpp\":88, please report a bug to PyTorch.", false)]
    [InlineData("shape mismatch; see c10/core/Scalar.h for the conversions", false)]
    public void TheDemoRetriesOnlyTheScalarRaceSignatures(string message, bool transient)
    {
        Assert.Equal(transient, Csr.Train.World.WorldDemo.IsScalarRace(new System.Runtime.InteropServices.ExternalException(message)));
        Assert.False(Csr.Train.World.WorldDemo.IsScalarRace(new InvalidOperationException(message)));
        // a subclass of ExternalException (a COM / SEH error) is another failure, whatever it says
        Assert.False(Csr.Train.World.WorldDemo.IsScalarRace(new System.Runtime.InteropServices.SEHException(message)));
    }
}
