using Csr.Models.Clip;
using Csr.Train.Eval;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Train.World.Training;

/// <summary>
/// Diagnostics of the world's base models for yes/no probes: can a linear read-out of the vision features (the ones the
/// LLaVA's projector reads) tell whether a shape is in the image? If it can, a LLaVA that answers the probes at chance
/// fails on the language-model side; if it cannot, the vision tower is the bottleneck.
/// </summary>
public static class WorldProbe
{
    /// <summary>Accuracies of one read-out: on its training scenes, on held-out scenes (every shape, present or absent), and
    /// on a POPE question set (balanced yes/no; the adversarial split's negatives are the absent companions).</summary>
    public sealed record Accuracy(double Train, double HeldOut, double Pope);

    /// <summary>(scene index, shape index, the answer is yes) per question.</summary>
    public static List<(int Scene, int Shape, bool Yes)> Questions(IReadOnlyList<PopeQuestion> questions, IReadOnlyList<Scene> scenes, WorldVocabulary vocab)
    {
        var byImage = scenes.Select((s, i) => (s.ImageFileName, i)).ToDictionary(x => x.ImageFileName, x => x.i);
        var byQuestion = vocab.Shapes.Select((s, i) => (PopeSampler.Question(s.Name), i)).ToDictionary(x => x.Item1, x => x.i);
        return questions.Select(q => (byImage[q.Image], byQuestion[q.Text], q.LabelYes)).ToList();
    }

    /// <summary>Vision features [N, patches, H] of a tower at <paramref name="layer"/> (class token dropped), in chunks, no graph.</summary>
    public static Tensor Features(ClipVisionTransformer tower, Tensor pixels, int layer)
    {
        using var _ = no_grad();
        var chunks = new List<Tensor>();
        for (long i = 0; i < pixels.shape[0]; i += 256)
        {
            using var scope = NewDisposeScope();
            var h = tower.HiddenState(pixels.narrow(0, i, Math.Min(256, pixels.shape[0] - i)), layer);
            chunks.Add(h.narrow(1, 1, h.shape[1] - 1).MoveToOuterDisposeScope());
        }
        var all = cat(chunks, 0);
        foreach (var c in chunks) c.Dispose();
        return all;
    }

    /// <summary>[N, shapes] multi-hot presence of each shape.</summary>
    public static Tensor Presence(IReadOnlyList<Scene> scenes, WorldVocabulary vocab) =>
        WorldPixels.PresenceLabels(scenes, Enumerable.Range(0, scenes.Count).ToList(), vocab);

    /// <summary>
    /// Fits a multi-label logistic read-out of shape presence on <paramref name="train"/> features and scores it.
    /// <paramref name="perPatchMax"/>: one linear classifier per patch, the image's logit is the maximum over patches
    /// ("some patch shows a square", what attention over the image tokens can pick out); otherwise one linear map of the
    /// patch mean. Full batch, Adam, <paramref name="steps"/> steps; deterministic for a seed.
    /// </summary>
    public static Accuracy FitPresence(Tensor train, IReadOnlyList<Scene> trainScenes, Tensor heldOut, IReadOnlyList<Scene> heldOutScenes,
        IReadOnlyList<(int Scene, int Shape, bool Yes)> questions, WorldVocabulary vocab, bool perPatchMax, int steps = 300, int seed = 1)
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(seed);
        int k = vocab.Shapes.Count;
        long h = train.shape[2];
        var head = nn.Linear(h, k);
        // features standardised with the training statistics (the probe is linear either way)
        var mean = train.reshape(-1, h).mean([0]);
        var std = train.reshape(-1, h).std([0]).clamp_min(1e-6);
        Tensor Logits(Tensor f)
        {
            var z = (f - mean) / std;
            return perPatchMax ? head.forward(z).amax([1]) : head.forward(z.mean([1]));
        }
        var y = Presence(trainScenes, vocab);
        var opt = optim.Adam(head.parameters(), lr: 0.05);
        for (int s = 0; s < steps; s++)
        {
            using var inner = NewDisposeScope();
            var loss = nn.functional.binary_cross_entropy_with_logits(Logits(train), y);
            opt.zero_grad();
            loss.backward();
            opt.step();
        }
        using var _ = no_grad();
        double Acc(Tensor f, Tensor labels) => Logits(f).gt(0).eq(labels.gt(0.5)).to_type(ScalarType.Float32).mean().item<float>();
        double trainAcc = Acc(train, y);
        double heldAcc = Acc(heldOut, Presence(heldOutScenes, vocab));
        var l = Logits(heldOut).contiguous().data<float>().ToArray();
        int right = questions.Count(q => l[q.Scene * k + q.Shape] > 0 == q.Yes);
        return new Accuracy(trainAcc, heldAcc, questions.Count == 0 ? double.NaN : right / (double)questions.Count);
    }

    /// <summary>
    /// The LLaVA's teacher-forced answer to each probe: whether the "Yes" token outscores the "No" token right after the
    /// prompt (what greedy decoding picks when those two lead). <paramref name="pixels"/> [N, 3, S, S] are the scenes'
    /// images; returns the share answered right.
    /// </summary>
    public static double TeacherForcedPope(Csr.Train.Models.VisionLanguageModel vlm, Csr.Train.Pipeline.PromptTemplate template, Tensor pixels,
        IReadOnlyList<PopeQuestion> questions, IReadOnlyList<(int Scene, int Shape, bool Yes)> index, int batch = 64)
    {
        var m = vlm.Model;
        var tok = vlm.Tokenizer;
        int yesId = tok.Encode(CaptionGrammar.ProbeAnswer(true), addBos: false)[0], noId = tok.Encode(CaptionGrammar.ProbeAnswer(false), addBos: false)[0];
        long pad = tok.PadId ?? tok.EosId;
        int right = 0;
        for (int start = 0; start < questions.Count; start += batch)
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            int b = Math.Min(batch, questions.Count - start);
            var ids = Enumerable.Range(start, b).Select(i => vlm.PromptIds(template.Format(Csr.Train.Pipeline.PromptEntry.ImageMarker + "\n" + questions[i].Text))).ToList();
            int t = ids.Max(x => x.Length);
            var flat = new long[b * t];
            var mask = new long[b * t];
            for (int r = 0; r < b; r++)
                for (int j = 0; j < t; j++)
                {
                    flat[r * t + j] = j < ids[r].Length ? ids[r][j] : pad;
                    mask[r * t + j] = j < ids[r].Length ? 1 : 0;
                }
            var img = pixels.index_select(0, tensor(Enumerable.Range(start, b).Select(i => (long)index[i].Scene).ToArray(), device: pixels.device));
            var embeds = m.EmbedInputs(tensor(flat, new long[] { b, t }, device: pixels.device), m.EncodeImages(img));
            var logits = m.Forward(embeds, tensor(mask, new long[] { b, t }, device: pixels.device), null);
            for (int r = 0; r < b; r++)
            {
                var l = logits[r, ids[r].Length - 1];
                bool yes = l[yesId].item<float>() > l[noId].item<float>();
                if (yes == index[start + r].Yes) right++;
            }
        }
        return questions.Count == 0 ? double.NaN : right / (double)questions.Count;
    }
}
