using System.Diagnostics;
using System.Text.Json;

namespace Csr.Tests.Device;

/// <summary>
/// The MSBuild switch, by evaluation only (no restore, so it runs where the CUDA packages are not served):
/// -p:TorchBackend=cuda puts TorchSharp + its CUDA runtime where TorchSharp-cpu was, the default stays CPU, and an
/// unknown value fails with a message naming the allowed ones.
/// </summary>
public class TorchBackendSwitchTests
{
    static (int Exit, string Out) MsBuild(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("msbuild");
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["MSBUILDNOINPROCNODE"] = "1";
        using var p = Process.Start(psi)!;
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(2))) { p.Kill(true); throw new TimeoutException("dotnet msbuild " + string.Join(' ', args)); }
        return (p.ExitCode, o.Result + e.Result);
    }

    static List<string> PackageReferences(string project, params string[] props)
    {
        var (exit, output) = MsBuild([project, "-getItem:PackageReference", .. props]);
        Assert.True(exit == 0, output);
        using var doc = JsonDocument.Parse(output[output.IndexOf('{')..]);
        return doc.RootElement.GetProperty("Items").GetProperty("PackageReference").EnumerateArray()
            .Select(i => i.GetProperty("Identity").GetString()!).ToList();
    }

    public static IEnumerable<object[]> Projects() =>
        new[] { "src/Csr.Native/Csr.Native.csproj", "src/Csr.Train/Csr.Train.csproj", "tests/Csr.Tests/Csr.Tests.csproj" }.Select(p => new object[] { p });

    [SourceTreeTheory]
    [MemberData(nameof(Projects))]
    public void Cuda_backend_replaces_the_cpu_runtime(string project)
    {
        var path = Path.Combine(RepoRoot.Find()!, project);
        var cuda = PackageReferences(path, "-p:TorchBackend=cuda");
        Assert.DoesNotContain("TorchSharp-cpu", cuda);
        Assert.Contains("TorchSharp", cuda);
        Assert.Contains("TorchSharp-cuda-linux", cuda);
        var cpu = PackageReferences(path);
        Assert.Contains("TorchSharp-cpu", cpu);
        Assert.DoesNotContain("TorchSharp-cuda-linux", cpu);
        var (_, constants) = MsBuild(path, "-getProperty:DefineConstants", "-p:TorchBackend=cuda");
        Assert.Contains("CSR_TORCH_CUDA", constants);
        var (_, cpuConstants) = MsBuild(path, "-getProperty:DefineConstants");
        Assert.DoesNotContain("CSR_TORCH_CUDA", cpuConstants);
    }

    [SourceTreeFact]
    public void Cuda_packages_have_versions_matching_torchsharp()
    {
        var path = Path.Combine(RepoRoot.Find()!, "src/Csr.Native/Csr.Native.csproj");
        var (exit, output) = MsBuild(path, "-getItem:PackageVersion", "-p:TorchBackend=cuda");
        Assert.True(exit == 0, output);
        using var doc = JsonDocument.Parse(output[output.IndexOf('{')..]);
        var versions = doc.RootElement.GetProperty("Items").GetProperty("PackageVersion").EnumerateArray()
            .ToDictionary(i => i.GetProperty("Identity").GetString()!, i => i.GetProperty("Version").GetString()!);
        Assert.Equal(versions["TorchSharp"], versions["TorchSharp-cuda-linux"]);
        Assert.Equal(versions["TorchSharp-cpu"], versions["TorchSharp"]);
    }

    [SourceTreeFact]
    public void An_unknown_backend_fails_with_a_clear_message()
    {
        var path = Path.Combine(RepoRoot.Find()!, "src/Csr.Native/Csr.Native.csproj");
        var (exit, output) = MsBuild(path, "-t:CsrCheckTorchBackend", "-p:TorchBackend=rocm");
        Assert.NotEqual(0, exit);
        Assert.Contains("TorchBackend=rocm is not known: use -p:TorchBackend=cpu", output);
    }
}

/// <summary>A theory that needs the source tree; skipped with the reason otherwise.</summary>
public sealed class SourceTreeTheoryAttribute : TheoryAttribute
{
    public SourceTreeTheoryAttribute()
    {
        if (RepoRoot.Find() is null) Skip = $"no Csr.sln above {AppContext.BaseDirectory}: the source tree is not here";
    }
}
