"""Model providers (Ollama, OpenAI-compatible, embedded llama.cpp) behind one interface."""
