using System.Globalization;
using System.Reflection;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Csr.Train.Models;
using Csr.Train.Pipeline;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Train.Dpo;

/// <summary>
/// What DPO state depends on, as named values compared for equality. The reference identity (what the
/// reference log-probs depend on: model weights, dtype, template, image preprocessing) is written next to the
/// reference cache; the training identity (the reference identity, the options that change the trained state and
/// a hash of the training pairs) into every checkpoint. A cache made for another reference identity is recomputed;
/// a checkpoint made for another training identity is not resumed.
/// </summary>
public sealed class DpoIdentity
{
    /// <summary>Next to <see cref="ReferenceLogProbCache.FileName"/>.</summary>
    public const string ReferenceFileName = "reference_identity.json";

    /// <summary>Inside each checkpoint directory.</summary>
    public const string CheckpointFileName = "identity.json";

    /// <summary>The key of the model's weight hash; <see cref="ModelPathKey"/> names where they came from (shown, not compared).</summary>
    public const string ModelKey = "model";
    public const string ModelPathKey = "model_path";

    /// <summary>DPO options that change neither the reference nor the trained weights (checkpoint frequency, kernel path).</summary>
    public static readonly IReadOnlySet<string> NeutralOptions = new HashSet<string>(StringComparer.Ordinal)
    {
        nameof(DpoOptions.SaveSteps), nameof(DpoOptions.Fused),
    };

    readonly SortedDictionary<string, string> _values;

    public DpoIdentity(IEnumerable<KeyValuePair<string, string>> values) =>
        _values = new SortedDictionary<string, string>(values.ToDictionary(kv => kv.Key, kv => kv.Value), StringComparer.Ordinal);

    public static DpoIdentity Empty => new([]);

    public IReadOnlyDictionary<string, string> Values => _values;

    /// <summary>
    /// The reference identity of a LLaVA model: weights (<see cref="RunManifest.HashPath"/> of <paramref name="modelPath"/>,
    /// or of the tensors themselves when the model lives only in memory), dtype, template and the image processor's settings
    /// as DPO applies them (every property, with <paramref name="imageAspectRatio"/> when given, so the aspect-ratio
    /// mode counts). Call it before LoRA is attached.
    /// </summary>
    public static DpoIdentity ForReference(VisionLanguageModel vlm, PromptTemplate template, string? modelPath, string? imageAspectRatio = null)
    {
        var images = imageAspectRatio is null ? vlm.Images : vlm.Images.WithAspectRatio(imageAspectRatio);
        string? path = modelPath ?? vlm.Source;
        string hash = path != null && (File.Exists(path) || Directory.Exists(path)) ? RunManifest.HashPath(path) : HashWeights(vlm.Model);
        return new DpoIdentity(new Dictionary<string, string>
        {
            [ModelKey] = hash,
            [ModelPathKey] = path ?? "(in memory)",
            ["dtype"] = vlm.Model.multi_modal_projector.linear_1.weight!.dtype.ToString(),
            ["template"] = $"{template.Name}: {template.System}",
            ["image_processor"] = JsonSerializer.Serialize(images.Config),
        });
    }

    /// <summary>This identity plus every DPO option but <see cref="NeutralOptions"/> and a hash of the pairs' cache keys (tokens, images).</summary>
    public DpoIdentity ForTraining(DpoOptions options, IReadOnlyList<DpoExample> examples)
    {
        var values = new Dictionary<string, string>(_values);
        foreach (var p in typeof(DpoOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance))
            if (!NeutralOptions.Contains(p.Name))
                values["option " + p.Name] = Convert.ToString(p.GetValue(options), CultureInfo.InvariantCulture) ?? "(not set)";
        var keys = System.Text.Encoding.UTF8.GetBytes(string.Join("\n", examples.Select(e => e.CacheKey)));
        values["pairs"] = $"{examples.Count} pairs, sha256 {Convert.ToHexString(SHA256.HashData(keys)).ToLowerInvariant()}";
        return new DpoIdentity(values);
    }

    /// <summary>
    /// The first compared value that differs from <paramref name="recorded"/>, in words: the recorded value, then
    /// <paramref name="joiner"/>, then this one ("model A (sha 1234..), not B (sha 5678..)", "dtype Float32, not
    /// BFloat16"); null when every compared value agrees.
    /// </summary>
    public string? DifferenceFrom(DpoIdentity recorded, string joiner = ", not ")
    {
        foreach (var key in _values.Keys.Union(recorded._values.Keys).Where(k => k != ModelPathKey).Order(StringComparer.Ordinal))
        {
            string? a = recorded._values.GetValueOrDefault(key), b = _values.GetValueOrDefault(key);
            if (string.Equals(a, b, StringComparison.Ordinal)) continue;
            if (key == ModelKey)
                return $"model {recorded._values.GetValueOrDefault(ModelPathKey) ?? "?"} (sha {Short(a)}){joiner}{_values.GetValueOrDefault(ModelPathKey) ?? "?"} (sha {Short(b)})";
            return $"{key} {a ?? "(not recorded)"}{joiner}{b ?? "(not recorded)"}";
        }
        return null;
    }

    static string Short(string? hash) => hash == null ? "?" : hash.Length > 12 ? hash[..12] : hash;

    public void Save(string path)
    {
        var o = new JsonObject();
        foreach (var (k, v) in _values) o[k] = v;
        Csr.Models.IO.AtomicFile.WriteAllText(path, o.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>The identity in <paramref name="path"/>, or null when the file is absent or unreadable.</summary>
    public static DpoIdentity? TryRead(string path)
    {
        if (!File.Exists(path)) return null;
        try
        {
            var o = JsonNode.Parse(File.ReadAllText(path))?.AsObject();
            return o == null ? null : new DpoIdentity(o.Select(kv => KeyValuePair.Create(kv.Key, kv.Value?.GetValue<string>() ?? "")));
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException) { return null; }
    }

    /// <summary>SHA-256 over the state dict (sorted names, dtype, shape, bytes) of a model that has no files.</summary>
    static string HashWeights(torch.nn.Module model)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (name, t) in model.state_dict().OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            sha.AppendData(System.Text.Encoding.UTF8.GetBytes($"{name}|{t.dtype}|{string.Join(",", t.shape)}|"));
            using var scope = NewDisposeScope();
            var values = t.detach().cpu().to_type(ScalarType.Float64).contiguous().data<double>().ToArray();
            sha.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        }
        return Convert.ToHexString(sha.GetHashAndReset()).ToLowerInvariant();
    }
}
