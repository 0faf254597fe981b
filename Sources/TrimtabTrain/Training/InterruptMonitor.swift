import Foundation
import Synchronization

/// Signals received while an ``InterruptMonitor`` is installed (a global: a signal
/// handler can reach nothing else; lock-free atomics are async-signal-safe).
private let receivedInterrupts = Atomic<Int>(0)

/// The SIGINT/SIGTERM handler: counts, and quits at once on the second signal.
private func countInterrupt(_ signal: Int32) {
    if receivedInterrupts.add(1, ordering: .relaxed).newValue >= 2 { _exit(130) }
}

/// Turns Ctrl-C (SIGINT) and SIGTERM into a polite stop request.
///
/// The first signal calls `onInterrupt` (from a watcher thread, within 50 ms; the trainer
/// then finishes its step, writes a checkpoint and returns); a second one exits at once
/// with status 130. The signals' default action (ending the process) is restored when the
/// monitor is released. One monitor at a time.
public final class InterruptMonitor {
    private final class Watch: @unchecked Sendable {
        let done = Atomic<Bool>(false)
    }

    private let watch = Watch()

    /// Installs the handlers; `onInterrupt` runs once, on the first signal.
    public init(onInterrupt: @escaping @Sendable () -> Void) {
        receivedInterrupts.store(0, ordering: .relaxed)
        signal(SIGINT, countInterrupt)
        signal(SIGTERM, countInterrupt)
        let watch = self.watch
        let thread = Thread {
            while !watch.done.load(ordering: .relaxed) {
                if receivedInterrupts.load(ordering: .relaxed) > 0 {
                    let message = "\ninterrupted: finishing the step and saving a checkpoint (interrupt again to quit now)\n"
                    FileHandle.standardError.write(Data(message.utf8))
                    onInterrupt()
                    return
                }
                usleep(50_000)
            }
        }
        thread.name = "trimtab.interrupt-monitor"
        thread.start()
    }

    deinit {
        watch.done.store(true, ordering: .relaxed)
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}
