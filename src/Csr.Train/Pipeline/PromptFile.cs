using System.Text.Json;

namespace Csr.Train.Pipeline;

/// <summary>Reads a CSR prompt file: a JSON array of {"id", "image", "input"} with the &lt;image&gt; marker.</summary>
public static class PromptFile
{
    public static IReadOnlyList<PromptEntry> Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"prompt file not found: {path}", path);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(Csr.Models.IO.Utf8File.ReadAllBytes(path)); }
        catch (JsonException ex) { throw new InvalidDataException($"{path}: malformed JSON: {ex.Message}", ex); }
        using (doc) return Parse(doc.RootElement, path);
    }

    public static IReadOnlyList<PromptEntry> Parse(JsonElement root, string source)
    {
        if (root.ValueKind != JsonValueKind.Array)
            throw new InvalidDataException($"{source}: expected a JSON array of prompts, found {root.ValueKind}");
        var list = new List<PromptEntry>(root.GetArrayLength());
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        int i = 0;
        foreach (var e in root.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{source}: entry {i} is {e.ValueKind}, expected an object");
            string id = IdField(e, source, i);
            string image = StringField(e, "image", source, i, id);
            string input = StringField(e, "input", source, i, id);
            if (!input.Contains(PromptEntry.ImageMarker, StringComparison.Ordinal))
                throw new InvalidDataException($"{source}: entry {i} (id {id}): \"input\" has no {PromptEntry.ImageMarker} marker");
            if (id.Length == 0 || id.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || id is "." or "..")
                throw new InvalidDataException($"{source}: entry {i}: id \"{id}\" cannot be used as a file name");
            if (seen.TryGetValue(id, out int first))
                throw new InvalidDataException($"{source}: entry {i}: duplicate id \"{id}\" (first at entry {first})");
            seen[id] = i;
            list.Add(new PromptEntry(id, image, input));
            i++;
        }
        return list;
    }

    static string IdField(JsonElement e, string source, int i)
    {
        if (!e.TryGetProperty("id", out var v))
            throw new InvalidDataException($"{source}: entry {i}: missing field \"id\"");
        return v.ValueKind switch
        {
            JsonValueKind.String => v.GetString()!,
            JsonValueKind.Number => v.GetRawText(),
            _ => throw new InvalidDataException($"{source}: entry {i}: \"id\" must be a string or number, found {v.ValueKind}"),
        };
    }

    static string StringField(JsonElement e, string name, string source, int i, string id)
    {
        if (!e.TryGetProperty(name, out var v))
            throw new InvalidDataException($"{source}: entry {i} (id {id}): missing field \"{name}\"");
        if (v.ValueKind != JsonValueKind.String)
            throw new InvalidDataException($"{source}: entry {i} (id {id}): \"{name}\" must be a string, found {v.ValueKind}");
        return v.GetString()!;
    }
}
