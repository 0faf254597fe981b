import Dispatch
import Foundation

/// Turns Ctrl-C (SIGINT) and SIGTERM into a polite stop request.
///
/// The first signal calls `onInterrupt` (the trainer then finishes its step, writes a
/// checkpoint and returns); a second one exits at once with status 130. While the monitor
/// lives, the signals' default action (killing the process) is off; it is restored when
/// the monitor is released.
public final class InterruptMonitor {
    private let sources: [DispatchSourceSignal]
    private let lock = NSLock()
    private var count = 0

    public init(onInterrupt: @escaping @Sendable () -> Void) {
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            sources.append(DispatchSource.makeSignalSource(signal: sig, queue: .global()))
        }
        self.sources = sources
        for source in sources {
            source.setEventHandler { [weak self] in
                guard let self else { return }
                self.lock.lock()
                self.count += 1
                let n = self.count
                self.lock.unlock()
                if n == 1 {
                    let message = "\ninterrupted: finishing the step and saving a checkpoint (interrupt again to quit now)\n"
                    FileHandle.standardError.write(Data(message.utf8))
                    onInterrupt()
                } else {
                    exit(130)
                }
            }
            source.resume()
        }
    }

    deinit {
        for source in sources { source.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}
