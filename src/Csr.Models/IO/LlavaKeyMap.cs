using System.Text.Json;

namespace Csr.Models.IO;

/// <summary>
/// Maps LLaVA-1.5 checkpoint keys to this code's canonical names, which are the older llava-hf naming:
/// <c>language_model.model.*</c>, <c>language_model.lm_head.*</c>, <c>vision_tower.vision_model.*</c>,
/// <c>multi_modal_projector.linear_{1,2}.*</c>. Understood inputs:
/// <list type="bullet">
/// <item>canonical names (identity);</item>
/// <item>the newer transformers naming: <c>model.language_model.*</c> -> <c>language_model.model.*</c>,
///   <c>model.vision_tower.*</c> -> <c>vision_tower.*</c>, <c>model.multi_modal_projector.*</c> ->
///   <c>multi_modal_projector.*</c>, <c>lm_head.*</c> -> <c>language_model.lm_head.*</c>;</item>
/// <item>the original LLaVA (liuhaotian) naming, the rules behind the documented
///   <c>key_mapping_llava_to_hf_*.json</c> files (plain old-key -> new-key JSON objects):
///   <c>model.vision_tower.vision_tower.*</c> -> <c>vision_tower.*</c>, <c>model.mm_projector.0.*</c> ->
///   <c>multi_modal_projector.linear_1.*</c>, <c>model.mm_projector.2.*</c> -> <c>linear_2</c>,
///   <c>model.*</c> (the Llama body) -> <c>language_model.model.*</c>, <c>lm_head.*</c> -> <c>language_model.lm_head.*</c>.</item>
/// </list>
/// Rotary <c>inv_freq</c> buffers that old checkpoints carry are dropped (null).
/// </summary>
public static class LlavaKeyMap
{
    private static readonly (string From, string To)[] PrefixRules =
    [
        ("model.language_model.", "language_model.model."),          // newer llava-hf
        ("model.vision_tower.vision_tower.", "vision_tower."),       // original LLaVA (before the newer rule below)
        ("model.vision_tower.", "vision_tower."),                    // newer llava-hf
        ("model.multi_modal_projector.", "multi_modal_projector."),  // newer llava-hf
        ("model.mm_projector.0.", "multi_modal_projector.linear_1."),// original LLaVA (mlp2x_gelu: Linear, GELU, Linear)
        ("model.mm_projector.2.", "multi_modal_projector.linear_2."),
        ("lm_head.", "language_model.lm_head."),                     // newer llava-hf and original LLaVA
        ("model.", "language_model.model."),                         // original LLaVA Llama body
    ];

    /// <summary>The key map for <see cref="CheckpointLoader"/>: any known naming -> canonical; null drops the key.</summary>
    public static string? Map(string key)
    {
        if (key.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal)) return null;
        foreach (var (from, to) in PrefixRules)
            if (key.StartsWith(from, StringComparison.Ordinal)) return to + key[from.Length..];
        return key;
    }

    /// <summary>Reads a <c>key_mapping_llava_to_hf_*.json</c> file: a JSON object of original key -> llava-hf key.</summary>
    public static IReadOnlyDictionary<string, string> ReadMappingFile(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"key mapping file not found: {path}", path);
        return JsonFile.Read(path, root =>
        {
            if (root.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{path}: expected a JSON object of old key -> new key");
            var map = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var p in root.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.String)
                    throw new InvalidDataException($"{path}: value of '{p.Name}' must be a string, found {p.Value.ValueKind}");
                map[p.Name] = p.Value.GetString()!;
            }
            return (IReadOnlyDictionary<string, string>)map;
        });
    }

    /// <summary>A key map that looks keys up in a mapping file first and applies <see cref="Map"/> to the rest.</summary>
    public static Func<string, string?> FromMappingFile(string path)
    {
        var table = ReadMappingFile(path);
        return k => table.TryGetValue(k, out var v) ? v : Map(k);
    }
}
