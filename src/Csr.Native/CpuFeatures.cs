using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace Csr.Native;

/// <summary>
/// The CPU this process runs on: its model name and its feature flags, lower case as Linux spells them in
/// <c>/proc/cpuinfo</c> (<c>avx2</c>, <c>fma</c>, <c>avx512f</c>, <c>avx512_bf16</c>, <c>amx_bf16</c>; <c>bf16</c> on Arm64).
/// The flags are the union of what the .NET runtime reports through <c>System.Runtime.Intrinsics</c> (which has no
/// class for AVX512_BF16 or AMX, but implies AVX512_BF16 with AVX10.1) and, on Linux, the kernel's list.
/// </summary>
public static class CpuFeatures
{
    private static readonly Lazy<(string Model, IReadOnlySet<string> Flags)> Detected = new(Detect);

    /// <summary>The CPU's model name (<c>model name</c> of <c>/proc/cpuinfo</c>), or the architecture when unknown.</summary>
    public static string Model => Detected.Value.Model;

    /// <summary>The CPU's feature flags.</summary>
    public static IReadOnlySet<string> Flags => Detected.Value.Flags;

    /// <summary>The flags that mean native bf16 arithmetic (dot products / matrix tiles in bf16), in the order they are named.</summary>
    public static readonly IReadOnlyList<string> NativeBf16Flags = ["avx512_bf16", "amx_bf16", "bf16"];

    /// <summary>Whether <paramref name="flags"/> include native bf16: AVX512_BF16 or AMX-BF16 (x86), or BF16 (Arm64).</summary>
    public static bool HasNativeBf16(IReadOnlySet<string> flags) => NativeBf16Flags.Any(flags.Contains);

    /// <summary>Whether <paramref name="flags"/> include AVX-512 Foundation.</summary>
    public static bool HasAvx512(IReadOnlySet<string> flags) => flags.Contains("avx512f");

    /// <summary>
    /// The flags of one <c>/proc/cpuinfo</c> text: the <c>flags</c> line (x86) or the <c>Features</c> line (Arm64) of
    /// the first processor, split on white space, lower case.
    /// </summary>
    public static HashSet<string> ParseCpuInfoFlags(string cpuinfo)
    {
        var flags = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in cpuinfo.Split('\n'))
        {
            int colon = line.IndexOf(':');
            if (colon < 0) continue;
            var key = line[..colon].Trim();
            if (key is not ("flags" or "Features")) continue;
            foreach (var f in line[(colon + 1)..].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)) flags.Add(f.ToLowerInvariant());
            break;
        }
        return flags;
    }

    /// <summary>The <c>model name</c> of one <c>/proc/cpuinfo</c> text, or null.</summary>
    public static string? ParseCpuInfoModel(string cpuinfo)
    {
        foreach (var line in cpuinfo.Split('\n'))
        {
            int colon = line.IndexOf(':');
            if (colon > 0 && line[..colon].Trim() is "model name" or "Model") return line[(colon + 1)..].Trim();
        }
        return null;
    }

    /// <summary>One line naming the CPU and the flags that choose this project's fast paths, e.g. for benchmark output.</summary>
    public static string Describe()
    {
        var shown = new[] { "avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_tile", "avx10.1", "bf16", "asimd" }
            .Where(Flags.Contains);
        return $"{Model}, {Environment.ProcessorCount} logical cores, flags: {string.Join(" ", shown)}";
    }

    private static (string, IReadOnlySet<string>) Detect()
    {
        var flags = new HashSet<string>(StringComparer.Ordinal);
        string? model = null;
        if (OperatingSystem.IsLinux() && File.Exists("/proc/cpuinfo"))
        {
            try
            {
                var text = File.ReadAllText("/proc/cpuinfo");
                flags.UnionWith(ParseCpuInfoFlags(text));
                model = ParseCpuInfoModel(text);
            }
            catch (IOException) { } // unreadable: the runtime's flags alone
            catch (UnauthorizedAccessException) { }
        }
        if (Avx2.IsSupported) flags.Add("avx2");
        if (Fma.IsSupported) flags.Add("fma");
        if (Avx512F.IsSupported) flags.Add("avx512f");
        if (Avx10v1.IsSupported)
        {
            flags.Add("avx10.1");
            flags.Add("avx512_bf16"); // AVX10.1 includes the AVX512_BF16 instructions
        }
        return (model ?? RuntimeInformation.ProcessArchitecture.ToString(), flags);
    }
}
