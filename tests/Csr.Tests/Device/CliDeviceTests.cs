using Csr.Native;
using Csr.Tests.Hardening;

namespace Csr.Tests.Device;

/// <summary>A fact for a CPU-runtime build (the default): skipped in a -p:TorchBackend=cuda build.</summary>
public sealed class CpuBuildFactAttribute : FactAttribute
{
    public CpuBuildFactAttribute()
    {
        if (ComputeDevice.CudaBuild) Skip = "this build references TorchSharp's CUDA runtime";
    }
}

/// <summary>
/// <c>--device</c> on every verb that computes, through the real CLI: on a CPU-runtime build <c>--device cuda</c>
/// exits 2 with one line that names the CPU runtime and the CUDA build command; a bad value exits 2 in one line;
/// <c>--device cpu</c> gives exactly the outputs of the default.
/// </summary>
public class CliDeviceTests(TinyWorkspace ws) : IClassFixture<TinyWorkspace>
{
    string Prefs()
    {
        var path = Path.Combine(ws.Root, "prefs.json");
        if (!File.Exists(path))
            File.WriteAllText(path, """
                [{"id": "q0", "image": "im0.png",
                  "conversations": [{"from": "human", "value": "<image>\nDescribe this image."}, {"from": "gpt", "value": "A red dot."}],
                  "rejected_conversations": [{"from": "human", "value": "<image>\nDescribe this image."}, {"from": "gpt", "value": "A blue cat."}]}]
                """);
        return path;
    }

    string Pope()
    {
        var path = Path.Combine(ws.Root, "pope.jsonl");
        if (!File.Exists(path))
            File.WriteAllText(path, """{"question_id": 1, "image": "im0.png", "text": "Is there a dot in the image?", "label": "yes"}""" + "\n");
        return path;
    }

    IEnumerable<(string Verb, string[] Args)> Verbs()
    {
        var o = Path.Combine(ws.Root, "dev-out");
        yield return ("generate", ["generate", "--model", ws.Llava, "--image", Path.Combine(ws.Images, "im0.png"), "--prompt", "hi"]);
        yield return ("sample", ["sample", "--model", ws.Llava, "--prompts", ws.Prompts, "--images", ws.Images, "--out", o]);
        yield return ("score", ["score", "--clip", ws.Clip, "--prompts", ws.Prompts, "--images", ws.Images, "--trees", ws.Images, "--out", o]);
        yield return ("dpo", ["dpo", "--model", ws.Llava, "--prefs", Prefs(), "--images", ws.Images, "--out", o]);
        yield return ("merge", ["merge", "--model", ws.Llava, "--adapter", ws.Images, "--out", o]);
        yield return ("run", ["run", "--model", ws.Llava, "--clip", ws.Clip, "--prompts", ws.Prompts, "--images", ws.Images, "--out", o]);
        yield return ("eval pope", ["eval", "pope", "--model", ws.Llava, "--questions", Pope(), "--images", ws.Images]);
        yield return ("eval describe", ["eval", "describe", "--model", ws.Llava, "--images", ws.Images, "--out", Path.Combine(o, "c.jsonl")]);
        yield return ("demo", ["demo", "--tiny", "--out", o, "--cache", Path.Combine(ws.Root, "dev-cache")]);
    }

    static void AssertOneLineError(CliProcess.Result r, string what, params string[] needles)
    {
        Assert.True(r.ExitCode == 2, $"{what}: exit {r.ExitCode}\n{r.StdErr}{r.StdOut}");
        var lines = r.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"{what}: expected one line on stderr, got:\n{r.StdErr}");
        Assert.DoesNotContain("   at ", r.StdErr);
        foreach (var n in needles) Assert.Contains(n, lines[0]);
    }

    [CpuBuildFact]
    public void Cuda_on_a_cpu_build_is_refused_in_one_line_by_every_computing_verb()
    {
        foreach (var (verb, args) in Verbs())
        {
            foreach (var device in new[] { "cuda", "cuda:1" })
            {
                var r = CliProcess.Run(args.Concat(new[] { "--device", device }));
                AssertOneLineError(r, $"{verb} --device {device}", $"--device {device}: this build uses TorchSharp's CPU runtime",
                    "-p:TorchBackend=cuda", "README \"GPU\"");
            }
        }
        Assert.False(Directory.Exists(Path.Combine(ws.Root, "dev-out", "round-1")), "run computed although its device was refused");
    }

    [Fact]
    public void A_bad_device_value_is_refused_in_one_line()
    {
        foreach (var (verb, args) in Verbs().Where(v => v.Verb is "sample" or "generate" or "merge" or "demo"))
            AssertOneLineError(CliProcess.Run(args.Concat(new[] { "--device", "gpu" })), verb, "--device gpu: expected cpu, cuda, cuda:N or auto");
    }

    static IDictionary<string, byte[]> Outputs(string dir) =>
        CliProcess.Snapshot(dir).Where(kv => !kv.Key.EndsWith(".jsonl", StringComparison.Ordinal)).ToDictionary(kv => kv.Key, kv => kv.Value);

    [Fact]
    public void Device_cpu_gives_the_default_outputs_bit_for_bit()
    {
        string[] Sample(string o) => ["sample", "--model", ws.Llava, "--prompts", ws.Prompts, "--images", ws.Images, "--out", o,
            "--max-new-tokens", "6", "--max-length", "40", "--num-beams", "3", "--num-beam-groups", "3", "--num-token-beams", "3", "--limit", "2"];
        string[] Dpo(string o) => ["dpo", "--model", ws.Llava, "--prefs", Prefs(), "--images", ws.Images, "--out", o, "--lora-r", "4", "--lora-alpha", "8", "--lr", "1e-3"];
        foreach (var (name, args) in new[] { ("sample", (Func<string, string[]>)Sample), ("dpo", Dpo) })
        {
            string a = Path.Combine(ws.Root, $"{name}-default"), b = Path.Combine(ws.Root, $"{name}-cpu");
            var ra = CliProcess.Run(args(a));
            var rb = CliProcess.Run(args(b).Concat(new[] { "--device", "cpu" }));
            Assert.True(ra.ExitCode == 0 && rb.ExitCode == 0, $"{name}: {ra.StdErr}{rb.StdErr}");
            var oa = Outputs(a);
            var ob = Outputs(b);
            Assert.NotEmpty(oa);
            Assert.Equal(oa.Keys, ob.Keys);
            // trainer_state.json and kernels.json hold wall times; everything else must be identical
            foreach (var k in oa.Keys.Where(k => !k.EndsWith("trainer_state.json", StringComparison.Ordinal) && Path.GetFileName(k) != "kernels.json"))
                Assert.True(oa[k].AsSpan().SequenceEqual(ob[k]), $"{name}: {k} differs with --device cpu");
        }
    }
}
