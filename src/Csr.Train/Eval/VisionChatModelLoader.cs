namespace Csr.Train.Eval;

/// <summary>Opens a model folder (HF llava-1.5 layout) as an <see cref="IVisionChatModel"/>.
/// Tests and the demo can replace <see cref="Open"/> with another factory.</summary>
public static class VisionChatModelLoader
{
    public static Func<string, IVisionChatModel> Open { get; set; } = dir =>
    {
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"model folder not found: {dir}");
        return VisionChatModel.Open(dir);
    };
}
