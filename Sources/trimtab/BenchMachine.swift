import CDNNL
import COpenBLAS
import Foundation
import TrimtabTensor

/// Describes the machine and math libraries a benchmark ran on, for the report header.
enum BenchMachine {
    /// CPU model, thread counts, oneDNN and OpenBLAS versions, and the environment
    /// variables that change their behaviour.
    static func describe() -> [String: String] {
        var info: [String: String] = [:]
        info["cpu"] = cpuModel() ?? "unknown"
        info["threads"] = "\(Parallel.threadCount) (Trimtab kernels, OpenBLAS; cores online: "
            + "\(ProcessInfo.processInfo.activeProcessorCount))"

        let version = dnnl_version().pointee
        let hash = version.hash.map { String(cString: $0) } ?? ""
        info["onednn"] = "\(version.major).\(version.minor).\(version.patch)"
            + (hash.isEmpty || hash == "N/A" ? "" : " (\(hash.prefix(8)))")
            + ", \(runtimeName(version.cpu_runtime)) runtime, ISA \(isaName(dnnl_get_effective_cpu_isa()))"

        openblas_set_num_threads(Int32(Parallel.threadCount))
        let core = openblas_get_corename().map { String(cString: $0) } ?? "unknown"
        info["openblas"] = "core \(core), \(openblas_get_num_threads()) threads"

        let environment = ProcessInfo.processInfo.environment
        let relevant = ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                        "OMP_PROC_BIND", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT",
                        "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "TRIMTAB_THREADS",
                        "TRIMTAB_BACKEND"]
        let set = relevant.compactMap { name in environment[name].map { "\(name)=\($0)" } }
        info["environment"] = set.isEmpty ? "(none of the tuning variables set)" : set.joined(separator: " ")
        if let load = loadAverage() { info["load average"] = load + " at start" }
        return info
    }

    private static func cpuModel() -> String? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            if let colon = line.firstIndex(of: ":") {
                return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }

    /// The 1, 5 and 15 minute load averages from `/proc/loadavg`.
    static func loadAverage() -> String? {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return nil }
        return text.split(separator: " ").prefix(3).joined(separator: " ")
    }

    private static func runtimeName(_ runtime: UInt32) -> String {
        switch runtime {
        case UInt32(DNNL_RUNTIME_SEQ): return "sequential"
        case UInt32(DNNL_RUNTIME_OMP): return "OpenMP"
        case UInt32(DNNL_RUNTIME_TBB): return "TBB"
        case UInt32(DNNL_RUNTIME_THREADPOOL): return "threadpool"
        default: return "runtime \(runtime)"
        }
    }

    private static func isaName(_ isa: dnnl_cpu_isa_t) -> String {
        switch isa {
        case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx"
        case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16"
        case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni"
        case dnnl_cpu_isa_avx512_core: return "avx512_core"
        case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni"
        case dnnl_cpu_isa_avx2: return "avx2"
        case dnnl_cpu_isa_avx: return "avx"
        case dnnl_cpu_isa_sse41: return "sse41"
        default: return "0x" + String(isa.rawValue, radix: 16)
        }
    }
}
