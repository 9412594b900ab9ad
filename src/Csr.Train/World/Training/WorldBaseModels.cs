using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Csr.Models.Clip;
using Csr.Models.Llava;
using Csr.Models.Tokenizers;
using static TorchSharp.torch;
using Csr.Train.Pipeline;

namespace Csr.Train.World.Training;

/// <summary>Where the world's base models are and how they were obtained.</summary>
public sealed record WorldBaseModelPaths(string ClipDir, string LlavaDir, string Key, bool FromCache, double ClipSeconds, double LlavaSeconds,
    double? ClipPairAccuracy, double? LlavaFinalLoss)
{
    /// <summary>Teacher-forced yes/no probe accuracy over the LLaVA's last training steps.</summary>
    public double? LlavaProbeAccuracy { get; init; }
    /// <summary>The CLIP came from the cache (the LLaVA may still have been trained in this run).</summary>
    public bool ClipFromCache { get; init; }
    /// <summary>Held-out share of (true sentence, same-colour absent-shape sentence) comparisons the CLIP ranks right
    /// (<see cref="WorldClipTrainer.SiblingAccuracy"/>); null for a CLIP cached before this was measured.</summary>
    public double? ClipSiblingAccuracy { get; init; }
    /// <summary>The CSR sentence scorer: the CLIP tuned by <see cref="WorldClipTrainer.TuneScorer"/> (= <see cref="ClipDir"/>
    /// when <see cref="WorldModelSettings.ScorerSteps"/> is 0).</summary>
    public required string ScorerDir { get; init; }
    public double? ScorerSiblingAccuracy { get; init; }
    public double ScorerSeconds { get; init; }
    public bool ScorerFromCache { get; init; }
}

/// <summary>
/// Builds the world's tiny CLIP and tiny LLaVA (HF layouts) or finds them in a cache folder, so a second run starts
/// at CSR. The CLIP is keyed by the seed, the generator settings and the CLIP settings only
/// (<c>&lt;cache&gt;/clip-&lt;key&gt;</c>); the LLaVA by everything (<c>&lt;cache&gt;/&lt;key&gt;/llava</c>), so changing only
/// the language model's settings does not retrain the CLIP. Each folder is complete when its <c>complete</c>
/// marker exists (written last), so an interrupted build is redone, never half-used.
/// </summary>
public static class WorldBaseModels
{
    public const string CompleteMarker = "complete";
    /// <summary>Stream of the held-out scenes the CLIP's sibling accuracy is measured on (not the train, CSR or eval streams).</summary>
    public const int ClipCheckStream = 3;
    public const int ClipCheckScenes = 256;

    public static string Key(int seed, WorldSettings world, WorldModelSettings models, PromptTemplate template) =>
        Hash($"world-base-models-v1|seed={seed}|{world.Fingerprint()}|{models.Fingerprint()}|{template.Name}");

    public static string ClipKey(int seed, WorldSettings world, WorldModelSettings models) =>
        Hash($"world-clip-v1|seed={seed}|{world.Fingerprint()}|{models.ClipFingerprint()}");

    /// <summary>The scorer's key, inside its CLIP's folder (<c>clip-&lt;ClipKey&gt;/scorer-&lt;ScorerKey&gt;</c>).</summary>
    public static string ScorerKey(WorldModelSettings models) => Hash($"world-scorer-v1|{models.ScorerFingerprint()}");

    private static string Hash(string text) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..16].ToLowerInvariant();

    public static WorldBaseModelPaths BuildOrLoad(string cacheRoot, int seed, WorldSettings world, WorldModelSettings models,
        PromptTemplate template, Action<string, int, int, double>? progress = null)
    {
        models.Validate();
        world.Validate();
        string key = Key(seed, world, models, template);
        string clipRoot = Path.Combine(cacheRoot, "clip-" + ClipKey(seed, world, models));
        string clipDir = Path.Combine(clipRoot, "clip");
        string dir = Path.Combine(cacheRoot, key);
        string llavaDir = Path.Combine(dir, "llava");
        string clipDone = Path.Combine(clipRoot, CompleteMarker), llavaDone = Path.Combine(dir, CompleteMarker);
        bool tuned = models.ScorerSteps > 0;
        string scorerRoot = Path.Combine(clipRoot, "scorer-" + ScorerKey(models));
        string scorerDir = tuned ? Path.Combine(scorerRoot, "clip") : clipDir, scorerDone = Path.Combine(scorerRoot, CompleteMarker);
        bool clipCached = File.Exists(clipDone), llavaCached = File.Exists(llavaDone), scorerCached = !tuned || File.Exists(scorerDone);
        if (clipCached && llavaCached && scorerCached)
            return new WorldBaseModelPaths(clipDir, llavaDir, key, true, 0, 0, ReadNumber(clipDone, "clip_pair_accuracy"), ReadNumber(llavaDone, "llava_final_loss"))
            {
                ClipFromCache = true, LlavaProbeAccuracy = ReadNumber(llavaDone, "llava_probe_accuracy"),
                ClipSiblingAccuracy = ReadNumber(tuned ? scorerDone : clipDone, "clip_sibling_accuracy"),
                ScorerDir = scorerDir, ScorerFromCache = true,
                ScorerSiblingAccuracy = ReadNumber(tuned ? scorerDone : clipDone, tuned ? "scorer_sibling_accuracy" : "clip_sibling_accuracy"),
            };

        var gen = new SceneGenerator(seed, world);
        var scenes = gen.GenerateMany(models.TrainScenes, SceneGenerator.TrainStream).ToList();
        var renderer = new SceneRenderer(world.ImageSize, gen.Vocabulary);
        using var pixels = WorldPixels.Build(renderer, scenes);
        // the held-out check set, rendered only when a sibling accuracy is to be measured
        var check = gen.GenerateMany(ClipCheckScenes, ClipCheckStream).ToList();
        Tensor? checkPixels = null;
        Tensor CheckPixels() => checkPixels ??= WorldPixels.Build(renderer, check);

        var sw = Stopwatch.StartNew();
        ClipModel clip;
        ClipTokenizer clipTok;
        double? pairAccuracy, siblingAccuracy;
        if (clipCached)
        {
            clip = ClipModel.FromPretrained(clipDir);
            clipTok = ClipTokenizer.FromDirectory(clipDir);
            pairAccuracy = ReadNumber(clipDone, "clip_pair_accuracy");
            siblingAccuracy = ReadNumber(clipDone, "clip_sibling_accuracy");
        }
        else
        {
            var trained = WorldClipTrainer.Train(scenes, pixels, gen.Vocabulary, world, models, seed,
                (s, loss) => progress?.Invoke("train CLIP", s, models.ClipSteps, loss));
            if (Directory.Exists(clipDir)) Directory.Delete(clipDir, recursive: true); // a build interrupted before its marker
            TinyClipCheckpoint.Save(clipDir, trained.Model, trained.Vocab, trained.Merges);
            clip = trained.Model;
            clipTok = trained.Tokenizer;
            pairAccuracy = trained.PairAccuracy;
            siblingAccuracy = WorldClipTrainer.SiblingAccuracy(clip, clipTok, check, CheckPixels(), gen.Vocabulary);
            WriteMarker(clipDone, ("clip_pair_accuracy", trained.PairAccuracy), ("clip_sibling_accuracy", siblingAccuracy));
        }
        double clipSeconds = sw.Elapsed.TotalSeconds;

        sw.Restart();
        double? scorerSibling = tuned ? ReadNumber(scorerDone, "scorer_sibling_accuracy") : siblingAccuracy;
        if (!scorerCached)
        {
            // a copy of the CLIP, tuned; written next to it in a temporary folder that is renamed once complete
            siblingAccuracy ??= WorldClipTrainer.SiblingAccuracy(clip, clipTok, check, CheckPixels(), gen.Vocabulary);
            using var scorer = ClipModel.FromPretrained(clipDir);
            WorldClipTrainer.TuneScorer(scorer, clipTok, scenes, pixels, gen.Vocabulary, world, models, seed,
                (s, loss) => progress?.Invoke("tune CLIP scorer", s, models.ScorerSteps, loss));
            scorerSibling = WorldClipTrainer.SiblingAccuracy(scorer, clipTok, check, CheckPixels(), gen.Vocabulary);
            string tmp = scorerDir + ".tmp";
            if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
            if (Directory.Exists(scorerDir)) Directory.Delete(scorerDir, recursive: true);
            Directory.CreateDirectory(tmp);
            foreach (var f in Directory.GetFiles(clipDir).Where(f => !f.EndsWith(".safetensors", StringComparison.Ordinal) && !f.EndsWith(".index.json", StringComparison.Ordinal)))
                File.Copy(f, Path.Combine(tmp, Path.GetFileName(f)));
            scorer.SavePretrained(tmp);
            Directory.Move(tmp, scorerDir);
            WriteMarker(scorerDone, ("clip_sibling_accuracy", siblingAccuracy), ("scorer_sibling_accuracy", scorerSibling));
        }
        double scorerSeconds = sw.Elapsed.TotalSeconds;

        sw.Restart();
        double? finalLoss = ReadNumber(llavaDone, "llava_final_loss"), probeAccuracy = ReadNumber(llavaDone, "llava_probe_accuracy");
        if (!llavaCached)
        {
            var llava = WorldLlavaTrainer.Train(clip, scenes, pixels, gen.Vocabulary, world, models, template, seed, llavaDir,
                (s, loss) => progress?.Invoke("train LLaVA", s, models.LlavaSteps, loss));
            TinyLlavaCheckpoint.Save(llavaDir, llava.Model, llava.Pieces);
            llava.Model.Dispose();
            finalLoss = llava.FinalLoss;
            probeAccuracy = llava.ProbeAccuracy;
            WriteMarker(llavaDone, ("llava_final_loss", llava.FinalLoss), ("llava_probe_accuracy", llava.ProbeAccuracy));
        }
        double llavaSeconds = sw.Elapsed.TotalSeconds;
        clip.Dispose();
        checkPixels?.Dispose();
        return new WorldBaseModelPaths(clipDir, llavaDir, key, false, clipSeconds, llavaSeconds, pairAccuracy, finalLoss)
        {
            ClipFromCache = clipCached, LlavaProbeAccuracy = probeAccuracy, ClipSiblingAccuracy = siblingAccuracy,
            ScorerDir = scorerDir, ScorerSiblingAccuracy = scorerSibling, ScorerSeconds = scorerSeconds, ScorerFromCache = scorerCached,
        };
    }

    private static void WriteMarker(string path, params (string Name, double? Value)[] values)
    {
        var tmp = $"{path}.{Environment.ProcessId}-{Guid.NewGuid():N}.tmp"; // unique: concurrent writers never share it
        var fields = values.Where(v => v.Value is { } x && double.IsFinite(x))
            .Select(v => $"\"{v.Name}\": {v.Value!.Value.ToString("R", CultureInfo.InvariantCulture)}");
        File.WriteAllText(tmp, "{" + string.Join(", ", fields) + "}\n");
        File.Move(tmp, path, overwrite: true);
    }

    private static double? ReadNumber(string markerPath, string name)
    {
        if (!File.Exists(markerPath)) return null;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(markerPath));
            return doc.RootElement.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;
        }
        catch (JsonException) { return null; } // an old or hand-edited marker: the models are still complete
    }
}
