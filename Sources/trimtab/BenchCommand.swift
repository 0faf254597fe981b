import ArgumentParser
import Foundation
import TrimtabTensor

/// `trimtab bench`: runs one benchmark job and prints its table or JSON.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure Trimtab's speed on this machine (see bench/README.md).",
        discussion: "Jobs:\n" + BenchJobs.all.map { "  \($0.name): \($0.summary)" }.joined(separator: "\n")
    )

    @Option(help: "The benchmark to run (see --list).")
    var job: String = "gemm"

    @Flag(help: "Print one JSON object instead of the table.")
    var json = false

    @Option(help: "Time budget per measured case in seconds (after warm-up; every case runs at least 3 times).")
    var seconds: Double = 2

    @Option(help: "Run only the cases whose id contains this text (e.g. lm_head, forward).")
    var only: String?

    @Option(name: .customLong("compare"),
            help: "JSON results measured elsewhere (e.g. scripts/bench/torch_gemm.py) to show side by side; repeatable.")
    var references: [String] = []

    @Option(name: .long, help: ArgumentHelp(
        "Model for the prefill and decode jobs: a .gguf file or Hugging Face directory "
            + "(default: SmolLM2-135M-Instruct from the asset cache).", valueName: "path"))
    var model: String?

    @Option(help: ArgumentHelp(
        "Weight format of the jobs that run a model (prefill, decode, training steps): f32, bf16 "
            + "(frozen weight matrices stored in bf16), gguf (decode jobs: multiply from the GGUF's own "
            + "quantised blocks) or all.", valueName: "f32|bf16|gguf|all"))
    var dtype: String = "f32"

    @Option(name: .customLong("json-file"), help: "Also write the JSON report to this file.")
    var jsonFile: String?

    @Flag(help: "Training-step jobs: after timing, profile a few steps per op kind (forward, backward, optimizer).")
    var profile = false

    @Option(parsing: .upToNextOption, help: ArgumentHelp(
        "Instead of measuring, print the median of these JSON reports of --job (rounds of bench/run), "
            + "with the --compare files' medians merged in.", valueName: "report.json"))
    var summarize: [String] = []

    @Flag(help: "List the jobs and exit.")
    var list = false

    @Flag(help: "No progress messages on standard error.")
    var quiet = false

    func validate() throws {
        if !list && BenchJobs.named(job) == nil { throw ValidationError(BenchError.unknownJob(job).description) }
        if !(seconds > 0) { throw ValidationError("--seconds must be positive, got \(seconds)") }
        if dtype != "all" && !["f32", "bf16", "gguf"].contains(dtype) {
            throw ValidationError("--dtype must be f32, bf16, gguf or all, got '\(dtype)'")
        }
    }

    func run() throws {
        if list {
            for job in BenchJobs.all { print("\(job.name)\t\(job.summary)") }
            return
        }
        guard let kind = BenchJobs.named(job) else { throw BenchError.unknownJob(job) }
        let quiet = self.quiet
        var options = BenchOptions(seconds: seconds, only: only) { message in
            if !quiet { FileHandle.standardError.write(Data((message + "\n").utf8)) }
        }
        options.model = model
        options.profile = profile
        options.dtype = dtype == "all" ? nil : dtype
        let loaded = try references.map(Self.loadReference)
        var report: BenchReport
        if summarize.isEmpty {
            report = try kind.init().run(options)
            if let start = report.machine["load average"], let end = BenchMachine.loadAverage() {
                report.machine["load average"] = "\(start), \(end) at end (1, 5, 15 min; above 0 means "
                    + "other processes competed for the cores)"
            }
        } else {
            report = BenchReport.median(of: try summarize.map { try Self.load(BenchReport.self, $0) })
        }
        // Several runs of one reference (bench/run --rounds) merge as their median.
        var sources: [String: [BenchReport.Reference]] = [:]
        for reference in loaded { sources[reference.source, default: []].append(reference) }
        for source in sources.keys.sorted() { report.merge(BenchReport.Reference.median(of: sources[source]!)) }
        report = report.finalized()
        let text = try report.json()
        if let jsonFile {
            do {
                try (text + "\n").write(toFile: jsonFile, atomically: true, encoding: .utf8)
            } catch {
                throw BenchError.unwritableOutput(path: jsonFile, reason: error.localizedDescription)
            }
        }
        print(json ? text : report.table())
    }

    private static func loadReference(_ path: String) throws -> BenchReport.Reference {
        try load(BenchReport.Reference.self, path)
    }

    private static func load<T: Decodable>(_ type: T.Type, _ path: String) throws -> T {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw BenchError.unreadableReference(path: path, reason: error.localizedDescription)
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw BenchError.unreadableReference(path: path, reason: "\(error)")
        }
    }
}
