using Csr.Models.Generation;
using Csr.Native.Profiling;
using Csr.Train.Models;
using Csr.Train.Pipeline;
using static TorchSharp.torch;

namespace Csr.Train.Eval;

/// <summary>
/// Greedy batched answers from a LLaVA model: prompts in the chat template, left-padded to one length, each image
/// encoded once per batch, then greedy decoding with the KV cache until EOS. Prompts on the same image go to the same
/// batch (in their order), so a batch of questions about few images runs the vision tower once per image; answers
/// come back in prompt order. Images are preprocessed with <paramref name="imageAspectRatio"/> ("pad" as LLaVA's
/// model_vqa with LLaVA-1.5's config, or "none").
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

    public IReadOnlyList<string> Answer(IReadOnlyList<VisionPrompt> prompts, int maxNewTokens) =>
        Batched(prompts, batch =>
        {
            using var start = Start(batch);
            var tok = Model.Tokenizer;
            var output = Decoding.Greedy(Model.Model, start, maxNewTokens, [tok.EosId]);
            return output.Tokens.Select(x => tok.Decode(x).Trim()).ToList();
        });

    /// <summary>The fp32 next-token logits after each prompt (what the first greedy step picks from), batched as
    /// <see cref="Answer"/> batches.</summary>
    public IReadOnlyList<float[]> PromptLogits(IReadOnlyList<VisionPrompt> prompts) =>
        Batched(prompts, batch =>
        {
            using var start = Start(batch);
            int v = (int)start.NextLogits.shape[1];
            var all = HostSync.Read<float>(start.NextLogits);
            return Enumerable.Range(0, batch.Count).Select(k => all.AsSpan(k * v, v).ToArray()).ToList();
        });

    /// <summary>Runs <paramref name="perBatch"/> over batches of the prompts grouped by image and returns its results in prompt order.</summary>
    private T[] Batched<T>(IReadOnlyList<VisionPrompt> prompts, Func<IReadOnlyList<VisionPrompt>, IReadOnlyList<T>> perBatch)
    {
        if (batchSize < 1) throw new ArgumentException($"batch size {batchSize}: must be >= 1");
        // prompts grouped by image (first appearance order, stable within an image)
        var firstSeen = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < prompts.Count; i++) firstSeen.TryAdd(prompts[i].ImagePath, i);
        var order = Enumerable.Range(0, prompts.Count).OrderBy(i => firstSeen[prompts[i].ImagePath]).ThenBy(i => i).ToArray();
        var results = new T[prompts.Count];
        for (int i = 0; i < order.Length; i += batchSize)
        {
            using var range = Nvtx.Range("eval batch", i / batchSize + 1);
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            using var quiet = Csr.Models.GcQuiet.Enter();
            var rows = order.Skip(i).Take(batchSize).ToArray();
            var outs = perBatch(rows.Select(r => prompts[r]).ToList());
            for (int k = 0; k < rows.Length; k++) results[rows[k]] = outs[k];
        }
        return results;
    }

    /// <summary>The prefilled start of a batch: prompts left-padded to one length, each distinct image encoded once.</summary>
    private GenerationStart Start(IReadOnlyList<VisionPrompt> batch)
    {
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
        // each distinct image of the batch through the vision tower once
        var images = batch.Select(p => p.ImagePath).Distinct(StringComparer.Ordinal).ToList();
        var pixels = stack(images.Select(Images.Preprocess).ToList()).to(dtype, device);
        var features = m.EncodeImages(pixels);                                       // [images, P, H]
        if (images.Count < b)
            features = features.index_select(0, tensor(batch.Select(p => (long)images.IndexOf(p.ImagePath)).ToArray(), device: device));
        var embeds = m.EmbedInputs(tensor(flat, new long[] { b, t }, device: device), features);
        return GenerationStart.Prefill(m, embeds, tensor(mask, new long[] { b, t }, device: device));
    }

    public void Dispose()
    {
        if (ownsModel) Model.Dispose();
    }
}
