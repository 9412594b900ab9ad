using System.Diagnostics;

namespace Csr.Tests.Hardening;

/// <summary>
/// Runs the real csr-train (the csr-train.dll copied next to the tests) as a child process, optionally
/// killing it after a delay or as soon as a condition (e.g. on its output directory) holds: the harness
/// behind the interrupted-run tests.
/// </summary>
internal static class CliProcess
{
    public sealed record Result(int ExitCode, string StdOut, string StdErr, bool Killed, TimeSpan Elapsed);

    public static string CliDll => Path.Combine(AppContext.BaseDirectory, "csr-train.dll");

    /// <param name="killWhen">Polled every few milliseconds while the process runs; the process is SIGKILLed the
    /// first time it returns true (Killed then says so). If the process exits first, it is not killed.</param>
    public static Result Run(IEnumerable<string> args, TimeSpan? killAfter = null, TimeSpan? timeout = null, string? workDir = null,
        Func<bool>? killWhen = null)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            WorkingDirectory = workDir ?? AppContext.BaseDirectory,
        };
        psi.ArgumentList.Add(CliDll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["NO_COLOR"] = "1";
        psi.Environment["TERM"] = "dumb";
        var sw = Stopwatch.StartNew();
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start dotnet");
        var outTask = p.StandardOutput.ReadToEndAsync();
        var errTask = p.StandardError.ReadToEndAsync();
        bool killed = false;
        var limit = timeout ?? TimeSpan.FromMinutes(3);
        if (killAfter is TimeSpan k && !p.WaitForExit(k))
        {
            p.Kill(entireProcessTree: true); // SIGKILL: no finally blocks, no flushes
            killed = true;
        }
        if (killWhen != null)
        {
            while (!p.WaitForExit(5))
            {
                if (sw.Elapsed > limit) break;
                if (!killWhen()) continue;
                p.Kill(entireProcessTree: true);
                killed = true;
                break;
            }
        }
        if (!p.WaitForExit(limit))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"csr-train {string.Join(' ', args)} did not finish within {limit}");
        }
        p.WaitForExit();
        // a process that finished in the instant between the check and the kill was not interrupted
        killed &= p.ExitCode != 0;
        return new Result(p.ExitCode, outTask.Result, errTask.Result, killed, sw.Elapsed);
    }

    /// <summary>Every file under dir as (relative path, bytes), sorted; temp files included so tests can see them.</summary>
    public static SortedDictionary<string, byte[]> Snapshot(string dir)
    {
        var d = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        if (!Directory.Exists(dir)) return d;
        foreach (var f in Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories))
            d[Path.GetRelativePath(dir, f)] = File.ReadAllBytes(f);
        return d;
    }

    /// <summary>Files that an atomic writer leaves only when it was interrupted between write and rename.</summary>
    public static IEnumerable<string> TempFiles(string dir) =>
        Directory.Exists(dir)
            ? Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Where(f => f.EndsWith(".tmp", StringComparison.Ordinal))
            : Enumerable.Empty<string>();
}
