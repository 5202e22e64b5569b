"""Speech real-time factors: how long transcribing (and synthesising) a voice note takes per
second of audio, with the models the stt worker uses.

Voice notes are made here, as a customer's phone would send them (OGG/Opus): customer-service
sentences spoken by Piper's US English voice (natural prosody) and by espeak-ng in Hindi. Each
is then transcribed by faster-whisper with the packaged whisper-base model (int8 on the CPU,
`condition_on_previous_text=False`, the language hinted as the turn hints it), after one
warm-up note so that loading the model is not counted. The synthesis of the same notes gives
the text-to-speech factor per engine. RTF = processing seconds / audio seconds (lower is
faster; 0.2 means a 10 s note takes 2 s).

{"bench":"asr","model":"whisper-base","compute_type":"int8","notes_kind":"en, under 10 s notes","notes":..,"audio_s":..,"rtf":..,"rtf_p50":..,"rtf_max":..,"word_recall":..}
(rtf: all processing seconds over all audio seconds)
{"bench":"tts","engine":"piper"|"espeak-ng","notes":..,"audio_s":..,"rtf":..}

  .venv/bin/python -m bench.asr
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from voice.stt import WHISPER_BASE, Transcriber
from voice.tts import Synthesizer

ENGLISH = [
    "I want to track my order number 12345.",
    "Hi, my parcel was supposed to arrive yesterday but it still has not come. Can you check where it is?",
    "Can I return a pair of shoes I bought last week? They are too small and I still have the box.",
    "Please cancel my subscription and refund the last payment, I was charged twice this month.",
    "What time does your store in the city centre close on Saturdays?",
    "The app keeps logging me out every time I try to pay with my credit card. What should I do?",
]
# Longer notes (10-15 s), as customers often speak: Whisper encodes audio in 30 s windows, so a
# short note pays for a whole window and its factor is the worst case.
ENGLISH_LONG = [
    " ".join(ENGLISH[0:3]),
    " ".join(ENGLISH[3:6]),
]
HINDI = [
    "मेरा ऑर्डर अभी तक नहीं आया है, कृपया जांच कीजिए।",
    "मुझे अपने पैसे वापस चाहिए, सामान टूटा हुआ आया है।",
]


def audio_seconds(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "default=nw=1:nk=1", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(out.strip())


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold())


def word_recall(said: str, heard: str) -> float:
    """Share of the spoken words found in the transcript (order ignored): a sanity check that
    the factor was measured on real recognition, not on silence."""
    expected, got = words(said), set(words(heard))
    return sum(w in got for w in expected) / len(expected) if expected else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models-dir", type=Path, default=Path(tempfile.gettempdir()) / "frontdesk-bench-models")
    parser.add_argument("--compute-type", default="int8")
    parser.add_argument("--repeat", type=int, default=2, help="passes over the notes (the factor is averaged over all)")
    parser.add_argument("--verbose", action="store_true", help="print each transcript")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="frontdesk-asr-"))
    synthesizer = Synthesizer()
    notes: list[tuple[str, str, Path, float]] = []  # (language, text, note, seconds)
    tts: dict[str, list[tuple[float, float]]] = {}  # engine -> (synthesis s, audio s)
    for i, (language, text) in enumerate([("en", t) for t in ENGLISH + ENGLISH_LONG] + [("hi", t) for t in HINDI]):
        note = work / f"note-{i}.ogg"
        started = time.perf_counter()
        speech = synthesizer.synthesize(text, language, note)
        took = time.perf_counter() - started
        seconds = audio_seconds(note)
        if i > 0 or speech.engine != "piper":  # the first Piper call loads the voice
            tts.setdefault(speech.engine, []).append((took, seconds))
        notes.append((language, text, note, seconds))

    transcriber = Transcriber(WHISPER_BASE, args.models_dir, compute_type=args.compute_type)
    transcriber.transcribe(notes[0][2], "en")  # warm-up: loading the model is not part of a turn
    by_language: dict[str, list[tuple[float, float, float]]] = {}  # language -> (seconds taken, audio s, recall)
    for _ in range(args.repeat):
        for language, text, note, seconds in notes:
            started = time.perf_counter()
            transcript = transcriber.transcribe(note, language)
            taken = time.perf_counter() - started
            group = f"{language}, {'10 s and longer' if seconds >= 10 else 'under 10 s'} notes"
            by_language.setdefault(group, []).append((taken, seconds, word_recall(text, transcript.text)))
            if args.verbose:
                print(f"# {language} {seconds:.1f}s audio, {taken:.2f}s: {transcript.text!r}", flush=True)
    for group, runs in sorted(by_language.items()):
        factors = [taken / seconds for taken, seconds, _ in runs]
        audio = sum(seconds for _, seconds, _ in runs)
        print(
            json.dumps(
                {
                    "bench": "asr", "model": WHISPER_BASE, "compute_type": args.compute_type, "notes_kind": group,
                    "notes": len(runs), "audio_s": round(audio, 1), "rtf": round(sum(r[0] for r in runs) / audio, 3),
                    "rtf_p50": round(statistics.median(factors), 3), "rtf_max": round(max(factors), 3),
                    "word_recall": round(statistics.fmean(r[2] for r in runs), 3),
                }  # fmt: skip
            ),
            flush=True,
        )
    for engine, runs in sorted(tts.items()):
        synth, audio = sum(r[0] for r in runs), sum(r[1] for r in runs)
        print(json.dumps({"bench": "tts", "engine": engine, "notes": len(runs), "audio_s": round(audio, 1), "rtf": round(synth / audio, 3)}), flush=True)
    os._exit(0)  # onnxruntime and CTranslate2 threads can crash the interpreter at exit


if __name__ == "__main__":
    main()
