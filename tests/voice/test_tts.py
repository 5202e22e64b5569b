"""Voice replies: Hindi through espeak-ng, English through Piper, both as OGG/Opus voice notes."""

from __future__ import annotations

import pytest

from tests.voice.speech_samples import probe, tiny_english_model
from voice.stt import Transcriber
from voice.tts import SpeechFailed, Synthesizer, speakable


def _is_voice_note(path) -> dict:
    found = probe(path)
    assert found["format"]["format_name"] == "ogg"
    assert found["stream"]["codec_name"] == "opus"
    assert found["stream"]["channels"] == 1
    assert found["stream"]["sample_rate"] == "48000"
    return found


def test_hindi_reply_is_an_ogg_opus_voice_note(tmp_path):
    out = tmp_path / "reply.ogg"
    speech = Synthesizer().synthesize("नमस्ते, आपका ऑर्डर कल तक पहुंच जाएगा।", "hi", out)
    assert speech.engine == "espeak-ng" and speech.path == out and speech.mime_type == "audio/ogg"
    assert float(_is_voice_note(out)["format"]["duration"]) > 1.0
    assert [p.name for p in tmp_path.iterdir()] == ["reply.ogg"]  # no WAV or partial file left behind


def test_english_reply_is_spoken_by_piper_and_can_be_understood(tmp_path):
    out = tmp_path / "reply.ogg"
    speech = Synthesizer().synthesize("Your order has shipped [1]. It arrives **tomorrow**.", "en", out)
    assert speech.engine == "piper"
    _is_voice_note(out)
    heard = Transcriber(tiny_english_model(), tmp_path).transcribe(out, "en").text.lower()
    assert "order" in heard and "tomorrow" in heard, heard


def test_a_language_espeak_lacks_is_still_spoken(tmp_path):
    speech = Synthesizer().synthesize("Thank you", "tlh", tmp_path / "reply.ogg")
    assert speech.engine == "espeak-ng"
    _is_voice_note(speech.path)


def test_broken_piper_falls_back_to_espeak(tmp_path):
    broken = tmp_path / "voice.onnx"
    broken.write_bytes(b"not a model")
    (tmp_path / "voice.onnx.json").write_text("{}")
    speech = Synthesizer(broken).synthesize("Your order has shipped.", "en", tmp_path / "reply.ogg")
    assert speech.engine == "espeak-ng"
    _is_voice_note(speech.path)


def test_what_is_written_for_reading_is_not_read_aloud():
    assert speakable("See **our policy** [2] at https://shop.example/returns.\n\nThanks!") == "See our policy at Thanks!"


def test_a_reply_with_nothing_to_say_fails_clearly(tmp_path):
    with pytest.raises(SpeechFailed, match="nothing to say"):
        Synthesizer().synthesize(" [1] ** ", "en", tmp_path / "reply.ogg")
