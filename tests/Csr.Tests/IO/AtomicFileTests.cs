using Csr.Models.IO;

namespace Csr.Tests.IO;

public class AtomicFileTests
{
    [Fact]
    public void A_write_that_fails_half_way_leaves_the_previous_file_and_no_temp_file()
    {
        using var dir = new TempDir();
        var path = dir["out.json"];
        AtomicFile.WriteAllText(path, "old content");
        var ex = Assert.Throws<IOException>(() => AtomicFile.Write(path, s =>
        {
            s.Write("new partial"u8);
            throw new IOException("No space left on device (simulated)");
        }));
        Assert.Contains("No space left", ex.Message);
        Assert.Equal("old content", File.ReadAllText(path));
        Assert.Equal(new[] { path }, Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void Concurrent_writers_of_one_path_leave_one_complete_version()
    {
        using var dir = new TempDir();
        var path = dir["shared.bin"];
        var versions = Enumerable.Range(0, 8).Select(i => Enumerable.Repeat((byte)i, 200_000).ToArray()).ToArray();
        Parallel.For(0, 32, new ParallelOptions { MaxDegreeOfParallelism = 4 }, k => AtomicFile.WriteAllBytes(path, versions[k % 8]));
        var final = File.ReadAllBytes(path);
        Assert.Contains(versions, v => v.AsSpan().SequenceEqual(final));
        Assert.Equal(new[] { path }, Directory.GetFiles(dir.Path));
    }
}
