namespace Csr.Train.Eval;

/// <summary>One request to a vision-language model: an image file and a question (without the chat
/// template or the image marker; the model adds them).</summary>
public sealed record VisionPrompt(string ImagePath, string Question);

/// <summary>What the evaluators need from a model: greedy answers to (image, question) prompts.</summary>
public interface IVisionChatModel : IDisposable
{
    IReadOnlyList<string> Answer(IReadOnlyList<VisionPrompt> prompts, int maxNewTokens);
}
