using Csr.Models.Clip;
using Csr.Models.Tokenizers;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Train.World.Training;

/// <summary>
/// Trains the world's tiny CLIP. Loss: CLIP's symmetric contrastive loss over a batch of images and
/// object sentences (one true sentence and one absent-object sentence per image, often the absent companion;
/// other captions that are also true for an image are masked out rather than counted as negatives), plus an
/// auxiliary per-patch classification of each grid cell's shape and colour on the vision tower's
/// penultimate layer (the features LLaVA reads), which makes the tiny ViT learn in a few hundred steps.
/// The auxiliary heads are not part of the saved model.
/// </summary>
public sealed class WorldClipTrainer
{
    public sealed record Result(ClipModel Model, Dictionary<string, int> Vocab, List<(string, string)> Merges, double FinalLoss, double PairAccuracy)
    {
        /// <summary>The tokenizer the model was trained with.</summary>
        public required ClipTokenizer Tokenizer { get; init; }
    }

    /// <summary>Every sentence the grammar can say about one object (the CLIP tokenizer's corpus).</summary>
    public static IEnumerable<string> Corpus(WorldVocabulary v) =>
        from s in v.Shapes from noun in s.Synonyms.Prepend(s.Name) from c in v.Colours select CaptionGrammar.ObjectSentence(c.Name, noun);

    public static Result Train(IReadOnlyList<Scene> scenes, Tensor pixels, WorldVocabulary vocab, WorldSettings world,
        WorldModelSettings m, int seed, Action<int, double>? progress = null)
    {
        // Everything that draws from libtorch's global RNG (nn.Linear heads' init, dropout) must be seeded too:
        // without this the same seed built different base models in two processes.
        torch.manual_seed(seed);
        var (bpeVocab, merges) = ClipBpeFiles.Build(Corpus(vocab));
        var tok = new ClipTokenizer(bpeVocab, merges);
        var cfg = new ClipConfig
        {
            ProjectionDim = m.ClipProjection,
            TextConfig = new ClipTextConfig
            {
                VocabSize = bpeVocab.Count, HiddenSize = m.ClipTextHidden, IntermediateSize = 4 * m.ClipTextHidden,
                NumHiddenLayers = m.ClipTextLayers, NumAttentionHeads = Math.Max(1, m.ClipTextHidden / 16), MaxPositionEmbeddings = 77,
                ProjectionDim = m.ClipProjection, BosTokenId = tok.BosId, EosTokenId = tok.EosId, PadTokenId = tok.EosId,
            },
            VisionConfig = new ClipVisionConfig
            {
                HiddenSize = m.VisionHidden, IntermediateSize = 4 * m.VisionHidden, NumHiddenLayers = m.VisionLayers,
                NumAttentionHeads = m.VisionHeads, ImageSize = world.ImageSize, PatchSize = world.ImageSize / world.GridCells,
                ProjectionDim = m.ClipProjection,
            },
        }.Validate();
        var gen = new Generator((ulong)seed);
        var model = new ClipModel(cfg);
        ClipInit.InitWeights(model, gen);
        var shapeHead = nn.Linear(m.VisionHidden, vocab.Shapes.Count + 1);
        var colourHead = nn.Linear(m.VisionHidden, vocab.Colours.Count + 1);
        var presenceHead = nn.Linear(m.VisionHidden, vocab.Shapes.Count);
        var parameters = model.parameters().Concat(shapeHead.parameters()).Concat(colourHead.parameters())
            .Concat(m.PresenceAux ? presenceHead.parameters() : []).ToList();
        var recipe = new Recipe(m.ClipSteps, m.ClipLr, SynonymRate: 0, SameColourNegatives: 0.5, PairLoss: 0, RngStream: 77, BindingNegatives: 0);
        var (lastLoss, pairAcc) = Fit(model, tok, parameters, scenes, pixels, vocab, world, m, seed, recipe, (shapeHead, colourHead, m.PresenceAux ? presenceHead : null), progress);
        model.eval();
        return new Result(model, bpeVocab, merges, lastLoss, pairAcc) { Tokenizer = tok };
    }

    /// <summary>One training recipe: steps, peak lr, how sentences and negatives are drawn, and the RNG stream.</summary>
    public sealed record Recipe(int Steps, double Lr, double SynonymRate, double SameColourNegatives, double PairLoss, int RngStream, double BindingNegatives);

    /// <summary>
    /// The negative sentence drawn for object <paramref name="o"/> of scene <paramref name="s"/>: with probability
    /// <see cref="Recipe.BindingNegatives"/> the same shape in a colour no object of that shape has (half the time a colour
    /// seen elsewhere in the image), so the scorer must bind colour to shape rather than add up the attributes it sees;
    /// otherwise an absent shape (the absent companion half the time when there is one), in the object's colour with
    /// probability <see cref="Recipe.SameColourNegatives"/>.
    /// </summary>
    public static (string Shape, string Colour) Negative(Scene s, WorldObject o, WorldVocabulary vocab, Recipe r, SplitMix64 rng)
    {
        if (r.BindingNegatives > 0 && rng.Chance(r.BindingNegatives))
        {
            var wrong = vocab.Colours.Select(c => c.Name).Where(c => !s.Objects.Any(x => x.Shape == o.Shape && x.Colour == c)).ToList();
            var seen = s.Objects.Select(x => x.Colour).Where(wrong.Contains).ToList();
            return (o.Shape, seen.Count > 0 && rng.Chance(0.5) ? rng.Pick(seen) : rng.Pick(wrong));
        }
        var absent = vocab.Shapes.Select(x => x.Name).Where(x => !s.Contains(x)).ToList();
        var comps = s.Objects.Select(x => vocab.Companion.GetValueOrDefault(x.Shape)).Where(x => x != null && !s.Contains(x)).ToList();
        string neg = comps.Count > 0 && rng.Chance(0.5) ? rng.Pick(comps)! : rng.Pick(absent);
        return (neg, rng.Chance(r.SameColourNegatives) ? o.Colour : rng.Pick(vocab.Colours).Name);
    }

    /// <summary>The contrastive training loop (plus the per-patch heads when given); returns the last loss and the last
    /// batch's pair accuracy.</summary>
    private static (double LastLoss, double PairAccuracy) Fit(ClipModel model, ClipTokenizer tok, List<TorchSharp.Modules.Parameter> parameters,
        IReadOnlyList<Scene> scenes, Tensor pixels, WorldVocabulary vocab, WorldSettings world, WorldModelSettings m, int seed, Recipe r,
        (nn.Module<Tensor, Tensor> Shape, nn.Module<Tensor, Tensor> Colour, nn.Module<Tensor, Tensor>? Presence)? heads, Action<int, double>? progress)
    {
        int cells = world.GridCells;
        var opt = optim.AdamW(parameters, lr: r.Lr, weight_decay: 0.01);
        var rng = SplitMix64.For(seed, r.RngStream, 0);
        int n = scenes.Count, b = Math.Min(m.ClipBatch, n);
        double lastLoss = double.NaN, pairAcc = double.NaN;
        model.train();
        for (int step = 0; step < r.Steps; step++)
        {
            using var scope = NewDisposeScope();
            using var quiet = Csr.Models.GcQuiet.Enter(); // no GC (and so no Scalar finalizer) mid-op; see GcQuiet
            SetLr(opt, r.Lr, step, r.Steps);
            var idx = Enumerable.Range(0, b).Select(_ => rng.Next(n)).ToArray();
            var texts = new List<(string Shape, string Colour)>();
            foreach (var i in idx)
            {
                var s = scenes[i];
                var o = rng.Pick(s.Objects);
                texts.Add((o.Shape, o.Colour));
                texts.Add(Negative(s, o, vocab, r, rng));
            }
            // sentences with and without the final period (the last sentence of an answer has none), nouns sometimes synonyms
            var sentences = texts.Select(t => CaptionGrammar.ObjectSentence(t.Colour, Noun(vocab, t.Shape, r.SynonymRate, rng)))
                .Select(x => rng.Chance(0.3) ? x[..^1] : x).ToList();
            var (ids, mask) = tok.EncodeBatch(sentences, 16);
            var img = pixels.index_select(0, tensor(idx.Select(x => (long)x).ToArray()));
            var logits = model.LogitsPerImage(img, ids, mask); // [b, 2b]
            var truth = new bool[b * texts.Count];
            for (int a = 0; a < b; a++)
                for (int t = 0; t < texts.Count; t++)
                    truth[a * texts.Count + t] = t != 2 * a && scenes[idx[a]].Objects.Any(o => o.Shape == texts[t].Shape && o.Colour == texts[t].Colour);
            var falseNeg = tensor(truth, new long[] { b, texts.Count });
            var masked = logits.masked_fill(falseNeg, -1e4f);
            var own = arange(b, dtype: ScalarType.Int64) * 2;
            var lossImage = nn.functional.cross_entropy(masked, own);
            var lossText = nn.functional.cross_entropy(masked.index_select(1, own).t(), arange(b, dtype: ScalarType.Int64));
            var loss = (lossImage + lossText) / 2;
            if (heads is { } h)
            {
                var (shapeHead, colourHead, presenceHead) = h;
                var patches = model.vision_model.HiddenState(img, -2).narrow(1, 1, cells * cells); // [b, cells^2, H]
                var yShape = WorldPixels.CellLabels(scenes, idx, vocab, cells, colour: false);
                var yColour = WorldPixels.CellLabels(scenes, idx, vocab, cells, colour: true);
                var lossShape = nn.functional.cross_entropy(shapeHead.forward(patches).reshape(-1, vocab.Shapes.Count + 1), yShape.reshape(-1));
                var lossColour = nn.functional.cross_entropy(colourHead.forward(patches).reshape(-1, vocab.Colours.Count + 1), yColour.reshape(-1));
                loss = loss + lossShape + lossColour;
                if (presenceHead is not null)
                {
                    // every patch also learns which shapes are anywhere in the image, so an image token carries the
                    // scene's inventory (a yes/no probe then reads it instead of having to search the patches)
                    var yPresence = WorldPixels.PresenceLabels(scenes, idx, vocab).unsqueeze(1).expand(-1, cells * cells, -1);
                    loss = loss + nn.functional.binary_cross_entropy_with_logits(presenceHead.forward(patches), yPresence);
                }
            }
            if (r.PairLoss > 0)
            {
                // each image's true sentence against its own absent-object sentence alone: the contrastive softmax over
                // the whole batch dilutes this one comparison, which is the one CSR's sibling ranking asks of the CLIP
                var pos = logits.gather(1, own.unsqueeze(1));
                var neg = logits.gather(1, (own + 1).unsqueeze(1));
                var negIsTrue = tensor(Enumerable.Range(0, b).Select(a => truth[a * texts.Count + 2 * a + 1]).ToArray()).unsqueeze(1);
                var pairLoss = nn.functional.softplus(neg - pos).masked_fill(negIsTrue, 0).mean();
                loss = loss + r.PairLoss * pairLoss;
            }
            opt.zero_grad();
            loss.backward();
            nn.utils.clip_grad_norm_(parameters, 1.0);
            opt.step();
            lastLoss = loss.item<float>();
            if (step == r.Steps - 1)
            {
                using var _ = no_grad();
                var d = logits.detach();
                var pos = d.gather(1, own.unsqueeze(1)).squeeze(1);
                var negl = d.gather(1, (own + 1).unsqueeze(1)).squeeze(1);
                pairAcc = pos.gt(negl).to_type(ScalarType.Float32).mean().item<float>();
            }
            progress?.Invoke(step + 1, lastLoss);
        }
        return (lastLoss, pairAcc);
    }

    /// <summary>
    /// Tunes a copy of the world CLIP into CSR's sentence scorer: the contrastive loss again, with synonyms for nouns and
    /// mostly same-colour absent-shape negatives (the hallucinations the LLaVA makes), and no per-patch heads.
    /// </summary>
    public static (double LastLoss, double PairAccuracy) TuneScorer(ClipModel model, ClipTokenizer tok, IReadOnlyList<Scene> scenes, Tensor pixels,
        WorldVocabulary vocab, WorldSettings world, WorldModelSettings m, int seed, Action<int, double>? progress = null)
    {
        torch.manual_seed(seed + 1);
        var parameters = (m.ScorerFreezeVision
            ? model.text_model.parameters().Concat(model.text_projection.parameters()).Concat(model.visual_projection.parameters()).Append(model.logit_scale)
            : model.parameters()).ToList();
        var recipe = new Recipe(m.ScorerSteps, m.ScorerLr, m.ScorerSynonymRate, m.ScorerSameColourNegatives, m.ScorerPairLoss, RngStream: 79, m.ScorerBindingNegatives);
        model.train();
        var result = Fit(model, tok, parameters, scenes, pixels, vocab, world, m, seed, recipe, null, progress);
        model.eval();
        return result;
    }

    private static string Noun(WorldVocabulary vocab, string shape, double synonymRate, SplitMix64 rng)
    {
        var syn = vocab.Shape(shape).Synonyms;
        return synonymRate > 0 && syn.Count > 0 && rng.Chance(synonymRate) ? rng.Pick(syn) : shape;
    }

    /// <summary>
    /// What the CSR search needs from the CLIP: over held-out scenes, for every present object named by each of its nouns
    /// (canonical and synonyms), the share of comparisons in which the true sentence outscores the sentence naming an
    /// absent shape in the same colour (the absent companion when there is one, as the language prior hallucinates it,
    /// else every absent shape). Sentences without the final period, as an answer's last sentence.
    /// </summary>
    public static double SiblingAccuracy(ClipModel model, ClipTokenizer tok, IReadOnlyList<Scene> scenes, Tensor pixels, WorldVocabulary vocab)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        bool wasTraining = model.training;
        model.eval();
        long right = 0, total = 0;
        const int batch = 32;
        for (int start = 0; start < scenes.Count; start += batch)
        {
            using var inner = NewDisposeScope();
            int n = Math.Min(batch, scenes.Count - start);
            var texts = new List<string>();
            var pairs = new List<(int Image, int True, int False)>();
            int Add(string t) { texts.Add(t[..^1]); return texts.Count - 1; }
            for (int i = 0; i < n; i++)
            {
                var s = scenes[start + i];
                foreach (var o in s.Objects)
                {
                    string? comp = vocab.Companion.GetValueOrDefault(o.Shape);
                    var absent = comp != null && !s.Contains(comp) ? [comp] : vocab.Shapes.Select(x => x.Name).Where(x => !s.Contains(x)).ToList();
                    var falseIds = absent.Select(a => Add(CaptionGrammar.ObjectSentence(o.Colour, a))).ToList();
                    foreach (var noun in vocab.Shape(o.Shape).Synonyms.Prepend(o.Shape))
                    {
                        int t = Add(CaptionGrammar.ObjectSentence(o.Colour, noun));
                        foreach (var f in falseIds) pairs.Add((i, t, f));
                    }
                }
            }
            var (ids, mask) = tok.EncodeBatch(texts, 16);
            var logits = model.LogitsPerImage(pixels.narrow(0, start, n), ids, mask).to_type(ScalarType.Float32).contiguous();
            var l = logits.data<float>().ToArray();
            int T = texts.Count;
            foreach (var (img, t, f) in pairs)
            {
                total++;
                if (l[img * T + t] > l[img * T + f]) right++;
            }
        }
        if (wasTraining) model.train();
        return total == 0 ? double.NaN : (double)right / total;
    }

    /// <summary>Cosine schedule with 5% linear warmup.</summary>
    public static void SetLr(optim.Optimizer opt, double peak, int step, int total)
    {
        int warm = Math.Max(1, total / 20);
        double lr = step < warm ? peak * (step + 1) / warm : peak * 0.5 * (1 + Math.Cos(Math.PI * (step - warm) / Math.Max(1, total - warm)));
        foreach (var g in opt.ParamGroups) g.LearningRate = lr;
    }
}
