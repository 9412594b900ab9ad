using System.Text.Json;
using Csr.Models.Clip;
using Csr.Models.IO;
using Csr.Models.Llava;
using Csr.Models.Tokenizers;
using Csr.Models.Vision;
using Csr.Native;
using Csr.Train.Adapters;
using Csr.Train.Cli;
using Csr.Train.Pipeline;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Csr.Tests.Hardening;

/// <summary>
/// Generated corruption: random byte flips, truncations and insertions of valid files, fed to every reader.
/// Each case must either load or fail with a user error (the kind the CLI prints in one line, exit 2) whose
/// message names the file; it must never crash with another exception type or hang.
/// CSR_FUZZ_CASES (default 40) sets the cases per reader.
/// </summary>
public class CorruptionFuzzTests(TinyWorkspace ws, ITestOutputHelper output) : IClassFixture<TinyWorkspace>
{
    static int Cases => int.TryParse(Environment.GetEnvironmentVariable("CSR_FUZZ_CASES"), out var n) && n > 0 ? n : 40;

    static byte[] Mutate(byte[] valid, Random rng)
    {
        var b = valid.ToList();
        switch (rng.Next(4))
        {
            case 0: // truncate
                return b.Take(rng.Next(b.Count)).ToArray();
            case 1: // flip a few bytes
                for (int i = 0, k = 1 + rng.Next(8); i < k && b.Count > 0; i++) b[rng.Next(b.Count)] ^= (byte)(1 + rng.Next(255));
                return b.ToArray();
            case 2: // insert random bytes
                var ins = new byte[1 + rng.Next(16)];
                rng.NextBytes(ins);
                b.InsertRange(rng.Next(b.Count + 1), ins);
                return b.ToArray();
            default: // flip bytes near the start (headers, lengths, magic numbers)
                for (int i = 0, k = 1 + rng.Next(4); i < k && b.Count > 0; i++) b[rng.Next(Math.Min(64, b.Count))] ^= (byte)(1 + rng.Next(255));
                return b.ToArray();
        }
    }

    /// <summary>Copies srcDir to a scratch dir, corrupts one file in it, runs the reader; returns (loaded, clean errors).</summary>
    (int loaded, int cleanErrors) Fuzz(string name, string srcDir, string fileName, Action<string> reader, int seed)
    {
        var rng = new Random(seed);
        byte[] valid = File.ReadAllBytes(Path.Combine(srcDir, fileName));
        int loaded = 0, clean = 0;
        for (int c = 0; c < Cases; c++)
        {
            string dir = Directory.CreateTempSubdirectory($"csr-fuzz-{name}-").FullName;
            try
            {
                foreach (var f in Directory.EnumerateFiles(srcDir)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
                string target = Path.Combine(dir, fileName);
                File.WriteAllBytes(target, Mutate(valid, rng));
                Exception? error = null;
                var task = Task.Run(() =>
                {
                    using var scope = NewDisposeScope();
                    try { reader(target); } catch (Exception ex) { error = ex; }
                });
                Assert.True(task.Wait(TimeSpan.FromSeconds(30)), $"{name} case {c}: reader hung on a corrupted {fileName}");
                if (error == null) { loaded++; continue; }
                Assert.True(CliApp.IsUserError(error),
                    $"{name} case {c}: corrupted {fileName} raised {error.GetType().Name}, not a user error: {error}");
                Assert.True(error.Message.Contains(fileName, StringComparison.Ordinal) || error.Message.Contains(dir, StringComparison.Ordinal),
                    $"{name} case {c}: error does not name the file: {error.Message}");
                clean++;
            }
            finally { Directory.Delete(dir, true); }
        }
        output.WriteLine($"{name}: {Cases} corrupted {fileName} files: {clean} clean errors, {loaded} still loadable, 0 crashes, 0 hangs");
        return (loaded, clean);
    }

    static string Scratch(string name, Action<string> write)
    {
        string dir = Directory.CreateTempSubdirectory($"csr-fuzz-src-{name}-").FullName;
        write(dir);
        return dir;
    }

    [Fact]
    public void Checkpoint_config_and_tokenizer_readers_fail_cleanly_on_corrupted_files()
    {
        TorchRuntime.EnsureInitialised();
        string clipDir = ws.Clip, llavaDir = ws.Llava;
        var results = new[]
        {
            Fuzz("safetensors", clipDir, "model.safetensors", p =>
            {
                using var f = SafeTensorsFile.Open(p);
                foreach (var e in f.Entries) f.Read(e.Name).Dispose();
            }, 1),
            Fuzz("clip-config", clipDir, "config.json", p => ClipConfig.FromFile(p), 2),
            Fuzz("llava-config", llavaDir, "config.json", p => LlavaConfig.FromFile(p), 3),
            Fuzz("clip-vocab", clipDir, "vocab.json", p => ClipTokenizer.FromDirectory(Path.GetDirectoryName(p)!).EncodeBatch(new[] { "a red circle." }, 77), 4),
            Fuzz("clip-merges", clipDir, "merges.txt", p => ClipTokenizer.FromDirectory(Path.GetDirectoryName(p)!).EncodeBatch(new[] { "a red circle." }, 77), 5),
            Fuzz("tokenizer.model", llavaDir, "tokenizer.model", p => LlamaTokenizer.FromDirectory(Path.GetDirectoryName(p)!).Encode("A red circle.", true), 6),
            Fuzz("preprocessor", llavaDir, "preprocessor_config.json", p => ImageProcessorConfig.FromFile(p), 7),
        };
        Assert.All(results, r => Assert.True(r.cleanErrors > 0, "no corruption was detected at all: the fuzzer is not reaching the reader"));
    }

    [Fact]
    public void Pipeline_file_readers_fail_cleanly_on_corrupted_files()
    {
        TorchRuntime.EnsureInitialised();
        string promptsDir = Scratch("prompts", d => File.Copy(ws.Prompts, Path.Combine(d, "prompts.json")));
        string treesDir = Scratch("trees", d =>
        {
            var root = new TreeNode { Text = "USER: <image>\nDescribe. ASSISTANT:" };
            root.Children.Add(new TreeNode { Text = "x A cat.", NewText = "A cat.", Score = -1, ClipScore = 20, IsFinal = true });
            root.Children.Add(new TreeNode { Text = "x A dog.", NewText = "A dog.", Score = -2, ClipScore = 10, IsFinal = true });
            TreeFile.Write(d, "q0", root);
        });
        string prefsDir = Scratch("prefs", d => File.WriteAllText(Path.Combine(d, "prefs.json"), JsonSerializer.Serialize(new[]
        {
            new
            {
                id = "q0", image = "im0.png",
                conversations = new[] { new { from = "human", value = "<image>\nDescribe." }, new { from = "gpt", value = "A cat." } },
                rejected_conversations = new[] { new { from = "human", value = "<image>\nDescribe." }, new { from = "gpt", value = "A dog." } },
            },
        })));
        string adapterDir = Scratch("adapter", d => File.WriteAllText(Path.Combine(d, "adapter_config.json"), JsonSerializer.Serialize(new
        {
            peft_type = "LORA", task_type = "CAUSAL_LM", r = 4, lora_alpha = 8, lora_dropout = 0.05,
            target_modules = new[] { "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj" },
            base_model_name_or_path = "tiny",
        })));
        string imageDir = Scratch("image", d => File.Copy(Path.Combine(ws.Images, "im0.png"), Path.Combine(d, "im0.png")));
        try
        {
            var results = new[]
            {
                Fuzz("prompts", promptsDir, "prompts.json", p => PromptFile.Read(p), 11),
                Fuzz("tree", treesDir, "q0.json", p => TreeFile.Read(p), 12),
                Fuzz("preferences", prefsDir, "prefs.json", p => PreferenceFile.Read(p), 13),
                Fuzz("adapter-config", adapterDir, "adapter_config.json", p => PeftAdapterConfig.FromFile(p), 14),
                Fuzz("png", imageDir, "im0.png", p => ImageDecoder.Decode(p), 15),
            };
            Assert.All(results, r => Assert.True(r.cleanErrors > 0, "no corruption was detected at all"));
        }
        finally
        {
            foreach (var d in new[] { promptsDir, treesDir, prefsDir, adapterDir, imageDir }) Directory.Delete(d, true);
        }
    }
}
