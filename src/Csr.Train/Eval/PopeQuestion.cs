using System.Text.Json;
using System.Text.Json.Serialization;

namespace Csr.Train.Eval;

/// <summary>One POPE question as in the official files:
/// <c>{"question_id": 1, "image": "COCO_val2014_000000310196.jpg", "text": "Is there a snowboard in the image?", "label": "yes"}</c>.</summary>
public sealed record PopeQuestion(
    [property: JsonPropertyName("question_id")] int QuestionId,
    [property: JsonPropertyName("image")] string Image,
    [property: JsonPropertyName("text")] string Text,
    [property: JsonPropertyName("label")] string Label)
{
    [JsonIgnore] public bool LabelYes => Label == "yes";
}

/// <summary>Reads and writes POPE question files (JSON lines).</summary>
public static class PopeQuestionFile
{
    public static IReadOnlyList<PopeQuestion> Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"POPE question file not found: {path}", path);
        var list = new List<PopeQuestion>();
        int lineNo = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            PopeQuestion? q;
            try { q = JsonSerializer.Deserialize<PopeQuestion>(line); }
            catch (JsonException ex) { throw new InvalidDataException($"{path}:{lineNo}: not a POPE question: {ex.Message}", ex); }
            if (q is null || string.IsNullOrEmpty(q.Image) || string.IsNullOrEmpty(q.Text))
                throw new InvalidDataException($"{path}:{lineNo}: a POPE question needs 'question_id', 'image', 'text' and 'label'");
            if (q.Label != "yes" && q.Label != "no")
                throw new InvalidDataException($"{path}:{lineNo}: label must be \"yes\" or \"no\", got \"{q.Label}\"");
            list.Add(q);
        }
        return list;
    }

    public static void Write(string path, IEnumerable<PopeQuestion> questions)
    {
        var tmp = $"{path}.{Environment.ProcessId}-{Guid.NewGuid():N}.tmp"; // unique: concurrent writers never share it
        File.WriteAllLines(tmp, questions.Select(q => JsonSerializer.Serialize(q)));
        File.Move(tmp, path, overwrite: true);
    }
}
