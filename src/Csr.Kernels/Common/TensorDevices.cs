using static TorchSharp.torch;

namespace Csr.Kernels;

/// <summary>The one-device rule every op checks before it runs.</summary>
internal static class TensorDevices
{
    /// <summary>Throws, naming the op, the argument and both devices, unless every given tensor is on the first one's device.</summary>
    public static void RequireSame(string op, params (Tensor? Tensor, string Name)[] inputs)
    {
        (Tensor T, string Name)? first = null;
        foreach (var (t, name) in inputs)
        {
            if (t is null) continue;
            if (first is null) { first = (t, name); continue; }
            var (f, fname) = first.Value;
            if (t.device_type != f.device_type || t.device_index != f.device_index)
                throw new ArgumentException($"{op}: {name} is on {t.device} but {fname} is on {f.device}; all inputs must be on one device.", name);
        }
    }
}
