using System.Text.Json;
using System.Text.Json.Serialization;

namespace Csr.Train.Eval;

/// <summary>
/// Ground-truth objects of COCO images for CHAIR: the categories of the instance annotations
/// (<c>instances_val2014.json</c>) plus the objects the reference captions name (<c>captions_val2014.json</c>),
/// as the CHAIR code does. Reads only the fields it needs (streaming past segmentations).
/// </summary>
public static class CocoChairData
{
    private sealed class InstancesFile
    {
        [JsonPropertyName("annotations")] public List<InstanceAnn>? Annotations { get; set; }
        [JsonPropertyName("categories")] public List<Category>? Categories { get; set; }
    }
    private sealed class InstanceAnn
    {
        [JsonPropertyName("image_id")] public long ImageId { get; set; }
        [JsonPropertyName("category_id")] public int CategoryId { get; set; }
    }
    private sealed class Category
    {
        [JsonPropertyName("id")] public int Id { get; set; }
        [JsonPropertyName("name")] public string Name { get; set; } = "";
    }
    private sealed class CaptionsFile
    {
        [JsonPropertyName("annotations")] public List<CaptionAnn>? Annotations { get; set; }
    }
    private sealed class CaptionAnn
    {
        [JsonPropertyName("image_id")] public long ImageId { get; set; }
        [JsonPropertyName("caption")] public string Caption { get; set; } = "";
    }

    /// <summary>image id -> ground-truth categories.</summary>
    public static Dictionary<long, HashSet<string>> LoadGroundTruth(string instancesPath, string? captionsPath, ObjectLexicon lexicon)
    {
        var gt = new Dictionary<long, HashSet<string>>();
        var inst = ReadJson<InstancesFile>(instancesPath);
        if (inst.Annotations is null || inst.Categories is null)
            throw new InvalidDataException($"{instancesPath}: expected COCO instances with 'annotations' and 'categories'");
        var names = inst.Categories.ToDictionary(c => c.Id, c => c.Name);
        foreach (var a in inst.Annotations)
        {
            if (!names.TryGetValue(a.CategoryId, out var name))
                throw new InvalidDataException($"{instancesPath}: annotation of image {a.ImageId} has unknown category_id {a.CategoryId}");
            if (!lexicon.Categories.Contains(name))
                throw new InvalidDataException($"{instancesPath}: category '{name}' is not one of the CHAIR categories");
            Get(gt, a.ImageId).Add(name);
        }
        if (captionsPath != null)
        {
            var caps = ReadJson<CaptionsFile>(captionsPath);
            if (caps.Annotations is null) throw new InvalidDataException($"{captionsPath}: expected COCO captions with 'annotations'");
            foreach (var c in caps.Annotations)
                foreach (var m in lexicon.Extract(c.Caption)) Get(gt, c.ImageId).Add(m.Category);
        }
        return gt;
    }

    private static HashSet<string> Get(Dictionary<long, HashSet<string>> d, long id)
    {
        if (!d.TryGetValue(id, out var s)) d[id] = s = new HashSet<string>(StringComparer.Ordinal);
        return s;
    }

    private static T ReadJson<T>(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"file not found: {path}", path);
        using var fs = File.OpenRead(path);
        try { return JsonSerializer.Deserialize<T>(fs) ?? throw new InvalidDataException($"{path}: empty JSON"); }
        catch (JsonException ex) { throw new InvalidDataException($"{path}: invalid JSON: {ex.Message}", ex); }
    }
}
