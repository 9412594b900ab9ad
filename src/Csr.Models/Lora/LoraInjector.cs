using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Csr.Models.Lora;

/// <summary>Finds the <see cref="LoraLinear"/> layers under a module and attaches, toggles, merges or lists their adapters.</summary>
public static class LoraInjector
{
    /// <summary>The projections CSR trains: every linear of the Llama decoder except lm_head.</summary>
    public static readonly IReadOnlyList<string> LlamaTargets = new[] { "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj" };

    /// <summary>Every (state-dict path, layer) under <paramref name="root"/>, in module order.</summary>
    public static IReadOnlyList<(string Path, LoraLinear Module)> Enumerate(nn.Module root)
        => root.named_modules().Where(m => m.Item2 is LoraLinear).Select(m => (m.Item1, (LoraLinear)m.Item2)).ToList();

    /// <summary>
    /// The layers whose path's last segment is one of <paramref name="targetSuffixes"/> (or whose path ends with
    /// one, e.g. "self_attn.q_proj"); all layers when null.
    /// </summary>
    public static IReadOnlyList<(string Path, LoraLinear Module)> Select(nn.Module root, IEnumerable<string>? targetSuffixes)
    {
        var all = Enumerate(root);
        if (targetSuffixes is null) return all;
        var t = targetSuffixes.ToArray();
        return all.Where(m => t.Any(s => m.Path == s || m.Path.EndsWith("." + s, StringComparison.Ordinal))).ToList();
    }

    /// <summary>Attaches an adapter to every selected layer; returns the paths. Throws if nothing matched.</summary>
    public static IReadOnlyList<string> Attach(nn.Module root, int r, double alpha, double dropout,
        IEnumerable<string>? targetSuffixes = null, Generator? generator = null, ScalarType? dtype = null)
    {
        var targets = Select(root, targetSuffixes);
        if (targets.Count == 0)
            throw new ArgumentException($"LoraInjector.Attach: no LoraLinear matched the targets [{string.Join(", ", targetSuffixes ?? Array.Empty<string>())}]");
        foreach (var (_, m) in targets) m.AttachLora(r, alpha, dropout, generator, dtype);
        return targets.Select(x => x.Path).ToList();
    }

    /// <summary>The adapter parameters with their state-dict names (<c>...q_proj.lora_A.weight</c>).</summary>
    public static IReadOnlyList<(string Name, Parameter Parameter)> LoraParameters(nn.Module root)
        => root.named_parameters().Where(p => p.name.Contains(".lora_A.") || p.name.Contains(".lora_B.")
                                              || p.name.StartsWith("lora_A.") || p.name.StartsWith("lora_B."))
            .Select(p => (p.name, p.parameter)).ToList();

    /// <summary>Turns every adapter on or off (off = base weights: the DPO reference pass).</summary>
    public static void SetEnabled(nn.Module root, bool enabled)
    {
        foreach (var (_, m) in Enumerate(root)) m.LoraEnabled = enabled;
    }

    /// <summary>Merges and removes every adapter; returns how many were merged.</summary>
    public static int MergeAll(nn.Module root)
    {
        int n = 0;
        foreach (var (_, m) in Enumerate(root))
            if (m.HasLora) { m.MergeLora(); n++; }
        return n;
    }

    /// <summary>Freezes every parameter except the adapters (requires_grad only on lora_A/lora_B).</summary>
    public static void FreezeAllButLora(nn.Module root)
    {
        foreach (var (name, p) in root.named_parameters())
            p.requires_grad = name.Contains("lora_A.") || name.Contains("lora_B.");
    }
}
