using System.Runtime.InteropServices;
using Csr.Native.Profiling;

namespace Csr.Tests.Profiling;

/// <summary>The NVTX range API costs nothing when profiling is off and never throws.</summary>
public class NvtxTests
{
    /// <summary>Bytes allocated on this thread by <paramref name="body"/>, after one warm-up call (JIT, probe).</summary>
    static long AllocatedBy(Action body)
    {
        body();
        long before = GC.GetAllocatedBytesForCurrentThread();
        body();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    static readonly string LongName = new('r', 3 * Nvtx.MaxNameChars);

    static void ManyRanges()
    {
        for (int i = 0; i < 1000; i++)
        {
            using var round = Nvtx.Range("round", i);
            using (Nvtx.Range("sample")) { }
            using (Nvtx.Range("dpo step", i + 1)) { }
            using (Nvtx.Range(LongName, i)) { }
        }
    }

    [Fact]
    public void A_missing_library_turns_ranges_into_allocation_free_no_ops()
    {
        try
        {
            Nvtx.ResetProbe("libnvToolsExt-not-installed.so.1", profilerAttached: true);
            Assert.False(Nvtx.Enabled);
            Assert.Contains("libnvToolsExt-not-installed.so.1 not found", Nvtx.Status);
            Assert.Equal(0, AllocatedBy(ManyRanges));
            Assert.False(Nvtx.Enabled);
        }
        finally { Nvtx.ResetProbe(); }
    }

    [Fact]
    public void Without_a_profiler_the_library_is_not_used()
    {
        try
        {
            Nvtx.ResetProbe(Nvtx.LibraryName, profilerAttached: false);
            Assert.False(Nvtx.Enabled);
            Assert.Contains(Nvtx.InjectionVariable, Nvtx.Status);
            Assert.Equal(0, AllocatedBy(ManyRanges));
        }
        finally { Nvtx.ResetProbe(); }
    }

    /// <summary>
    /// With the real libnvToolsExt.so.1 and no profiler injected, pushes and pops reach the library (its no-op
    /// implementation) and still allocate nothing: names, also over-long ones, are encoded on the stack.
    /// </summary>
    [NvtxLibraryFact]
    public void With_the_library_ranges_reach_it_without_allocating()
    {
        try
        {
            Nvtx.ResetProbe(Nvtx.LibraryName, profilerAttached: true);
            Assert.True(Nvtx.Enabled, Nvtx.Status);
            Assert.Equal("", Nvtx.Status);
            Assert.Equal(0, AllocatedBy(ManyRanges));
            using (Nvtx.Range(new string('é', 500), int.MinValue)) { }
        }
        finally { Nvtx.ResetProbe(); }
    }
}

/// <summary>A fact that is skipped, saying so, where libnvToolsExt.so.1 cannot be loaded.</summary>
public sealed class NvtxLibraryFactAttribute : FactAttribute
{
    public NvtxLibraryFactAttribute()
    {
        if (!NativeLibrary.TryLoad(Nvtx.LibraryName, out _))
            Skip = $"{Nvtx.LibraryName} is not installed (on Debian 12, from non-free: apt-get install libnvtoolsext1)";
    }
}
