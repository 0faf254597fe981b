import ArgumentParser

@main
struct Trimtab: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trimtab",
        abstract: "Parameter-efficient fine-tuning of frozen language models on the CPU.",
        subcommands: [InspectCommand.self, EmbedCommand.self]
    )
}
