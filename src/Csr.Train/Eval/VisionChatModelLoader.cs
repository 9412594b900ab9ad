using static TorchSharp.torch;

namespace Csr.Train.Eval;

/// <summary>Opens a model folder (HF llava-1.5 layout) as an <see cref="IVisionChatModel"/>.
/// Tests and the demo can replace <see cref="Open"/> with another factory.</summary>
public static class VisionChatModelLoader
{
    public static Func<string, VisionChatOpenOptions, IVisionChatModel> Open { get; set; } = (dir, options) =>
    {
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"model folder not found: {dir}");
        return VisionChatModel.Open(dir, options);
    };
}

/// <summary>How a model folder is opened for evaluation: weights dtype, LLaVA's image_aspect_ratio ("pad" or "none")
/// and the device (CPU when null).</summary>
public sealed record VisionChatOpenOptions(TorchSharp.torch.ScalarType DType = TorchSharp.torch.ScalarType.Float32, string ImageAspectRatio = "pad",
    TorchSharp.torch.Device? Device = null);
