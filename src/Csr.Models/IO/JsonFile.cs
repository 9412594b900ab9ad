using System.Text;
using System.Text.Json;

namespace Csr.Models.IO;

/// <summary>
/// Reads a small JSON file (configs, indexes, vocabularies) so that every defect is an
/// <see cref="InvalidDataException"/> naming the file: not UTF-8, not JSON, or a reader's type error
/// (System.Text.Json throws InvalidOperationException for a wrong kind or an untranscodable string).
/// </summary>
public static class JsonFile
{
    public static T Read<T>(string path, Func<JsonElement, T> read)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"file not found: {path}", path);
        var bytes = Utf8File.ReadAllBytes(path);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(bytes);
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{path}: not valid JSON ({ex.Message})", ex);
        }
        using (doc)
        {
            try
            {
                return read(doc.RootElement);
            }
            catch (Exception ex) when (ex is InvalidOperationException or FormatException or KeyNotFoundException)
            {
                throw new InvalidDataException($"{path}: {ex.Message}", ex);
            }
        }
    }
}
