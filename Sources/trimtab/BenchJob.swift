import Foundation
import TrimtabTensor

/// A benchmark that `trimtab bench --job NAME` can run.
///
/// To add one (fused-kernel bandwidth, prefill/decode, a prompt-tuning step, …): write a
/// type conforming to this protocol in its own file, list it in ``BenchJobs/all``, and
/// if PyTorch has a counterpart, add `scripts/bench/torch_<name>.py` writing a
/// ``BenchReport/Reference`` with the same row ids (`bench/run` picks it up by name).
protocol BenchJob {
    /// The name on the command line (`gemm`).
    static var name: String { get }
    /// One line for `trimtab bench --list`.
    static var summary: String { get }

    init()

    /// Measures and returns the (not yet finalized) report.
    func run(_ options: BenchOptions) throws -> BenchReport
}

/// Settings every job receives from the command line.
struct BenchOptions {
    /// Time budget per measured case, in seconds (warm-up not included).
    var seconds: Double
    /// When set, only cases whose row id contains this text run.
    var only: String?
    /// Progress messages (to standard error, so `--json` output stays clean).
    var log: (String) -> Void
    /// `--model PATH` for jobs that run a model (`nil`: the cached SmolLM2-135M-Instruct).
    var model: String? = nil
    /// `--dtype`: jobs that run a model in several weight formats run only this one (`nil`:
    /// every format they offer): `f32`, `bf16`, or `gguf` (decoding from the file's blocks).
    var dtype: String? = nil
    /// `--profile`: jobs that run a tape also report where the time goes, per op.
    var profile = false

    /// Whether the row of weight type `type` should run (`--dtype`, then `--only`).
    func includes(dtype type: DType) -> Bool {
        includes(weights: type.rawValue)
    }

    /// Whether the row of weight format `weights` (a row id) should run.
    func includes(weights: String) -> Bool {
        (dtype.map { $0 == weights } ?? true) && includes(weights)
    }

    /// Whether the case with row id `id` should run.
    func includes(_ id: String) -> Bool {
        guard let only, !only.isEmpty else { return true }
        return id.localizedCaseInsensitiveContains(only)
    }
}

/// The registry of benchmark jobs.
enum BenchJobs {
    /// Every job, in `--list` order.
    static let all: [any BenchJob.Type] = [
        GEMMBench.self,
        KernelBench.self,
        PrefillBench.self,
        DecodeBench.self,
        BatchDecodeBench.self,
        PromptTuningStepBench.self,
        PrefixTuningStepBench.self,
        LoRAStepBench.self,
        FullFineTuningStepBench.self,
    ]

    /// The job called `name`, if any.
    static func named(_ name: String) -> (any BenchJob.Type)? {
        all.first { $0.name == name.lowercased() }
    }
}

/// Why `trimtab bench` could not run.
enum BenchError: Error, CustomStringConvertible {
    case unknownJob(String)
    case unreadableReference(path: String, reason: String)
    case unwritableOutput(path: String, reason: String)
    case missingModel(path: String)

    var description: String {
        switch self {
        case .unknownJob(let name):
            let known = BenchJobs.all.map { $0.name }.joined(separator: ", ")
            return "unknown benchmark job '\(name)'; known jobs: \(known) (trimtab bench --list)"
        case .unreadableReference(let path, let reason):
            return "cannot read comparison results \(path): \(reason); expected JSON "
                + "{\"source\", \"columns\": [{\"key\", \"title\"}], \"rows\": [{\"id\", \"values\"}]}"
        case .unwritableOutput(let path, let reason):
            return "cannot write \(path): \(reason)"
        case .missingModel(let path):
            return "\(path) is missing: run scripts/fetch-assets.sh, or pass --model PATH"
        }
    }
}
