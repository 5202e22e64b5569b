"""Voice notes: speech-to-text (faster-whisper), text-to-speech (Piper, espeak-ng), and the
per-tenant files they read and write."""
