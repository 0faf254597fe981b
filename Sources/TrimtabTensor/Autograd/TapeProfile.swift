import Foundation

/// Where the time of a forward and backward pass goes, by op kind.
///
/// Attach one to a tape (``Tape/profile``) and every op the tape runs is timed: the
/// forward time of an op is the wall time since the previous op finished (so glue code
/// between ops, such as a hook building a view, counts towards the op that follows it),
/// the backward time of an op is its backward closure. Each entry also says how much of
/// that time was spent inside ``GEMM`` products and how many FLOPs those ran, so a
/// `linear` entry separates the matrix product from what surrounds it (bf16 conversion,
/// bias, gradient buffers). Ops that need no gradient still count in the forward.
public final class TapeProfile {
    /// Accumulated time of one op kind in one direction.
    public struct Entry: Sendable {
        public var calls = 0
        public var nanoseconds: UInt64 = 0
        public var gemmNanoseconds: UInt64 = 0
        public var gemmFlops = 0
    }

    public private(set) var forward: [OpKind: Entry] = [:]
    public private(set) var backward: [OpKind: Entry] = [:]
    /// Time outside the tape's ops (loss bookkeeping, optimizer, clipping): the caller
    /// adds it with ``measure(_:_:)``.
    public private(set) var other: [String: Entry] = [:]

    private var lastTime: UInt64 = 0
    private var lastGEMMTime: UInt64 = 0
    private var lastGEMMFlops = 0

    public init() {}

    /// Starts the clock of the next forward op: call before a forward pass.
    public func mark() {
        lastTime = Self.now()
        lastGEMMTime = GEMM.nanoseconds
        lastGEMMFlops = GEMM.flopCount
    }

    /// Forgets everything measured so far.
    public func clear() {
        forward = [:]
        backward = [:]
        other = [:]
        mark()
    }

    /// Runs `body` and books its time under `name`.
    public func measure<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
        mark()
        let result = try body()
        other[name, default: Entry()].add(elapsedSinceMark())
        mark()
        return result
    }

    func recordForward(_ kind: OpKind) {
        forward[kind, default: Entry()].add(elapsedSinceMark())
        mark()
    }

    func recordBackward(_ kind: OpKind, _ body: () -> Void) {
        mark()
        body()
        backward[kind, default: Entry()].add(elapsedSinceMark())
        mark()
    }

    private func elapsedSinceMark() -> Entry {
        Entry(calls: 1, nanoseconds: Self.now() &- lastTime,
              gemmNanoseconds: GEMM.nanoseconds &- lastGEMMTime, gemmFlops: GEMM.flopCount - lastGEMMFlops)
    }

    @inline(__always)
    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
}

extension TapeProfile.Entry {
    mutating func add(_ other: TapeProfile.Entry) {
        calls += other.calls
        nanoseconds &+= other.nanoseconds
        gemmNanoseconds &+= other.gemmNanoseconds
        gemmFlops += other.gemmFlops
    }
}
