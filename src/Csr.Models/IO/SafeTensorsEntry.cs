using static TorchSharp.torch;

namespace Csr.Models.IO;

/// <summary>
/// One tensor's header record: dtype, shape and byte range [Begin, End) relative to the start of the
/// data section (right after the 8-byte length and the JSON header).
/// </summary>
public sealed record SafeTensorsEntry(string Name, string DType, long[] Shape, long Begin, long End)
{
    public ScalarType ScalarType => SafeTensorsDType.TryParse(DType, out var t, out _) ? t
        : throw new InvalidOperationException($"unknown dtype {DType}");

    public int ElementSize => SafeTensorsDType.TryParse(DType, out _, out var s) ? s
        : throw new InvalidOperationException($"unknown dtype {DType}");

    public long ByteLength => End - Begin;

    public long NumberOfElements => Shape.Aggregate(1L, (a, b) => a * b);

    public string ShapeText => ShapeToText(Shape);

    public static string ShapeToText(IEnumerable<long> shape) => "[" + string.Join(", ", shape) + "]";
}
