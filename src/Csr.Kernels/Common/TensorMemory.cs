using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Kernels;

/// <summary>
/// Raw access to the memory of contiguous CPU tensors, for the fused C# paths. The pointer is valid
/// while the tensor is alive; callers keep the tensor referenced for the duration of the loop.
/// </summary>
internal static unsafe class TensorMemory
{
    /// <summary>Pointer to the first element of a contiguous CPU tensor.</summary>
    public static T* Ptr<T>(Tensor t, string name) where T : unmanaged
    {
        if (t.device_type != DeviceType.CPU)
            throw new ArgumentException($"{name}: the fused CPU path needs a CPU tensor, got {t.device}.", name);
        if (!t.is_contiguous())
            throw new ArgumentException($"{name}: expected a contiguous tensor (call .contiguous()).", name);
        if (t.numel() == 0) return null;
        fixed (byte* p = t.bytes) return (T*)p;
    }

    /// <summary>Contiguous CPU copy (or the tensor itself) as an owned handle the caller disposes.</summary>
    public static Tensor Contiguous(Tensor t) => t.is_contiguous() ? t.alias() : t.contiguous();
}
