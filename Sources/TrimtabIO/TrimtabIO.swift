// Checkpoint formats: safetensors and GGUF.
