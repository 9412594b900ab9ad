using System.Text;
using TorchSharp;
using static TorchSharp.torch;
using Module = TorchSharp.torch.nn.Module;

namespace Csr.Models.IO;

/// <summary>Options for <see cref="CheckpointLoader.LoadInto(Module, string, CheckpointLoadOptions)"/>.</summary>
public sealed record CheckpointLoadOptions
{
    /// <summary>Checkpoint key -> module key; null drops the key (e.g. rotary inv_freq). Null map = identity.</summary>
    public Func<string, string?>? KeyMap { get; init; }
    /// <summary>Convert the module's floating-point parameters and buffers to this dtype before loading.</summary>
    public ScalarType? DType { get; init; }
    /// <summary>Module keys that may be absent from the checkpoint (e.g. a tied lm_head). Default: none.</summary>
    public Func<string, bool>? AllowMissing { get; init; }
    /// <summary>Checkpoint keys (after mapping) that may have no module counterpart; they are skipped. Default: none.</summary>
    public Func<string, bool>? AllowUnexpected { get; init; }
    /// <summary>Called after each tensor is loaded with (tensors done, tensors total, bytes done, bytes total); for progress bars.</summary>
    public Action<int, int, long, long>? Progress { get; init; }
}

/// <summary>What a load did.</summary>
public sealed record CheckpointLoadResult(int Loaded, IReadOnlyList<string> Dropped, IReadOnlyList<string> AllowedMissing,
    IReadOnlyList<string> IgnoredUnexpected, IReadOnlyList<string> Files);

/// <summary>
/// Loads an HF safetensors checkpoint (single file or sharded) into a module's parameters and buffers,
/// strictly: missing keys, unexpected keys and wrong shapes are all collected first (from the headers
/// alone, before any data is read) and reported together, naming each key and its file. Tensors are
/// then streamed one at a time into the existing parameter storage, so loading needs no second copy
/// of the weights.
/// </summary>
public static class CheckpointLoader
{
    /// <summary>How many problems of each kind an error message lists before "... and N more".</summary>
    public const int MaxListed = 10;

    public static CheckpointLoadResult LoadInto(Module module, string path, Func<string, string?>? keyMap = null, ScalarType? dtype = null) =>
        LoadInto(module, path, new CheckpointLoadOptions { KeyMap = keyMap, DType = dtype });

    public static CheckpointLoadResult LoadInto(Module module, string path, CheckpointLoadOptions options)
    {
        using var files = CheckpointFiles.Open(path);
        return LoadInto(module, files, options);
    }

    public static CheckpointLoadResult LoadInto(Module module, CheckpointFiles files, CheckpointLoadOptions options)
    {
        if (options.DType is ScalarType dt) ConvertFloatingPoint(module, dt);
        var targets = module.state_dict();

        // Map checkpoint keys to module keys.
        var mapped = new Dictionary<string, (string Source, string File, SafeTensorsEntry Entry)>(StringComparer.Ordinal);
        var dropped = new List<string>();
        var collisions = new List<string>();
        foreach (var (key, file, entry) in files.Entries)
        {
            var target = options.KeyMap is null ? key : options.KeyMap(key);
            if (target is null) { dropped.Add(key); continue; }
            if (mapped.TryGetValue(target, out var other))
                collisions.Add($"'{other.Source}' ({Path.GetFileName(other.File)}) and '{key}' ({Path.GetFileName(file)}) both map to '{target}'");
            else
                mapped[target] = (key, file, entry);
        }

        var missing = new List<string>();
        var allowedMissing = new List<string>();
        var unexpected = new List<string>();
        var ignored = new List<string>();
        var wrongShape = new List<string>();
        foreach (var (name, t) in targets)
        {
            if (mapped.TryGetValue(name, out var src))
            {
                if (!t.shape.SequenceEqual(src.Entry.Shape))
                    wrongShape.Add($"{Describe(name, src.Source)}: expected {SafeTensorsEntry.ShapeToText(t.shape)}, found {src.Entry.ShapeText} in {Path.GetFileName(src.File)}");
            }
            else if (options.AllowMissing?.Invoke(name) == true) allowedMissing.Add(name);
            else missing.Add($"{name} {SafeTensorsEntry.ShapeToText(t.shape)}");
        }
        foreach (var (name, src) in mapped)
        {
            if (targets.ContainsKey(name)) continue;
            if (options.AllowUnexpected?.Invoke(name) == true) { ignored.Add(name); continue; }
            unexpected.Add($"{Describe(name, src.Source)} {src.Entry.ShapeText} in {Path.GetFileName(src.File)}");
        }

        if (missing.Count + unexpected.Count + wrongShape.Count + collisions.Count > 0)
            throw new InvalidDataException(Summary(files, module, missing, unexpected, wrongShape, collisions));

        int loaded = 0, total = targets.Keys.Count(mapped.ContainsKey);
        long bytesDone = 0, bytesTotal = targets.Keys.Where(mapped.ContainsKey).Sum(k => mapped[k].Entry.ByteLength);
        foreach (var (name, t) in targets)
        {
            if (!mapped.TryGetValue(name, out var src)) continue;
            files.Reader(src.File).ReadInto(src.Source, t);
            loaded++;
            bytesDone += src.Entry.ByteLength;
            options.Progress?.Invoke(loaded, total, bytesDone, bytesTotal);
        }
        return new CheckpointLoadResult(loaded, dropped, allowedMissing, ignored, files.Files);
    }

    private static string Describe(string target, string source) =>
        target == source ? target : $"{target} (checkpoint key '{source}')";

    private static string Summary(CheckpointFiles files, Module module, List<string> missing, List<string> unexpected,
        List<string> wrongShape, List<string> collisions)
    {
        var sb = new StringBuilder();
        sb.Append($"checkpoint {files.Source} does not match {module.GetType().Name}: ")
          .Append($"{missing.Count} missing, {unexpected.Count} unexpected, {wrongShape.Count} wrong shape");
        if (collisions.Count > 0) sb.Append($", {collisions.Count} key collisions");
        sb.Append($" (checkpoint files: {string.Join(", ", files.Files.Select(Path.GetFileName))})");
        void List(string title, List<string> items)
        {
            if (items.Count == 0) return;
            sb.Append('\n').Append(title).Append(':');
            foreach (var s in items.Take(MaxListed)) sb.Append("\n  ").Append(s);
            if (items.Count > MaxListed) sb.Append($"\n  ... and {items.Count - MaxListed} more");
        }
        List("missing keys (in the model, not in the checkpoint)", missing);
        List("unexpected keys (in the checkpoint, not in the model)", unexpected);
        List("wrong shape", wrongShape);
        List("key collisions", collisions);
        return sb.ToString();
    }

    /// <summary>Converts floating-point parameters and buffers to <paramref name="dtype"/> (Module.to; integer buffers keep their type).</summary>
    public static void ConvertFloatingPoint(Module module, ScalarType dtype)
    {
        bool needs = module.parameters().Any(p => p.dtype != dtype && SafeTensorsDType.IsFloatingPoint(p.dtype))
                  || module.buffers().Any(b => b.dtype != dtype && SafeTensorsDType.IsFloatingPoint(b.dtype));
        if (!needs) return;
        module.to(dtype);
    }
}
