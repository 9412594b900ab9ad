using CommandLine;
using Csr.Models.Clip;
using Csr.Train.Eval;
using Csr.Train.Models;
using Csr.Train.Pipeline;
using Csr.Train.World;
using Csr.Train.World.Training;

namespace Csr.Train.Cli;

/// <summary>
/// Diagnostics of the embedded world's base models (built or taken from the cache as the demo does): linear read-outs of
/// shape presence from the vision features, and the LLaVA's teacher-forced yes/no answers to the POPE probes.
/// </summary>
[Verb("world-probe", Hidden = true, HelpText = "Diagnose the embedded world's base models: linear presence probes of the vision features and the LLaVA's teacher-forced POPE answers.")]
public sealed class WorldProbeVerb : ICliVerb
{
    [Option("seed", Default = 1, HelpText = "World and training seed.")]
    public int Seed { get; set; } = 1;

    [Option("cache", HelpText = "Base-model cache folder (default as the demo's).")]
    public string? Cache { get; set; }

    [Option("eval-scenes", Default = 200, HelpText = "Held-out scenes.")]
    public int EvalScenes { get; set; } = 200;

    [Option("model-settings", HelpText = "JSON object overriding base-model settings (as the demo's).")]
    public string? ModelSettings { get; set; }

    [Option("world-settings", HelpText = "JSON object overriding the world generator's settings (as the demo's).")]
    public string? WorldSettingsJson { get; set; }

    [Option("clip-only", HelpText = "Probe the cached CLIP alone (no LLaVA is built or loaded).")]
    public bool ClipOnly { get; set; }

    [Option("llava-curve", HelpText = "Train a LLaVA with the settings from the cached CLIP (not saved) and print the loss and the teacher-forced probe accuracy every 50 steps.")]
    public bool LlavaCurve { get; set; }

    [Option("no-system", HelpText = "With --llava-curve: train without the template's system text.")]
    public bool NoSystem { get; set; }

    public int Execute()
    {
        Csr.Native.TorchRuntime.EnsureInitialised();
        var models = ModelSettings is { } json ? DemoVerb.MergeSettings(new WorldModelSettings(), json) : new WorldModelSettings();
        var world = WorldSettingsJson is { } wjson ? DemoVerb.MergeSettings(new WorldSettings(), wjson, "--world-settings") : new WorldSettings();
        var template = PromptTemplate.Default;
        string cache = Cache ?? DemoVerb.DefaultCache();
        string clipRoot = Path.Combine(cache, "clip-" + WorldBaseModels.ClipKey(Seed, world, models));
        if (ClipOnly && !File.Exists(Path.Combine(clipRoot, WorldBaseModels.CompleteMarker)))
            throw new CsrUserException($"--clip-only: no complete CLIP in {clipRoot}");
        if (LlavaCurve)
        {
            var g0 = new SceneGenerator(Seed, world);
            var sc = g0.GenerateMany(models.TrainScenes, SceneGenerator.TrainStream).ToList();
            using var px = WorldPixels.Build(new SceneRenderer(world.ImageSize, g0.Vocabulary), sc);
            using var clip0 = ClipModel.FromPretrained(Path.Combine(clipRoot, "clip"));
            var tmp = Path.Combine(Path.GetTempPath(), "csr-llava-curve-" + Guid.NewGuid().ToString("N"));
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var r = WorldLlavaTrainer.Train(clip0, sc, px, g0.Vocabulary, world, models, NoSystem ? new PromptTemplate("none", "") : template, Seed, tmp, curve: (s, loss, acc) =>
                Console.WriteLine($"step {s}: loss {loss:F3}, teacher-forced probe accuracy {acc:F3} ({sw.Elapsed.TotalSeconds:F0} s)"));
            r.Model.Dispose();
            Directory.Delete(tmp, true);
            return 0;
        }
        var paths = ClipOnly ? null : WorldBaseModels.BuildOrLoad(cache, Seed, world, models, template);
        var gen = new SceneGenerator(Seed, world);
        var renderer = new SceneRenderer(world.ImageSize, gen.Vocabulary);
        var train = gen.GenerateMany(models.TrainScenes, SceneGenerator.TrainStream).ToList();
        var held = gen.GenerateMany(EvalScenes, SceneGenerator.EvalStream).ToList();
        using var trainPixels = WorldPixels.Build(renderer, train);
        using var heldPixels = WorldPixels.Build(renderer, held);
        var sampler = new PopeSampler(gen.Vocabulary.Shapes.Select(s => s.Name).ToList(),
            gen.GenerateMany(2000, SceneGenerator.TrainStream).Select(s => new AnnotatedImage(s.ImageFileName, s.Categories.ToHashSet())));
        var annotated = held.Select(s => new AnnotatedImage(s.ImageFileName, s.Categories.ToHashSet())).ToList();
        var splits = new[] { PopeSplit.Random, PopeSplit.Popular, PopeSplit.Adversarial }
            .ToDictionary(s => s, s => sampler.Sample(annotated, s, 3, Seed));
        var adversarial = WorldProbe.Questions(splits[PopeSplit.Adversarial], held, gen.Vocabulary);

        void Probe(string who, ClipVisionTransformer tower)
        {
            using var f = WorldProbe.Features(tower, trainPixels, -2);
            using var g = WorldProbe.Features(tower, heldPixels, -2);
            foreach (bool max in new[] { false, true })
            {
                var a = WorldProbe.FitPresence(f, train, g, held, adversarial, gen.Vocabulary, max, seed: Seed);
                Console.WriteLine($"{who}, linear presence probe of the {(max ? "per-patch maximum" : "patch mean")}: train {a.Train:F3}, held-out {a.HeldOut:F3}, POPE adversarial {a.Pope:F3}");
            }
        }
        using (var clip = ClipModel.FromPretrained(paths?.ClipDir ?? Path.Combine(clipRoot, "clip"))) Probe("CLIP vision tower", clip.vision_model);
        if (paths is null) return 0;
        using var vlm = VisionLanguageModel.Load(paths.LlavaDir);
        Probe("LLaVA vision tower", vlm.Model.vision_tower.vision_model);
        foreach (var (split, qs) in splits)
        {
            double acc = WorldProbe.TeacherForcedPope(vlm, template, heldPixels, qs, WorldProbe.Questions(qs, held, gen.Vocabulary));
            Console.WriteLine($"LLaVA teacher-forced POPE {split.ToString().ToLowerInvariant()}: accuracy {acc:F3} ({qs.Count} questions)");
        }
        return 0;
    }
}
