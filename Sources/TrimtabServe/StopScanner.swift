/// Finds stop strings in text that arrives in pieces, holding back just enough of the
/// tail that a stop string split over two pieces is still found (and never sent).
struct StopScanner {
    let stops: [String]
    private var held = ""
    private let keep: Int

    init(stops: [String]) {
        self.stops = stops.filter { !$0.isEmpty }
        keep = max(0, (self.stops.map(\.count).max() ?? 0) - 1)
    }

    /// The text that is safe to send after `piece`, and whether a stop string ended it.
    mutating func append(_ piece: String) -> (text: String, stopped: Bool) {
        held += piece
        guard !stops.isEmpty else {
            defer { held = "" }
            return (held, false)
        }
        var earliest: String.Index?
        for stop in stops {
            if let range = held.range(of: stop), earliest.map({ range.lowerBound < $0 }) ?? true {
                earliest = range.lowerBound
            }
        }
        if let earliest {
            let text = String(held[..<earliest])
            held = ""
            return (text, true)
        }
        let sendable = max(0, held.count - keep)
        let cut = held.index(held.startIndex, offsetBy: sendable)
        let text = String(held[..<cut])
        held = String(held[cut...])
        return (text, false)
    }

    /// What is still held at the end.
    mutating func finish() -> String {
        defer { held = "" }
        return held
    }
}
