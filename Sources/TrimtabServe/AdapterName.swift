/// Adapter names as requests give them: one directory name inside the adapter directory.
///
/// A name is 1–128 characters from `A–Z a–z 0–9 . _ -`, starts with a letter or digit,
/// and contains no `..`; so it can never name a path outside the directory (no `/`, no
/// parent, no absolute path, no hidden or temporary entry such as `.x.tmp`).
public enum AdapterName {
    public static let maxLength = 128

    /// Why `name` is refused, or `nil` when it is valid.
    public static func problem(_ name: String) -> String? {
        if name.isEmpty { return "is empty" }
        if name.count > maxLength { return "is longer than \(maxLength) characters" }
        if name.contains("/") || name.contains("\\") { return "contains a path separator" }
        if name.contains("..") { return "contains '..'" }
        guard let first = name.unicodeScalars.first, isAlphanumeric(first) else {
            return "must start with a letter or a digit"
        }
        for scalar in name.unicodeScalars where !(isAlphanumeric(scalar) || scalar == "." || scalar == "_" || scalar == "-") {
            return "contains '\(scalar.escaped(asASCII: true))'; only letters, digits, '.', '_' and '-' are allowed"
        }
        return nil
    }

    private static func isAlphanumeric(_ s: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(s) || ("A"..."Z").contains(s) || ("0"..."9").contains(s)
    }
}
