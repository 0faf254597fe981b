import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Sets how libgomp's idle workers wait, before it starts.
///
/// oneDNN's products and Trimtab's kernels share libgomp's threads. Between parallel
/// regions an idle worker either spins or sleeps, and both extremes cost a lot on a
/// shared, virtualised 2-core machine:
///
/// - spinning for long (`OMP_WAIT_POLICY=active`, or libgomp's default of 300,000 spins)
///   steals the cores the next region needs when another process is busy: with the load
///   at 7, SmolLM2 prefill took 3.8 s with spinning workers and 0.45 s with sleeping ones;
///   with two busy processes on the 2 cores, 209 tok/s against 491 (2026-11-23);
/// - sleeping at once (`passive`) costs a futex wake-up per region, and waking an idle
///   virtual CPU takes tens of microseconds: batch-1 decoding runs ~210 regions a token
///   (one per product) and ran at 77–83 tok/s with sleeping workers against 260–268 with
///   spinning ones on the quiet machine.
///
/// A short spin (`GOMP_SPINCOUNT=10000`, tens of microseconds) keeps the workers awake
/// between a token's back-to-back regions and still gives the cores up soon: quiet,
/// decoding ran at 260 tok/s; with two busy processes, prefill at 681 tok/s (sleeping 491,
/// spinning 209) and decoding at 108 (134, 58); the training step did not change.
/// libgomp reads these variables only when it loads, which happens before `main` (oneDNN
/// links it), so the tool re-executes itself once with `GOMP_SPINCOUNT` set unless the
/// user has set `OMP_WAIT_POLICY` or `GOMP_SPINCOUNT`.
enum OpenMPEnvironment {
    /// The spin count the tool sets.
    static let spinCount = "10000"

    static func preferShortSpinning() {
        let environment = ProcessInfo.processInfo.environment
        guard environment["OMP_WAIT_POLICY"] == nil, environment["GOMP_SPINCOUNT"] == nil,
              environment["TRIMTAB_REEXEC"] == nil else { return }
        setenv("GOMP_SPINCOUNT", spinCount, 1)
        setenv("TRIMTAB_REEXEC", "1", 1)
        let arguments = CommandLine.arguments
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
        argv.append(nil)
        execv("/proc/self/exe", &argv)
        // execv only returns on failure: carry on with the default policy.
    }
}
