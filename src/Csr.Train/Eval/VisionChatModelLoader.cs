using static TorchSharp.torch;

namespace Csr.Train.Eval;

/// <summary>Opens a model folder (HF llava-1.5 layout) as an <see cref="IVisionChatModel"/>.
/// Tests and the demo can replace <see cref="Open"/> with another factory.</summary>
public static class VisionChatModelLoader
{
    private static readonly Func<string, IVisionChatModel> Default = dir => Load(dir, CPU);

    public static Func<string, IVisionChatModel> Open { get; set; } = Default;

    /// <summary>Opens <paramref name="dir"/> on <paramref name="device"/>; a replaced <see cref="Open"/> is used as it is.</summary>
    public static IVisionChatModel OpenOn(string dir, Device device) =>
        ReferenceEquals(Open, Default) ? Load(dir, device) : Open(dir);

    private static IVisionChatModel Load(string dir, Device device)
    {
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"model folder not found: {dir}");
        return VisionChatModel.Open(dir, device);
    }
}
