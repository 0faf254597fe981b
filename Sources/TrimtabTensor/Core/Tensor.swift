/// A dense, row-major, n-dimensional array.
///
/// A `Tensor` is a view: a shape and an element offset into shared ``TensorStorage``.
/// Copies of a `Tensor` share memory (like a PyTorch tensor, unlike a Swift array), so
/// cheap views of row ranges (``rows(_:)``) and reshapes cost nothing. Every view is
/// contiguous; kernels read `shape` and a base pointer.
public struct Tensor: @unchecked Sendable {
    /// The extent of each dimension, outermost first.
    public let shape: [Int]
    /// The element type.
    public let dtype: DType
    /// The memory this view reads.
    public let storage: TensorStorage
    /// Offset of the first element, in elements of `dtype`.
    public let offset: Int

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }
    /// Number of dimensions.
    public var rank: Int { shape.count }

    // MARK: - Creation

    /// A zero-filled tensor.
    public init(zeros shape: [Int], dtype: DType = .f32) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        let count = shape.reduce(1, *)
        self.shape = shape
        self.dtype = dtype
        self.storage = TensorStorage(byteCount: count * dtype.byteSize)
        self.offset = 0
    }

    /// A tensor whose elements are undefined until written: for op outputs a kernel
    /// overwrites in full, which saves zeroing a reused block.
    init(uninitialized shape: [Int], dtype: DType = .f32) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        self.dtype = dtype
        self.storage = TensorStorage(byteCount: shape.reduce(1, *) * dtype.byteSize, zeroed: false)
        self.offset = 0
    }

    /// An f32 tensor holding `values` in row-major order.
    public init(shape: [Int], values: [Float]) throws {
        guard shape.allSatisfy({ $0 >= 0 }) else { throw TensorError.invalidShape(shape) }
        guard shape.reduce(1, *) == values.count else {
            throw TensorError.elementCountMismatch(shape: shape, count: values.count)
        }
        self.init(zeros: shape)
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { floats.update(from: base, count: values.count) }
        }
    }

    /// A view of existing storage.
    public init(storage: TensorStorage, offset: Int = 0, shape: [Int], dtype: DType) {
        precondition((offset + shape.reduce(1, *)) * dtype.byteSize <= storage.byteCount,
                     "view \(shape) at offset \(offset) exceeds its storage")
        self.storage = storage
        self.offset = offset
        self.shape = shape
        self.dtype = dtype
    }

    /// A scalar f32 tensor of shape `[]`.
    public init(scalar: Float) {
        self.init(zeros: [])
        floats[0] = scalar
    }

    // MARK: - Element access

    /// The base address of an f32 tensor's elements.
    public var floats: UnsafeMutablePointer<Float> {
        precondition(dtype == .f32, "floats of a \(dtype) tensor")
        return storage.base.assumingMemoryBound(to: Float.self) + offset
    }

    /// The base address of a bf16 or f16 tensor's elements, as raw 16-bit words.
    public var halves: UnsafeMutablePointer<UInt16> {
        precondition(dtype == .bf16 || dtype == .f16, "halves of a \(dtype) tensor")
        return storage.base.assumingMemoryBound(to: UInt16.self) + offset
    }

    /// The base address in bytes.
    public var rawPointer: UnsafeMutableRawPointer {
        storage.base + offset * dtype.byteSize
    }

    /// All elements widened to f32, in row-major order (a copy).
    public var scalars: [Float] {
        let n = count
        switch dtype {
        case .f32:
            return Array(UnsafeBufferPointer(start: floats, count: n))
        case .bf16:
            return (0..<n).map { floatFromBF16(halves[$0]) }
        case .f16:
            return (0..<n).map { floatFromF16(halves[$0]) }
        }
    }

    // MARK: - Views

    /// Size of one slice along the first dimension.
    public var rowStride: Int { shape.dropFirst().reduce(1, *) }

    /// A view of `range` along the first dimension (no copy).
    public func rows(_ range: Range<Int>) -> Tensor {
        precondition(rank >= 1 && range.lowerBound >= 0 && range.upperBound <= shape[0],
                     "rows \(range) out of bounds for shape \(shape)")
        var newShape = shape
        newShape[0] = range.count
        return Tensor(storage: storage, offset: offset + range.lowerBound * rowStride,
                      shape: newShape, dtype: dtype)
    }

    /// The same elements under a new shape with an equal element count (no copy).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(newShape.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        return Tensor(storage: storage, offset: offset, shape: newShape, dtype: dtype)
    }

    /// A reshape that throws instead of trapping, for shapes that come from outside.
    public func reshaping(_ newShape: [Int]) throws -> Tensor {
        guard newShape.reduce(1, *) == count else {
            throw TensorError.shapeMismatch(operation: "reshape", expected: newShape, got: shape)
        }
        return reshaped(newShape)
    }

    // MARK: - Copies

    /// A copy in fresh storage.
    public func copy() -> Tensor {
        let out = Tensor(zeros: shape, dtype: dtype)
        out.rawPointer.copyMemory(from: rawPointer, byteCount: count * dtype.byteSize)
        return out
    }

    /// A copy converted to `target` (rounding to nearest even for narrower types).
    public func converted(to target: DType) -> Tensor {
        if target == dtype { return copy() }
        let out = Tensor(zeros: shape, dtype: target)
        let n = count
        switch (dtype, target) {
        case (.f32, .bf16): convertToBF16(floats, out.halves, count: n)
        case (.f32, .f16): convertToF16(floats, out.halves, count: n)
        case (.bf16, .f32): convertFromBF16(halves, out.floats, count: n)
        case (.f16, .f32): convertFromF16(halves, out.floats, count: n)
        default:
            return converted(to: .f32).converted(to: target)
        }
        return out
    }

    /// Fills an f32 tensor with `value`.
    public func fill(_ value: Float) {
        floats.update(repeating: value, count: count)
    }

    /// Copies `other`'s elements into this tensor (same count and dtype).
    public func assign(from other: Tensor) {
        precondition(other.count == count && other.dtype == dtype, "assign \(other.shape) to \(shape)")
        rawPointer.copyMemory(from: other.rawPointer, byteCount: count * dtype.byteSize)
    }

    /// Throws unless this tensor has `expected` shape.
    public func expectShape(_ expected: [Int], _ operation: String) throws {
        guard shape == expected else {
            throw TensorError.shapeMismatch(operation: operation, expected: expected, got: shape)
        }
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let preview = scalars.prefix(6).map { String(format: "%.4g", Double($0)) }.joined(separator: ", ")
        return "Tensor(\(dtype), \(shape), [\(preview)\(count > 6 ? ", …" : "")])"
    }
}
