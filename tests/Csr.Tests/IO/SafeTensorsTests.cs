using System.Text;
using System.Text.Json;
using Csr.Models.IO;
using Csr.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Tests.IO;

public class SafeTensorsTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private readonly bool _init = Init();
    private static bool Init() { TorchRuntime.EnsureInitialised(); return true; }

    /// <summary>Builds a safetensors file by hand (independent of the writer): header JSON + raw bytes.</summary>
    private static byte[] HandMade(string headerJson, byte[] data, int? headerLenOverride = null)
    {
        var h = Encoding.UTF8.GetBytes(headerJson);
        var ms = new MemoryStream();
        ms.Write(BitConverter.GetBytes((ulong)(headerLenOverride ?? h.Length)));
        ms.Write(h);
        ms.Write(data);
        return ms.ToArray();
    }

    [Fact]
    public void Reads_a_hand_made_file_with_f16_bf16_f32_i64_bool_into_the_requested_dtype()
    {
        using var dir = new TempDir();
        // f16 1.0 = 0x3C00, -2.0 = 0xC000; bf16 1.0 = 0x3F80, 0.5 = 0x3F00; f32 3.5 = 0x40600000; i64 7, -1; bool 1,0,1
        var data = new List<byte>();
        data.AddRange([0x00, 0x3C, 0x00, 0xC0]);                      // h: F16 [2] @ [0,4)
        data.AddRange([0x80, 0x3F, 0x00, 0x3F]);                      // b: BF16 [2] @ [4,8)
        data.AddRange(BitConverter.GetBytes(3.5f));                    // f: F32 [1,1] @ [8,12)
        data.AddRange(BitConverter.GetBytes(7L));                      // i: I64 [2] @ [12,28)
        data.AddRange(BitConverter.GetBytes(-1L));
        data.AddRange([1, 0, 1]);                                      // m: BOOL [3] @ [28,31)
        var header = """{"__metadata__":{"format":"pt"},"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]},"f":{"dtype":"F32","shape":[1,1],"data_offsets":[8,12]},"i":{"dtype":"I64","shape":[2],"data_offsets":[12,28]},"m":{"dtype":"BOOL","shape":[3],"data_offsets":[28,31]}}""";
        File.WriteAllBytes(dir["a.safetensors"], HandMade(header, data.ToArray()));

        using var f = SafeTensorsFile.Open(dir["a.safetensors"]);
        Assert.Equal("pt", f.Metadata["format"]);
        Assert.Equal(new[] { "h", "b", "f", "i", "m" }, f.Keys);
        using var h = f.Read("h", ScalarType.Float32);
        Assert.Equal(new[] { 1.0f, -2.0f }, h.data<float>().ToArray());
        using var b = f.Read("b", ScalarType.Float32);
        Assert.Equal(new[] { 1.0f, 0.5f }, b.data<float>().ToArray());
        using var b16 = f.Read("b");
        Assert.Equal(ScalarType.BFloat16, b16.dtype);
        using var ff = f.Read("f", ScalarType.Float16);
        Assert.Equal(new long[] { 1, 1 }, ff.shape);
        Assert.Equal(3.5f, ff.to_type(ScalarType.Float32).item<float>());
        using var i = f.Read("i");
        Assert.Equal(new[] { 7L, -1L }, i.data<long>().ToArray());
        using var m = f.Read("m");
        Assert.Equal(new[] { true, false, true }, m.data<bool>().ToArray());
    }

    [Theory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.BFloat16)]
    [InlineData(ScalarType.Float16)]
    public void Write_then_read_is_bit_exact(ScalarType dtype)
    {
        using var dir = new TempDir();
        using var scope = NewDisposeScope();
        var g = new Generator(7);
        var a = randn(new long[] { 3, 5 }, generator: g).to_type(dtype);
        var b = randn(new long[] { 17 }, generator: g).to_type(dtype);
        var s = tensor(2.5f).to_type(dtype);                      // 0-d
        var e = empty(new long[] { 0, 4 }, dtype);                // empty
        SafeTensorsWriter.Write(dir["x.safetensors"], [("a", a), ("b", b), ("s", s), ("e", e)]);
        using var f = SafeTensorsFile.Open(dir["x.safetensors"]);
        TensorAssert.BitEqual(a, f.Read("a"), "a");
        TensorAssert.BitEqual(b, f.Read("b"), "b");
        TensorAssert.BitEqual(s, f.Read("s"), "s");
        TensorAssert.BitEqual(e, f.Read("e"), "e");
        Assert.Equal(SafeTensorsDType.NameOf(dtype), f["a"].DType);
    }

    [Fact]
    public void Writer_header_follows_the_format_sorted_padded_with_metadata()
    {
        using var dir = new TempDir();
        using var scope = NewDisposeScope();
        SafeTensorsWriter.Write(dir["x.safetensors"], [("z", ones(3)), ("a", zeros(2, 2, dtype: ScalarType.BFloat16))], dtype: null);
        var bytes = File.ReadAllBytes(dir["x.safetensors"]);
        long n = (long)BitConverter.ToUInt64(bytes, 0);
        Assert.Equal(0, n % 8);
        Assert.Equal(8 + n + 3 * 4 + 4 * 2, bytes.Length);
        using var doc = JsonDocument.Parse(Encoding.UTF8.GetString(bytes, 8, (int)n).TrimEnd(' '));
        var keys = doc.RootElement.EnumerateObject().Select(p => p.Name).ToArray();
        Assert.Equal(new[] { "__metadata__", "a", "z" }, keys);
        Assert.Equal("pt", doc.RootElement.GetProperty("__metadata__").GetProperty("format").GetString());
        Assert.Equal("BF16", doc.RootElement.GetProperty("a").GetProperty("dtype").GetString());
        Assert.Equal("[0,8]", doc.RootElement.GetProperty("a").GetProperty("data_offsets").GetRawText());
        Assert.Equal("[8,20]", doc.RootElement.GetProperty("z").GetProperty("data_offsets").GetRawText());
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp-*", SearchOption.AllDirectories));
    }

    [Fact]
    public void Converting_read_in_small_chunks_equals_a_whole_conversion_and_fills_a_parameter_in_place()
    {
        using var dir = new TempDir();
        using var scope = NewDisposeScope();
        var src = randn(new long[] { 7, 13 }, generator: new Generator(3)).to_type(ScalarType.BFloat16);
        SafeTensorsWriter.Write(dir["x.safetensors"], [("w", src)]);
        // chunk of 8 bytes = 4 bf16 elements: 91 elements need 23 chunks, the last one partial
        using var f = SafeTensorsFile.Open(dir["x.safetensors"], chunkBytes: 8);
        var p = new TorchSharp.Modules.Parameter(zeros(7, 13));
        var storageBefore = Address(p);
        f.ReadInto("w", p);
        Assert.Equal(storageBefore, Address(p));
        TensorAssert.BitEqual(src.to_type(ScalarType.Float32), p.detach(), "w");
        // same dtype, chunked direct reads
        var q = zeros(new long[] { 7, 13 }, ScalarType.BFloat16);
        f.ReadInto("w", q);
        TensorAssert.BitEqual(src, q, "w bf16");
        // non-contiguous destination
        var t = zeros(13, 7).t();
        f.ReadInto("w", t);
        TensorAssert.BitEqual(src.to_type(ScalarType.Float32), t.contiguous(), "w transposed dest");
    }

    [Theory]
    [InlineData(SafeTensorsFile.DefaultChunkBytes)]
    [InlineData(100L)]   // 50 bf16 per chunk: one vector of 32 + a scalar tail
    public void Bf16_to_fp32_widening_is_exact_including_specials_and_odd_lengths(long chunkBytes)
    {
        using var dir = new TempDir();
        using var scope = NewDisposeScope();
        var specials = tensor(new[] { 0f, -0f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, 1e-40f, -3.3e38f });
        var src = cat([randn(new long[] { 1003 }, generator: new Generator(5)) * 100, specials]).to_type(ScalarType.BFloat16);
        SafeTensorsWriter.Write(dir["x.safetensors"], [("w", src)]);
        using var f = SafeTensorsFile.Open(dir["x.safetensors"], chunkBytes);
        TensorAssert.BitEqual(src.to_type(ScalarType.Float32), f.Read("w", ScalarType.Float32), "bf16 -> fp32");
    }

    private static unsafe long Address(Tensor t)
    {
        fixed (byte* x = t.bytes) return (long)x;
    }

    [Fact]
    public void Read_into_a_wrong_shape_names_file_key_and_both_shapes()
    {
        using var dir = new TempDir();
        using var scope = NewDisposeScope();
        SafeTensorsWriter.Write(dir["x.safetensors"], [("w", ones(2, 3))]);
        using var f = SafeTensorsFile.Open(dir["x.safetensors"]);
        var ex = Assert.Throws<ArgumentException>(() => f.ReadInto("w", zeros(3, 2)));
        Assert.Contains("x.safetensors", ex.Message);
        Assert.Contains("'w'", ex.Message);
        Assert.Contains("expected [3, 2], found [2, 3]", ex.Message);
    }

    public static IEnumerable<object[]> BadFiles()
    {
        var okData = new byte[16];
        static string Q(string s) => s.Replace('\'', '"');
        string H(string body) => "{" + body + "}";
        var good = Q("'a':{'dtype':'F32','shape':[2],'data_offsets':[0,8]},'b':{'dtype':'F32','shape':[2],'data_offsets':[8,16]}");
        yield return ["tiny", new byte[] { 1, 2, 3 }, new[] { "truncated", "8-byte" }];
        yield return ["len-past-end", HandMade(H(good), okData, headerLenOverride: 1 << 20), new[] { "past the end of the file" }];
        yield return ["not-json", HandMade("{\"a\": [1, 2", okData), new[] { "not valid JSON" }];
        yield return ["not-object", HandMade("[1,2,3]    ", okData), new[] { "expected a JSON object" }];
        yield return ["unknown-dtype", HandMade(H(Q("'a':{'dtype':'F8_E9','shape':[2],'data_offsets':[0,8]}")), okData), new[] { "'a'", "unknown dtype 'F8_E9'" }];
        yield return ["shape-mismatch", HandMade(H(Q("'a':{'dtype':'F32','shape':[3],'data_offsets':[0,8]}")), okData), new[] { "'a'", "12 bytes", "span 8 bytes" }];
        yield return ["negative-shape", HandMade(H(Q("'a':{'dtype':'F32','shape':[-2],'data_offsets':[0,8]}")), okData), new[] { "'a'", "invalid shape" }];
        yield return ["outside-data", HandMade(H(Q("'a':{'dtype':'F32','shape':[2],'data_offsets':[0,8]},'b':{'dtype':'F32','shape':[4],'data_offsets':[8,24]}")), okData), new[] { "'b'", "outside the data section", "truncated" }];
        yield return ["truncated-data", HandMade(H(good), okData[..10]), new[] { "'b'", "truncated" }];
        yield return ["overlap", HandMade(H(Q("'a':{'dtype':'F32','shape':[3],'data_offsets':[0,12]},'b':{'dtype':'F32','shape':[2],'data_offsets':[8,16]}")), okData), new[] { "'a'", "'b'", "overlap" }];
        yield return ["bad-offsets", HandMade(H(Q("'a':{'dtype':'F32','shape':[2],'data_offsets':[8,0]}")), okData), new[] { "'a'", "invalid data_offsets" }];
        yield return ["string-offsets", HandMade(H(Q("'a':{'dtype':'F32','shape':[2],'data_offsets':['0',8]}")), okData), new[] { "'a'", "invalid data_offsets" }];
        yield return ["float-shape", HandMade(H(Q("'a':{'dtype':'F32','shape':[2.5],'data_offsets':[0,8]}")), okData), new[] { "'a'", "invalid shape" }];
        yield return ["no-dtype", HandMade(H(Q("'a':{'shape':[2],'data_offsets':[0,8]}")), okData), new[] { "'a'", "dtype" }];
        yield return ["duplicate-key", HandMade(H(good + "," + Q("'a':{'dtype':'F32','shape':[2],'data_offsets':[0,8]}")), okData), new[] { "'a'", "twice" }];
    }

    [Theory]
    [MemberData(nameof(BadFiles))]
    public void Bad_files_give_an_error_naming_the_file_and_the_problem(string name, byte[] content, string[] expected)
    {
        using var dir = new TempDir();
        var path = dir[name + ".safetensors"];
        File.WriteAllBytes(path, content);
        var ex = Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Open(path).Dispose());
        Assert.Contains(path, ex.Message);
        foreach (var e in expected) Assert.Contains(e, ex.Message);
    }

    [Fact]
    public void Missing_file_is_a_file_not_found_error_naming_it()
    {
        var ex = Assert.Throws<FileNotFoundException>(() => SafeTensorsFile.Open("/nonexistent/dir/w.safetensors"));
        Assert.Contains("/nonexistent/dir/w.safetensors", ex.Message);
    }

    [Fact]
    public void Random_byte_flips_and_truncations_only_ever_give_invalid_data_errors()
    {
        using var dir = new TempDir();
        using var scope = NewDisposeScope();
        var valid = dir["valid.safetensors"];
        SafeTensorsWriter.Write(valid, [("a.weight", randn(3, 4)), ("b", randn(5).to_type(ScalarType.BFloat16)), ("c", arange(6L))]);
        var bytes = File.ReadAllBytes(valid);
        var rng = new Random(1234);
        int tried = 0, rejected = 0;
        for (int trial = 0; trial < 300; trial++)
        {
            var b = (byte[])bytes.Clone();
            int kind = trial % 3;
            if (kind == 0) b = b[..rng.Next(b.Length)];                                        // truncate
            else if (kind == 1) b[rng.Next(Math.Min(b.Length, 8 + 200))] ^= (byte)(1 << rng.Next(8)); // flip in length/header
            else for (int k = 0; k < 4; k++) b[rng.Next(b.Length)] = (byte)rng.Next(256);       // random bytes anywhere
            var p = dir[$"c{trial}.safetensors"];
            File.WriteAllBytes(p, b);
            tried++;
            try
            {
                using var f = SafeTensorsFile.Open(p);
                foreach (var e in f.Entries) f.Read(e.Name, ScalarType.Float32).Dispose();
            }
            catch (InvalidDataException ex)
            {
                Assert.Contains(p, ex.Message);
                rejected++;
            }
            File.Delete(p);
        }
        output.WriteLine($"safetensors corruptions: {tried} tried, {rejected} rejected with InvalidDataException, {tried - rejected} still valid and read; no other outcome");
        Assert.Equal(300, tried);
        Assert.True(rejected >= 100, $"only {rejected} of {tried} corruptions were detected");
    }
}
