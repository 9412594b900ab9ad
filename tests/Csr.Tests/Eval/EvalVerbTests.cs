using System.Text.Json;
using Csr.Tests.IO;
using Csr.Train.Cli;
using Csr.Train.Eval;

namespace Csr.Tests.Eval;

[CollectionDefinition("EvalVerb", DisableParallelization = true)]
public class EvalVerbCollection;

[Collection("EvalVerb")]
public class EvalVerbTests
{
    private sealed class AlwaysYes : IVisionChatModel
    {
        public List<VisionPrompt> Seen { get; } = [];
        public IReadOnlyList<string> Answer(IReadOnlyList<VisionPrompt> prompts, int maxNewTokens)
        {
            Seen.AddRange(prompts);
            return prompts.Select(p => p.Question.StartsWith("Is there") ? "Yes, there is." : "A dog and a cat on a sofa.").ToList();
        }
        public void Dispose() { }
    }

    private static string TempDir()
    {
        var d = Path.Combine(Path.GetTempPath(), "csr-evalverb-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(d);
        return d;
    }

    [Fact]
    public void EvalChairWritesPerCaptionHallucinations()
    {
        var dir = TempDir();
        try
        {
            File.WriteAllText(Path.Combine(dir, "inst.json"), """
                {"annotations":[{"image_id":7,"category_id":18},{"image_id":8,"category_id":1}],
                 "categories":[{"id":1,"name":"person"},{"id":18,"name":"dog"}]}
                """);
            File.WriteAllText(Path.Combine(dir, "caps.jsonl"), "{\"image_id\": 7, \"caption\": \"Two dogs and a cat.\"}\n{\"image_id\": 8, \"caption\": \"A man.\"}\n");
            var outFile = Path.Combine(dir, "chair.jsonl");
            int rc = CliApp.Run(["eval", "chair", "--captions", Path.Combine(dir, "caps.jsonl"), "--instances", Path.Combine(dir, "inst.json"), "--out", outFile]);
            Assert.Equal(0, rc);
            var lines = File.ReadAllLines(outFile).Select(l => JsonDocument.Parse(l).RootElement).ToList();
            Assert.Equal(7, lines[0].GetProperty("image_id").GetInt64());
            Assert.Equal("cat", lines[0].GetProperty("hallucinated")[0][1].GetString());
            Assert.Equal(1, lines[0].GetProperty("chair_s").GetInt32());
            Assert.Equal(0, lines[1].GetProperty("hallucinated").GetArrayLength());
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void EvalChairNamesAnImageWithoutAnnotations()
    {
        var dir = TempDir();
        try
        {
            File.WriteAllText(Path.Combine(dir, "inst.json"), """{"annotations":[],"categories":[{"id":1,"name":"person"}]}""");
            File.WriteAllText(Path.Combine(dir, "caps.jsonl"), "{\"image_id\": 99, \"caption\": \"A man.\"}\n");
            Assert.Equal(2, CliApp.Run(["eval", "chair", "--captions", Path.Combine(dir, "caps.jsonl"), "--instances", Path.Combine(dir, "inst.json")]));
            Assert.Equal(2, CliApp.Run(["eval", "nonsense"]));
            Assert.Equal(2, CliApp.Run(["eval", "chair", "--instances", Path.Combine(dir, "inst.json")]));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void EvalPopeOnTheOfficialFileFormatWithAFakeModel()
    {
        var real = SharedData.Find("pope/coco_pope_adversarial.jsonl");
        var dir = TempDir();
        var saved = VisionChatModelLoader.Open;
        try
        {
            var questions = real ?? Path.Combine(dir, "q.jsonl");
            if (real is null)
                PopeQuestionFile.Write(questions, Enumerable.Range(1, 12).Select(i =>
                    new PopeQuestion(i, $"COCO_val2014_{i / 6:D12}.jpg", "Is there a dog in the image?", i % 2 == 0 ? "no" : "yes")));
            var first12 = PopeQuestionFile.Read(questions).Take(12).ToList();
            var images = Path.Combine(dir, "images");
            Directory.CreateDirectory(images);
            foreach (var q in first12) File.WriteAllBytes(Path.Combine(images, q.Image), []);
            var fake = new AlwaysYes();
            VisionChatModelLoader.Open = (_, _) => fake;
            var outFile = Path.Combine(dir, "answers.jsonl");
            int rc = CliApp.Run(["eval", "pope", "--model", dir, "--questions", questions, "--images", images, "--limit", "12", "--out", outFile]);
            Assert.Equal(0, rc);
            Assert.Equal(12, fake.Seen.Count);
            Assert.Equal(first12.Select(q => q.Text), fake.Seen.Select(p => p.Question));
            var preds = File.ReadAllLines(outFile).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("pred").GetString()).ToList();
            Assert.All(preds, p => Assert.Equal("yes", p));
        }
        finally
        {
            VisionChatModelLoader.Open = saved;
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void EvalDescribeWritesACaptionsFileThatChairReads()
    {
        var dir = TempDir();
        var saved = VisionChatModelLoader.Open;
        try
        {
            var images = Path.Combine(dir, "images");
            Directory.CreateDirectory(images);
            File.WriteAllBytes(Path.Combine(images, "COCO_val2014_000000000005.jpg"), []);
            File.WriteAllBytes(Path.Combine(images, "COCO_val2014_000000000003.jpg"), []);
            VisionChatModelLoader.Open = (_, _) => new AlwaysYes();
            var outFile = Path.Combine(dir, "caps.jsonl");
            Assert.Equal(0, CliApp.Run(["eval", "describe", "--model", dir, "--images", images, "--out", outFile, "--prompt", "Describe this image."]));
            var caps = CaptionFile.Read(outFile);
            Assert.Equal(new long[] { 3, 5 }, caps.Select(c => c.ImageId));
            Assert.Equal("A dog and a cat on a sofa.", caps[0].Caption);
        }
        finally
        {
            VisionChatModelLoader.Open = saved;
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void EvalPopeAndDescribeOpenTheModelWithTheGivenDtypeAndImageAspectRatio()
    {
        var dir = TempDir();
        var saved = VisionChatModelLoader.Open;
        try
        {
            var images = Path.Combine(dir, "images");
            Directory.CreateDirectory(images);
            File.WriteAllBytes(Path.Combine(images, "COCO_val2014_000000000005.jpg"), []);
            var questions = Path.Combine(dir, "q.jsonl");
            PopeQuestionFile.Write(questions, [new PopeQuestion(1, "COCO_val2014_000000000005.jpg", "Is there a dog in the image?", "yes")]);
            var seen = new List<VisionChatOpenOptions>();
            VisionChatModelLoader.Open = (_, o) => { seen.Add(o); return new AlwaysYes(); };
            Assert.Equal(0, CliApp.Run(["eval", "pope", "--model", dir, "--questions", questions, "--images", images]));
            Assert.Equal(0, CliApp.Run(["eval", "pope", "--model", dir, "--questions", questions, "--images", images, "--dtype", "bf16", "--image-aspect-ratio", "none"]));
            Assert.Equal(0, CliApp.Run(["eval", "describe", "--model", dir, "--images", images, "--out", Path.Combine(dir, "c.jsonl"), "--dtype", "bf16"]));
            // no --dtype: auto, which is bf16 only on a CPU with native bf16 arithmetic
            var auto = Csr.Native.ComputeDevice.AutoDType(TorchSharp.torch.CPU, Csr.Native.CpuFeatures.Flags).DType;
            Assert.Equal((auto, "pad"), (seen[0].DType, seen[0].ImageAspectRatio));
            Assert.Equal((TorchSharp.torch.ScalarType.BFloat16, "none"), (seen[1].DType, seen[1].ImageAspectRatio));
            Assert.Equal((TorchSharp.torch.ScalarType.BFloat16, "pad"), (seen[2].DType, seen[2].ImageAspectRatio));
            // --device auto resolves to the CPU on a machine without the CUDA runtime
            Assert.All(seen, o => Assert.Equal(TorchSharp.DeviceType.CPU, o.Device!.type));
            Assert.Equal(2, CliApp.Run(["eval", "pope", "--model", dir, "--questions", questions, "--images", images, "--dtype", "int8"]));
            Assert.Equal(3, seen.Count);
        }
        finally
        {
            VisionChatModelLoader.Open = saved;
            Directory.Delete(dir, true);
        }
    }
}
