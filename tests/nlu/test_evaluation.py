"""Which samples are held out to score a model, and the scores a tenant reads."""

from __future__ import annotations

import json
import random
import uuid

from nlu.evaluation import MIN_SAMPLES_TO_HOLD_OUT, Sample, evaluate, held_out, score, split_samples
from nlu.training import train_intent_model
from tests.nlu.mixed_intents import HELD_OUT, TRAINING


def _ids(n: int, seed: int) -> list[str]:
    # Sample ids are uuid4 strings (models/nlu_store.py); a seeded generator keeps the test repeatable.
    rng = random.Random(seed)
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(n)]


def _samples(ids: list[str], intents: list[str]) -> list[Sample]:
    return [Sample(id_, f"message {id_}", intents[i % len(intents)]) for i, id_ in enumerate(ids)]


def test_about_a_fifth_of_samples_are_held_out() -> None:
    assert 170 <= sum(held_out(id_) for id_ in _ids(1000, seed=1)) <= 230


def test_a_held_out_sample_stays_held_out_as_samples_are_added() -> None:
    intents = ["track_order", "cancel_order", "refund_status"]
    first = _samples(_ids(300, seed=2), intents)
    train, test = split_samples(first)
    assert split_samples(first) == (train, test)
    assert len(train) + len(test) == len(first) and test

    grown = first + _samples(_ids(200, seed=3), intents + ["talk_to_human"])
    random.Random(4).shuffle(grown)  # the store returns rows in no particular order
    grown_train, grown_test = split_samples(grown)
    assert set(test) <= set(grown_test)
    assert set(train) <= set(grown_train)
    assert {s.id for s in grown_test} == {s.id for s in grown if held_out(s.id)}


def test_an_intent_with_few_samples_trains_on_all_of_them() -> None:
    candidates = _ids(200, seed=5)
    rare_ids = [id_ for id_ in candidates if held_out(id_)][:MIN_SAMPLES_TO_HOLD_OUT]  # all would be held out
    common = _samples(_ids(50, seed=6), ["track_order"])
    rare = [Sample(id_, "mujhe insaan se baat karni hai", "talk_to_human") for id_ in rare_ids]

    train, test = split_samples(common + rare[:-1])
    assert set(rare[:-1]) <= set(train)
    assert all(s.intent == "track_order" for s in test) and test

    _, test = split_samples(common + rare)  # a fifth sample: the intent is now scored
    assert set(rare) <= set(test)


def test_score_on_a_hand_computed_example() -> None:
    truth = ["a", "a", "a", "b", "b", "c", "c", "c"]
    guess = ["a", "a", "b", "b", "c", "c", "a", "a"]
    result = score(truth, guess)
    # a: precision 2/4, recall 2/3, F1 4/7; b: 1/2, 1/2, 1/2; c: 1/2, 1/3, F1 2/5.
    assert result.samples == 8 and result.accuracy == 0.5
    assert (result.per_intent["a"].precision, result.per_intent["a"].recall, result.per_intent["a"].f1) == (0.5, 0.6667, 0.5714)
    assert result.per_intent["b"].f1 == 0.5 and result.per_intent["c"].f1 == 0.4
    assert [s.support for s in result.per_intent.values()] == [3, 2, 3]
    assert result.macro_f1 == round((0.5714 + 0.5 + 0.4) / 3, 4)
    assert result.confusions == [("c", "a", 2), ("a", "b", 1), ("b", "c", 1)]
    stored = json.loads(json.dumps(result.as_dict()))
    assert stored["confusions"][0] == ["c", "a", 2] and stored["per_intent"]["b"]["support"] == 2


def test_perfect_and_empty_scores() -> None:
    perfect = score(["a", "b"], ["a", "b"])
    assert (perfect.accuracy, perfect.macro_f1, perfect.confusions) == (1.0, 1.0, [])
    # A guess of an intent that never was the truth costs precision but gets no row of its own.
    off = score(["a", "a"], ["a", "z"])
    assert list(off.per_intent) == ["a"] and off.per_intent["a"].recall == 0.5 and off.confusions == [("a", "z", 1)]
    assert score([], []).samples == 0


def test_evaluate_scores_a_trained_model_on_messages_it_did_not_see() -> None:
    model = train_intent_model([t for ts in TRAINING.values() for t in ts], [i for i, ts in TRAINING.items() for _ in ts])
    samples = [
        Sample(f"{lang}-{i}-{n}", t, i) for lang, per in HELD_OUT.items() for i, ts in per.items() for n, t in enumerate(ts)
    ]
    result = evaluate(model, samples)
    right = sum(model.predict(s.text).intent == s.intent for s in samples)
    assert result.samples == len(samples) and result.accuracy == round(right / len(samples), 4)
    assert set(result.per_intent) == set(TRAINING) and result.accuracy >= 0.8
    assert sum(n for _, _, n in result.confusions) == len(samples) - right
