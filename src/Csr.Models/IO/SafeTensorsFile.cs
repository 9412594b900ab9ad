using System.Text;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Models.IO;

/// <summary>
/// A streaming safetensors reader. Opening reads and validates only the header (8-byte little-endian
/// length + JSON); tensors are then read one at a time, in chunks, straight into a destination tensor
/// (e.g. a model parameter), converting dtype on the way. The whole file is never held in memory.
///
/// Validation at open (every error is an <see cref="InvalidDataException"/> naming the file and, where
/// there is one, the key): file shorter than 8 bytes, header length past the end of the file,
/// header not JSON / not an object, unknown dtype, negative shape, shape x dtype size != byte range,
/// offsets outside the data section (truncated file), overlapping byte ranges.
/// </summary>
public sealed class SafeTensorsFile : IDisposable
{
    /// <summary>The safetensors format's own limit on the JSON header (100 MB).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    /// <summary>Chunk size for streaming reads (staging buffer for dtype conversion).</summary>
    public const long DefaultChunkBytes = 16 << 20;

    private readonly long _chunkBytes;
    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    private readonly FileStream _stream;
    private readonly Dictionary<string, SafeTensorsEntry> _entries;

    public string Path { get; }
    public long FileLength { get; }
    /// <summary>Byte offset of the data section in the file (8 + header length).</summary>
    public long DataStart { get; }
    /// <summary>Entries in header order.</summary>
    public IReadOnlyList<SafeTensorsEntry> Entries { get; }
    /// <summary>The optional "__metadata__" string map (e.g. {"format": "pt"}).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    private SafeTensorsFile(string path, FileStream stream, long fileLength, long dataStart,
        List<SafeTensorsEntry> entries, Dictionary<string, string> metadata, long chunkBytes)
    {
        Path = path;
        _chunkBytes = chunkBytes;
        _stream = stream;
        FileLength = fileLength;
        DataStart = dataStart;
        Entries = entries;
        _entries = entries.ToDictionary(e => e.Name, StringComparer.Ordinal);
        Metadata = metadata;
    }

    public IEnumerable<string> Keys => Entries.Select(e => e.Name);

    public bool Contains(string name) => _entries.ContainsKey(name);

    public SafeTensorsEntry this[string name] => _entries.TryGetValue(name, out var e) ? e
        : throw new KeyNotFoundException($"{Path}: no tensor named '{name}' (the file has {_entries.Count} tensors)");

    /// <summary>Opens the file and validates its header; tensor data is read later, on demand.</summary>
    /// <param name="path">The .safetensors file.</param>
    /// <param name="chunkBytes">Staging chunk size for dtype-converting reads.</param>
    public static SafeTensorsFile Open(string path, long chunkBytes = DefaultChunkBytes)
    {
        if (chunkBytes < 8) throw new ArgumentException($"chunkBytes must be at least 8, got {chunkBytes}");
        if (!File.Exists(path)) throw new FileNotFoundException($"safetensors file not found: {path}", path);
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
        try
        {
            var (dataStart, entries, metadata) = ReadHeader(path, stream);
            return new SafeTensorsFile(path, stream, stream.Length, dataStart, entries, metadata, chunkBytes);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Reads only the header of a file (entries + metadata), closing the file again.</summary>
    public static IReadOnlyList<SafeTensorsEntry> ReadEntries(string path)
    {
        using var f = Open(path);
        return f.Entries;
    }

    private static (long DataStart, List<SafeTensorsEntry> Entries, Dictionary<string, string> Metadata) ReadHeader(string path, FileStream stream)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors reading needs a little-endian machine");
        long fileLength = stream.Length;
        if (fileLength < 8)
            throw Bad(path, $"truncated: the file is {fileLength} bytes, shorter than the 8-byte header length field");
        Span<byte> lenBytes = stackalloc byte[8];
        stream.ReadExactly(lenBytes);
        ulong headerLenU = BitConverter.ToUInt64(lenBytes);
        if (headerLenU > (ulong)(fileLength - 8))
            throw Bad(path, $"corrupt header: header length {headerLenU} bytes points past the end of the file ({fileLength} bytes); the file is truncated or not safetensors");
        if (headerLenU > MaxHeaderBytes)
            throw Bad(path, $"corrupt header: header length {headerLenU} bytes exceeds the format's limit of {MaxHeaderBytes}");
        if (headerLenU < 2)
            throw Bad(path, $"corrupt header: header length {headerLenU} bytes is too short for a JSON object");
        int headerLen = (int)headerLenU;
        var headerBytes = new byte[headerLen];
        stream.ReadExactly(headerBytes);
        long dataStart = 8 + headerLen;
        long dataLength = fileLength - dataStart;

        try
        {
            _ = StrictUtf8.GetCharCount(headerBytes);
        }
        catch (DecoderFallbackException ex)
        {
            throw Bad(path, $"corrupt header: the {headerLen}-byte header is not valid UTF-8 text, so not JSON ({ex.Message})", ex);
        }
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(headerBytes, new JsonDocumentOptions { AllowTrailingCommas = false, MaxDepth = 16 });
        }
        catch (Exception ex) when (ex is JsonException or ArgumentException or DecoderFallbackException)
        {
            throw Bad(path, $"corrupt header: the {headerLen}-byte header is not valid JSON ({ex.Message})", ex);
        }

        var entries = new List<SafeTensorsEntry>();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        using (doc)
        try
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw Bad(path, $"corrupt header: expected a JSON object, found {doc.RootElement.ValueKind}");
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (!seen.Add(prop.Name)) throw Bad(path, $"corrupt header: key '{prop.Name}' appears twice");
                if (prop.Name == "__metadata__")
                {
                    if (prop.Value.ValueKind != JsonValueKind.Object)
                        throw Bad(path, $"corrupt header: '__metadata__' must be an object of strings, found {prop.Value.ValueKind}");
                    foreach (var m in prop.Value.EnumerateObject())
                    {
                        if (m.Value.ValueKind != JsonValueKind.String)
                            throw Bad(path, $"corrupt header: '__metadata__.{m.Name}' must be a string, found {m.Value.ValueKind}");
                        metadata[m.Name] = m.Value.GetString()!;
                    }
                    continue;
                }
                entries.Add(ParseEntry(path, prop.Name, prop.Value));
            }
        }
        catch (InvalidOperationException ex)
        {
            // e.g. a string that is not valid text after unescaping (lone surrogate)
            throw Bad(path, $"corrupt header: {ex.Message}", ex);
        }

        // Byte ranges: inside the data section, not overlapping.
        foreach (var e in entries.OrderByDescending(e => e.End))
        {
            if (e.End > dataLength)
                throw Bad(path, $"truncated or corrupt: tensor '{e.Name}' has data_offsets [{e.Begin}, {e.End}) outside the data section, " +
                    $"which holds only {dataLength} bytes (file {fileLength} bytes, header {headerLen} bytes)");
            break;
        }
        SafeTensorsEntry? prev = null;
        foreach (var e in entries.Where(e => e.ByteLength > 0).OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            if (prev != null && e.Begin < prev.End)
                throw Bad(path, $"corrupt header: byte ranges of tensors '{prev.Name}' [{prev.Begin}, {prev.End}) and '{e.Name}' [{e.Begin}, {e.End}) overlap");
            prev = e;
        }
        return (dataStart, entries, metadata);
    }

    private static SafeTensorsEntry ParseEntry(string path, string name, JsonElement v)
    {
        if (v.ValueKind != JsonValueKind.Object)
            throw Bad(path, $"corrupt header: tensor '{name}' must be an object with dtype, shape, data_offsets; found {v.ValueKind}");
        if (!v.TryGetProperty("dtype", out var dtEl) || dtEl.ValueKind != JsonValueKind.String)
            throw Bad(path, $"corrupt header: tensor '{name}' has no string 'dtype'");
        var dtype = dtEl.GetString()!;
        if (!SafeTensorsDType.TryParse(dtype, out _, out int elemSize))
            throw Bad(path, $"tensor '{name}' has unknown dtype '{dtype}' (known: {string.Join(", ", SafeTensorsDType.KnownNames)})");
        if (!v.TryGetProperty("shape", out var shEl) || shEl.ValueKind != JsonValueKind.Array)
            throw Bad(path, $"corrupt header: tensor '{name}' has no 'shape' array");
        var shape = new long[shEl.GetArrayLength()];
        int i = 0;
        foreach (var d in shEl.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long n) || n < 0)
                throw Bad(path, $"corrupt header: tensor '{name}' has an invalid shape entry {d.GetRawText()} (dimensions must be integers >= 0)");
            shape[i++] = n;
        }
        if (!v.TryGetProperty("data_offsets", out var offEl) || offEl.ValueKind != JsonValueKind.Array || offEl.GetArrayLength() != 2)
            throw Bad(path, $"corrupt header: tensor '{name}' needs 'data_offsets' as [begin, end]");
        var off = offEl.EnumerateArray().ToArray();
        if (off[0].ValueKind != JsonValueKind.Number || off[1].ValueKind != JsonValueKind.Number
            || !off[0].TryGetInt64(out long begin) || !off[1].TryGetInt64(out long end) || begin < 0 || end < begin)
            throw Bad(path, $"corrupt header: tensor '{name}' has invalid data_offsets {offEl.GetRawText()} (need 0 <= begin <= end)");
        long bytes;
        try
        {
            bytes = checked(shape.Aggregate(1L, (a, b) => checked(a * b)) * elemSize);
        }
        catch (OverflowException)
        {
            throw Bad(path, $"corrupt header: tensor '{name}' shape {SafeTensorsEntry.ShapeToText(shape)} is too large");
        }
        if (bytes != end - begin)
            throw Bad(path, $"corrupt header: tensor '{name}' is {dtype} {SafeTensorsEntry.ShapeToText(shape)} = {bytes} bytes, " +
                $"but its data_offsets [{begin}, {end}) span {end - begin} bytes");
        return new SafeTensorsEntry(name, dtype, shape, begin, end);
    }

    private static InvalidDataException Bad(string path, string message, Exception? inner = null) =>
        new($"{path}: {message}", inner);

    /// <summary>Reads one tensor into a new CPU tensor of <paramref name="dtype"/> (default: the stored dtype).</summary>
    public Tensor Read(string name, ScalarType? dtype = null)
    {
        var e = this[name];
        var t = empty(e.Shape, dtype ?? e.ScalarType); // host: Read returns a CPU tensor (ReadInto fills device tensors)
        try
        {
            ReadInto(name, t);
        }
        catch
        {
            t.Dispose();
            throw;
        }
        return t;
    }

    /// <summary>
    /// Reads one tensor straight into <paramref name="destination"/> (same shape; any dtype: converted in
    /// chunks of the staging size given to <see cref="Open"/>). Same dtype + contiguous CPU destination: the file bytes go
    /// directly into its storage, with no staging copy. A destination on another device (a GPU) receives the tensor through
    /// one host chunk of that size, copied to the device chunk by chunk: no host copy of the whole tensor.
    /// Works on parameters that require grad (runs under no_grad).
    /// </summary>
    public void ReadInto(string name, Tensor destination)
    {
        var e = this[name];
        var destShape = destination.shape;
        if (!destShape.SequenceEqual(e.Shape))
            throw new ArgumentException($"{Path}: tensor '{name}': shape mismatch, expected {SafeTensorsEntry.ShapeToText(destShape)}, found {e.ShapeText}");
        if (e.NumberOfElements == 0) return;

        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        bool onHost = destination.device_type == DeviceType.CPU;
        var target = destination.is_contiguous() ? destination : empty(e.Shape, destination.dtype, device: destination.device);
        var flat = target.view(-1);
        var srcType = e.ScalarType;
        long elemSize = e.ElementSize;
        long total = e.NumberOfElements;
        long chunkElems = Math.Max(1, _chunkBytes / elemSize);
        lock (_stream)
        {
            _stream.Position = DataStart + e.Begin;
            bool widenBf16 = srcType == ScalarType.BFloat16 && target.dtype == ScalarType.Float32;
            Tensor? staging = srcType == target.dtype || widenBf16 ? null : empty(Math.Min(chunkElems, total), srcType); // host: file staging
            // device destinations: one host chunk in the target dtype, copied to the device after each read
            Tensor? hostChunk = onHost ? null : empty(Math.Min(chunkElems, total), target.dtype); // host: bounded chunk
            byte[]? raw = widenBf16 ? System.Buffers.ArrayPool<byte>.Shared.Rent((int)(Math.Min(chunkElems, total) * 2)) : null;
            try
            {
            for (long start = 0; start < total; start += chunkElems)
            {
                long n = Math.Min(chunkElems, total - start);
                using var dst = onHost ? flat.narrow(0, start, n) : hostChunk!.narrow(0, 0, n);
                if (raw is not null)
                {
                    var src = raw.AsSpan(0, (int)(n * 2));
                    ReadBytes(name, src);
                    WidenBf16(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(src),
                        System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(dst.bytes));
                }
                else if (staging is null)
                {
                    ReadBytes(name, dst.bytes);
                }
                else
                {
                    using var st = staging.narrow(0, 0, n);
                    ReadBytes(name, st.bytes);
                    dst.copy_(st);
                }
                if (!onHost)
                {
                    using var deviceChunk = flat.narrow(0, start, n);
                    deviceChunk.copy_(dst);
                }
            }
            }
            finally
            {
                if (raw is not null) System.Buffers.ArrayPool<byte>.Shared.Return(raw);
            }
        }
        if (!ReferenceEquals(target, destination)) destination.copy_(target);
    }

    /// <summary>bf16 -> fp32 is exact: the bf16 bits are the high half of the fp32 bits.</summary>
    private static void WidenBf16(ReadOnlySpan<ushort> src, Span<uint> dst)
    {
        int i = 0;
        if (System.Numerics.Vector.IsHardwareAccelerated)
        {
            int w = System.Numerics.Vector<ushort>.Count;
            for (; i + w <= src.Length; i += w)
            {
                System.Numerics.Vector.Widen(new System.Numerics.Vector<ushort>(src[i..]), out var lo, out var hi);
                (lo << 16).CopyTo(dst[i..]);
                (hi << 16).CopyTo(dst[(i + w / 2)..]);
            }
        }
        for (; i < src.Length; i++) dst[i] = (uint)src[i] << 16;
    }

    private void ReadBytes(string name, Span<byte> span)
    {
        try
        {
            _stream.ReadExactly(span);
        }
        catch (EndOfStreamException ex)
        {
            throw new InvalidDataException($"{Path}: truncated: the file ended while reading tensor '{name}' (was it changed after opening?)", ex);
        }
    }

    public void Dispose() => _stream.Dispose();
}
