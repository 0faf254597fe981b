import Foundation

/// Where `scripts/fetch-assets.sh` keeps models and data: `$TRIMTAB_CACHE`, or
/// `~/.cache/trimtab`.
enum AssetCache {
    static var root: String {
        if let dir = ProcessInfo.processInfo.environment["TRIMTAB_CACHE"], !dir.isEmpty { return dir }
        return NSHomeDirectory() + "/.cache/trimtab"
    }

    static func path(_ relative: String) -> String { root + "/" + relative }
}
