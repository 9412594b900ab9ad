using Csr.Tests.Pipeline;
using Csr.Train.Eval;

namespace Csr.Tests.Eval;

/// <summary>Greedy answers of prompts batched over many images (left padding, shared image encodings) against each prompt alone.</summary>
public class BatchedAnswerTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("csr-answers-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void BatchedAnswers_EqualOnePromptAnswers_InPromptOrder()
    {
        var images = Enumerable.Range(0, 4).Select(i => Path.Combine(_dir, $"i{i}.png")).ToList();
        for (int i = 0; i < images.Count; i++) TinyLlava.WriteImage(images[i], 20 + i);
        string[] questions = ["describe it.", "is there a cat?", "what colour is the thing on the left side?", "go."];
        // questions of different lengths, the same image asked several times, images interleaved
        var prompts = Enumerable.Range(0, 10).Select(k => new VisionPrompt(images[k % images.Count], questions[k / 2 % questions.Length])).ToList();
        using var vlm = TinyLlava.Create();
        var single = new VisionChatModel(vlm, TinyLlava.Template, batchSize: 1, imageAspectRatio: "none");
        var one = single.Answer(prompts, 8);
        var oneLogits = single.PromptLogits(prompts);
        // the prompts' next-token logits differ (by image and by question), so a batch that mixes rows up shows
        Assert.True(MaxDiff(oneLogits[0], oneLogits[1]) > 1e-3, "two images under one question give the same logits");
        Assert.True(MaxDiff(oneLogits[0], oneLogits[4]) > 1e-3, "two questions about one image give the same logits");
        foreach (int batch in new[] { 4, 16 })
        {
            var chat = new VisionChatModel(vlm, TinyLlava.Template, batchSize: batch, imageAspectRatio: "none");
            Assert.Equal(one, chat.Answer(prompts, 8));
            var logits = chat.PromptLogits(prompts);
            for (int i = 0; i < prompts.Count; i++)
                Assert.True(MaxDiff(oneLogits[i], logits[i]) <= 1e-4, $"batch {batch}, prompt {i}: logits differ by {MaxDiff(oneLogits[i], logits[i])}");
        }
    }

    static double MaxDiff(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs((double)x - y)).Max();
}
