using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Models.IO;

/// <summary>
/// Writes safetensors files: 8-byte little-endian header length, JSON header (keys sorted, padded
/// with spaces to a multiple of 8, "__metadata__" = {"format": "pt"} by default), then each tensor's
/// little-endian bytes. Tensors are converted and written one at a time; the write is atomic.
/// </summary>
public static class SafeTensorsWriter
{
    private const long ChunkElements = 8 << 20;

    /// <summary>
    /// Writes <paramref name="tensors"/> to <paramref name="path"/>. <paramref name="dtype"/> converts every
    /// floating-point tensor (integer and bool tensors keep their type); null keeps each tensor's dtype.
    /// </summary>
    public static void Write(string path, IEnumerable<(string Name, Tensor Tensor)> tensors,
        ScalarType? dtype = null, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.OrderBy(t => t.Name, StringComparer.Ordinal).ToList();
        var dup = list.GroupBy(t => t.Name).FirstOrDefault(g => g.Count() > 1);
        if (dup != null) throw new ArgumentException($"{path}: tensor name '{dup.Key}' given twice");
        if (list.Any(t => t.Name == "__metadata__")) throw new ArgumentException($"{path}: '__metadata__' is reserved");

        var types = list.Select(t => OutputType(t.Tensor.dtype, dtype)).ToList();
        var header = BuildHeader(list, types, metadata ?? new Dictionary<string, string> { ["format"] = "pt" });
        AtomicFile.Write(path, s =>
        {
            s.Write(BitConverter.GetBytes((ulong)header.Length));
            s.Write(header);
            for (int i = 0; i < list.Count; i++) WriteTensor(s, list[i].Tensor, types[i]);
        });
    }

    /// <summary>Byte size a tensor takes in a file when written with <paramref name="dtype"/> (null: its own).</summary>
    public static long ByteSize(Tensor t, ScalarType? dtype = null) =>
        t.numel() * SafeTensorsDType.SizeOf(OutputType(t.dtype, dtype));

    internal static ScalarType OutputType(ScalarType own, ScalarType? requested) =>
        requested is ScalarType r && SafeTensorsDType.IsFloatingPoint(own) ? r : own;

    private static byte[] BuildHeader(List<(string Name, Tensor Tensor)> list, List<ScalarType> types, IReadOnlyDictionary<string, string> metadata)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            if (metadata.Count > 0)
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal)) w.WriteString(k, v);
                w.WriteEndObject();
            }
            long offset = 0;
            for (int i = 0; i < list.Count; i++)
            {
                var (name, t) = list[i];
                long bytes = t.numel() * SafeTensorsDType.SizeOf(types[i]);
                w.WriteStartObject(name);
                w.WriteString("dtype", SafeTensorsDType.NameOf(types[i]));
                w.WriteStartArray("shape");
                foreach (var d in t.shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + bytes);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += bytes;
            }
            w.WriteEndObject();
        }
        var raw = ms.ToArray();
        int padded = (raw.Length + 7) / 8 * 8;
        var header = new byte[padded];
        Array.Fill(header, (byte)' ');
        raw.CopyTo(header, 0);
        return header;
    }

    private static void WriteTensor(Stream s, Tensor tensor, ScalarType type)
    {
        if (tensor.numel() == 0) return;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var t = tensor.detach();
        if (t.device_type != DeviceType.CPU) t = t.cpu();
        if (t.dtype != type) t = t.to_type(type);
        t = t.contiguous().view(-1);
        long total = t.numel();
        for (long start = 0; start < total; start += ChunkElements)
        {
            long n = Math.Min(ChunkElements, total - start);
            using var part = t.narrow(0, start, n);
            s.Write(part.bytes);
        }
    }
}
