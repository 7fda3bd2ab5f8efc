"""The stt worker: audio → text (HF Inference speech recognition, or Whisper tiny.en offline)."""
