using Csr.Models.Generation;
using Csr.Native.Profiling;
using Csr.Train.Models;
using Csr.Train.Pipeline;
using static TorchSharp.torch;

namespace Csr.Train.Eval;

/// <summary>
/// Greedy batched answers from a LLaVA model: prompts in the chat template, left-padded to one length, each image
/// encoded once per batch, then greedy decoding with the KV cache until EOS. Images are preprocessed with
/// <paramref name="imageAspectRatio"/> ("pad" as LLaVA's model_vqa with LLaVA-1.5's config, or "none").
/// </summary>
public sealed class VisionChatModel(VisionLanguageModel vlm, PromptTemplate template, bool ownsModel = false, int batchSize = 16,
    string imageAspectRatio = "pad") : IVisionChatModel
{
    public VisionLanguageModel Model { get; } = vlm;

    /// <summary>The processor the answers' images go through.</summary>
    public Csr.Models.Vision.ImageProcessor Images { get; } = vlm.Images.WithAspectRatio(imageAspectRatio);

    public static VisionChatModel Open(string dir, VisionChatOpenOptions options) =>
        new(VisionLanguageModel.Load(dir, options.DType, options.Device ?? CPU), PromptTemplate.Default, ownsModel: true,
            imageAspectRatio: options.ImageAspectRatio);

    public IReadOnlyList<string> Answer(IReadOnlyList<VisionPrompt> prompts, int maxNewTokens)
    {
        var answers = new List<string>(prompts.Count);
        for (int i = 0; i < prompts.Count; i += batchSize)
        {
            using var range = Nvtx.Range("eval batch", i / batchSize + 1);
            answers.AddRange(AnswerBatch(prompts.Skip(i).Take(batchSize).ToList(), maxNewTokens));
        }
        return answers;
    }

    private IReadOnlyList<string> AnswerBatch(IReadOnlyList<VisionPrompt> batch, int maxNewTokens)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var quiet = Csr.Models.GcQuiet.Enter();
        var m = Model.Model;
        var tok = Model.Tokenizer;
        var ids = batch.Select(p => Model.PromptIds(template.Format(PromptEntry.ImageMarker + "\n" + p.Question))).ToList();
        int t = ids.Max(x => x.Length), b = batch.Count;
        long pad = tok.PadId ?? tok.EosId;
        var flat = new long[b * t];
        var mask = new long[b * t];
        for (int k = 0; k < b; k++)
        {
            int off = t - ids[k].Length; // left padding
            for (int j = 0; j < t; j++)
            {
                flat[k * t + j] = j < off ? pad : ids[k][j - off];
                mask[k * t + j] = j < off ? 0 : 1;
            }
        }
        var dtype = m.multi_modal_projector.linear_1.weight!.dtype;
        var device = m.Device;
        var pixels = stack(batch.Select(p => Images.Preprocess(p.ImagePath)).ToList()).to(dtype, device);
        var features = m.EncodeImages(pixels);
        var embeds = m.EmbedInputs(tensor(flat, new long[] { b, t }, device: device), features);
        using var start = GenerationStart.Prefill(m, embeds, tensor(mask, new long[] { b, t }, device: device));
        var output = Decoding.Greedy(m, start, maxNewTokens, [tok.EosId]);
        return output.Tokens.Select(x => tok.Decode(x).Trim()).ToList();
    }

    public void Dispose()
    {
        if (ownsModel) Model.Dispose();
    }
}
