using Csr.Models.IO;
using Csr.Native;
using FsCheck.Xunit;
using static TorchSharp.torch;

namespace Csr.Tests.IO;

public class SafeTensorsPropertyTests
{
    private static readonly ScalarType[] Types =
        [ScalarType.Float32, ScalarType.BFloat16, ScalarType.Float16, ScalarType.Int64, ScalarType.Int32, ScalarType.Bool, ScalarType.Byte];

    /// <summary>Any set of tensors (0 to 3 dims, empty ones included, any supported dtype) written and read back is
    /// bit-identical, also when read in tiny chunks and converted through fp32 for the float types.</summary>
    [Property(MaxTest = 40)]
    public bool Round_trip_is_bit_exact_for_random_shapes_and_dtypes(int seed, byte count)
    {
        TorchRuntime.EnsureInitialised();
        using var dir = new TempDir();
        using var scope = NewDisposeScope();
        var rng = new Random(seed);
        var g = new Generator((ulong)(uint)seed);
        var tensors = new List<(string, Tensor)>();
        for (int i = 0; i < 1 + count % 5; i++)
        {
            var shape = Enumerable.Range(0, rng.Next(4)).Select(_ => (long)rng.Next(5)).ToArray();
            var type = Types[rng.Next(Types.Length)];
            var t = type switch
            {
                ScalarType.Bool => randn(shape, generator: g).gt(0),
                ScalarType.Byte or ScalarType.Int32 or ScalarType.Int64 => randint(0, 200, shape, generator: g).to_type(type),
                _ => randn(shape, generator: g).mul(1000).to_type(type),
            };
            tensors.Add(($"t{i}.w", t));
        }
        var path = dir["p.safetensors"];
        SafeTensorsWriter.Write(path, tensors);
        using var f = SafeTensorsFile.Open(path, chunkBytes: 8);
        foreach (var (name, t) in tensors)
        {
            var back = f.Read(name);
            if (back.dtype != t.dtype || !back.shape.SequenceEqual(t.shape) || !back.bytes.SequenceEqual(t.contiguous().bytes)) return false;
            if (SafeTensorsDType.IsFloatingPoint(t.dtype) && !f.Read(name, ScalarType.Float32).to_type(ScalarType.Float32).bytes.SequenceEqual(t.to_type(ScalarType.Float32).contiguous().bytes)) return false;
        }
        return true;
    }
}
