using System.Text.Unicode;

namespace Csr.Models.IO;

/// <summary>
/// Reads a text file (JSON, merges) as UTF-8 bytes and refuses invalid UTF-8 up front, naming the file and
/// the byte offset. System.Text.Json accepts such bytes at parse time and only throws later, from
/// GetString(), an InvalidOperationException that says nothing about the file.
/// </summary>
public static class Utf8File
{
    public static byte[] ReadAllBytes(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        Validate(bytes, path);
        return bytes;
    }

    public static void Validate(ReadOnlySpan<byte> bytes, string source)
    {
        if (Utf8.IsValid(bytes)) return;
        var chars = new char[bytes.Length];
        Utf8.ToUtf16(bytes, chars, out int offset, out _, replaceInvalidSequences: false);
        throw new InvalidDataException($"{source}: not valid UTF-8 text (first invalid byte at offset {offset})");
    }
}
