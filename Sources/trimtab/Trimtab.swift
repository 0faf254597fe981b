import ArgumentParser
import Foundation

@main
struct Trimtab: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trimtab",
        abstract: "Parameter-efficient fine-tuning of frozen language models on the CPU.",
        subcommands: [DemoCommand.self, TrainCommand.self, EvalCommand.self, GenerateCommand.self, TokenizeCommand.self, EmbedCommand.self,
                      InspectCommand.self, BenchCommand.self, MergeCommand.self, ServeCommand.self]
    )

    static func main() {
        OpenMPEnvironment.preferShortSpinning()
        main(nil)
    }
}
