using System.Text.Json;
using System.Text.Json.Serialization;

namespace Csr.Train.World;

/// <summary>One line of a world's <c>scenes.jsonl</c>: the ground truth of one image.</summary>
public sealed record SceneRecord(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("image")] string Image,
    [property: JsonPropertyName("objects")] IReadOnlyList<WorldObject> Objects,
    [property: JsonPropertyName("background")] string Background);

/// <summary>One entry of a CSR-format prompt file (<c>id</c>, <c>image</c>, <c>input</c> with the <c>&lt;image&gt;</c> marker).</summary>
public sealed record PromptRecord(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("image")] string Image,
    [property: JsonPropertyName("input")] string Input);

/// <summary>
/// Writes a split of the world to a folder: <c>images/*.png</c>, <c>scenes.jsonl</c> (exact object lists)
/// and <c>prompts.json</c> in the CSR prompt-set format, so the pipeline stages read it like real data.
/// </summary>
public static class WorldDataset
{
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = false,
    };

    /// <summary>Writes scenes <c>0..count-1</c> of <paramref name="stream"/> into <paramref name="dir"/>
    /// (images skipped when already present) and returns them.</summary>
    public static IReadOnlyList<Scene> Write(SceneGenerator generator, int stream, int count, string dir)
    {
        var imagesDir = Path.Combine(dir, "images");
        Directory.CreateDirectory(imagesDir);
        var renderer = new SceneRenderer(generator.Settings.ImageSize, generator.Vocabulary);
        var scenes = generator.GenerateMany(count, stream).ToList();
        var prompts = new List<PromptRecord>();
        var lines = new List<string>();
        foreach (var scene in scenes)
        {
            var path = Path.Combine(imagesDir, scene.ImageFileName);
            if (!File.Exists(path)) renderer.RenderToFile(scene, path);
            lines.Add(JsonSerializer.Serialize(new SceneRecord(scene.Id, scene.ImageFileName, scene.Objects, scene.BackgroundTexture), Json));
            var rng = SplitMix64.For(generator.Seed, stream + 1000, scene.Index);
            prompts.Add(new PromptRecord(scene.Id, scene.ImageFileName, rng.Pick(CaptionGrammar.DescribePrompts) + "\n<image>"));
        }
        WriteAtomic(Path.Combine(dir, "scenes.jsonl"), string.Join("\n", lines) + "\n");
        WriteAtomic(Path.Combine(dir, "prompts.json"), JsonSerializer.Serialize(prompts, new JsonSerializerOptions { WriteIndented = true }));
        return scenes;
    }

    public static IReadOnlyList<SceneRecord> ReadScenes(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"scene list not found: {path}", path);
        var list = new List<SceneRecord>();
        int lineNo = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            try { list.Add(JsonSerializer.Deserialize<SceneRecord>(line, Json) ?? throw new InvalidDataException("null")); }
            catch (JsonException ex) { throw new InvalidDataException($"{path}:{lineNo}: not a scene record: {ex.Message}", ex); }
        }
        return list;
    }

    public static void WriteAtomic(string path, string text)
    {
        var tmp = $"{path}.{Environment.ProcessId}-{Guid.NewGuid():N}.tmp"; // unique: concurrent writers never share it
        File.WriteAllText(tmp, text);
        File.Move(tmp, path, overwrite: true);
    }
}
