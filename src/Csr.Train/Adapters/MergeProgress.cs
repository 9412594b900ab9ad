using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Csr.Models.IO;

namespace Csr.Train.Adapters;

/// <summary>
/// <c>&lt;out&gt;/.merge-progress.json</c>: the identity of a merge's inputs (base model and adapter files, dtype,
/// shard size) and the weight shards already written for it, each with its size. A rerun with the same inputs
/// keeps those shards; with other inputs (or no marker) the output directory is started afresh, so a shard of
/// another merge is never taken for this one's. The marker is rewritten (atomically) after every shard.
/// </summary>
public sealed class MergeProgress
{
    public const string FileName = ".merge-progress.json";

    sealed record State(string Inputs, SortedDictionary<string, long> Shards);

    readonly string _outDir;
    readonly State _state;

    MergeProgress(string outDir, State state) => (_outDir, _state) = (outDir, state);

    string MarkerPath => Path.Combine(_outDir, FileName);

    /// <summary>Shards kept from an earlier, interrupted run with the same inputs.</summary>
    public int Kept { get; private set; }

    /// <summary>
    /// Opens the marker of <paramref name="outDir"/> for <paramref name="inputs"/> (see <see cref="InputsKey"/>).
    /// When it is absent, unreadable or names other inputs, <paramref name="outDir"/> is emptied and a new marker
    /// is written before any shard is.
    /// </summary>
    public static MergeProgress Open(string outDir, string inputs)
    {
        string marker = Path.Combine(outDir, FileName);
        State? old = null;
        if (File.Exists(marker))
        {
            try { old = JsonSerializer.Deserialize<State>(File.ReadAllText(marker)); }
            catch (JsonException) { old = null; }
        }
        if (old is { Shards: not null } && old.Inputs == inputs) return new MergeProgress(outDir, old);
        if (Directory.Exists(outDir)) Directory.Delete(outDir, true);
        Directory.CreateDirectory(outDir);
        var fresh = new MergeProgress(outDir, new State(inputs, new SortedDictionary<string, long>(StringComparer.Ordinal)));
        fresh.Save();
        return fresh;
    }

    /// <summary>True (and counted in <see cref="Kept"/>) when this shard was written for the same inputs and is still there, whole.</summary>
    public bool TryKeep(string shard)
    {
        var f = new FileInfo(Path.Combine(_outDir, shard));
        bool kept = _state.Shards.TryGetValue(shard, out long size) && f.Exists && f.Length == size;
        if (kept) Kept++;
        return kept;
    }

    public void MarkWritten(string shard)
    {
        _state.Shards[shard] = new FileInfo(Path.Combine(_outDir, shard)).Length;
        Save();
    }

    void Save() => AtomicFile.WriteAllText(MarkerPath, JsonSerializer.Serialize(_state));

    /// <summary>
    /// SHA-256 over what decides the merged bytes: every file of the base model (name, size and content; files
    /// over 64 MiB, the weight shards, by name, size and modification time so a 7B base is not re-read), every
    /// file of the adapter (name and full content), the output dtype and the shard size.
    /// </summary>
    public static string InputsKey(string modelDir, string adapterDir, string dtype, long maxShardBytes)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Text(string s) => h.AppendData(Encoding.UTF8.GetBytes(s + "\n"));
        void Dir(string tag, string dir, bool contentOnlyBelow64MiB)
        {
            Text(tag);
            foreach (var f in Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).OrderBy(f => f, StringComparer.Ordinal))
            {
                var info = new FileInfo(f);
                Text($"{Path.GetRelativePath(dir, f)}|{info.Length}");
                if (contentOnlyBelow64MiB && info.Length > (64L << 20)) { Text(info.LastWriteTimeUtc.Ticks.ToString()); continue; }
                using var s = info.OpenRead();
                var buf = new byte[1 << 20];
                for (int n; (n = s.Read(buf, 0, buf.Length)) > 0;) h.AppendData(buf, 0, n);
            }
        }
        Text("csr-merge-v1");
        Dir("model", modelDir, contentOnlyBelow64MiB: true);
        Dir("adapter", adapterDir, contentOnlyBelow64MiB: false);
        Text($"dtype={dtype}|max_shard_bytes={maxShardBytes}");
        return Convert.ToHexString(h.GetHashAndReset()).ToLowerInvariant();
    }
}
