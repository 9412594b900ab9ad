namespace Csr.Train.Pipeline;

/// <summary>
/// The chat prompt around a question. <c>vicuna_v1</c> is what LLaVA-1.5 was trained with and what the
/// official CSR sample.py builds (conv_templates['v1']: "curious user"); <c>llava_v1</c> is the same
/// layout with "curious human" (LLaVA's conv_llava_v1).
/// Layout: <c>{system} USER: &lt;image&gt;\n{question} ASSISTANT:</c>; an answer follows after a space and ends with &lt;/s&gt;.
/// </summary>
public sealed record PromptTemplate(string Name, string System)
{
    public static readonly PromptTemplate VicunaV1 = new("vicuna_v1",
        "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the user's questions.");

    public static readonly PromptTemplate LlavaV1 = new("llava_v1",
        "A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the human's questions.");

    public static PromptTemplate Default => VicunaV1;

    public static PromptTemplate Parse(string name) => name.ToLowerInvariant() switch
    {
        "vicuna_v1" or "v1" => VicunaV1,
        "llava_v1" => LlavaV1,
        _ => throw new ArgumentException($"--template \"{name}\": expected vicuna_v1 or llava_v1"),
    };

    /// <summary>The generation prompt for a human turn that already holds the image marker ("&lt;image&gt;\nquestion").</summary>
    public string Format(string humanTurn) => $"{System} USER: {humanTurn} ASSISTANT:";

    public string Format(PromptEntry prompt) => Format(prompt.HumanTurn);
}
