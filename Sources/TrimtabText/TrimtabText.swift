// Tokenizers.
