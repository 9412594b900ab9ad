using System.Text.Json;
using Csr.Models.IO;

namespace Csr.Train.Pipeline;

/// <summary>Reads and writes one tree per prompt as <c>&lt;dir&gt;/&lt;id&gt;.json</c> (atomic writes).</summary>
public static class TreeFile
{
    // A node is two JSON levels (object + children array) and a path can be as deep as max_length
    // one-token sentences (1024 by default): the default MaxDepth of 64 would refuse real trees.
    public const int MaxJsonDepth = 2 * 4096 + 8;
    static readonly JsonSerializerOptions Options = new() { WriteIndented = true, MaxDepth = MaxJsonDepth };

    /// <summary>The file of prompt <paramref name="id"/>; the id "kernels" is refused (its name is the op report, kernels.json).</summary>
    public static string PathFor(string dir, string id)
    {
        if (id + ".json" == Csr.Kernels.KernelReport.FileName)
            throw new InvalidDataException($"prompt id \"{id}\": reserved in tree directories for {Csr.Kernels.KernelReport.FileName}; rename the prompt");
        return System.IO.Path.Combine(dir, id + ".json");
    }

    public static bool Exists(string dir, string id) => File.Exists(PathFor(dir, id));

    public static string Serialize(TreeNode root) => JsonSerializer.Serialize(root, Options);

    public static void Write(string dir, string id, TreeNode root) => AtomicFile.WriteAllText(PathFor(dir, id), Serialize(root));

    public static TreeNode Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"tree file not found: {path}", path);
        TreeNode? node;
        try { node = JsonSerializer.Deserialize<TreeNode>(Csr.Models.IO.Utf8File.ReadAllBytes(path), Options); }
        catch (JsonException ex) { throw new InvalidDataException($"{path}: malformed tree JSON: {ex.Message}", ex); }
        if (node == null) throw new InvalidDataException($"{path}: tree file holds null");
        Validate(node, path, "root");
        return node;
    }

    public static TreeNode Read(string dir, string id) => Read(PathFor(dir, id));

    static void Validate(TreeNode n, string path, string where)
    {
        if (n.Text == null) throw new InvalidDataException($"{path}: {where}: missing \"text\"");
        n.Children ??= new();
        for (int i = 0; i < n.Children.Count; i++)
        {
            if (n.Children[i] == null) throw new InvalidDataException($"{path}: {where}.children[{i}] is null");
            Validate(n.Children[i], path, $"{where}.children[{i}]");
        }
    }
}
