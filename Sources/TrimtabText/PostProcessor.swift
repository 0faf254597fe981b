import Foundation

/// What `encode(_:addSpecialTokens: true)` adds around a single sequence
/// (HF `post_processor`: TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel).
struct PostProcessor: Sendable {
    /// Ids before the sequence (e.g. BOS, `[CLS]`).
    var prefix: [Int32]
    /// Ids after the sequence (e.g. EOS, `[SEP]`).
    var suffix: [Int32]

    static let none = PostProcessor(prefix: [], suffix: [])

    func process(_ ids: [Int32]) -> [Int32] {
        if prefix.isEmpty && suffix.isEmpty { return ids }
        return prefix + ids + suffix
    }

    /// Reads a tokenizer.json `post_processor` (null gives `.none`).
    static func from(_ node: JSONNode, tokenToId: (String) -> Int32?) throws -> PostProcessor {
        if node.isNull { return .none }
        let type = try node["type"].string()
        func id(_ pair: JSONNode) throws -> Int32 {
            // ["[CLS]", 101]
            let items = try pair.array()
            guard items.count == 2 else { throw pair.invalid("expected [token, id]") }
            return Int32(try items[1].int())
        }
        switch type {
        case "TemplateProcessing":
            var specials: [String: [Int32]] = [:]
            for (name, value) in node["special_tokens"].object ?? [:] {
                let entry = JSONNode(value, path: node.path + ".special_tokens.\(name)")
                specials[name] = try entry["ids"].array().map { Int32(try $0.int()) }
            }
            var result = PostProcessor(prefix: [], suffix: [])
            var seenSequence = false
            for piece in try node["single"].array() {
                if piece["Sequence"].object != nil {
                    seenSequence = true
                    continue
                }
                let name = try piece["SpecialToken"]["id"].string()
                guard let ids = specials[name] ?? tokenToId(name).map({ [$0] }) else {
                    throw TokenizerError.unknownToken(name, context: "post_processor.single")
                }
                if seenSequence { result.suffix += ids } else { result.prefix += ids }
            }
            return result
        case "BertProcessing", "RobertaProcessing":
            return PostProcessor(prefix: [try id(node["cls"])], suffix: [try id(node["sep"])])
        case "ByteLevel":
            return .none  // only trims offsets
        case "Sequence":
            var result = PostProcessor.none
            for p in try node["processors"].array() {
                let inner = try from(p, tokenToId: tokenToId)
                result = PostProcessor(prefix: inner.prefix + result.prefix, suffix: result.suffix + inner.suffix)
            }
            return result
        default:
            throw TokenizerError.unsupportedComponent(kind: "post_processor", type: type)
        }
    }
}
