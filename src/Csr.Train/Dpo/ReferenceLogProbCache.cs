using System.Globalization;
using System.Text.Json;

namespace Csr.Train.Dpo;

/// <summary>
/// Reference log-probs, computed once per pair and cached on disk as JSONL
/// (<c>{"key","chosen","rejected"}</c>; the key includes a hash of the tokens). A torn last line from a
/// killed run is ignored and recomputed.
/// </summary>
public sealed class ReferenceLogProbCache
{
    public const string FileName = "reference_logps.jsonl";

    readonly string _path;
    readonly Dictionary<string, (double Chosen, double Rejected)> _values = new(StringComparer.Ordinal);

    public ReferenceLogProbCache(string dir)
    {
        Directory.CreateDirectory(dir);
        _path = Path.Combine(dir, FileName);
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

    public int Count => _values.Count;

    public bool TryGet(string key, out (double Chosen, double Rejected) value) => _values.TryGetValue(key, out value);

    public void Add(string key, double chosen, double rejected)
    {
        _values[key] = (chosen, rejected);
        string line = JsonSerializer.Serialize(new Dictionary<string, object> { ["key"] = key, ["chosen"] = chosen, ["rejected"] = rejected });
        File.AppendAllText(_path, line + "\n");
    }
}
