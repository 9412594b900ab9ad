using Csr.Native;
using static TorchSharp.torch;

namespace Csr.Tests.Device;

/// <summary>
/// <c>--dtype auto</c>: bf16 on CUDA and on CPUs with native bf16 (AVX512_BF16, AMX-BF16, Arm BF16), fp32 on other
/// CPUs; the flags are given, so every machine kind is covered on any machine.
/// </summary>
public class AutoDTypeTests
{
    static HashSet<string> Flags(params string[] f) => new(f, StringComparer.Ordinal);

    [Theory]
    [InlineData("avx2 fma", ScalarType.Float32)]                              // AVX2-only EPYC (Zen 3)
    [InlineData("avx2 fma avx512f avx512bw avx512vl", ScalarType.Float32)]    // AVX-512 without its bf16 extension
    [InlineData("avx2 fma avx512f avx512_bf16", ScalarType.BFloat16)]         // Zen 4 / Cooper Lake
    [InlineData("avx2 avx512f amx_tile amx_bf16", ScalarType.BFloat16)]       // AMX
    [InlineData("fp asimd bf16", ScalarType.BFloat16)]                        // Arm64 with FEAT_BF16
    [InlineData("", ScalarType.Float32)]
    public void Auto_on_the_cpu_follows_the_flags(string flags, ScalarType expected)
    {
        var set = Flags(flags.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(expected, ComputeDevice.ResolveDType("auto", CPU, set));
        Assert.Equal(expected, ComputeDevice.ResolveDType(null, CPU, set));
        Assert.Equal(expected == ScalarType.BFloat16, CpuFeatures.HasNativeBf16(set));
    }

    [Fact]
    public void Auto_on_cuda_is_bf16_whatever_the_cpu()
    {
        var cuda = new TorchSharp.torch.Device(TorchSharp.DeviceType.CUDA, 0);
        Assert.Equal(ScalarType.BFloat16, ComputeDevice.ResolveDType("auto", cuda, Flags("avx2")));
        Assert.Equal("dtype auto: bf16 (CUDA device)", ComputeDevice.ResolveDTypeChoice("auto", cuda, Flags()).ToString());
    }

    [Fact]
    public void An_explicit_dtype_ignores_the_flags()
    {
        Assert.Equal(ScalarType.BFloat16, ComputeDevice.ResolveDType("bf16", CPU, Flags("avx2")));
        Assert.Equal(ScalarType.Float32, ComputeDevice.ResolveDType("fp32", CPU, Flags("avx512_bf16")));
        Assert.False(ComputeDevice.ResolveDTypeChoice("bfloat16", CPU, Flags()).IsAuto);
        var ex = Assert.Throws<ArgumentException>(() => ComputeDevice.ResolveDType("fp16", CPU, Flags()));
        Assert.Equal("--dtype fp16: expected auto, fp32 or bf16", ex.Message);
    }

    [Fact]
    public void The_reason_names_what_decided()
    {
        Assert.Equal("dtype auto: fp32 (CPU has no AVX512_BF16/AMX-BF16)", ComputeDevice.ResolveDTypeChoice("auto", CPU, Flags("avx2", "fma")).ToString());
        Assert.Equal("dtype auto: bf16 (CPU has AVX512_BF16)", ComputeDevice.ResolveDTypeChoice("auto", CPU, Flags("avx512_bf16", "amx_bf16")).ToString());
        Assert.Equal("dtype auto: bf16 (CPU has AMX_BF16)", ComputeDevice.ResolveDTypeChoice("auto", CPU, Flags("amx_bf16")).ToString());
    }

    [Fact]
    public void Cpuinfo_flags_and_model_are_read_from_the_first_processor()
    {
        const string x86 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9R14\nflags\t\t: fpu sse2 AVX2 fma avx512f avx512_bf16\n\n" +
                           "processor\t: 1\nflags\t\t: fpu amx_bf16\n";
        var flags = CpuFeatures.ParseCpuInfoFlags(x86);
        Assert.Equal(Flags("fpu", "sse2", "avx2", "fma", "avx512f", "avx512_bf16"), flags);
        Assert.Equal("AMD EPYC 9R14", CpuFeatures.ParseCpuInfoModel(x86));
        Assert.Equal(ScalarType.BFloat16, ComputeDevice.ResolveDType("auto", CPU, flags));

        const string arm = "processor\t: 0\nBogoMIPS\t: 243.75\nFeatures\t: fp asimd evtstrm bf16 i8mm\nCPU implementer\t: 0x41\n";
        Assert.Contains("bf16", CpuFeatures.ParseCpuInfoFlags(arm));
        Assert.Empty(CpuFeatures.ParseCpuInfoFlags("processor\t: 0\n"));
    }

    [Fact]
    public void This_machine_resolves_auto_from_its_own_flags()
    {
        var expected = CpuFeatures.HasNativeBf16(CpuFeatures.Flags) ? ScalarType.BFloat16 : ScalarType.Float32;
        Assert.Equal(expected, ComputeDevice.ResolveDType("auto", CPU));
        if (OperatingSystem.IsLinux() && System.Runtime.Intrinsics.X86.Avx2.IsSupported) Assert.Contains("avx2", CpuFeatures.Flags);
    }

    [Fact]
    public void The_cli_writes_what_auto_chose_once()
    {
        var writer = new StringWriter();
        int reported = 0;
        Assert.Equal(ScalarType.Float32, Csr.Train.Cli.ComputeVerbBase.ResolveDType("fp32", CPU, writer, ref reported));
        Assert.Equal("", writer.ToString());                        // an explicit dtype says nothing
        var first = Csr.Train.Cli.ComputeVerbBase.ResolveDType("auto", CPU, writer, ref reported);
        Csr.Train.Cli.ComputeVerbBase.ResolveDType("auto", CPU, writer, ref reported);
        Assert.Equal(ComputeDevice.ResolveDType("auto", CPU), first);
        Assert.Equal(ComputeDevice.ResolveDTypeChoice("auto", CPU) + Environment.NewLine, writer.ToString());
        Assert.StartsWith("dtype auto: ", writer.ToString());
    }
}
