using System.Text;
using Csr.Models.IO;

namespace Csr.Models.Tokenizers;

/// <summary>SentencePiece piece types (sentencepiece_model.proto, ModelProto.SentencePiece.Type).</summary>
public enum SentencePieceType
{
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

/// <summary>One vocabulary entry: the piece (with U+2581 for spaces), its score (BPE: higher merges first) and type.</summary>
public sealed record SentencePiece(string Piece, float Score, SentencePieceType Type = SentencePieceType.Normal);

/// <summary>
/// Writes a SentencePiece <c>tokenizer.model</c> (a serialized <c>ModelProto</c>, hand-encoded protobuf) for a
/// given piece list, configured as Llama-2's: BPE, byte fallback, unk/bos/eos = 0/1/2, no pad id, and a
/// normalizer that is the identity with a dummy prefix and escaped whitespace
/// (<c>name: identity, add_dummy_prefix: true, remove_extra_whitespaces: false, escape_whitespaces: true</c>).
/// Tests and the demo world use it to build real tokenizer files.
///
/// Field numbers (sentencepiece_model.proto): ModelProto{pieces=1, trainer_spec=2, normalizer_spec=3};
/// SentencePiece{piece=1, score=2 (float), type=3}; TrainerSpec{model_type=3, vocab_size=4,
/// treat_whitespace_as_suffix=24, split_digits=25, allow_whitespace_only_pieces=26, byte_fallback=35,
/// unk_id=40, bos_id=41, eos_id=42, pad_id=43, unk_piece=45, bos_piece=46, eos_piece=47, pad_piece=48};
/// NormalizerSpec{name=1, precompiled_charsmap=2, add_dummy_prefix=3, remove_extra_whitespaces=4, escape_whitespaces=5}.
/// </summary>
public static class SentencePieceModelWriter
{
    public const char Space = '\u2581';

    /// <summary>Serializes the model. Pieces must be unique; ids are list positions; unk/bos/eos ids must point at
    /// pieces of type Unknown/Control/Control.</summary>
    public static byte[] Serialize(IReadOnlyList<SentencePiece> pieces, int unkId = 0, int bosId = 1, int eosId = 2,
        bool byteFallback = true, bool splitDigits = true)
    {
        Validate(pieces, unkId, bosId, eosId, byteFallback);
        var model = new ProtoBuffer();
        foreach (var p in pieces)
        {
            var sp = new ProtoBuffer();
            sp.String(1, p.Piece);
            sp.Float(2, p.Score);
            sp.Varint(3, (ulong)p.Type);
            model.Message(1, sp);
        }

        var trainer = new ProtoBuffer();
        trainer.Varint(3, 2);                              // model_type = BPE
        trainer.Varint(4, (ulong)pieces.Count);            // vocab_size
        trainer.Varint(24, 0);                             // treat_whitespace_as_suffix
        trainer.Varint(25, splitDigits ? 1UL : 0UL);       // split_digits
        trainer.Varint(26, 1);                             // allow_whitespace_only_pieces
        trainer.Varint(35, byteFallback ? 1UL : 0UL);      // byte_fallback
        trainer.Int32(40, unkId);
        trainer.Int32(41, bosId);
        trainer.Int32(42, eosId);
        trainer.Int32(43, -1);                             // pad_id: none, as Llama
        trainer.String(45, pieces[unkId].Piece);
        trainer.String(46, pieces[bosId].Piece);
        trainer.String(47, pieces[eosId].Piece);
        model.Message(2, trainer);

        var normalizer = new ProtoBuffer();
        normalizer.String(1, "identity");
        normalizer.Bytes(2, []);                           // no precompiled charsmap: identity
        normalizer.Varint(3, 1);                           // add_dummy_prefix
        normalizer.Varint(4, 0);                           // remove_extra_whitespaces = false
        normalizer.Varint(5, 1);                           // escape_whitespaces
        model.Message(3, normalizer);
        return model.ToArray();
    }

    /// <summary>Writes <c>tokenizer.model</c> atomically.</summary>
    public static void Write(string path, IReadOnlyList<SentencePiece> pieces, int unkId = 0, int bosId = 1, int eosId = 2,
        bool byteFallback = true) =>
        AtomicFile.WriteAllBytes(path, Serialize(pieces, unkId, bosId, eosId, byteFallback));

    /// <summary>
    /// A Llama-2-style vocabulary for a small word list: <c>&lt;unk&gt;</c>, <c>&lt;s&gt;</c>, <c>&lt;/s&gt;</c>,
    /// the 256 byte pieces <c>&lt;0x00&gt;</c>..<c>&lt;0xFF&gt;</c> (ids 3..258, as Llama), <c>▁</c>, every
    /// character of the words and of <paramref name="extraPieces"/>, then for each word the merge chain
    /// <c>▁w</c>, <c>▁wo</c>, ..., <c>▁word</c> (so each word, after a space, is one token), then the extra pieces.
    /// BPE scores decrease with the id, as sentencepiece writes them.
    /// </summary>
    public static List<SentencePiece> BuildLlamaStyleVocabulary(IEnumerable<string> words, IEnumerable<string>? extraPieces = null)
    {
        var list = new List<SentencePiece>
        {
            new("<unk>", 0, SentencePieceType.Unknown),
            new("<s>", 0, SentencePieceType.Control),
            new("</s>", 0, SentencePieceType.Control),
        };
        for (int b = 0; b < 256; b++) list.Add(new($"<0x{b:X2}>", 0, SentencePieceType.Byte));
        var seen = new HashSet<string>(list.Select(p => p.Piece), StringComparer.Ordinal);
        var normal = new List<string>();
        void Add(string p) { if (p.Length > 0 && seen.Add(p)) normal.Add(p); }
        var wordList = words.Where(w => w.Length > 0).Select(w => w.Replace(' ', Space)).ToList();
        var extras = (extraPieces ?? []).Select(w => w.Replace(' ', Space)).ToList();
        Add(Space.ToString());
        foreach (var w in wordList.Concat(extras))
            foreach (var r in EnumerateRunes(w)) Add(r);
        foreach (var w in wordList)
        {
            var runes = EnumerateRunes(Space + w).ToList();
            var sb = new StringBuilder(runes[0]);
            for (int i = 1; i < runes.Count; i++) { sb.Append(runes[i]); Add(sb.ToString()); }
        }
        foreach (var e in extras)
        {
            var runes = EnumerateRunes(e).ToList();
            var sb = new StringBuilder(runes[0]);
            for (int i = 1; i < runes.Count; i++) { sb.Append(runes[i]); Add(sb.ToString()); }
        }
        for (int i = 0; i < normal.Count; i++) list.Add(new(normal[i], -i, SentencePieceType.Normal));
        return list;
    }

    private static IEnumerable<string> EnumerateRunes(string s)
    {
        foreach (var r in s.EnumerateRunes()) yield return r.ToString();
    }

    private static void Validate(IReadOnlyList<SentencePiece> pieces, int unkId, int bosId, int eosId, bool byteFallback)
    {
        if (pieces.Count == 0) throw new ArgumentException("a SentencePiece model needs at least one piece");
        var dup = pieces.GroupBy(p => p.Piece, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (dup != null) throw new ArgumentException($"piece '{dup.Key}' appears twice");
        foreach (var (id, name, type) in new[] { (unkId, "unk", SentencePieceType.Unknown), (bosId, "bos", SentencePieceType.Control), (eosId, "eos", SentencePieceType.Control) })
        {
            if (id < 0 || id >= pieces.Count) throw new ArgumentException($"{name}_id {id} is outside the {pieces.Count} pieces");
            if (pieces[id].Type != type) throw new ArgumentException($"{name}_id {id} ('{pieces[id].Piece}') must be of type {type}, is {pieces[id].Type}");
        }
        if (byteFallback)
            for (int b = 0; b < 256; b++)
                if (!pieces.Any(p => p.Type == SentencePieceType.Byte && p.Piece == $"<0x{b:X2}>"))
                    throw new ArgumentException($"byte_fallback needs the 256 byte pieces; <0x{b:X2}> is missing");
    }

    /// <summary>Minimal protobuf wire-format encoder (varint, fixed32, length-delimited).</summary>
    private sealed class ProtoBuffer
    {
        private readonly MemoryStream _ms = new();

        public byte[] ToArray() => _ms.ToArray();

        private void Raw(ulong v)
        {
            while (v >= 0x80) { _ms.WriteByte((byte)(v | 0x80)); v >>= 7; }
            _ms.WriteByte((byte)v);
        }

        private void Tag(int field, int wire) => Raw((ulong)((field << 3) | wire));

        public void Varint(int field, ulong v) { Tag(field, 0); Raw(v); }

        /// <summary>int32 fields: negative values are sign-extended to 64 bits (10 bytes), as protobuf does.</summary>
        public void Int32(int field, int v) { Tag(field, 0); Raw((ulong)(long)v); }

        public void Float(int field, float v) { Tag(field, 5); _ms.Write(BitConverter.GetBytes(v)); }

        public void Bytes(int field, byte[] b) { Tag(field, 2); Raw((ulong)b.Length); _ms.Write(b); }

        public void String(int field, string s) => Bytes(field, Encoding.UTF8.GetBytes(s));

        public void Message(int field, ProtoBuffer m) => Bytes(field, m.ToArray());
    }
}
