"""Reading a customer's answer to "shall I go ahead?" (a refund, a cancellation, a payment).

Pure and deterministic: the conversation workflow calls it while replaying. Only a clear yes
counts as yes. A tapped button carries its id (`confirm:yes` / `confirm:no`); typed answers are
matched as whole short messages in the languages the agent serves, so "yes but first tell me the
fee" is not a yes: the model gets the message and the customer is asked again.
"""

from __future__ import annotations

import re
import unicodedata

from channels.base import Button

YES_PAYLOAD = "confirm:yes"
NO_PAYLOAD = "confirm:no"

_YES = {
    # English
    "yes", "y", "yeah", "yep", "yup", "sure", "ok", "okay", "ok go ahead", "go ahead", "yes please", "please do",
    "do it", "confirm", "confirmed", "i confirm", "correct", "yes go ahead", "yes do it", "absolutely", "of course",
    # Hindi (Devanagari) and Hinglish
    "हाँ", "हां", "हा", "जी", "जी हाँ", "जी हां", "ठीक है", "हाँ जी", "हां जी", "कर दो", "हाँ कर दो", "हां कर दो",
    "haan", "han", "haa", "ha", "ji", "ji haan", "haan ji", "haanji", "theek hai", "thik hai", "kar do", "haan kar do",
    "ha kar do", "haan karo", "bilkul",
    # Spanish, Portuguese, French, German, Indonesian, Arabic
    "si", "sí", "claro", "sim", "pode", "oui", "d'accord", "ja", "jawohl", "ya", "iya", "نعم", "أجل",
}  # fmt: skip
_NO = {
    "no", "n", "nope", "nah", "no thanks", "no thank you", "don't", "dont", "do not", "cancel", "stop", "not now",
    "don't do it", "no don't", "never mind", "nevermind",
    "नहीं", "नही", "मत करो", "ना", "रहने दो", "nahi", "nahin", "nai", "na", "mat karo", "rehne do", "rahne do", "nahi chahiye",
    "non", "nein", "não", "nao", "tidak", "gak", "nggak", "لا",
}  # fmt: skip
_MAX_WORDS = 5  # anything longer is a message about something else, read by the model


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFC", text).casefold().strip()
    text = re.sub(r"[\s]+", " ", text)
    # Punctuation and emoji around the words carry no answer ("Yes!", "ok 👍").
    return "".join(ch for ch in text if ch in " '" or unicodedata.category(ch)[0] in "LMN").strip()


def read_answer(text: str, reply_payload: str | None = None) -> bool | None:
    """True for a clear yes, False for a clear no, None when the message is something else."""
    if reply_payload == YES_PAYLOAD:
        return True
    if reply_payload == NO_PAYLOAD:
        return False
    said = _normalise(text)
    if not said or len(said.split()) > _MAX_WORDS:
        return None
    if said in _YES:
        return True
    if said in _NO:
        return False
    return None


def answer_buttons(yes_title: str = "Yes", no_title: str = "No") -> list[Button]:
    return [Button(id=YES_PAYLOAD, title=yes_title), Button(id=NO_PAYLOAD, title=no_title)]
