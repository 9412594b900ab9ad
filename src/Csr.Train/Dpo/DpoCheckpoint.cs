using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Train.Dpo;

/// <summary>
/// A training checkpoint <c>&lt;out&gt;/checkpoint-&lt;step&gt;/</c>: trainable tensors by name
/// (<c>trainable.bin</c>), optimizer state (<c>optimizer.bin</c>), <c>trainer_state.json</c> and the training
/// identity it was made for (<c>identity.json</c>).
/// Written into a temp directory and renamed, so a checkpoint directory is always complete.
/// </summary>
public static class DpoCheckpoint
{
    public const string Prefix = "checkpoint-";

    public static string? Latest(string outDir) =>
        Directory.Exists(outDir)
            ? Directory.GetDirectories(outDir, Prefix + "*")
                .Select(d => (Dir: d, Step: int.TryParse(Path.GetFileName(d)[Prefix.Length..], out int s) ? s : -1))
                .Where(x => x.Step >= 0 && File.Exists(Path.Combine(x.Dir, "trainer_state.json")))
                .OrderByDescending(x => x.Step).Select(x => x.Dir).FirstOrDefault()
            : null;

    /// <summary>Removes every checkpoint in <paramref name="outDir"/> (a run that does not resume starts over).</summary>
    public static void DeleteAll(string outDir)
    {
        if (!Directory.Exists(outDir)) return;
        foreach (var d in Directory.GetDirectories(outDir, Prefix + "*")) Directory.Delete(d, true);
    }

    /// <param name="identity">What the checkpoint was trained for, written as <see cref="DpoIdentity.CheckpointFileName"/>.</param>
    public static string Save(string outDir, int step, IReadOnlyList<TrainableGroup> groups, TorchSharp.Modules.OptimizerHelper optimizer,
        IReadOnlyList<DpoStepLog> history, DpoIdentity identity, int keepLast = 1)
    {
        string final = Path.Combine(outDir, Prefix + step);
        string tmp = Path.Combine(outDir, $".{Prefix}{step}.{Environment.ProcessId}.tmp");
        if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        Directory.CreateDirectory(tmp);
        using (var w = new BinaryWriter(File.Create(Path.Combine(tmp, "trainable.bin"))))
        {
            var all = groups.SelectMany(g => g.Parameters).ToList();
            w.Write(all.Count);
            foreach (var (name, p) in all)
            {
                w.Write(name);
                using var cpu = p.detach().cpu();
                cpu.Save(w);
            }
        }
        optimizer.save_state_dict(Path.Combine(tmp, "optimizer.bin"));
        identity.Save(Path.Combine(tmp, DpoIdentity.CheckpointFileName));
        File.WriteAllText(Path.Combine(tmp, "trainer_state.json"), JsonSerializer.Serialize(new { global_step = step, log_history = history }, new JsonSerializerOptions { WriteIndented = true }));
        if (Directory.Exists(final)) Directory.Delete(final, true);
        Directory.Move(tmp, final);
        foreach (var old in Directory.GetDirectories(outDir, Prefix + "*")
                     .Select(d => (Dir: d, Step: int.TryParse(Path.GetFileName(d)[Prefix.Length..], out int s) ? s : -1))
                     .Where(x => x.Step >= 0).OrderByDescending(x => x.Step).Skip(keepLast))
            Directory.Delete(old.Dir, true);
        return final;
    }

    /// <summary>Restores tensors and optimizer state; returns the step. Names and shapes must match (errors name the file and key).</summary>
    public static int Load(string dir, IReadOnlyList<TrainableGroup> groups, TorchSharp.Modules.OptimizerHelper optimizer)
    {
        string file = Path.Combine(dir, "trainable.bin");
        var byName = groups.SelectMany(g => g.Parameters).ToDictionary(x => x.Name, x => x.Parameter);
        using (var r = new BinaryReader(File.OpenRead(file)))
        {
            int n = r.ReadInt32();
            if (n != byName.Count) throw new InvalidDataException($"{file}: holds {n} tensors, the model has {byName.Count} trainable tensors");
            for (int i = 0; i < n; i++)
            {
                string name = r.ReadString();
                if (!byName.TryGetValue(name, out var p)) throw new InvalidDataException($"{file}: unexpected tensor {name}");
                using var tmp = zeros(p.shape, p.dtype); // host: read from the file, then copied into the (device) parameter
                try { tmp.Load(r); }
                catch (ArgumentException ex) { throw new InvalidDataException($"{file}: {name}: {ex.Message}", ex); }
                using (no_grad()) p.copy_(tmp);
            }
        }
        optimizer.load_state_dict(Path.Combine(dir, "optimizer.bin"));
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "trainer_state.json")));
        return doc.RootElement.GetProperty("global_step").GetInt32();
    }

    public static List<DpoStepLog> History(string dir)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "trainer_state.json")));
        return doc.RootElement.GetProperty("log_history").Deserialize<List<DpoStepLog>>() ?? new();
    }
}
