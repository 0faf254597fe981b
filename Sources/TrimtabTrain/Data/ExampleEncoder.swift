import TrimtabText

/// Turns examples into token ids and loss masks for one tokenizer, task and length limit.
///
/// - `text`: `[BOS] text [EOS]`, loss on every token; truncation keeps the beginning.
/// - `promptCompletion`: `[BOS] prompt` then `completion [EOS]`, each encoded on its own
///   (the prompt is exactly what generation is later given); loss on the completion and
///   EOS; truncation drops the start of the prompt (after BOS) and, only if the completion
///   alone is too long, its end.
/// - `messages`: the conversation rendered with the tokenizer's chat template; loss on
///   the content and end-of-turn token of every assistant turn; truncation drops the
///   start of the conversation.
/// - `classification`: `[BOS] template(text)` then the label word; loss on the label
///   word's tokens. Truncation shortens the text inside the template (never the label
///   word), leaving room for the longest label word, so the input is the same whatever
///   the label.
///
/// BOS is added when the tokenizer's post-processor adds it; EOS when the tokenizer has one.
public struct ExampleEncoder: Sendable {
    /// The model's tokenizer.
    public let tokenizer: Tokenizer
    /// What the examples are (shape, template, label words).
    public let task: TaskFormat
    /// The longest sequence of real tokens (virtual tokens come on top).
    public let maxSequenceLength: Int
    /// The tokens the tokenizer puts first (BOS), or none.
    public let bos: [Int32]
    /// Appended to text and completions, if the tokenizer has an EOS token.
    public let eos: Int32?
    /// Classification: the label words' token ids, in the task's label order.
    public let labelTokens: [[Int32]]

    /// - Throws: ``DatasetError/invalidTaskFormat(_:)`` when a label word encodes to no
    ///   tokens or the limit leaves no room for input.
    public init(tokenizer: Tokenizer, task: TaskFormat, maxSequenceLength: Int) throws {
        self.tokenizer = tokenizer
        self.task = task
        self.maxSequenceLength = maxSequenceLength
        let specials = tokenizer.encode("", addSpecialTokens: true)
        if let bosId = tokenizer.bosId, specials.first == bosId { bos = [bosId] } else { bos = [] }
        eos = tokenizer.eosId
        if let format = task.classification {
            labelTokens = try format.labels.map { label in
                let word = format.labelWords[label] ?? " " + label
                let ids = tokenizer.encode(word, addSpecialTokens: false)
                guard !ids.isEmpty else {
                    throw DatasetError.invalidTaskFormat("the word \(word.debugDescription) of label \"\(label)\" has no tokens")
                }
                return ids
            }
        } else {
            labelTokens = []
        }
        let longestLabel = labelTokens.map(\.count).max() ?? 1
        guard maxSequenceLength >= bos.count + longestLabel + 1 else {
            throw DatasetError.invalidTaskFormat("a maximum length of \(maxSequenceLength) tokens leaves no room for input")
        }
    }

    /// Encodes every example of `dataset`, in order.
    ///
    /// - Throws: ``DatasetError`` naming the file and line of an example that cannot be
    ///   encoded (a label without a word, no token left with loss after truncation, a
    ///   conversation the chat format cannot split).
    public func encode(_ dataset: JSONLDataset) throws -> [EncodedExample] {
        if dataset.shape == .messages, tokenizer.chatTemplate == nil {
            throw DatasetError.missingChatTemplate(file: dataset.source)
        }
        return try zip(dataset.examples, dataset.lineNumbers).map { example, line in
            try encode(example, file: dataset.source, line: line)
        }
    }

    /// Encodes one example; `file` and `line` name it in errors.
    public func encode(_ example: Example, file: String = "<example>", line: Int = 0) throws -> EncodedExample {
        switch example {
        case let .text(text):
            var ids = bos + tokenizer.encode(text, addSpecialTokens: false)
            if let eos { ids.append(eos) }
            let truncated = ids.count > maxSequenceLength
            if truncated { ids = Array(ids.prefix(maxSequenceLength)) }
            var mask = [UInt8](repeating: 1, count: ids.count)
            mask[0] = 0
            guard ids.count > 1 else {
                throw DatasetError.noLossTokens(file: file, line: line, reason: "the text has fewer than two tokens")
            }
            return EncodedExample(ids: ids, lossMask: mask, truncated: truncated)

        case let .promptCompletion(prompt, completion):
            var p = promptIds(prompt)
            var c = tokenizer.encode(completion, addSpecialTokens: false)
            if let eos { c.append(eos) }
            guard !c.isEmpty else {
                throw DatasetError.noLossTokens(file: file, line: line, reason: "the completion is empty and the tokenizer has no EOS")
            }
            var truncated = false
            if p.count + c.count > maxSequenceLength {
                truncated = true
                if c.count >= maxSequenceLength { c = Array(c.prefix(maxSequenceLength - 1)) }
                p = keepingEnd(p, count: maxSequenceLength - c.count)
            }
            return EncodedExample(ids: p + c, lossMask: [UInt8](repeating: 0, count: p.count) + [UInt8](repeating: 1, count: c.count),
                                  promptLength: p.count, truncated: truncated)

        case let .classification(text, label):
            guard let format = task.classification, let index = format.labels.firstIndex(of: label) else {
                throw DatasetError.unknownLabel(file: file, line: line, label: label, known: task.classification?.labels ?? [])
            }
            let (p, truncated) = try classificationPrompt(text, file: file, line: line)
            let word = labelTokens[index]
            return EncodedExample(ids: p + word, lossMask: [UInt8](repeating: 0, count: p.count) + [UInt8](repeating: 1, count: word.count),
                                  label: index, promptLength: p.count, truncated: truncated)

        case let .messages(messages):
            guard let template = tokenizer.chatTemplate else { throw DatasetError.missingChatTemplate(file: file) }
            var (ids, mask) = try encodeConversation(messages, template: template, file: file, line: line)
            let truncated = ids.count > maxSequenceLength
            if truncated {
                ids = Array(ids.suffix(maxSequenceLength))
                mask = Array(mask.suffix(maxSequenceLength))
                mask[0] = 0
            }
            guard mask.contains(1) else {
                throw DatasetError.noLossTokens(file: file, line: line, reason: truncated
                    ? "no assistant turn is left after cutting the conversation to \(maxSequenceLength) tokens"
                    : "the conversation has no assistant turn")
            }
            return EncodedExample(ids: ids, lossMask: mask, truncated: truncated)
        }
    }

    /// The ids of a prompt as generation is given it: BOS then the prompt.
    public func promptIds(_ prompt: String) -> [Int32] {
        bos + tokenizer.encode(prompt, addSpecialTokens: false)
    }

    /// The ids of a classification input (BOS, the templated text), cut so the longest
    /// label word still fits; `truncated` says whether the text was shortened.
    ///
    /// The text is shortened by tokens: its first `k` tokens are decoded and the template
    /// re-encoded, lowering `k` until the input fits.
    public func classificationPrompt(_ text: String, file: String = "<example>", line: Int = 0) throws
        -> (ids: [Int32], truncated: Bool) {
        guard let format = task.classification else {
            throw DatasetError.invalidTaskFormat("not a classification task")
        }
        let budget = maxSequenceLength - (labelTokens.map(\.count).max() ?? 0)
        var ids = bos + tokenizer.encode(format.render(text), addSpecialTokens: false)
        guard ids.count > budget else { return (ids, false) }
        let textIds = tokenizer.encode(text, addSpecialTokens: false)
        var keep = max(0, textIds.count - (ids.count - budget))
        while true {
            let cut = tokenizer.decode(Array(textIds.prefix(keep)))
            ids = bos + tokenizer.encode(format.render(cut), addSpecialTokens: false)
            if ids.count <= budget { return (ids, true) }
            if keep == 0 { break }
            keep = max(0, keep - (ids.count - budget))
        }
        throw DatasetError.noLossTokens(file: file, line: line,
                                        reason: "the template alone is longer than \(budget) tokens; raise the maximum length")
    }

    /// `ids` cut to its last `count` tokens, keeping BOS in front when there is room.
    private func keepingEnd(_ ids: [Int32], count: Int) -> [Int32] {
        guard ids.count > count else { return ids }
        if !bos.isEmpty && count >= bos.count + 1 && ids.starts(with: bos) {
            return bos + ids.suffix(count - bos.count)
        }
        return Array(ids.suffix(count))
    }

    /// Token ids and loss mask of a conversation: each message's rendered text is the
    /// difference between the renderings with and without it (chat formats render
    /// prefix-stably); an assistant turn splits into its header (no loss), its content
    /// and end-of-turn token (loss) and what follows (no loss).
    private func encodeConversation(_ messages: [ChatMessage], template: ChatTemplate, file: String,
                                    line: Int) throws -> ([Int32], [UInt8]) {
        var pieces: [(String, UInt8)] = []
        var rendered = ""
        func remainder(of full: String, after prefix: String, _ what: String) throws -> String {
            guard full.unicodeScalars.starts(with: prefix.unicodeScalars) else {
                throw DatasetError.unsupportedConversation(
                    file: file, line: line,
                    reason: "the chat format does not render \(what) as an extension of the turns before it")
            }
            return String(String.UnicodeScalarView(full.unicodeScalars.dropFirst(prefix.unicodeScalars.count)))
        }
        for i in messages.indices {
            let full = template.render(Array(messages[...i]), addGenerationPrompt: false)
            if messages[i].role == "assistant" {
                let opened = template.render(Array(messages[..<i]), addGenerationPrompt: true)
                let header = try remainder(of: opened, after: rendered, "the header of turn \(i + 1)")
                let body = try remainder(of: full, after: opened, "turn \(i + 1)")
                pieces.append((header, 0))
                if let end = body.range(of: template.endOfTurn, options: .backwards) {
                    pieces.append((String(body[..<end.upperBound]), 1))
                    pieces.append((String(body[end.upperBound...]), 0))
                } else {
                    pieces.append((body, 1))
                }
            } else {
                pieces.append((try remainder(of: full, after: rendered, "turn \(i + 1)"), 0))
            }
            rendered = full
        }
        var ids: [Int32] = []
        var mask: [UInt8] = []
        for (text, loss) in pieces where !text.isEmpty {
            let piece = tokenizer.encode(text, addSpecialTokens: false)
            ids += piece
            mask += [UInt8](repeating: loss, count: piece.count)
        }
        if !ids.isEmpty { mask[0] = 0 }
        return (ids, mask)
    }
}
