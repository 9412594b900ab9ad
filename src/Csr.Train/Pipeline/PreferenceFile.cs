using System.Text.Json;
using Csr.Models.IO;

namespace Csr.Train.Pipeline;

/// <summary>Reads and writes the preference JSON array (atomic write; errors name the file and entry).</summary>
public static class PreferenceFile
{
    static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static void Write(string path, IEnumerable<PreferencePair> pairs) =>
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(pairs.ToList(), Options));

    public static IReadOnlyList<PreferencePair> Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"preference file not found: {path}", path);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(Csr.Models.IO.Utf8File.ReadAllBytes(path)); }
        catch (JsonException ex) { throw new InvalidDataException($"{path}: malformed JSON: {ex.Message}", ex); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Array)
                throw new InvalidDataException($"{path}: expected a JSON array of preference items");
            var list = new List<PreferencePair>();
            int i = 0;
            foreach (var e in doc.RootElement.EnumerateArray())
            {
                string where = $"{path}: entry {i}";
                if (e.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{where}: expected an object");
                string id = e.TryGetProperty("id", out var idv) && idv.ValueKind is JsonValueKind.String or JsonValueKind.Number
                    ? (idv.ValueKind == JsonValueKind.String ? idv.GetString()! : idv.GetRawText())
                    : throw new InvalidDataException($"{where}: missing \"id\"");
                string image = e.TryGetProperty("image", out var im) && im.ValueKind == JsonValueKind.String
                    ? im.GetString()! : throw new InvalidDataException($"{where} (id {id}): missing \"image\"");
                var conv = Turns(e, "conversations", where, id);
                var rej = Turns(e, "rejected_conversations", where, id);
                list.Add(new PreferencePair(id, image, conv, rej));
                i++;
            }
            return list;
        }
    }

    static List<ConversationTurn> Turns(JsonElement e, string name, string where, string id)
    {
        if (!e.TryGetProperty(name, out var arr) || arr.ValueKind != JsonValueKind.Array)
            throw new InvalidDataException($"{where} (id {id}): missing array \"{name}\"");
        var turns = new List<ConversationTurn>();
        foreach (var t in arr.EnumerateArray())
        {
            if (!t.TryGetProperty("from", out var f) || !t.TryGetProperty("value", out var v) ||
                f.ValueKind != JsonValueKind.String || v.ValueKind != JsonValueKind.String)
                throw new InvalidDataException($"{where} (id {id}): \"{name}\" turn needs string \"from\" and \"value\"");
            turns.Add(new ConversationTurn(f.GetString()!, v.GetString()!));
        }
        if (turns.Count < 2 || turns[0].From != "human" || turns[^1].From != "gpt")
            throw new InvalidDataException($"{where} (id {id}): \"{name}\" must start with a human turn and end with a gpt turn");
        return turns;
    }
}
