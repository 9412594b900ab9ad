using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Csr.Models.Clip;
using Csr.Models.Llava;
using Csr.Train.Pipeline;

namespace Csr.Train.World.Training;

/// <summary>Where the world's base models are and how they were obtained.</summary>
public sealed record WorldBaseModelPaths(string ClipDir, string LlavaDir, string Key, bool FromCache, double ClipSeconds, double LlavaSeconds,
    double? ClipPairAccuracy, double? LlavaFinalLoss);

/// <summary>
/// Builds the world's tiny CLIP and tiny LLaVA (HF layouts) or finds them in a cache folder keyed by a hash of
/// the generator settings, model settings, template and seed, so a second run starts at CSR.
/// </summary>
public static class WorldBaseModels
{
    public static string Key(int seed, WorldSettings world, WorldModelSettings models, PromptTemplate template)
    {
        var text = $"world-base-models-v1|seed={seed}|{world.Fingerprint()}|{models.Fingerprint()}|{template.Name}";
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..16].ToLowerInvariant();
    }

    public static WorldBaseModelPaths BuildOrLoad(string cacheRoot, int seed, WorldSettings world, WorldModelSettings models,
        PromptTemplate template, Action<string, int, int, double>? progress = null)
    {
        models.Validate();
        string key = Key(seed, world, models, template);
        string dir = Path.Combine(cacheRoot, key);
        string clipDir = Path.Combine(dir, "clip"), llavaDir = Path.Combine(dir, "llava");
        string done = Path.Combine(dir, "complete");
        if (File.Exists(done)) return new WorldBaseModelPaths(clipDir, llavaDir, key, true, 0, 0, null, null);

        var gen = new SceneGenerator(seed, world);
        var scenes = gen.GenerateMany(models.TrainScenes, SceneGenerator.TrainStream).ToList();
        using var pixels = WorldPixels.Build(new SceneRenderer(world.ImageSize, gen.Vocabulary), scenes);

        var sw = Stopwatch.StartNew();
        var clip = WorldClipTrainer.Train(scenes, pixels, gen.Vocabulary, world, models, seed,
            (s, loss) => progress?.Invoke("train CLIP", s, models.ClipSteps, loss));
        TinyClipCheckpoint.Save(clipDir, clip.Model, clip.Vocab, clip.Merges);
        double clipSeconds = sw.Elapsed.TotalSeconds;

        sw.Restart();
        var llava = WorldLlavaTrainer.Train(clip.Model, scenes, pixels, gen.Vocabulary, world, models, template, seed, llavaDir,
            (s, loss) => progress?.Invoke("train LLaVA", s, models.LlavaSteps, loss));
        TinyLlavaCheckpoint.Save(llavaDir, llava.Model, llava.Pieces);
        double llavaSeconds = sw.Elapsed.TotalSeconds;
        clip.Model.Dispose();
        llava.Model.Dispose();
        File.WriteAllText(done, $"{{\"clip_pair_accuracy\": {clip.PairAccuracy.ToString(System.Globalization.CultureInfo.InvariantCulture)}, \"llava_final_loss\": {llava.FinalLoss.ToString(System.Globalization.CultureInfo.InvariantCulture)}}}\n");
        return new WorldBaseModelPaths(clipDir, llavaDir, key, false, clipSeconds, llavaSeconds, clip.PairAccuracy, llava.FinalLoss);
    }
}
