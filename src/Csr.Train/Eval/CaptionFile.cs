using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Csr.Train.Eval;

/// <summary>A generated caption of one image.</summary>
public sealed record GeneratedCaption(long ImageId, string Image, string Caption);

/// <summary>
/// Captions files for CHAIR: JSON lines (or one JSON array) of objects with an image id
/// (<c>image_id</c>, or a COCO file name in <c>image</c> whose trailing digits are the id) and the text
/// (<c>caption</c>, <c>text</c> or <c>answer</c>). <c>eval describe</c> writes
/// <c>{"image_id", "image", "caption"}</c> lines.
/// </summary>
public static partial class CaptionFile
{
    [GeneratedRegex("(\\d+)(?!.*\\d)")]
    private static partial Regex LastNumber();

    public static long ImageIdFromFileName(string name)
    {
        var m = LastNumber().Match(Path.GetFileNameWithoutExtension(name));
        if (!m.Success) throw new InvalidDataException($"cannot find an image id in file name '{name}'");
        return long.Parse(m.Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    public static IReadOnlyList<GeneratedCaption> Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"captions file not found: {path}", path);
        var text = File.ReadAllText(path).TrimStart();
        var nodes = new List<(JsonNode? Node, string Where)>();
        if (text.StartsWith('['))
        {
            JsonArray arr;
            try { arr = JsonNode.Parse(text)!.AsArray(); }
            catch (JsonException ex) { throw new InvalidDataException($"{path}: invalid JSON: {ex.Message}", ex); }
            for (int i = 0; i < arr.Count; i++) nodes.Add((arr[i], $"{path}[{i}]"));
        }
        else
        {
            int lineNo = 0;
            foreach (var line in text.Split('\n'))
            {
                lineNo++;
                if (string.IsNullOrWhiteSpace(line)) continue;
                try { nodes.Add((JsonNode.Parse(line), $"{path}:{lineNo}")); }
                catch (JsonException ex) { throw new InvalidDataException($"{path}:{lineNo}: invalid JSON: {ex.Message}", ex); }
            }
        }
        return nodes.Select(n => Parse(n.Node, n.Where)).ToList();
    }

    private static GeneratedCaption Parse(JsonNode? node, string where)
    {
        if (node is not JsonObject o) throw new InvalidDataException($"{where}: expected an object");
        string image = o["image"]?.GetValue<string>() ?? "";
        long id;
        var idNode = o["image_id"];
        if (idNode != null)
        {
            var v = idNode.GetValueKind() == JsonValueKind.String ? idNode.GetValue<string>() : idNode.ToJsonString();
            if (!long.TryParse(v, out id)) id = ImageIdFromFileName(v);
        }
        else if (image.Length > 0) id = ImageIdFromFileName(image);
        else throw new InvalidDataException($"{where}: needs 'image_id' or 'image'");
        var caption = (o["caption"] ?? o["text"] ?? o["answer"])?.GetValue<string>()
                      ?? throw new InvalidDataException($"{where}: needs 'caption', 'text' or 'answer'");
        return new GeneratedCaption(id, image, caption);
    }

    public static void Write(string path, IEnumerable<GeneratedCaption> captions)
    {
        var tmp = $"{path}.{Environment.ProcessId}-{Guid.NewGuid():N}.tmp"; // unique: concurrent writers never share it
        File.WriteAllLines(tmp, captions.Select(c => JsonSerializer.Serialize(new { image_id = c.ImageId, image = c.Image, caption = c.Caption })));
        File.Move(tmp, path, overwrite: true);
    }
}
