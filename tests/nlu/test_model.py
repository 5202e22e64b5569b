"""The intent model as a tenant meets it: trained on a few dozen messages, it classifies new
phrasings, says how sure it is, survives being stored, and refuses bytes that are not a model."""

from __future__ import annotations

import io
import json
import pickle
import random
import statistics

import numpy as np
import pytest

from nlu.model import OUT_OF_SCOPE, IntentModel, ModelFormatError
from nlu.training import NotEnoughData, train_intent_model
from tests.nlu.mixed_intents import HELD_OUT, TRAINING
from tests.workflows.nlu_helpers import SAMPLES

RESTAURANT = {
    "opening_hours": [
        "what time do you open",
        "are you open on sunday",
        "what are your opening hours",
        "until when is the kitchen open tonight",
        "do you close early on holidays",
        "when do you shut",
    ],
    "book_table": [
        "I'd like to book a table for four",
        "can I reserve a table for tomorrow at 8",
        "do you have a table free tonight",
        "reservation for two people on friday please",
        "I want to make a booking for dinner",
        "is there space for a group of 10 on saturday",
    ],
    "vegetarian_menu": [
        "do you have vegetarian options",
        "is there anything vegan on the menu",
        "which dishes are meat free",
        "can the pasta be made without cheese",
        "I don't eat meat, what can I order",
        "is the curry suitable for vegetarians",
    ],
    "cancel_booking": [
        "I need to cancel my reservation",
        "please cancel our table for tonight",
        "we can't make it tomorrow, cancel the booking",
        "how do I cancel a booking",
        "drop my reservation for friday",
        "we won't be coming anymore",
    ],
}

PARAPHRASES = [
    ("what hours are you open on weekends", "opening_hours"),
    ("is the restaurant open late on friday", "opening_hours"),
    ("could we get a table for six on sunday evening", "book_table"),
    ("book me a table for 2 tonight", "book_table"),
    ("any plant based dishes?", "vegetarian_menu"),
    ("what do you serve for vegans", "vegetarian_menu"),
    ("I have to call off our booking for saturday", "cancel_booking"),
    ("cancel the table I reserved", "cancel_booking"),
]


def _train(data: dict[str, list[str]]) -> IntentModel:
    return train_intent_model([t for ts in data.values() for t in ts], [i for i, ts in data.items() for _ in ts])


@pytest.fixture(scope="module")
def restaurant_model() -> IntentModel:
    return _train(RESTAURANT)


@pytest.fixture(scope="module")
def desk_model() -> IntentModel:
    return _train(TRAINING)


def test_a_small_model_classifies_phrasings_it_never_saw(restaurant_model: IntentModel) -> None:
    misses = [text for text, intent in PARAPHRASES if restaurant_model.predict(text).intent != intent]
    # Six examples an intent teach words, not synonyms: "call off our booking" shares no word with
    # "cancel" and reads as a booking. One such miss in eight is what a tenant should expect.
    assert len(misses) <= 1, misses
    for text, _ in PARAPHRASES:
        prediction = restaurant_model.predict(text)
        confidences = [c for _, c in prediction.ranking]
        assert len(prediction.ranking) == 3 and prediction.ranking[0] == (prediction.intent, prediction.confidence)
        assert confidences == sorted(confidences, reverse=True) and 0 < sum(confidences) <= 1.0001


def test_a_stored_model_predicts_exactly_as_the_trained_one(desk_model: IntentModel) -> None:
    loaded = IntentModel.from_bytes(desk_model.to_bytes())
    texts = [t for per_intent in HELD_OUT.values() for ts in per_intent.values() for t in ts] + ["", "🙂", "xyzzy"]
    assert [loaded.predict(t) for t in texts] == [desk_model.predict(t) for t in texts]
    assert loaded.intents == desk_model.intents and loaded.temperature == desk_model.temperature


def test_truncated_or_corrupted_bytes_never_load_as_a_different_model(restaurant_model: IntentModel) -> None:
    data = restaurant_model.to_bytes()
    probes = [text for text, _ in PARAPHRASES]
    expected = [restaurant_model.predict(t) for t in probes]
    step = max(1, len(data) // 800)  # some hundreds of cuts and flips reach every part of the archive
    for end in range(0, len(data), step):
        with pytest.raises(ModelFormatError):
            IntentModel.from_bytes(data[:end])
    for at in range(0, len(data), step):
        flipped = data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]
        try:
            loaded = IntentModel.from_bytes(flipped)
        except ModelFormatError:
            continue
        # A flip in zip bookkeeping the reader ignores (a timestamp) is harmless; the arrays are CRC-checked.
        assert [loaded.predict(t) for t in probes] == expected, f"byte {at} flipped"


class _Exploit:
    def __reduce__(self):
        return (_EXPLOITED.append, ("unpickled",))


_EXPLOITED: list[str] = []


def _archive(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _json_array(value: object) -> np.ndarray:
    return np.frombuffer(json.dumps(value).encode(), dtype=np.uint8)


def test_bytes_in_another_format_are_refused_and_never_unpickled(restaurant_model: IntentModel) -> None:
    good = np.load(io.BytesIO(restaurant_model.to_bytes()))
    members = {name: good[name] for name in good.files}
    header = json.loads(members["header"].tobytes())
    npy = io.BytesIO()
    np.save(npy, np.arange(3))
    refused = {
        "a pickle": pickle.dumps(_Exploit()),
        "a pickled object inside the archive": _archive(**{**members, "weights": np.array([_Exploit()], dtype=object)}),
        "a bare .npy array": npy.getvalue(),
        "nothing": b"",
        "text": b"not a model at all",
        "a newer format": _archive(**{**members, "header": _json_array({**header, "format": 2})}),
        "a header that is not an object": _archive(**{**members, "header": _json_array([1, 2])}),
        "an archive without weights": _archive(**{k: v for k, v in members.items() if k != "weights"}),
        "weights for other intents": _archive(**{**members, "weights": members["weights"][:, :2]}),
    }
    for what, data in refused.items():
        with pytest.raises(ModelFormatError):
            IntentModel.from_bytes(data)
        assert _EXPLOITED == [], what


def test_confidence_is_higher_when_the_model_is_right(desk_model: IntentModel) -> None:
    right, wrong = [], []
    for per_intent in HELD_OUT.values():
        for intent, texts in per_intent.items():
            for text in texts:
                prediction = desk_model.predict(text)
                (right if prediction.intent == intent else wrong).append(prediction.confidence)
    assert len(wrong) >= 3  # enough mistakes for their mean to say something
    assert statistics.mean(right) > statistics.mean(wrong) + 0.1
    # Acting only above a threshold trades coverage for precision, as a tenant setting one expects.
    confident = [c for c in right + wrong if c >= 0.7]
    assert sum(c >= 0.7 for c in right) / len(confident) > len(right) / (len(right) + len(wrong))


def test_text_the_model_has_no_words_for_gets_low_confidence(desk_model: IntentModel) -> None:
    for text in ["", "🙂🙂", "உங்கள் கடை எங்கே", "你好"]:  # nothing in it the model has seen
        assert desk_model.predict(text).confidence < 0.5
        assert desk_model.predict(text).accepted(0.5) is None
    # Keyboard mashing shares a few letter pairs with the training messages, so single strings
    # can still score above 0.5; on average it stays well below what right answers get.
    mashing = ["asdkjh qwpoeiru zxcmvn", "fghfgh jkljkl", "qwerty uiop", "blorp snazzle wibble", "hjkl hjkl hjkl", "mnbvcxz"]
    right = [desk_model.predict(t).confidence for t in TRAINING["track_order"] + TRAINING["cancel_order"]]
    assert statistics.mean(desk_model.predict(t).confidence for t in mashing) < 0.5 < statistics.mean(right)


def test_a_two_intent_model_tells_them_apart(restaurant_model: IntentModel) -> None:
    model = _train({k: RESTAURANT[k] for k in ("opening_hours", "book_table")})
    assert model.intents == ["book_table", "opening_hours"]
    for text, intent in PARAPHRASES:
        if intent in model.intents:
            prediction = model.predict(text)
            assert prediction.intent == intent, text
            assert prediction.confidence > 0.5 and len(prediction.ranking) == 2
            assert sum(c for _, c in prediction.ranking) == pytest.approx(1, abs=1e-3)
    loaded = IntentModel.from_bytes(model.to_bytes())
    assert loaded.predict("are you open on mondays") == model.predict("are you open on mondays")


def test_out_of_scope_and_unsure_predictions_are_not_acted_on() -> None:
    chit_chat = [
        "what's the weather like",
        "tell me a joke",
        "who won the cricket match",
        "do you like music",
        "what is the capital of france",
        "sing me a song",
    ]
    model = _train({**RESTAURANT, OUT_OF_SCOPE: chit_chat})
    out = model.predict("tell me a funny joke about the weather")
    assert out.intent == OUT_OF_SCOPE and out.accepted(0.0) is None
    booking = model.predict("book me a table for 2 tonight")
    assert booking.intent == "book_table"
    assert booking.accepted(booking.confidence) == "book_table"
    assert booking.accepted(min(1.0, booking.confidence + 0.01)) is None


def test_training_needs_two_intents() -> None:
    with pytest.raises(NotEnoughData):
        train_intent_model(RESTAURANT["book_table"], ["book_table"] * len(RESTAURANT["book_table"]))
    with pytest.raises(NotEnoughData):
        train_intent_model([], [])
    with pytest.raises(ValueError):
        train_intent_model(["book a table", "when do you open"], ["book_table"])


def test_a_small_desk_is_never_sure_of_a_message_about_none_of_its_intents() -> None:
    # A tenant's first model learns from a few dozen samples, and which of them it trains on
    # depends on the held-out split. Whatever the draw, a vague message must stay under a
    # demanding threshold (0.8) so the LLM labels it and a person reviews it.
    vague = ["the thing from last tuesday, what happened with it", "can you tell me about the weather on mars", "is it any good"]
    sure_of_vague, sure_of_clear = [], []
    for seed in range(60):
        draw = random.Random(seed)
        pairs = [(text, intent) for intent, texts in SAMPLES.items() for text in texts if draw.random() >= 0.2]
        draw.shuffle(pairs)
        model = train_intent_model([t for t, _ in pairs], [i for _, i in pairs])
        sure_of_vague.append(max(model.predict(text).confidence for text in vague))
        sure_of_clear.append(model.predict("where is my refund, it has been ten days").confidence)
    assert max(sure_of_vague) < 0.8
    assert statistics.median(sure_of_clear) >= 0.8  # caution about vague messages, not about every message
