namespace Csr.Models.Tokenizers;

/// <summary>A token added on top of the base vocabulary (HF <c>added_tokens_decoder</c>), matched verbatim in text.</summary>
public sealed record AddedToken(int Id, string Content, bool Special = true);
