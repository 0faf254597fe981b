import Foundation

/// A run's `report.html`: the training and validation curves as inline SVG, the summary
/// and the settings, in one self-contained file that opens offline.
public enum RunReport {
    /// One curve of a chart.
    struct Series {
        var name: String
        var color: String
        var points: [(x: Double, y: Double)]
        var markers = false
    }

    /// Writes the report for `records` to `url` (atomically).
    public static func write(to url: URL, title: String, records: [MetricsRecord], summary: TrainingSummary?,
                             configuration: String) throws {
        try AtomicDirectory.write(Data(html(title: title, records: records, summary: summary,
                                            configuration: configuration).utf8), to: url)
    }

    /// The report as an HTML document.
    public static func html(title: String, records: [MetricsRecord], summary: TrainingSummary?,
                            configuration: String) -> String {
        let train = records.filter { $0.kind == .train }
        let valid = records.filter { $0.kind == .valid }
        var charts: [String] = []
        let rawLoss = train.compactMap { r in r.loss.map { (Double(r.step), $0) } }
        var lossSeries = [Series(name: "train loss", color: "#9ecae1", points: rawLoss)]
        if rawLoss.count > 20 {
            lossSeries.append(Series(name: "train loss (smoothed)", color: "#08519c", points: smoothed(rawLoss)))
        }
        let validLoss = valid.compactMap { r in r.validLoss.map { (Double(r.step), $0) } }
        if !validLoss.isEmpty {
            lossSeries.append(Series(name: "valid loss", color: "#d94801", points: validLoss, markers: true))
        }
        charts.append(chart(title: "Loss (nats per target token)", series: lossSeries))
        for (name, key) in [("valid accuracy", \MetricsRecord.validAccuracy), ("valid exact match", \MetricsRecord.validExactMatch)] {
            let points = valid.compactMap { r in r[keyPath: key].map { (Double(r.step), $0) } }
            if !points.isEmpty {
                charts.append(chart(title: name.prefix(1).uppercased() + name.dropFirst(),
                                    series: [Series(name: name, color: "#238b45", points: points, markers: true)]))
            }
        }
        let lr = train.compactMap { r in r.learningRate.map { (Double(r.step), $0) } }
        if !lr.isEmpty { charts.append(chart(title: "Learning rate", series: [Series(name: "lr", color: "#6a51a3", points: lr)], height: 180)) }
        let speed = train.compactMap { r in r.tokensPerSecond.map { (Double(r.step), $0) } }
        if !speed.isEmpty {
            charts.append(chart(title: "Throughput (tokens/s)", series: [Series(name: "tokens/s", color: "#737373", points: speed)], height: 180))
        }

        var rows: [(String, String)] = []
        if let s = summary {
            rows.append(("status", s.status.rawValue.replacingOccurrences(of: "_", with: " ")))
            rows.append(("steps", "\(s.steps) of \(s.totalSteps)"))
            rows.append(("time", String(format: "%.1f s", s.elapsed)))
            if let loss = s.finalLoss { rows.append(("final train loss", String(format: "%.4f", loss))) }
            if let e = s.lastEvaluation { rows.append(("last validation", e.summary)) }
            if let name = s.bestMetricName, let best = s.bestMetric, let step = s.bestStep {
                rows.append(("best validation", "\(name) " + String(format: "%.4f at step %d", best, step)))
            }
            if let d = s.adapterDirectory { rows.append(("adapter", d)) }
            if let d = s.bestAdapterDirectory { rows.append(("best adapter", d)) }
            if let d = s.checkpointDirectory { rows.append(("last checkpoint", d)) }
        }
        if let peak = records.compactMap(\.peakMemory).max() {
            rows.append(("peak memory", String(format: "%.0f MB", Double(peak) / 1_048_576)))
        }
        let table = rows.map { "<tr><th>\(escape($0.0))</th><td>\(escape($0.1))</td></tr>" }.joined(separator: "\n")
        return """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8"/>
        <title>\(escape(title)) — Trimtab run</title>
        <style>
        body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 800px; color: #222; }
        h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 1.5em; }
        table { border-collapse: collapse; } th { text-align: left; padding: 2px 1em 2px 0; color: #555; font-weight: normal; }
        td { padding: 2px 0; } pre { background: #f6f6f6; padding: 1em; overflow-x: auto; font-size: 12px; }
        svg { display: block; margin: 0.5em 0 1em; } svg text { font: 11px system-ui, sans-serif; fill: #444; }
        </style>
        </head>
        <body>
        <h1>\(escape(title))</h1>
        <table>
        \(table)
        </table>
        \(charts.joined(separator: "\n"))
        <h2>Settings</h2>
        <pre>\(escape(configuration))</pre>
        </body>
        </html>

        """
    }

    /// A centred moving average over about 1/25 of the points (at least 5), so the
    /// smoothed curve does not lag the raw one.
    static func smoothed(_ points: [(x: Double, y: Double)]) -> [(x: Double, y: Double)] {
        let half = max(2, points.count / 50)
        var prefix = [0.0]
        for p in points { prefix.append(prefix.last! + p.y) }
        return points.indices.map { i in
            let lo = max(0, i - half), hi = min(points.count, i + half + 1)
            return (points[i].x, (prefix[hi] - prefix[lo]) / Double(hi - lo))
        }
    }

    /// A line chart as inline SVG, with axes, ticks and a legend.
    static func chart(title: String, series: [Series], width: Double = 760, height: Double = 280) -> String {
        let all = series.flatMap(\.points).filter { $0.y.isFinite }
        guard !all.isEmpty else { return "<h2>\(escape(title))</h2><p>no data</p>" }
        let left = 64.0, right = 16.0, top = 12.0, bottom = 36.0
        let plotW = width - left - right, plotH = height - top - bottom
        var (x0, x1) = (all.map(\.x).min()!, all.map(\.x).max()!)
        var (y0, y1) = (all.map(\.y).min()!, all.map(\.y).max()!)
        if x1 == x0 { x0 -= 1; x1 += 1 }
        if y1 == y0 { let d = Swift.max(abs(y0) * 0.1, 1e-6); y0 -= d; y1 += d }
        let yTicks = ticks(y0, y1), xTicks = ticks(x0, x1)
        y0 = Swift.min(y0, yTicks.first!); y1 = Swift.max(y1, yTicks.last!)
        func px(_ x: Double) -> Double { left + (x - x0) / (x1 - x0) * plotW }
        func py(_ y: Double) -> Double { top + (1 - (y - y0) / (y1 - y0)) * plotH }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        var svg = "<h2>\(escape(title))</h2>\n"
        svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" "
            + "viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"\(escape(title))\">\n"
        svg += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\" fill=\"none\" stroke=\"#ccc\"/>\n"
        for t in yTicks where t >= y0 && t <= y1 {
            svg += "<line x1=\"\(f(left))\" x2=\"\(f(left + plotW))\" y1=\"\(f(py(t)))\" y2=\"\(f(py(t)))\" stroke=\"#eee\"/>"
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(py(t) + 4))\" text-anchor=\"end\">\(label(t))</text>\n"
        }
        for t in xTicks where t >= x0 && t <= x1 {
            svg += "<line x1=\"\(f(px(t)))\" x2=\"\(f(px(t)))\" y1=\"\(f(top + plotH))\" y2=\"\(f(top + plotH + 4))\" stroke=\"#999\"/>"
            svg += "<text x=\"\(f(px(t)))\" y=\"\(f(top + plotH + 16))\" text-anchor=\"middle\">\(label(t))</text>\n"
        }
        svg += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(height - 4))\" text-anchor=\"middle\">step</text>\n"
        for s in series {
            let pts = s.points.filter { $0.y.isFinite }
            guard !pts.isEmpty else { continue }
            let path = pts.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
            svg += "<polyline fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"1.5\" points=\"\(path)\"/>\n"
            if s.markers {
                for p in pts { svg += "<circle cx=\"\(f(px(p.x)))\" cy=\"\(f(py(p.y)))\" r=\"3\" fill=\"\(s.color)\"/>" }
                svg += "\n"
            }
        }
        for (i, s) in series.enumerated() {
            let y = top + 14 + Double(i) * 16, x = left + plotW - 170
            svg += "<rect x=\"\(f(x))\" y=\"\(f(y - 8))\" width=\"12\" height=\"3\" fill=\"\(s.color)\"/>"
            svg += "<text x=\"\(f(x + 18))\" y=\"\(f(y - 3))\">\(escape(s.name))</text>\n"
        }
        svg += "</svg>"
        return svg
    }

    /// About five round tick values covering [lo, hi].
    static func ticks(_ lo: Double, _ hi: Double) -> [Double] {
        let raw = (hi - lo) / 5
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        var out: [Double] = []
        var t = floor(lo / step) * step
        while t <= hi + step * 0.5 && out.count < 12 {
            out.append(t)
            t += step
        }
        return out
    }

    /// A compact tick label.
    static func label(_ v: Double) -> String {
        if v == 0 { return "0" }
        if abs(v) >= 1e5 || abs(v) < 1e-3 { return String(format: "%.1e", v) }
        if v == v.rounded() { return String(Int(v)) }
        return String(format: "%g", v)
    }

    /// Text safe inside HTML elements and attributes.
    static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }
}
