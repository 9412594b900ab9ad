using System.Text.Json.Serialization;

namespace Csr.Train.Pipeline;

/// <summary>One turn of a LLaVA conversation: <c>{"from": "human"|"gpt", "value": ...}</c>.</summary>
public sealed record ConversationTurn(
    [property: JsonPropertyName("from")] string From,
    [property: JsonPropertyName("value")] string Value);

/// <summary>
/// A CSR/LLaVA preference item (interoperable with LLaVA/TRL tooling):
/// <c>{"id", "image", "conversations": [human, gpt chosen], "rejected_conversations": [human, gpt rejected]}</c>.
/// </summary>
public sealed record PreferencePair(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("image")] string Image,
    [property: JsonPropertyName("conversations")] IReadOnlyList<ConversationTurn> Conversations,
    [property: JsonPropertyName("rejected_conversations")] IReadOnlyList<ConversationTurn> RejectedConversations)
{
    public static PreferencePair Create(string id, string image, string humanTurn, string chosen, string rejected) =>
        new(id, image,
            [new("human", humanTurn), new("gpt", chosen)],
            [new("human", humanTurn), new("gpt", rejected)]);

    [JsonIgnore] public string Prompt => Conversations[0].Value;
    [JsonIgnore] public string Chosen => Conversations[^1].Value;
    [JsonIgnore] public string Rejected => RejectedConversations[^1].Value;
}
