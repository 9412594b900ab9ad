using System.Security.Cryptography;
using System.Text.Json.Nodes;
using System.Text.Json;
using Csr.Models.IO;

namespace Csr.Train.Pipeline;

/// <summary>
/// manifest.json of a run directory: every option, the seed, tool versions and SHA-256 of the inputs,
/// plus the completed stages (so a resumed run can check it is the same run).
/// </summary>
public sealed class RunManifest
{
    public const string FileName = "manifest.json";

    public JsonObject Root { get; }

    RunManifest(JsonObject root) => Root = root;

    public static RunManifest Create(IReadOnlyDictionary<string, object?> options, long seed, IReadOnlyDictionary<string, string> inputFiles)
    {
        var opts = new JsonObject();
        foreach (var (k, v) in options.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            opts[k] = Format(v) is { } text ? JsonValue.Create(text) : null;
        var inputs = new JsonObject();
        foreach (var (k, path) in inputFiles.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            inputs[k] = new JsonObject { ["path"] = path, ["sha256"] = HashPath(path) };
        var root = new JsonObject
        {
            ["created_utc"] = DateTime.UtcNow.ToString("O"),
            ["seed"] = seed,
            ["options"] = opts,
            ["inputs"] = inputs,
            ["versions"] = new JsonObject
            {
                ["csr-train"] = typeof(RunManifest).Assembly.GetName().Version?.ToString(),
                ["torchsharp"] = typeof(TorchSharp.torch).Assembly.GetName().Version?.ToString(),
                ["dotnet"] = Environment.Version.ToString(),
                ["os"] = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
            },
            ["completed"] = new JsonArray(),
        };
        return new RunManifest(root);
    }

    public static RunManifest? TryRead(string runDir)
    {
        string p = Path.Combine(runDir, FileName);
        if (!File.Exists(p)) return null;
        try { return new RunManifest(JsonNode.Parse(File.ReadAllText(p))!.AsObject()); }
        catch (JsonException ex) { throw new InvalidDataException($"{p}: malformed manifest: {ex.Message}", ex); }
    }

    public long Seed => Root["seed"]!.GetValue<long>();

    public IEnumerable<string> Completed => Root["completed"]!.AsArray().Select(n => n!.GetValue<string>());

    public bool IsCompleted(string stage) => Completed.Contains(stage);

    public void MarkCompleted(string stage, string runDir)
    {
        if (!IsCompleted(stage)) Root["completed"]!.AsArray().Add(stage);
        Save(runDir);
    }

    /// <summary>
    /// Options that change no result, so a run directory may be resumed with other values: the run directory
    /// itself, inputs compared by content hash instead of path, the number of rounds (more rounds extend a run,
    /// finished rounds are kept), the CLIP scoring batch size, the sampling cost model (prefix cache and node
    /// batching give the same trees), the checkpoint frequency, and placement / reporting switches.
    /// </summary>
    public static readonly IReadOnlySet<string> ResultNeutralOptions = new HashSet<string>(StringComparer.Ordinal)
    {
        "out", "model", "clip", "prompts", "iterations", "batch-prompts", "no-prefix-cache", "no-node-batch",
        "save-steps", "device", "threads", "verbose", "quiet", "json", "progress",
    };

    /// <summary>An option value as the manifest stores it (invariant culture; null when not set).</summary>
    public static string? Format(object? value) => value == null ? null : Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// The first option (by name, <see cref="ResultNeutralOptions"/> left out) whose value differs from the one this
    /// run was started with: (name, recorded value, given value); null when all agree. Options the manifest does not
    /// hold (it predates them) are not compared.
    /// </summary>
    public (string Name, string? Recorded, string? Given)? OptionMismatch(IReadOnlyDictionary<string, object?> options)
    {
        if (Root["options"] is not JsonObject recorded) return null;
        foreach (var (k, v) in options.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            if (ResultNeutralOptions.Contains(k) || !recorded.ContainsKey(k)) continue;
            string? was = recorded[k]?.GetValue<string>(), now = Format(v);
            if (!string.Equals(was, now, StringComparison.Ordinal)) return (k, was, now);
        }
        return null;
    }

    public string? InputHash(string key) => Root["inputs"]?[key]?["sha256"]?.GetValue<string>();

    public void Save(string runDir) =>
        AtomicFile.WriteAllText(Path.Combine(runDir, FileName), Root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));

    /// <summary>
    /// SHA-256 of a file, or of a directory's files (sorted relative names + contents; files over 64 MiB,
    /// i.e. weight shards, contribute name and length only so a 7B model is not re-read); "" when absent.
    /// </summary>
    public static string HashPath(string path)
    {
        using var sha = SHA256.Create();
        if (File.Exists(path))
        {
            using var fs = File.OpenRead(path);
            return Convert.ToHexString(sha.ComputeHash(fs)).ToLowerInvariant();
        }
        if (!Directory.Exists(path)) return "";
        foreach (var f in Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories).OrderBy(f => f, StringComparer.Ordinal))
        {
            var name = System.Text.Encoding.UTF8.GetBytes(Path.GetRelativePath(path, f));
            sha.TransformBlock(name, 0, name.Length, null, 0);
            long len = new FileInfo(f).Length;
            var bytes = len > (64L << 20) ? BitConverter.GetBytes(len) : File.ReadAllBytes(f);
            sha.TransformBlock(bytes, 0, bytes.Length, null, 0);
        }
        sha.TransformFinalBlock([], 0, 0);
        return Convert.ToHexString(sha.Hash!).ToLowerInvariant();
    }
}
