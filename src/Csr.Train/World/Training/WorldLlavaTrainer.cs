using Csr.Models.Clip;
using Csr.Models.Llama;
using Csr.Models.Llava;
using Csr.Models.Tokenizers;
using Csr.Train.Pipeline;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Train.World.Training;

/// <summary>
/// Trains the world's tiny LLaVA-1.5 (the real classes: CLIP ViT + mlp2x_gelu projector + Llama, a real
/// SentencePiece tokenizer.model built for the world's words). The vision tower is the world CLIP's, frozen, as
/// LLaVA's; the projector and the language model learn descriptions (training captions with the language prior)
/// and yes/no probes (true answers), with the loss on answer tokens only.
/// </summary>
public sealed class WorldLlavaTrainer
{
    public sealed record Result(LlavaForConditionalGeneration Model, List<SentencePiece> Pieces, LlamaTokenizer Tokenizer, double FinalLoss,
        double? ProbeAccuracy = null);

    /// <summary>Training steps at the end over which the teacher-forced probe accuracy is measured.</summary>
    public const int ProbeWindow = 100;

    public static readonly string[] ExtraPieces = [".", ",", ":", "?", "'", "!"];

    /// <summary>The words the tokenizer makes single tokens: the grammar's, the prompts' and the chat template's.</summary>
    public static IReadOnlyList<string> Words(CaptionGrammar grammar, PromptTemplate template)
    {
        var words = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var w in grammar.AllWords()) words.Add(w);
        foreach (var w in (template.System + " USER ASSISTANT").Split(' ', StringSplitOptions.RemoveEmptyEntries))
            words.Add(w.TrimEnd('.', ',', ':', '?', '!'));
        words.Remove("");
        return words.ToList();
    }

    /// <summary>Builds the tokenizer files in <paramref name="dir"/> and loads them back (the tokenizer the checkpoint will have).</summary>
    public static (List<SentencePiece> Pieces, LlamaTokenizer Tokenizer, int ImageId, int PadId) BuildTokenizer(IReadOnlyList<string> words, string dir, int maxLength)
    {
        var pieces = SentencePieceModelWriter.BuildLlamaStyleVocabulary(words, ExtraPieces);
        int imageId = pieces.Count, padId = pieces.Count + 1;
        LlamaTokenizerFiles.Write(dir, pieces, [new AddedToken(imageId, "<image>"), new AddedToken(padId, "<pad>")], padToken: "<pad>", modelMaxLength: maxLength);
        return (pieces, LlamaTokenizer.FromDirectory(dir), imageId, padId);
    }

    public static Result Train(ClipModel clip, IReadOnlyList<Scene> scenes, Tensor pixels, WorldVocabulary vocab, WorldSettings world,
        WorldModelSettings m, PromptTemplate template, int seed, string tokenizerDir, Action<int, double>? progress = null,
        Action<int, double, double>? curve = null)
    {
        // Everything that draws from libtorch's global RNG (nn.Linear heads' init, dropout) must be seeded too:
        // without this the same seed built different base models in two processes.
        torch.manual_seed(seed);
        var grammar = new CaptionGrammar(vocab);
        const int maxPositions = 512;
        var (pieces, tok, imageId, padId) = BuildTokenizer(Words(grammar, template), tokenizerDir, maxPositions);
        var vision = clip.Config.VisionConfig;
        var config = new LlavaConfig
        {
            TextConfig = new LlamaConfig
            {
                VocabSize = (pieces.Count + 2 + 63) / 64 * 64, HiddenSize = m.LmHidden, IntermediateSize = m.LmIntermediate,
                NumHiddenLayers = m.LmLayers, NumAttentionHeads = m.LmHeads, NumKeyValueHeads = m.LmHeads,
                MaxPositionEmbeddings = maxPositions, RmsNormEps = 1e-5, BosTokenId = tok.BosId, EosTokenIds = [tok.EosId],
                PadTokenId = padId, TorchDtype = "float32",
            },
            VisionConfig = vision,
            ImageTokenIndex = imageId,
            ImageSeqLength = vision.NumPatches,
            PadTokenId = padId,
        }.Validate();
        var model = new LlavaForConditionalGeneration(config, ScalarType.Float32, new Generator((ulong)seed + 1));
        if (m.LmInitStd != 0.02)
        {
            // HF's initializer_range 0.02 suits wide models; at this width it leaves the attention logits so small that
            // attention stays uniform and the language model never learns to look up the asked object in the image
            var g = new Generator((ulong)seed + 2);
            model.language_model.InitWeights(g, m.LmInitStd);
            Csr.Models.Clip.ClipInit.InitWeights(model.multi_modal_projector, g, m.LmInitStd);
        }
        using (no_grad())
        {
            var src = clip.vision_model.state_dict();
            foreach (var (name, p) in model.vision_tower.vision_model.state_dict())
                p.copy_(src[name]);
        }
        foreach (var p in model.vision_tower.parameters()) p.requires_grad = false;

        // The frozen tower's features are computed once: [N, patches, Hv] (penultimate layer, class token dropped).
        Tensor features;
        using (no_grad())
        {
            var chunks = new List<Tensor>();
            for (int i = 0; i < scenes.Count; i += 256)
            {
                using var scope = NewDisposeScope();
                var h = model.vision_tower.HiddenState(pixels.narrow(0, i, Math.Min(256, scenes.Count - i)), config.VisionFeatureLayers[0]);
                chunks.Add(h.narrow(1, 1, h.shape[1] - 1).MoveToOuterDisposeScope());
            }
            features = cat(chunks, 0);
            foreach (var c in chunks) c.Dispose();
        }

        // the auxiliary read-out of "the asked object is in the image" at the question's object word (training only, not saved)
        var objectHead = nn.Linear(m.LmHidden, 1);
        var trainable = model.multi_modal_projector.parameters().Concat(model.language_model.parameters())
            .Concat(m.ObjectWordAux > 0 ? objectHead.parameters() : []).ToList();
        var shapeIds = vocab.Shapes.Select(sh => tok.Encode(sh.Name, addBos: false)).Where(x => x.Length == 1).Select(x => x[0]).ToHashSet();
        var opt = optim.AdamW(trainable, lr: m.LlavaLr, weight_decay: 0.0);
        var rng = SplitMix64.For(seed, 78, 0);
        int n = scenes.Count, b = Math.Min(m.LlavaBatch, n);
        double lastLoss = double.NaN;
        int yesId = tok.Encode(CaptionGrammar.ProbeAnswer(true), addBos: false)[0], noId = tok.Encode(CaptionGrammar.ProbeAnswer(false), addBos: false)[0];
        int probeHits = 0, probeTotal = 0, curveHits = 0, curveTotal = 0;
        var encoded = new Dictionary<string, int[]>(StringComparer.Ordinal); // the grammar's texts repeat: encode each once
        model.train();
        for (int step = 0; step < m.LlavaSteps; step++)
        {
            using var scope = NewDisposeScope();
            using var quiet = Csr.Models.GcQuiet.Enter(); // no GC (and so no Scalar finalizer) mid-op; see GcQuiet
            WorldClipTrainer.SetLr(opt, m.LlavaLr, step, m.LlavaSteps);
            var idx = new long[b];
            var rows = new List<(List<int> Ids, List<long> Labels)>();
            var probeRows = new List<(int Row, int At, bool Yes)>(); // the first turn's deciding position
            var objectRows = new List<(int Row, int At, bool Yes)>();
            for (int k = 0; k < b; k++)
            {
                int i = rng.Next(n);
                idx[k] = i;
                var turns = Example(scenes[i], grammar, world, rng, m.ProbeShare, m.ProbeTurns);
                var seq = new List<int>();
                var lab = new List<long>();
                for (int u = 0; u < turns.Count; u++)
                {
                    var (q, a) = turns[u];
                    // vicuna_v1 multi-turn: "{system} USER: <image>\nq1 ASSISTANT: a1</s>USER: q2 ASSISTANT: a2</s>..."
                    var prompt = u == 0
                        ? Encoded(encoded, "first:" + q, () => model.ExpandImageTokens(tok.Encode(template.Format(PromptEntry.ImageMarker + "\n" + q), addBos: true)))
                        : Encoded(encoded, "next:" + q, () => tok.Encode($"USER: {q} ASSISTANT:", addBos: false));
                    bool isProbe = a == CaptionGrammar.ProbeAnswer(true) || a == CaptionGrammar.ProbeAnswer(false);
                    if (u == 0 && isProbe)
                        probeRows.Add((k, prompt.Length - 1, a == CaptionGrammar.ProbeAnswer(true)));
                    if (isProbe && Array.FindLastIndex(prompt, shapeIds.Contains) is var w and >= 0)
                        objectRows.Add((k, seq.Count + w, a == CaptionGrammar.ProbeAnswer(true)));
                    seq.AddRange(prompt);
                    lab.AddRange(Enumerable.Repeat(-100L, prompt.Length));
                    var answer = Encoded(encoded, "answer:" + a, () => tok.Encode(a, addBos: false).Append(tok.EosId).ToArray());
                    seq.AddRange(answer);
                    lab.AddRange(answer.Select(x => (long)x));
                }
                rows.Add((seq, lab));
            }
            int t = rows.Max(r => r.Ids.Count);
            var ids = new long[b * t];
            var mask = new long[b * t];
            var labels = Enumerable.Repeat(-100L, b * t).ToArray();
            for (int k = 0; k < b; k++)
            {
                var (p, l) = rows[k];
                for (int j = 0; j < t; j++)
                {
                    int at = k * t + j;
                    if (j < p.Count) { ids[at] = p[j]; mask[at] = 1; labels[at] = l[j]; }
                    else ids[at] = padId;
                }
            }
            var idsT = tensor(ids, new long[] { b, t });
            var maskT = tensor(mask, new long[] { b, t });
            var labelsT = tensor(labels, new long[] { b, t });
            var projected = model.multi_modal_projector.forward(features.index_select(0, tensor(idx)));
            var embeds = model.EmbedInputs(idsT, projected);
            Tensor logits, objectLoss = zeros(1);
            if (m.ObjectWordAux > 0 && objectRows.Count > 0)
            {
                // The probe's answer needs two attention hops (the answer position finds the object word, which finds the
                // image patches showing it); learnt together from the answer's loss alone they stall at chance. A logistic
                // read-out of presence at the object word itself trains the first hop directly.
                var hidden = model.ForwardHidden(embeds, maskT, null); // [b, t, H]
                logits = nn.functional.linear(hidden, model.language_model.LmHeadWeight);
                var at = tensor(objectRows.Select(r => (long)(r.Row * t + r.At)).ToArray());
                var y = tensor(objectRows.Select(r => r.Yes ? 1f : 0f).ToArray());
                var z = objectHead.forward(hidden.reshape(-1, hidden.shape[2]).index_select(0, at)).squeeze(-1);
                objectLoss = nn.functional.binary_cross_entropy_with_logits(z, y);
            }
            else
                logits = model.Forward(embeds, maskT, null); // [b, t, V]
            var target = labelsT.narrow(1, 1, t - 1);
            Tensor loss;
            if (m.ExampleMeanLoss)
            {
                // each example's answer counts once, whatever its length: a probe's one deciding token ("Yes"/"No")
                // is not outweighed by the dozen tokens of a description in the same batch
                var tokenLoss = nn.functional.cross_entropy(logits.narrow(1, 0, t - 1).reshape(-1, logits.shape[2]), target.reshape(-1),
                    ignore_index: -100, reduction: nn.Reduction.None).reshape(b, t - 1);
                var counts = target.ne(-100).sum(1).to_type(ScalarType.Float32).clamp_min(1);
                loss = (tokenLoss.sum(1) / counts).mean();
            }
            else
                loss = nn.functional.cross_entropy(logits.narrow(1, 0, t - 1).reshape(-1, logits.shape[2]), target.reshape(-1), ignore_index: -100);
            if (m.ObjectWordAux > 0) loss = loss + m.ObjectWordAux * objectLoss;
            opt.zero_grad();
            loss.backward();
            nn.utils.clip_grad_norm_(trainable, 1.0);
            opt.step();
            lastLoss = loss.item<float>();
            if (probeRows.Count > 0 && (step >= m.LlavaSteps - ProbeWindow || curve != null))
            {
                // teacher-forced probe accuracy over the last steps: does "Yes" outscore "No" where it should?
                using var _ = no_grad();
                foreach (var (row, at, yes) in probeRows)
                {
                    var l = logits[row, at];
                    bool saysYes = l[yesId].item<float>() > l[noId].item<float>();
                    bool hit = saysYes == yes;
                    if (step >= m.LlavaSteps - ProbeWindow) { probeHits += hit ? 1 : 0; probeTotal++; }
                    curveHits += hit ? 1 : 0;
                    curveTotal++;
                }
            }
            if (curve != null && (step + 1) % 50 == 0)
            {
                curve(step + 1, lastLoss, curveTotal == 0 ? double.NaN : curveHits / (double)curveTotal);
                curveHits = curveTotal = 0;
            }
            progress?.Invoke(step + 1, lastLoss);
        }
        features.Dispose();
        model.eval();
        return new Result(model, pieces, tok, lastLoss, probeTotal == 0 ? null : probeHits / (double)probeTotal);
    }

    private static int[] Encoded(Dictionary<string, int[]> cache, string key, Func<int[]> encode)
    {
        if (!cache.TryGetValue(key, out var ids)) cache[key] = ids = encode();
        return ids;
    }

    /// <summary>One training conversation: a description with the language prior, or <paramref name="probeTurns"/> yes/no
    /// probes about distinct shapes (true answers; each about an absent object half the time, that often the absent companion).</summary>
    public static List<(string Question, string Answer)> Example(Scene scene, CaptionGrammar grammar, WorldSettings world, SplitMix64 rng,
        double probeShare, int probeTurns = 1)
    {
        var vocab = grammar.Vocabulary;
        if (rng.Chance(probeShare))
        {
            var turns = new List<(string, string)>();
            var asked = new HashSet<string>();
            for (int u = 0; u < probeTurns; u++)
            {
                bool yes = rng.Chance(0.5);
                string shape;
                if (yes)
                {
                    var present = scene.Objects.Select(o => o.Shape).Where(x => u == 0 || !asked.Contains(x)).ToList();
                    if (present.Count == 0) break;
                    shape = rng.Pick(present);
                }
                else
                {
                    var absent = vocab.Shapes.Select(s => s.Name).Where(s => !scene.Contains(s) && (u == 0 || !asked.Contains(s))).ToList();
                    if (absent.Count == 0) break;
                    var comps = scene.Objects.Select(o => vocab.Companion.GetValueOrDefault(o.Shape)).Where(c => c != null && absent.Contains(c)).ToList();
                    shape = comps.Count > 0 && rng.Chance(0.5) ? rng.Pick(comps)! : rng.Pick(absent);
                }
                asked.Add(shape);
                turns.Add((CaptionGrammar.ProbeQuestion(shape), CaptionGrammar.ProbeAnswer(yes)));
            }
            return turns;
        }
        return [(rng.Pick(CaptionGrammar.DescribePrompts), grammar.TrainingCaption(scene, world, rng).Text)];
    }
}
