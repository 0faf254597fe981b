import Foundation

/// What a benchmark job measured: one row per case, one value per variant.
///
/// A job fills ``rows`` with raw values (rates such as GFLOP/s or GB/s, or times) keyed
/// by column; ``finalized()`` adds the weighted total row and the ratio columns; the
/// report then prints as an aligned table (``table()``) or as one JSON object (it is
/// `Codable`). Results measured elsewhere — PyTorch at the same shapes, say — merge in
/// by row id with ``merge(_:)`` and appear as extra columns.
struct BenchReport: Codable {
    /// A measured quantity, e.g. `wrapper_f32` titled "dnnl f32".
    struct Column: Codable {
        var key: String
        var title: String
    }

    /// `numerator / denominator` of two columns, e.g. wrapper over raw oneDNN.
    struct Ratio: Codable {
        var key: String
        var title: String
        var numerator: String
        var denominator: String
    }

    /// One measured case.
    struct Row: Codable {
        /// Stable identifier, the join key for merged results (`attn.q/forward`).
        var id: String
        /// Cells under ``BenchReport/labelTitles``.
        var labels: [String]
        /// Sizes of the case (`m`, `n`, `k`, …) for JSON readers.
        var params: [String: Int] = [:]
        /// Work done by one call (FLOPs, bytes, tokens) in the unit's numerator, used to
        /// weight the total row; `nil` keeps the row out of the total.
        var work: Double? = nil
        /// How many times the case occurs in the workload the total row stands for.
        var weight: Double = 1
        /// Measured values by column key.
        var values: [String: Double] = [:]
        /// Computed by ``BenchReport/finalized()``.
        var ratios: [String: Double] = [:]
    }

    /// The total row: work-weighted, i.e. total work over total time, so its rate is
    /// what the whole workload would run at.
    struct Total: Codable {
        var id: String
        var labels: [String]
    }

    /// Job name (`gemm`).
    var job: String
    /// Unit of the value columns ("GFLOP/s").
    var unit: String
    /// One line on what the numbers mean.
    var summary: String
    /// Where the numbers were measured (CPU, threads, library versions, environment).
    var machine: [String: String]
    /// Settings the job ran with (time budget, filters).
    var settings: [String: String]
    var labelTitles: [String]
    var columns: [Column]
    var ratios: [Ratio]
    /// Column and ratio keys in table order; keys without data are skipped.
    var layout: [String]
    var rows: [Row]
    var total: Total?
    /// Free-form remarks printed under the table (kernel choices, mismatches).
    var notes: [String] = []
    /// Per-op profiles (`--profile`), one per profiled row.
    var profiles: [Profile]? = nil
    /// Jobs that measure tokens put their first row's numbers at the top level of the
    /// JSON as `tokens_per_s`, `step_ms` and `peak_rss_mb` (``takeHeadline()``).
    var tokensPerSecond: Double? = nil
    var stepMilliseconds: Double? = nil
    var peakRSSMegabytes: Double? = nil

    enum CodingKeys: String, CodingKey {
        case job, unit, summary, machine, settings, labelTitles, columns, ratios, layout, rows, total, notes, profiles
        case tokensPerSecond = "tokens_per_s", stepMilliseconds = "step_ms", peakRSSMegabytes = "peak_rss_mb"
    }

    /// Copies the first row's `ours` (tokens/s), `ours_ms` and `ours_rss` to the top-level
    /// headline fields.
    mutating func takeHeadline() {
        guard let first = rows.first else { return }
        tokensPerSecond = first.values["ours"]
        stepMilliseconds = first.values["ours_ms"]
        peakRSSMegabytes = first.values["ours_rss"]
    }

    /// Where one row's time goes: a line per op kind and direction, per step.
    struct Profile: Codable {
        struct Line: Codable {
            /// `forward`, `backward` or `step` (work outside the tape: optimizer, clipping).
            var phase: String
            var op: String
            var calls: Double
            var ms: Double
            var gemmMs: Double
            var gemmGflops: Double
        }
        var row: String
        var steps: Int
        var lines: [Line]
    }

    // MARK: - Combining

    /// Values measured elsewhere for the same cases, read from a JSON file:
    /// `{"source": "...", "columns": [{"key", "title"}], "rows": [{"id", "values": {...}}]}`.
    struct Reference: Codable {
        struct Row: Codable {
            var id: String
            var values: [String: Double]
        }
        var source: String
        var columns: [Column]
        var rows: [Row]

        /// The median of each value over several runs of the same reference.
        static func median(of runs: [Reference]) -> Reference {
            var merged = runs[0]
            if runs.count > 1 { merged.source += " (median of \(runs.count) runs)" }
            for index in merged.rows.indices {
                let id = merged.rows[index].id
                merged.rows[index].values = BenchReport.medianValues(runs.compactMap { $0.rows.first { $0.id == id }?.values })
            }
            return merged
        }
    }

    /// The median of each value over `rounds` of the same measurement (same rows),
    /// keyed by row id and value key; the first round supplies everything else.
    static func median(of rounds: [BenchReport]) -> BenchReport {
        var report = rounds[0]
        report.rows.removeAll { row in report.total.map { $0.id == row.id } ?? false }
        for index in report.rows.indices {
            let id = report.rows[index].id
            report.rows[index].values = medianValues(rounds.compactMap { $0.rows.first { $0.id == id }?.values })
        }
        if rounds.count > 1 {
            report.settings["rounds"] = "median of \(rounds.count) runs"
            // Each round names its own fastest product; the column holds their median.
            report.notes.removeAll { $0.contains(" GEMM peak: ") }
            if report.rows.contains(where: { $0.values["gemm_peak"] != nil }) {
                report.notes.append("GEMM peak: the median over the rounds of each round's fastest product rate")
            }
        }
        report.takeHeadline()
        return report
    }

    /// The median of each key over several runs' values of one row.
    static func medianValues(_ runs: [[String: Double]]) -> [String: Double] {
        var samples: [String: [Double]] = [:]
        for values in runs {
            for (key, value) in values { samples[key, default: []].append(value) }
        }
        return samples.mapValues(median)
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted(), mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }

    /// Adds `reference`'s values to rows with the same id; columns the job did not
    /// declare are appended to the table.
    mutating func merge(_ reference: Reference) {
        for column in reference.columns where !columns.contains(where: { $0.key == column.key }) {
            columns.append(column)
            layout.append(column.key)
        }
        var matched = 0
        for entry in reference.rows {
            guard let index = rows.firstIndex(where: { $0.id == entry.id }) else { continue }
            rows[index].values.merge(entry.values) { _, theirs in theirs }
            matched += 1
        }
        notes.append("\(reference.source): \(matched) of \(reference.rows.count) rows matched")
    }

    /// The report with its total row appended (when every counted row has a value for a
    /// column) and every row's ratios computed.
    func finalized() -> BenchReport {
        var report = self
        report.rows.removeAll { row in total.map { $0.id == row.id } ?? false }
        let counted = report.rows.filter { $0.work != nil }
        if let total, !counted.isEmpty {
            var row = Row(id: total.id, labels: total.labels)
            row.work = counted.reduce(0) { $0 + $1.weight * ($1.work ?? 0) }
            for column in columns {
                var seconds = 0.0
                var complete = true
                for entry in counted {
                    guard let rate = entry.values[column.key], rate > 0, let work = entry.work else {
                        complete = false
                        break
                    }
                    seconds += entry.weight * work / rate
                }
                if complete, let work = row.work { row.values[column.key] = work / seconds }
            }
            report.rows.append(row)
        }
        for index in report.rows.indices {
            var row = report.rows[index]
            // PyTorch's achieved rate, from its tokens/s and the row's FLOPs per token.
            if let flops = row.values["gflop_per_token"], let torch = row.values["torch"] {
                row.values["torch_gflops"] = torch * flops
            }
            for ratio in ratios {
                if let top = row.values[ratio.numerator], let bottom = row.values[ratio.denominator], bottom > 0 {
                    row.ratios[ratio.key] = top / bottom
                }
            }
            report.rows[index] = row
        }
        return report
    }

    // MARK: - Output

    /// The report as one JSON object.
    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// The report as a header and an aligned text table.
    func table() -> String {
        var lines = ["trimtab bench \(job): \(summary)"]
        for key in machine.keys.sorted() { lines.append("  \(key): \(machine[key] ?? "")") }
        for key in settings.keys.sorted() { lines.append("  \(key): \(settings[key] ?? "")") }

        enum Cell { case column(Column), ratio(Ratio) }
        let cells: [Cell] = layout.compactMap { key in
            if let column = columns.first(where: { $0.key == key }),
               rows.contains(where: { $0.values[key] != nil }) {
                return .column(column)
            }
            if let ratio = ratios.first(where: { $0.key == key }),
               rows.contains(where: { $0.ratios[key] != nil }) {
                return .ratio(ratio)
            }
            return nil
        }
        var header = labelTitles
        for cell in cells {
            switch cell {
            case .column(let column): header.append(column.title)
            case .ratio(let ratio): header.append(ratio.title)
            }
        }
        var body: [[String]] = []
        for row in rows {
            var line = row.labels + Array(repeating: "", count: max(0, labelTitles.count - row.labels.count))
            for cell in cells {
                switch cell {
                case .column(let column): line.append(row.values[column.key].map(Self.format(rate:)) ?? "-")
                case .ratio(let ratio): line.append(row.ratios[ratio.key].map { String(format: "%.2f", $0) } ?? "-")
                }
            }
            body.append(line)
        }
        let widths = header.indices.map { column in
            ([header] + body).map { $0[column].count }.max() ?? 0
        }
        func render(_ line: [String]) -> String {
            line.enumerated().map { column, text in
                let pad = String(repeating: " ", count: widths[column] - text.count)
                return column < labelTitles.count ? text + pad : pad + text
            }.joined(separator: "  ")
        }
        lines.append("")
        lines.append("values in \(unit)")
        lines.append(render(header))
        lines.append(String(repeating: "-", count: widths.reduce(0, +) + 2 * max(0, widths.count - 1)))
        for (index, line) in body.enumerated() {
            if let total, rows[index].id == total.id {
                lines.append(String(repeating: "-", count: widths.reduce(0, +) + 2 * max(0, widths.count - 1)))
            }
            lines.append(render(line))
        }
        if !notes.isEmpty {
            lines.append("")
            lines.append(contentsOf: notes.map { "note: \($0)" })
        }
        for profile in profiles ?? [] { lines.append(contentsOf: Self.render(profile)) }
        return lines.joined(separator: "\n")
    }

    private static func render(_ profile: Profile) -> [String] {
        let total = profile.lines.reduce(0) { $0 + $1.ms }
        let gemm = profile.lines.reduce(0) { $0 + $1.gemmMs }
        var out = ["", String(format: "profile of row %@: mean of %d steps, %.0f ms per step, %.0f ms (%.0f%%) in GEMM",
                              profile.row, profile.steps, total, gemm, 100 * gemm / max(total, 1e-9))]
        let header = ["phase", "op", "calls", "ms/step", "share", "GEMM ms", "GEMM GFLOP/s", "other ms"]
        var body: [[String]] = []
        for line in profile.lines.sorted(by: { $0.ms > $1.ms }) {
            body.append([line.phase, line.op, String(format: "%.0f", line.calls), String(format: "%.1f", line.ms),
                         String(format: "%.1f%%", 100 * line.ms / max(total, 1e-9)),
                         line.gemmMs > 0 ? String(format: "%.1f", line.gemmMs) : "-",
                         line.gemmMs > 0 ? String(format: "%.0f", line.gemmGflops) : "-",
                         String(format: "%.1f", line.ms - line.gemmMs)])
        }
        let widths = header.indices.map { c in ([header] + body).map { $0[c].count }.max() ?? 0 }
        for line in [header] + body {
            out.append(line.enumerated().map { c, text in
                let pad = String(repeating: " ", count: widths[c] - text.count)
                return c < 2 ? text + pad : pad + text
            }.joined(separator: "  "))
        }
        return out
    }

    private static func format(rate: Double) -> String {
        rate >= 100 ? String(format: "%.0f", rate) : String(format: "%.1f", rate)
    }
}
