"""A tiny byte-level BPE tokenizer for the TrimtabTrain tests.

Trained with Hugging Face `tokenizers` on a toy corpus of short reviews, questions and
answers (384 tokens: the 256 byte symbols, 3 specials, ~125 merges), with a ByteLevel
pre-tokenizer and decoder like GPT-2/SmolLM2, no post-processor (no BOS), and the ChatML
specials `<|im_start|>` / `<|im_end|>` so chat data can be encoded. Small enough that a
random Llama over it trains in milliseconds.

Writes Tests/TrimtabTrainTests/Fixtures/tiny_tokenizer.json.
Run: "$(scripts/reference/setup-venv.sh)" scripts/reference/train_tiny_tokenizer.py
"""
import os

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "TrimtabTrainTests", "Fixtures",
                   "tiny_tokenizer.json")

CORPUS = [
    "Review: a great movie, I loved it.\nSentiment: positive",
    "Review: a bad movie, I hated it.\nSentiment: negative",
    "Review: wonderful acting and a good story.\nSentiment: positive",
    "Review: boring, dull and far too long.\nSentiment: negative",
    "What is two plus two? four", "What is the colour of the sky? blue",
    "The quick brown fox jumps over the lazy dog.",
    "positive negative positive negative good bad great awful",
    "user assistant system hello how are you I am fine thank you",
] * 20

tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
trainer = trainers.BpeTrainer(vocab_size=384, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
tok.train_from_iterator(CORPUS, trainer)
tok.save(OUT)
print(OUT, tok.get_vocab_size(), tok.encode("Review: a great movie\nSentiment: positive").ids)
