import ArgumentParser
import TrimtabModels
import TrimtabPEFT

/// `trimtab train`'s options for the methods that wrap linear layers (`--method lora|ia3`),
/// resolved into ``LinearMethodOptions`` for ``makeLinearAdapter(_:options:model:)``.
struct LinearMethodFlags: ParsableArguments {
    @Option(help: "LoRA rank r (default 8).")
    var rank: Int?
    @Option(help: "LoRA alpha; the update is scaled by alpha/r (alpha/√r with --rslora) (default 2 × rank).")
    var alpha: Double?
    @Option(help: "Dropout on LoRA's input while training (default 0).")
    var loraDropout: Double?
    @Option(help: ArgumentHelp("Linear layers to wrap: names (q_proj,v_proj), full module paths, or all-linear (default: LoRA q_proj,v_proj; (IA)³ k_proj,v_proj,down_proj).", valueName: "names"))
    var targetModules: String?
    @Option(help: ArgumentHelp("Only these layers (block indices, e.g. 0,1,2 or 20-29).", valueName: "list"))
    var layers: String?
    @Flag(inversion: .prefixedNo, help: "rsLoRA: scale by alpha/√r instead of alpha/r (default off).")
    var rslora: Bool?
    @Flag(inversion: .prefixedNo, help: "DoRA: learn a magnitude per output row of the adapted weight (default off).")
    var dora: Bool?
    @Option(help: "Biases LoRA trains too: none, all or lora_only (default none).")
    var bias: String?

    /// Whether any of these flags is on the command line.
    var anySet: Bool {
        rank != nil || alpha != nil || loraDropout != nil || targetModules != nil || layers != nil || rslora != nil
            || dora != nil || bias != nil
    }

    /// The settings-file keys these flags read.
    static let fileKeys: Set<String> = ["rank", "alpha", "lora-dropout", "target-modules", "layers", "rslora", "dora", "bias"]

    /// The method named `name`, or `nil` for a method these flags do not make.
    static func method(_ name: String) -> LinearMethod? {
        switch name.lowercased() {
        case "lora": return .lora
        case "ia3", "(ia)3", "ia³": return .ia3
        default: return nil
        }
    }

    /// Default peak learning rates. LoRA: 2e-4 is the common recipe for long runs on large
    /// models; the short runs a CPU affords (a few hundred steps) do better at 1e-3 with
    /// r = 8, α = 16 (see docs/TRAINING.md). (IA)³: 3e-3, the T-Few paper's rate.
    static func defaultLearningRate(_ method: LinearMethod) -> Float {
        switch method {
        case .lora: return 1e-3
        case .ia3: return 3e-3
        }
    }

    /// Resolves the flags (then `file`, then defaults) for `method`.
    func options(_ method: LinearMethod, file: SettingsFile, seed: UInt64, baseModel: String) throws
        -> (options: LinearMethodOptions, recorded: [String: String]) {
        var o = LinearMethodOptions(seed: seed, baseModelNameOrPath: baseModel)
        let rankValue = try rank ?? file.int("rank")
        let alphaValue = try alpha ?? file.double("alpha")
        let dropoutValue = try loraDropout ?? file.double("lora-dropout")
        let rsloraValue = try rslora ?? file.bool("rslora")
        let doraValue = try dora ?? file.bool("dora")
        let biasName = try bias ?? file.string("bias")
        if method == .ia3 {
            for (flag, set) in [("--rank", rankValue != nil), ("--alpha", alphaValue != nil),
                                ("--lora-dropout", dropoutValue != nil), ("--rslora", rsloraValue == true),
                                ("--dora", doraValue == true), ("--bias", biasName != nil && biasName != "none")] where set {
                throw ValidationError("\(flag) applies to --method lora, not ia3")
            }
        }
        o.rank = rankValue ?? 8
        guard o.rank > 0 else { throw ValidationError("--rank must be ≥ 1") }
        o.alpha = alphaValue
        o.dropout = dropoutValue ?? 0
        guard o.dropout >= 0 && o.dropout < 1 else { throw ValidationError("--lora-dropout must be in [0, 1)") }
        o.rsLoRA = rsloraValue ?? false
        o.dora = doraValue ?? false
        if let biasName {
            guard let mode = LoRABias(rawValue: biasName.replacingOccurrences(of: "-", with: "_")) else {
                throw ValidationError("--bias must be none, all or lora_only, not '\(biasName)'")
            }
            o.bias = mode
        }
        let targets = try targetModules ?? file.string("target-modules")
        if let targets {
            let names = targets.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard !names.isEmpty else { throw ValidationError("--target-modules is empty") }
            o.targetModules = .names(names)
        }
        let layerSpec = try layers ?? file.string("layers")
        if let layerSpec { o.layers = try Self.parseLayers(layerSpec) }
        let recorded: [String: String] = [
            "rank": String(o.rank), "alpha": o.alpha.map { String($0) } ?? "", "lora-dropout": String(o.dropout),
            "target-modules": targets ?? "", "layers": layerSpec ?? "", "rslora": String(o.rsLoRA),
            "dora": String(o.dora), "bias": o.bias.rawValue,
        ]
        return (o, recorded)
    }

    /// `0,1,2` or ranges `20-29`.
    static func parseLayers(_ spec: String) throws -> [Int] {
        var out: [Int] = []
        for part in spec.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !part.isEmpty {
            let ends = part.split(separator: "-").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            if ends.count == 1, let one = ends[0] {
                out.append(one)
            } else if ends.count == 2, let lo = ends[0], let hi = ends[1], lo <= hi {
                out += Array(lo...hi)
            } else {
                throw ValidationError("--layers: '\(part)' is not a layer index or a range like 20-29")
            }
        }
        guard !out.isEmpty else { throw ValidationError("--layers is empty") }
        return out
    }

    /// The flag of a ``LinearMethodOptions`` field, for errors.
    static func flag(forOption field: String) -> String {
        switch field {
        case "rank": return "--rank"
        case "dropout": return "--lora-dropout"
        case "layers": return "--layers"
        case "rsLoRA": return "--rslora"
        case "dora": return "--dora"
        case "bias": return "--bias"
        case "target_modules": return "--target-modules"
        default: return "--\(field)"
        }
    }
}
