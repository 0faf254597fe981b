import ArgumentParser
import Foundation
import TrimtabModels

/// `trimtab tokenize`: the token ids of a text under a model's own tokenizer.
struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Print the token ids of a text."
    )

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "The text to tokenize.")
    var text: String
    @Flag(help: "Add the model's special tokens (BOS/EOS) as its tokenizer is configured to.")
    var specialTokens = false
    @Flag(help: "Print ids and token strings as JSON.")
    var json = false

    func run() throws {
        let loaded = try modelOptions.load()
        let ids = loaded.tokenizer.encode(text, addSpecialTokens: specialTokens)
        if json {
            let tokens = ids.map { loaded.tokenizer.idToToken($0) ?? "" }
            let object: [String: Any] = ["ids": ids.map(Int.init), "tokens": tokens]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(ids.map(String.init).joined(separator: " "))
        }
    }
}
