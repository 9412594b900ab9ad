namespace Csr.Train.Eval;

/// <summary>
/// The official POPE answer rule: keep the text before the first '.', remove commas, split on spaces;
/// if any word is exactly "No", "not" or "no" the answer is no, otherwise yes.
/// </summary>
public static class PopeAnswerRule
{
    public static bool IsYes(string answer)
    {
        var text = answer;
        int dot = text.IndexOf('.');
        if (dot >= 0) text = text[..dot];
        text = text.Replace(",", "");
        foreach (var w in text.Split(' '))
            if (w == "No" || w == "not" || w == "no") return false;
        return true;
    }
}
