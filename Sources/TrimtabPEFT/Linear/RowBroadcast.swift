import TrimtabTensor

extension Tape {
    /// `x ⊙ v` for `x` `[..., n]` and a vector `v` of `n` elements (any shape: `[n]`,
    /// `[n, 1]`, `[1, n]`), broadcast over every leading dimension.
    ///
    /// Built from existing ops: `v` is repeated into `[rows, n]` by a row gather
    /// (`embedding` with every id 0, whose backward scatter-adds, i.e. sums the rows into
    /// `dv`), then multiplied elementwise. Gradients: `dx += dy ⊙ v`, `dv += Σ_rows dy ⊙ x`.
    func mulColumns(_ x: Variable, _ v: Variable) -> Variable {
        let n = x.shape.last ?? 0
        precondition(v.value.count == n, "mulColumns: vector of \(v.value.count) for input \(x.shape)")
        let rows = n == 0 ? 0 : x.value.count / n
        let table = reshape(v, [1, n])
        let repeated = embedding(table, ids: [Int32](repeating: 0, count: rows), shape: [rows])
        return mul(x, reshape(repeated, x.shape))
    }
}
