using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Models.Fast;

/// <summary><c>F.linear</c> that routes small-batch bf16 inference on the CPU to <see cref="Bf16Gemv"/>.</summary>
public static class FastLinear
{
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias = null)
    {
        if (UseGemv(x, weight)) return Bf16Gemv.Linear(x, weight, bias);
        return nn.functional.linear(x, weight, bias);
    }

    private static bool UseGemv(Tensor x, Tensor weight)
    {
        if (!Bf16Gemv.Enabled || weight.dtype != ScalarType.BFloat16 || x.dtype != ScalarType.BFloat16) return false;
        if (weight.device_type != DeviceType.CPU || x.device_type != DeviceType.CPU || weight.dim() != 2 || !weight.is_contiguous()) return false;
        if (x.numel() > Bf16Gemv.MaxRows * weight.shape[1]) return false;
        return !torch.is_grad_enabled() || (!x.requires_grad && !weight.requires_grad);
    }
}
