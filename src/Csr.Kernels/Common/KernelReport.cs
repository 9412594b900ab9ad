using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Csr.Kernels;

/// <summary>
/// The content of <c>kernels.json</c>: op name -&gt; path -&gt; <c>{"calls", "seconds"}</c>, and under an op that
/// fell back from the path it was asked for, <c>"fallback": "cuda-&gt;fused: reason"</c>. Reports add up
/// (<see cref="Merge"/>), so a run directory's file is the sum of its stages'.
/// <code>
/// { "BeamStep": { "fused": { "calls": 412, "seconds": 0.031 } },
///   "DpoLogRatio.SequenceLogProbs": { "fused": { "calls": 8, "seconds": 0.2 }, "fallback": "cuda->fused: no CUDA device" } }
/// </code>
/// </summary>
public sealed class KernelReport
{
    /// <summary>The file a stage writes the report to, in its output folder.</summary>
    public const string FileName = "kernels.json";
    /// <summary>The JSON key of an op's fallback line.</summary>
    public const string FallbackKey = "fallback";

    /// <summary>Calls and seconds of one op on one path.</summary>
    public sealed record Entry(long Calls, double Seconds);

    private readonly SortedDictionary<string, SortedDictionary<string, Entry>> _ops = new(StringComparer.Ordinal);
    private readonly SortedDictionary<string, string> _fallbacks = new(StringComparer.Ordinal);

    /// <summary>op -&gt; path name -&gt; entry.</summary>
    public IReadOnlyDictionary<string, SortedDictionary<string, Entry>> Ops => _ops;

    /// <summary>op -&gt; "from-&gt;to: reason".</summary>
    public IReadOnlyDictionary<string, string> Fallbacks => _fallbacks;

    /// <summary>True when nothing was recorded.</summary>
    public bool IsEmpty => _ops.Count == 0 && _fallbacks.Count == 0;

    /// <summary>Calls of <paramref name="op"/> on <paramref name="path"/> (0 when none).</summary>
    public long Calls(string op, string path) =>
        _ops.TryGetValue(op, out var paths) && paths.TryGetValue(path, out var e) ? e.Calls : 0;

    /// <summary>Adds <paramref name="calls"/> calls and <paramref name="seconds"/> to (op, path name).</summary>
    public void Add(string op, string path, long calls, double seconds)
    {
        if (!_ops.TryGetValue(op, out var paths)) _ops[op] = paths = new(StringComparer.Ordinal);
        paths[path] = paths.TryGetValue(path, out var e) ? new Entry(e.Calls + calls, e.Seconds + seconds) : new Entry(calls, seconds);
    }

    /// <summary>Records <paramref name="op"/>'s fallback line unless it has one.</summary>
    public void AddFallback(string op, string text) => _fallbacks.TryAdd(op, text);

    /// <summary>Adds every count, time and fallback of <paramref name="other"/> to this report.</summary>
    public KernelReport Merge(KernelReport other)
    {
        foreach (var (op, paths) in other._ops)
            foreach (var (path, e) in paths) Add(op, path, e.Calls, e.Seconds);
        foreach (var (op, text) in other._fallbacks) AddFallback(op, text);
        return this;
    }

    /// <summary>The kernels.json text: op -&gt; path -&gt; {calls, seconds}, plus <see cref="FallbackKey"/> where an op fell back.</summary>
    public string ToJson()
    {
        var root = new JsonObject();
        foreach (var op in _ops.Keys.Union(_fallbacks.Keys).Order(StringComparer.Ordinal))
        {
            var o = new JsonObject();
            if (_ops.TryGetValue(op, out var paths))
                foreach (var (path, e) in paths) o[path] = new JsonObject { ["calls"] = e.Calls, ["seconds"] = Math.Round(e.Seconds, 6) };
            if (_fallbacks.TryGetValue(op, out var text)) o[FallbackKey] = text;
            root[op] = o;
        }
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n";
    }

    /// <summary>Parses kernels.json text; errors name <paramref name="source"/>.</summary>
    public static KernelReport Parse(string json, string source = KernelReport.FileName)
    {
        var report = new KernelReport();
        JsonObject root;
        try { root = JsonNode.Parse(json) as JsonObject ?? throw new InvalidDataException($"{source}: expected a JSON object"); }
        catch (JsonException ex) { throw new InvalidDataException($"{source}: not JSON: {ex.Message}", ex); }
        foreach (var (op, node) in root)
        {
            if (node is not JsonObject paths) throw new InvalidDataException($"{source}: \"{op}\" is not an object");
            foreach (var (path, value) in paths)
            {
                if (path == FallbackKey) { report.AddFallback(op, value?.GetValue<string>() ?? ""); continue; }
                if (value is not JsonObject e || e["calls"] is null || e["seconds"] is null)
                    throw new InvalidDataException($"{source}: \"{op}\".\"{path}\" needs \"calls\" and \"seconds\"");
                report.Add(op, path, e["calls"]!.GetValue<long>(), e["seconds"]!.GetValue<double>());
            }
        }
        return report;
    }

    /// <summary>Reads <c>dir/kernels.json</c>, or null when the directory has none.</summary>
    public static KernelReport? TryRead(string dir)
    {
        var path = Path.Combine(dir, FileName);
        return File.Exists(path) ? Parse(File.ReadAllText(path), path) : null;
    }

    /// <summary>Writes <c>dir/kernels.json</c> (write to a temporary name, then rename).</summary>
    public void Write(string dir)
    {
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, FileName);
        var tmp = $"{path}.{Environment.ProcessId}-{Guid.NewGuid():N}.tmp"; // unique: concurrent writers never share it
        File.WriteAllText(tmp, ToJson());
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>One line per op: "op: path calls (seconds s), ...; fallback ...".</summary>
    public IEnumerable<string> Lines()
    {
        foreach (var op in _ops.Keys.Union(_fallbacks.Keys).Order(StringComparer.Ordinal))
        {
            var sb = new StringBuilder(op).Append(": ");
            if (_ops.TryGetValue(op, out var paths))
                sb.AppendJoin(", ", paths.Select(p => $"{p.Key} {p.Value.Calls} calls ({p.Value.Seconds:F3} s)"));
            if (_fallbacks.TryGetValue(op, out var text)) sb.Append($"; fallback {text}");
            yield return sb.ToString();
        }
    }
}
