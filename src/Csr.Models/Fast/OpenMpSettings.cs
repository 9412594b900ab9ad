using System.Runtime.InteropServices;

namespace Csr.Models.Fast;

/// <summary>
/// libtorch's OpenMP workers spin after every parallel region (libgomp's default active wait). Between torch ops
/// that spinning takes the cores from .NET threads (e.g. <see cref="Bf16Gemv"/>'s Parallel.For), which measured
/// 5-10x slower here; <c>OMP_WAIT_POLICY=PASSIVE</c> lets them sleep. libgomp reads it when libtorch loads, so call
/// <see cref="PreferPassiveWait"/> before the first torch call. .NET's Environment.SetEnvironmentVariable does not
/// change the native environment on Unix, hence setenv.
/// </summary>
public static class OpenMpSettings
{
    [DllImport("libc", EntryPoint = "setenv", SetLastError = true)]
    private static extern int SetEnv(string name, string value, int overwrite);

    /// <summary>Sets OMP_WAIT_POLICY=PASSIVE unless the user set it. Returns the effective value.</summary>
    public static string PreferPassiveWait()
    {
        var current = Environment.GetEnvironmentVariable("OMP_WAIT_POLICY");
        if (!string.IsNullOrEmpty(current)) return current;
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
        {
            try { SetEnv("OMP_WAIT_POLICY", "PASSIVE", 0); }
            catch (DllNotFoundException) { return "(unchanged)"; }
            catch (EntryPointNotFoundException) { return "(unchanged)"; }
        }
        Environment.SetEnvironmentVariable("OMP_WAIT_POLICY", "PASSIVE");
        return "PASSIVE";
    }
}
