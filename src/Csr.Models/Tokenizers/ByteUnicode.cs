namespace Csr.Models.Tokenizers;

/// <summary>
/// GPT-2 / CLIP byte-level mapping: every byte 0..255 gets a printable Unicode character (printable Latin-1
/// bytes map to themselves; the others to U+0100 onwards, in byte order), so BPE works on text without
/// whitespace or control characters.
/// </summary>
public static class ByteUnicode
{
    public static readonly IReadOnlyList<char> ByteToChar = Build();
    public static readonly IReadOnlyDictionary<char, byte> CharToByte =
        Enumerable.Range(0, 256).ToDictionary(b => ByteToChar[b], b => (byte)b);

    private static char[] Build()
    {
        var map = new char[256];
        var printable = new bool[256];
        for (int b = '!'; b <= '~'; b++) printable[b] = true;
        for (int b = 0xA1; b <= 0xAC; b++) printable[b] = true;
        for (int b = 0xAE; b <= 0xFF; b++) printable[b] = true;
        int n = 0;
        for (int b = 0; b < 256; b++)
            map[b] = printable[b] ? (char)b : (char)(256 + n++);
        return map;
    }

    public static string Encode(ReadOnlySpan<byte> bytes)
    {
        var chars = new char[bytes.Length];
        for (int i = 0; i < bytes.Length; i++) chars[i] = ByteToChar[bytes[i]];
        return new string(chars);
    }
}
