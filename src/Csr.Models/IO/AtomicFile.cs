namespace Csr.Models.IO;

/// <summary>
/// Writes a file atomically: into a temporary file next to the target, flushed to disk, then renamed
/// over the target. A crash or a full disk leaves the previous file (if any) intact and at most a
/// stray "*.tmp-*" file, never a half-written target.
/// </summary>
public static class AtomicFile
{
    public static void Write(string path, Action<Stream> write)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    public static void WriteAllText(string path, string text) =>
        Write(path, s => { var b = new System.Text.UTF8Encoding(false).GetBytes(text); s.Write(b); });

    public static void WriteAllBytes(string path, byte[] bytes) => Write(path, s => s.Write(bytes));

    public static void Copy(string source, string path)
    {
        if (!File.Exists(source)) throw new FileNotFoundException($"file to copy not found: {source}", source);
        Write(path, s => { using var src = File.OpenRead(source); src.CopyTo(s); });
    }
}
