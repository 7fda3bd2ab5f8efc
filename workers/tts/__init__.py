"""The tts worker: text → audio (HF Inference text-to-speech, or Piper offline)."""
