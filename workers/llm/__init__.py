"""The llm worker: text → text (OpenRouter, or SmolLM2 on llama.cpp offline)."""
