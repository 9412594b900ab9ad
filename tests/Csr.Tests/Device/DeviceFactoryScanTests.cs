using System.Text.RegularExpressions;

namespace Csr.Tests.Device;

/// <summary>
/// Every tensor factory call in the models and the stages names its device (<c>device: x.device</c> or the model's
/// device), so nothing lands on the CPU by default when the model is on a GPU. Calls that are host bookkeeping on
/// purpose carry a <c>// host: reason</c> or <c>// default device: reason</c> comment on their line; whole files that
/// are host code by design are listed below with their reason.
/// </summary>
public class DeviceFactoryScanTests
{
    static readonly Dictionary<string, string> HostFiles = new(StringComparer.Ordinal)
    {
        ["src/Csr.Models/Vision/ImageProcessor.cs"] = "decodes and preprocesses images on the host; callers move pixels to the model's device",
        ["src/Csr.Models/Tokenizers/ClipTokenizer.cs"] = "tokenizer output on the host; callers move ids to the model's device",
        ["src/Csr.Models/Fast/Bf16Gemv.cs"] = "a CPU-only kernel (taken only for CPU tensors)",
        ["src/Csr.Train/World/Training/WorldPixels.cs"] = "the demo world's base models are built on the CPU (cached, the same files on any device)",
        ["src/Csr.Train/World/Training/WorldClipTrainer.cs"] = "as WorldPixels",
        ["src/Csr.Train/World/Training/WorldLlavaTrainer.cs"] = "as WorldPixels",
    };

    static readonly Regex Factory = new(@"(?<![\w.])(?:torch\.)?(zeros|ones|tensor|arange|full|empty|eye|rand|randn|randint|linspace)\(", RegexOptions.Compiled);
    static readonly Regex Marker = new(@"//\s*(host|default device):\s*\S", RegexOptions.Compiled);

    /// <summary>(file:line, code) of every factory call without a device argument and without a marker.</summary>
    public static List<string> Unplaced(string root, string relativeFolder)
    {
        var found = new List<string>();
        foreach (var file in Directory.EnumerateFiles(Path.Combine(root, relativeFolder), "*.cs", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var rel = Path.GetRelativePath(root, file).Replace('\\', '/');
            if (rel.Contains("/obj/", StringComparison.Ordinal) || rel.Contains("/bin/", StringComparison.Ordinal) || HostFiles.ContainsKey(rel)) continue;
            var lines = File.ReadAllLines(file);
            var code = string.Join('\n', lines.Select(StripStringsAndComments));
            foreach (Match m in Factory.Matches(code))
            {
                int open = m.Index + m.Length - 1, depth = 0, end = open;
                for (; end < code.Length; end++)
                {
                    if (code[end] == '(') depth++;
                    else if (code[end] == ')' && --depth == 0) break;
                }
                var args = code.Substring(open, Math.Min(end, code.Length - 1) - open + 1);
                if (args.Contains("device:", StringComparison.Ordinal)) continue;
                int line = code.Take(m.Index).Count(c => c == '\n');
                if (Marker.IsMatch(lines[line])) continue;
                found.Add($"{rel}:{line + 1}: {lines[line].Trim()}");
            }
        }
        return found;
    }

    /// <summary>Blanks string literals and // comments so a call inside either is not taken for code.</summary>
    static string StripStringsAndComments(string line)
    {
        var sb = new System.Text.StringBuilder(line.Length);
        bool inString = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (!inString && c == '/' && i + 1 < line.Length && line[i + 1] == '/') break;
            if (c == '"' && (i == 0 || line[i - 1] != '\\')) { inString = !inString; sb.Append(' '); continue; }
            sb.Append(inString ? ' ' : c);
        }
        return sb.ToString();
    }

    [SourceTreeFact]
    public void Models_and_stages_create_every_tensor_on_a_named_device()
    {
        var root = RepoRoot.Find()!;
        var found = Unplaced(root, "src/Csr.Models").Concat(Unplaced(root, "src/Csr.Train")).ToList();
        Assert.True(found.Count == 0,
            "tensor factories without device: (add device: x.device, or a '// host: reason' comment where it is host bookkeeping):\n"
            + string.Join('\n', found));
    }

    [SourceTreeFact]
    public void The_scan_finds_a_call_without_a_device()
    {
        var dir = Directory.CreateTempSubdirectory("csr-scan-");
        try
        {
            Directory.CreateDirectory(Path.Combine(dir.FullName, "src"));
            File.WriteAllText(Path.Combine(dir.FullName, "src", "A.cs"),
                "var a = torch.zeros(3, dtype: t);\nvar b = torch.ones(2,\n  device: x.device);\nvar c = tensor(ids); // host: test\nvar s = \"tensor(s)\";\nvar d = x.full(3);\n");
            var found = Unplaced(dir.FullName, "src");
            Assert.Equal(new[] { "src/A.cs:1: var a = torch.zeros(3, dtype: t);" }, found);
        }
        finally { dir.Delete(true); }
    }
}
