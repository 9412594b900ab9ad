using static TorchSharp.torch;

namespace Csr.Models.IO;

/// <summary>The element types of the safetensors format (the header's "dtype" strings) and their torch equivalents.</summary>
public static class SafeTensorsDType
{
    private static readonly Dictionary<string, (ScalarType Type, int Size)> ByName = new(StringComparer.Ordinal)
    {
        ["F64"] = (ScalarType.Float64, 8),
        ["F32"] = (ScalarType.Float32, 4),
        ["F16"] = (ScalarType.Float16, 2),
        ["BF16"] = (ScalarType.BFloat16, 2),
        ["I64"] = (ScalarType.Int64, 8),
        ["I32"] = (ScalarType.Int32, 4),
        ["I16"] = (ScalarType.Int16, 2),
        ["I8"] = (ScalarType.Int8, 1),
        ["U8"] = (ScalarType.Byte, 1),
        ["BOOL"] = (ScalarType.Bool, 1),
    };

    /// <summary>The dtype names this reader understands, for error messages.</summary>
    public static IEnumerable<string> KnownNames => ByName.Keys;

    public static bool TryParse(string name, out ScalarType type, out int elementSize)
    {
        if (ByName.TryGetValue(name, out var v)) { type = v.Type; elementSize = v.Size; return true; }
        type = default; elementSize = 0; return false;
    }

    /// <summary>The header name of a torch dtype ("F32", "BF16", ...); throws for types safetensors cannot hold.</summary>
    public static string NameOf(ScalarType type)
    {
        foreach (var (name, v) in ByName) if (v.Type == type) return name;
        throw new ArgumentException($"dtype {type} cannot be stored in a safetensors file");
    }

    /// <summary>Bytes per element of a torch dtype that safetensors can hold.</summary>
    public static int SizeOf(ScalarType type)
    {
        foreach (var v in ByName.Values) if (v.Type == type) return v.Size;
        throw new ArgumentException($"dtype {type} cannot be stored in a safetensors file");
    }

    public static bool IsFloatingPoint(ScalarType type) =>
        type is ScalarType.Float64 or ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16;
}
