using Csr.Train.Models;
using Csr.Train.Pipeline;

namespace Csr.Train.Dpo;

/// <summary>
/// Preference pairs -> tokenized DPO examples. Each side is <c>BOS + prompt (template, image marker expanded)
/// + answer + EOS</c> with the answer encoded on its own after the prompt (as LLaVA's v1 training masks the
/// prompt and trains on "answer&lt;/s&gt;"); sequences longer than <paramref name="maxLength"/> are
/// truncated at the end of the answer. Each side carries its image file's SHA-256 (part of the reference cache key).
/// </summary>
public static class DpoDataset
{
    public static List<DpoExample> Build(IReadOnlyList<PreferencePair> pairs, VisionLanguageModel vlm, PromptTemplate template,
        ImagePathRule images, int maxLength = 1024)
    {
        var list = new List<DpoExample>(pairs.Count);
        var hashes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in pairs)
        {
            string image = images.Resolve(p.Image);
            if (!File.Exists(image)) throw new FileNotFoundException($"image of preference pair {p.Id} not found: {image}", image);
            if (!hashes.TryGetValue(image, out var imageHash)) hashes[image] = imageHash = RunManifest.HashPath(image);
            long[] prompt = vlm.PromptIds(template.Format(p.Prompt));
            if (prompt.Length >= maxLength)
                throw new InvalidDataException($"pair {p.Id}: prompt is {prompt.Length} tokens, max length {maxLength}");
            DpoSequence Side(string answer)
            {
                // an image marker inside an answer would be spliced as image features: drop it
                var resp = vlm.Tokenizer.Encode(answer.Replace(PromptEntry.ImageMarker, ""), addBos: false).Select(i => (long)i).Append(vlm.Tokenizer.EosId);
                long[] ids = [.. prompt, .. resp];
                if (ids.Length > maxLength) ids = ids[..maxLength];
                return new DpoSequence(ids, prompt.Length, image, imageHash);
            }
            list.Add(new DpoExample(p.Id, Side(p.Chosen), Side(p.Rejected)));
        }
        return list;
    }
}
