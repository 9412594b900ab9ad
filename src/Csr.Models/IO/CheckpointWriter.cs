using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;
using Module = TorchSharp.torch.nn.Module;

namespace Csr.Models.IO;

/// <summary>
/// Writes an HF-layout checkpoint directory: one <c>model.safetensors</c> when everything fits in one
/// shard, else <c>model-0000K-of-0000N.safetensors</c> + <c>model.safetensors.index.json</c>
/// (<c>metadata.total_size</c>, <c>weight_map</c>), plus optional text files (config.json, ...) and copied
/// files (tokenizer.model, ...). Every file is written atomically (temp + rename); the index is written
/// after the shards, and files of an earlier save that the new layout does not use are removed last.
/// </summary>
public static class CheckpointWriter
{
    /// <summary>HF's default max_shard_size ("5GB").</summary>
    public const long DefaultMaxShardBytes = 5_000_000_000;

    public static IReadOnlyList<string> Save(Module module, string dir, long maxShardBytes = DefaultMaxShardBytes,
        ScalarType? dtype = null, IReadOnlyDictionary<string, string>? textFiles = null,
        IReadOnlyDictionary<string, string>? copyFiles = null) =>
        Save(module.state_dict().Select(kv => (kv.Key, kv.Value)), dir, maxShardBytes, dtype, textFiles, copyFiles);

    /// <summary>
    /// Saves tensors (in the given order, split greedily into shards of at most <paramref name="maxShardBytes"/>;
    /// a tensor larger than that gets a shard of its own). <paramref name="textFiles"/>: file name -> content
    /// (e.g. "config.json"); <paramref name="copyFiles"/>: file name -> source path. Returns the paths of the
    /// checkpoint's files. <paramref name="shardWritten"/> (shard file name -> true when a complete copy of that
    /// shard is already in <paramref name="dir"/>) lets an interrupted save resume: such shards are not rewritten;
    /// <paramref name="onShardWritten"/> is called with each shard's file name once it is in place.
    /// </summary>
    public static IReadOnlyList<string> Save(IEnumerable<(string Name, Tensor Tensor)> tensors, string dir,
        long maxShardBytes = DefaultMaxShardBytes, ScalarType? dtype = null,
        IReadOnlyDictionary<string, string>? textFiles = null, IReadOnlyDictionary<string, string>? copyFiles = null,
        Func<string, bool>? shardWritten = null, Action<string>? onShardWritten = null)
    {
        if (maxShardBytes <= 0) throw new ArgumentException($"maxShardBytes must be positive, got {maxShardBytes}");
        var list = tensors.ToList();
        if (list.Count == 0) throw new ArgumentException($"{dir}: no tensors to save");
        var dup = list.GroupBy(t => t.Name).FirstOrDefault(g => g.Count() > 1);
        if (dup != null) throw new ArgumentException($"{dir}: tensor name '{dup.Key}' given twice");
        Directory.CreateDirectory(dir);

        var shards = new List<List<(string Name, Tensor Tensor)>>();
        long current = 0, total = 0;
        foreach (var t in list)
        {
            long size = SafeTensorsWriter.ByteSize(t.Tensor, dtype);
            total += size;
            if (shards.Count == 0 || (current > 0 && current + size > maxShardBytes))
            {
                shards.Add([]);
                current = 0;
            }
            shards[^1].Add(t);
            current += size;
        }

        var written = new List<string>();
        var indexPath = Path.Combine(dir, CheckpointFiles.IndexFileName);
        var singlePath = Path.Combine(dir, CheckpointFiles.SingleFileName);
        var shardNames = new List<string>();
        void WriteShard(string path, List<(string Name, Tensor Tensor)> shard)
        {
            string name = Path.GetFileName(path);
            if (shardWritten?.Invoke(name) == true) return;
            SafeTensorsWriter.Write(path, shard, dtype);
            onShardWritten?.Invoke(name);
        }

        if (shards.Count == 1)
        {
            WriteShard(singlePath, shards[0]);
            written.Add(singlePath);
            shardNames.Add(CheckpointFiles.SingleFileName);
        }
        else
        {
            var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
            for (int i = 0; i < shards.Count; i++)
            {
                var name = ShardName(i + 1, shards.Count);
                var p = Path.Combine(dir, name);
                WriteShard(p, shards[i]);
                written.Add(p);
                shardNames.Add(name);
                foreach (var (n, _) in shards[i]) weightMap[n] = name;
            }
            AtomicFile.WriteAllText(indexPath, IndexJson(total, weightMap));
            written.Add(indexPath);
        }

        foreach (var (name, content) in textFiles ?? new Dictionary<string, string>())
        {
            var p = Path.Combine(dir, name);
            AtomicFile.WriteAllText(p, content);
            written.Add(p);
        }
        foreach (var (name, source) in copyFiles ?? new Dictionary<string, string>())
        {
            var p = Path.Combine(dir, name);
            if (Path.GetFullPath(p) != Path.GetFullPath(source)) AtomicFile.Copy(source, p);
            written.Add(p);
        }

        // Remove what an earlier save left that the new layout does not use (a stale model.safetensors would win over a new index).
        if (shards.Count == 1 && File.Exists(indexPath)) File.Delete(indexPath);
        if (shards.Count > 1 && File.Exists(singlePath)) File.Delete(singlePath);
        foreach (var stale in Directory.GetFiles(dir, "model-*-of-*.safetensors"))
            if (!shardNames.Contains(Path.GetFileName(stale))) File.Delete(stale);
        return written;
    }

    public static string ShardName(int k, int n) => $"model-{k:D5}-of-{n:D5}.safetensors";

    private static string IndexJson(long totalSize, SortedDictionary<string, string> weightMap)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteStartObject("metadata");
            w.WriteNumber("total_size", totalSize);
            w.WriteEndObject();
            w.WriteStartObject("weight_map");
            foreach (var (k, v) in weightMap) w.WriteString(k, v);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }
}
