using System.Text.Json;
using static TorchSharp.torch;

namespace Csr.Models.IO;

/// <summary>
/// The safetensors files of one HF checkpoint: a single file, a directory with one <c>model.safetensors</c>,
/// or a directory with <c>model.safetensors.index.json</c> (sharded, <c>weight_map</c>); when a directory has
/// both, <c>model.safetensors</c> wins, as in transformers. Only headers are read; every key is known with its file, dtype and shape.
/// Shard files are opened lazily and kept open until disposed.
/// </summary>
public sealed class CheckpointFiles : IDisposable
{
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly Dictionary<string, SafeTensorsFile> _open = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (string File, SafeTensorsEntry Entry)> _keys;

    /// <summary>What the user pointed at (file or directory).</summary>
    public string Source { get; }
    /// <summary>The index file, when sharded.</summary>
    public string? IndexPath { get; }
    /// <summary>The safetensors files, in order.</summary>
    public IReadOnlyList<string> Files { get; }

    private CheckpointFiles(string source, string? indexPath, List<string> files, Dictionary<string, (string, SafeTensorsEntry)> keys)
    {
        Source = source;
        IndexPath = indexPath;
        Files = files;
        _keys = keys;
    }

    /// <summary>All tensor keys with their file and header entry, in file order.</summary>
    public IEnumerable<(string Key, string File, SafeTensorsEntry Entry)> Entries =>
        _keys.Select(kv => (kv.Key, kv.Value.File, kv.Value.Entry));

    public int Count => _keys.Count;

    public bool Contains(string key) => _keys.ContainsKey(key);

    public (string File, SafeTensorsEntry Entry) Lookup(string key) => _keys.TryGetValue(key, out var v) ? v
        : throw new KeyNotFoundException($"{Source}: checkpoint has no tensor named '{key}'");

    /// <summary>Resolves a checkpoint path and reads every header (no tensor data).</summary>
    public static CheckpointFiles Open(string path)
    {
        if (File.Exists(path))
        {
            if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase)) return OpenIndex(path, path);
            return OpenSingle(path, path);
        }
        if (!Directory.Exists(path))
            throw new FileNotFoundException($"checkpoint not found: {path} (expected a .safetensors file or a directory with {SingleFileName} or {IndexFileName})", path);
        // transformers' precedence: model.safetensors first, then the sharded index
        var single = System.IO.Path.Combine(path, SingleFileName);
        if (File.Exists(single)) return OpenSingle(path, single);
        var index = System.IO.Path.Combine(path, IndexFileName);
        if (File.Exists(index)) return OpenIndex(path, index);
        var any = Directory.GetFiles(path, "*.safetensors");
        if (any.Length == 1) return OpenSingle(path, any[0]);
        throw new FileNotFoundException(any.Length == 0
            ? $"{path}: no {IndexFileName}, no {SingleFileName} and no other .safetensors file in this directory"
            : $"{path}: {any.Length} .safetensors files but no {IndexFileName} to say which tensor lives where", path);
    }

    private static CheckpointFiles OpenSingle(string source, string file)
    {
        var keys = new Dictionary<string, (string, SafeTensorsEntry)>(StringComparer.Ordinal);
        foreach (var e in SafeTensorsFile.ReadEntries(file)) keys[e.Name] = (file, e);
        return new CheckpointFiles(source, null, [file], keys);
    }

    private static CheckpointFiles OpenIndex(string source, string indexPath)
    {
        var weightMap = ReadWeightMap(indexPath);
        var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(indexPath))!;
        var files = weightMap.Values.Distinct(StringComparer.Ordinal).OrderBy(f => f, StringComparer.Ordinal).ToList();
        var headers = new Dictionary<string, Dictionary<string, SafeTensorsEntry>>(StringComparer.Ordinal);
        foreach (var f in files)
        {
            var full = System.IO.Path.Combine(dir, f);
            if (!File.Exists(full))
                throw new FileNotFoundException($"{indexPath}: shard '{f}' named in weight_map (e.g. for '{weightMap.First(kv => kv.Value == f).Key}') does not exist", full);
            headers[f] = SafeTensorsFile.ReadEntries(full).ToDictionary(e => e.Name, StringComparer.Ordinal);
        }
        var keys = new Dictionary<string, (string, SafeTensorsEntry)>(StringComparer.Ordinal);
        foreach (var (key, f) in weightMap)
        {
            if (!headers[f].TryGetValue(key, out var e))
                throw new InvalidDataException($"{indexPath}: weight_map puts '{key}' in '{f}', but that shard has no such tensor");
            keys[key] = (System.IO.Path.Combine(dir, f), e);
        }
        return new CheckpointFiles(source, indexPath, files.Select(f => System.IO.Path.Combine(dir, f)).ToList(), keys);
    }

    /// <summary>Reads and validates the weight_map of a <c>model.safetensors.index.json</c>.</summary>
    public static Dictionary<string, string> ReadWeightMap(string indexPath) => JsonFile.Read(indexPath, root =>
    {
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("weight_map", out var wm) || wm.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"{indexPath}: expected an object with a 'weight_map' object");
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in wm.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.String)
                throw new InvalidDataException($"{indexPath}: weight_map['{p.Name}'] must be a file name string, found {p.Value.ValueKind}");
            var f = p.Value.GetString()!;
            if (f.Length == 0 || f.Contains('/') || f.Contains('\\') || f == "." || f == "..")
                throw new InvalidDataException($"{indexPath}: weight_map['{p.Name}'] = '{f}' is not a plain file name in the checkpoint directory");
            if (!map.TryAdd(p.Name, f))
                throw new InvalidDataException($"{indexPath}: weight_map lists '{p.Name}' twice");
        }
        if (map.Count == 0) throw new InvalidDataException($"{indexPath}: weight_map is empty");
        return map;
    });

    /// <summary>The open reader for one of <see cref="Files"/>.</summary>
    public SafeTensorsFile Reader(string file)
    {
        if (!_open.TryGetValue(file, out var f)) _open[file] = f = SafeTensorsFile.Open(file);
        return f;
    }

    /// <summary>Reads one tensor (new CPU tensor, optionally converted).</summary>
    public Tensor Read(string key, ScalarType? dtype = null)
    {
        var (file, _) = Lookup(key);
        return Reader(file).Read(key, dtype);
    }

    /// <summary>Reads one tensor into an existing tensor (shape must match; dtype converted).</summary>
    public void ReadInto(string key, Tensor destination)
    {
        var (file, _) = Lookup(key);
        Reader(file).ReadInto(key, destination);
    }

    public void Dispose()
    {
        foreach (var f in _open.Values) f.Dispose();
        _open.Clear();
    }
}
