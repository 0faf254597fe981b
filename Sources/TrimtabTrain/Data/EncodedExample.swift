/// An example as token ids, with the positions whose prediction is trained.
///
/// `lossMask[t] == 1` when token `t` is a target: the model's output at position `t − 1`
/// is scored against `ids[t]` (so `lossMask[0]` is always 0).
public struct EncodedExample: Sendable, Equatable {
    /// Token ids, at most the encoder's maximum length.
    public var ids: [Int32]
    /// 1 where `ids[t]` carries loss.
    public var lossMask: [UInt8]
    /// Classification: the index of the label in the task's label order.
    public var label: Int?
    /// Number of tokens before the part the model writes (the templated input of a
    /// classification example, the prompt of a prompt/completion pair); `nil` otherwise.
    public var promptLength: Int?
    /// Whether tokens were cut to fit the maximum length.
    public var truncated: Bool

    /// An encoded example; `ids` and `lossMask` have the same length.
    public init(ids: [Int32], lossMask: [UInt8], label: Int? = nil, promptLength: Int? = nil, truncated: Bool = false) {
        precondition(ids.count == lossMask.count, "ids \(ids.count) vs loss mask \(lossMask.count)")
        self.ids = ids
        self.lossMask = lossMask
        self.label = label
        self.promptLength = promptLength
        self.truncated = truncated
    }

    /// Number of tokens.
    public var count: Int { ids.count }

    /// Number of target tokens.
    public var lossTokenCount: Int { lossMask.reduce(0) { $0 + Int($1) } }
}
