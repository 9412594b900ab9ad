using System.Diagnostics;

namespace Csr.Tests.Profiling;

/// <summary>
/// eng/profile.sh under the real Nsight Systems: a tiny 2-round <c>csr-train run</c> and an <c>eval describe</c>
/// (the csr-train.dll next to the tests) must leave a range for every stage, round, batch and DPO step in nvtxsum.
/// </summary>
public class NsysProfileTests(Xunit.Abstractions.ITestOutputHelper output)
{
    static readonly string[] Expected =
    [
        "sample", "score", "construct", "dpo", "merge", "eval",
        "round 1", "round 2", "sample prefill 1", "sample depth 1", "score batch 1", "dpo reference", "dpo reference batch 1",
        "dpo step 1", "dpo step 2", "merge save", "eval batch 1",
        "kernel DpoLoss.Compute", "kernel DpoLogRatio.SequenceLogProbsFromHidden", "kernel ClipScoring.PairScores",
    ];

    [NsysFact]
    public void Profile_of_a_tiny_run_has_a_range_for_every_stage()
    {
        string script = RepoFile("eng/profile.sh");
        string dir = Directory.CreateTempSubdirectory("csr-profile-").FullName;
        try
        {
            var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in new[] { script, "--out", dir }) psi.ArgumentList.Add(a);
            psi.Environment["CSR_TRAIN"] = Path.Combine(AppContext.BaseDirectory, "csr-train.dll");
            psi.Environment["PROFILE_TIMEOUT"] = "300";
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(TimeSpan.FromMinutes(7))) { p.Kill(entireProcessTree: true); Assert.Fail("eng/profile.sh did not finish in 7 minutes"); }
            p.WaitForExit();
            output.WriteLine(stdout.Result);
            Assert.True(p.ExitCode == 0, $"eng/profile.sh exited {p.ExitCode}: {stderr.Result}");

            var rows = File.ReadAllLines(Path.Combine(dir, "nvtxsum.csv"));
            Assert.StartsWith("Time (%),", rows[0]);
            int rangeColumn = Array.IndexOf(rows[0].Split(','), "Range");
            int countColumn = Array.IndexOf(rows[0].Split(','), "Instances");
            Assert.True(rangeColumn >= 0 && countColumn >= 0, rows[0]);
            var counts = rows.Skip(1).Select(r => r.Split(',')).ToDictionary(c => c[rangeColumn], c => int.Parse(c[countColumn]));
            var missing = Expected.Where(e => !counts.ContainsKey(e)).ToList();
            Assert.True(missing.Count == 0, $"ranges missing from nvtxsum: {string.Join(", ", missing)}; present: {string.Join(", ", counts.Keys)}");
            // One range per stage and round: sample / score / dpo / merge ran once in each of the two rounds.
            foreach (var stage in new[] { "sample", "score", "construct", "dpo", "merge" }) Assert.Equal(2, counts[stage]);
            Assert.Equal(1, counts["round 2"]);
        }
        finally
        {
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
    }

    // A stand-in for nsys: `profile` fails the first `failures` times as nsys does when it cannot reach its collection agent
    // (before the command runs) or with another error, then runs the command and writes an empty report; `stats` prints a CSV header.
    const string FakeNsys = """
        #!/usr/bin/env bash
        if [ "$1" = stats ]; then echo "Time (%),Range,Instances"; exit 0; fi
        [ "$1" = profile ] || exit 9
        shift; while [ "$1" != "-o" ]; do shift; done; o="$2"; shift 4
        n=$(( $(cat "$FAKE_NSYS_COUNT" 2>/dev/null || echo 0) + 1 )); echo "$n" > "$FAKE_NSYS_COUNT"
        if [ "$n" -le "$FAKE_NSYS_FAILURES" ]; then echo "$FAKE_NSYS_ERROR"; exit 1; fi
        "$@"; rc=$?; : > "$o.nsys-rep"; exit $rc
        """;

    const string AgentError = "[QuadDCommon::tag_message*] = Local Endpoint is not available.";

    [Theory]
    [InlineData(1, AgentError, 0, 2, 1)]      // the agent was not reachable once: one more try profiles the command, which runs once
    [InlineData(2, AgentError, 4, 2, 0)]      // twice: no third try, "no report" (exit 4), and the command never ran
    [InlineData(1, "unknown option", 4, 1, 0)] // any other failure: not tried again
    public async Task A_profile_that_could_not_reach_the_nsys_agent_is_tried_once_more(int failures, string error, int exitCode, int tries, int commandRuns)
    {
        string dir = Directory.CreateTempSubdirectory("csr-fake-nsys-").FullName;
        try
        {
            string bin = Directory.CreateDirectory(Path.Combine(dir, "bin")).FullName, nsys = Path.Combine(bin, "nsys");
            File.WriteAllText(nsys, FakeNsys.Replace("\r\n", "\n") + "\n");
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(nsys, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            string runs = Path.Combine(dir, "runs.txt"), count = Path.Combine(dir, "count.txt");
            var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in new[] { RepoFile("eng/profile.sh"), "--out", Path.Combine(dir, "out"), "--", "bash", "-c", $"echo ran >> '{runs}'" })
                psi.ArgumentList.Add(a);
            psi.Environment["PATH"] = bin + ":" + Environment.GetEnvironmentVariable("PATH");
            psi.Environment["FAKE_NSYS_COUNT"] = count;
            psi.Environment["FAKE_NSYS_FAILURES"] = failures.ToString();
            psi.Environment["FAKE_NSYS_ERROR"] = error;
            using var p = Process.Start(psi)!;
            var stdoutTask = p.StandardOutput.ReadToEndAsync();
            var stderrTask = p.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
            await p.WaitForExitAsync(timeout.Token);
            string stdout = await stdoutTask, stderr = await stderrTask;
            Assert.True(p.ExitCode == exitCode, $"exit {p.ExitCode}, expected {exitCode}: {stderr}{stdout}");
            Assert.Equal(tries.ToString(), File.ReadAllText(count).Trim());
            Assert.Equal(tries == 2, stderr.Contains("trying once more"));
            Assert.Equal(commandRuns, File.Exists(runs) ? File.ReadAllLines(runs).Length : 0);
        }
        finally
        {
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
    }

    static string RepoFile(string relative)
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, relative))) return Path.Combine(d.FullName, relative);
        throw new FileNotFoundException($"{relative} not found above {AppContext.BaseDirectory}");
    }
}

/// <summary>A fact that is skipped, saying so, where Nsight Systems (nsys) is not installed.</summary>
public sealed class NsysFactAttribute : FactAttribute
{
    public NsysFactAttribute()
    {
        bool found = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Any(d => File.Exists(Path.Combine(d, "nsys"))) || File.Exists("/usr/local/cuda/bin/nsys");
        if (!found) Skip = "nsys (Nsight Systems) is not installed; on Debian 12: bash eng/profile.sh --install";
    }
}
