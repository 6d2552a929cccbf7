/// Text put into HTML or SVG (the web album's pages, the benchmark report's
/// plots): the five characters markup gives meaning to, as references,
/// scalar by scalar. Not by `Character`: a quote followed by a combining mark
/// is one Character that is not a quote, yet its first scalar still ends an
/// attribute.
public enum MarkupText {
    public static func escape(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out.append(contentsOf: "&amp;".unicodeScalars)
            case "<": out.append(contentsOf: "&lt;".unicodeScalars)
            case ">": out.append(contentsOf: "&gt;".unicodeScalars)
            case "\"": out.append(contentsOf: "&quot;".unicodeScalars)
            case "'": out.append(contentsOf: "&#39;".unicodeScalars)
            default: out.append(scalar)
            }
        }
        return String(out)
    }
}
