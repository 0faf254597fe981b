import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Sets libgomp's wait policy before it starts.
///
/// oneDNN's OpenMP threads spin for a while after every parallel region by default. On a
/// machine whose cores are busy with anything else (a build, a second job), that spinning
/// steals the cores the next region needs: measured here with the load at 7 on 2 cores,
/// SmolLM2 prefill took 3.8 s with spinning threads and 0.45 s with passive ones. libgomp
/// reads `OMP_WAIT_POLICY` only when it loads, which happens before `main` (oneDNN links
/// it), so the tool re-executes itself once with `OMP_WAIT_POLICY=passive` unless the user
/// has set a policy.
enum OpenMPEnvironment {
    static func preferPassiveWaiting() {
        let environment = ProcessInfo.processInfo.environment
        guard environment["OMP_WAIT_POLICY"] == nil, environment["TRIMTAB_REEXEC"] == nil else { return }
        setenv("OMP_WAIT_POLICY", "passive", 1)
        setenv("TRIMTAB_REEXEC", "1", 1)
        let arguments = CommandLine.arguments
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
        argv.append(nil)
        execv("/proc/self/exe", &argv)
        // execv only returns on failure: carry on with the default policy.
    }
}
