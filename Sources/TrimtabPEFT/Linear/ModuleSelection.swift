import TrimtabModels

/// Which linear layers a method wraps, decided as PEFT's `check_target_module_exists`
/// decides it.
///
/// `exclude_modules` wins; a `target_modules` regular expression must match the whole
/// path; a list entry equal to the path is taken as is; otherwise the path must end in
/// `.<entry>` and, when `layers_to_transform` is set, the layer index — found with
/// `.*\.<layers_pattern>\.(\d+)\.` (or `.*\.[^.]*\.(\d+)\.` without a pattern) — must be
/// listed.
struct ModuleSelection: Equatable, Sendable {
    var targets: TargetModules
    var excluded: TargetModules?
    var layers: [Int]?
    var layersPattern: [String]?

    func selects(_ site: LinearSite) -> Bool {
        let path = site.path
        if let excluded, excluded.matches(path) { return false }
        switch targets {
        case let .pattern(pattern):
            return PEFTRegex.fullMatch(pattern, path)
        case let .names(names):
            if names.contains(path) { return true }
            guard names.contains(where: { path.hasSuffix("." + $0) }) else { return false }
            guard let layers, !layers.isEmpty else { return true }
            guard let index = layerIndex(path) else { return false }
            return layers.contains(index)
        }
    }

    private func layerIndex(_ path: String) -> Int? {
        let patterns = (layersPattern ?? []).isEmpty ? [#".*\.[^.]*\.(\d+)\."#]
            : (layersPattern ?? []).map { #".*\."# + $0 + #"\.(\d+)\."# }
        for pattern in patterns {
            if let groups = PEFTRegex.firstGroups(pattern, path), groups.count > 1, let index = Int(groups[1]) {
                return index
            }
        }
        return nil
    }

    /// The sites of `model` this selection wraps, in the model's order.
    func sites(of model: LanguageModel) -> [LinearSite] {
        model.linearSites.filter(selects)
    }
}
