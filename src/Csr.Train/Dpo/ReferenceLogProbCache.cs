using System.Globalization;
using System.Text.Json;

namespace Csr.Train.Dpo;

/// <summary>
/// Reference log-probs, computed once per pair and cached on disk as JSONL
/// (<c>{"key","chosen","rejected"}</c>; the key includes a hash of the tokens and of the pair's image file). The
/// reference identity (model weights, dtype, template, image preprocessing) is written next to it as
/// <see cref="DpoIdentity.ReferenceFileName"/>: a cache recorded for another identity, or without one, is discarded
/// and recomputed, and <see cref="Discarded"/> says why. A torn last line from a killed run is ignored and recomputed.
/// </summary>
public sealed class ReferenceLogProbCache
{
    public const string FileName = "reference_logps.jsonl";

    readonly string _path;
    readonly Dictionary<string, (double Chosen, double Rejected)> _values = new(StringComparer.Ordinal);

    public ReferenceLogProbCache(string dir, DpoIdentity identity)
    {
        Directory.CreateDirectory(dir);
        _path = Path.Combine(dir, FileName);
        string identityPath = Path.Combine(dir, DpoIdentity.ReferenceFileName);
        if (File.Exists(_path))
        {
            var recorded = DpoIdentity.TryRead(identityPath);
            Discarded = recorded == null
                ? $"reference log-probs in {_path} have no readable {DpoIdentity.ReferenceFileName}: recomputing them"
                : identity.DifferenceFrom(recorded, ", now ") is { } diff
                    ? $"reference log-probs in {_path} were computed for {diff}: recomputing them"
                    : null;
            if (Discarded != null) File.Delete(_path);
        }
        identity.Save(identityPath);
        if (!File.Exists(_path)) return;
        foreach (var line in File.ReadLines(_path))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                using var doc = JsonDocument.Parse(line);
                var r = doc.RootElement;
                _values[r.GetProperty("key").GetString()!] = (r.GetProperty("chosen").GetDouble(), r.GetProperty("rejected").GetDouble());
            }
            catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                // torn write of a killed run: the pair is recomputed
            }
        }
    }

    /// <summary>Why the cache on disk was thrown away (one line), or null when it was kept or there was none.</summary>
    public string? Discarded { get; }

    public int Count => _values.Count;

    public bool TryGet(string key, out (double Chosen, double Rejected) value) => _values.TryGetValue(key, out value);

    public void Add(string key, double chosen, double rejected)
    {
        _values[key] = (chosen, rejected);
        string line = JsonSerializer.Serialize(new Dictionary<string, object> { ["key"] = key, ["chosen"] = chosen, ["rejected"] = rejected });
        File.AppendAllText(_path, line + "\n");
    }
}
