"""Which language and script a customer writes in, and the instruction that makes the reply match.

Indian customers write Hindi in Devanagari ("मेरा ऑर्डर कहाँ है"), in Latin letters ("mera order
kab aayega", Hinglish), or in English, and often switch within one conversation. The script is
read from the characters; Hinglish is told from English by common romanised Hindi function words,
which no English sentence uses. A single "ok" or "thanks" carries no evidence, so the
conversation's language (`conversation_language`) weighs messages by how much they say and does
not flip on one of them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

# (first, last) code points of the scripts we tell apart, by name.
_SCRIPT_RANGES: tuple[tuple[int, int, str], ...] = (
    (0x0900, 0x097F, "devanagari"),
    (0xA8E0, 0xA8FF, "devanagari"),
    (0x0980, 0x09FF, "bengali"),
    (0x0A00, 0x0A7F, "gurmukhi"),
    (0x0A80, 0x0AFF, "gujarati"),
    (0x0B00, 0x0B7F, "oriya"),
    (0x0B80, 0x0BFF, "tamil"),
    (0x0C00, 0x0C7F, "telugu"),
    (0x0C80, 0x0CFF, "kannada"),
    (0x0D00, 0x0D7F, "malayalam"),
    (0x0600, 0x06FF, "arabic"),
    (0x0750, 0x077F, "arabic"),
    (0xFB50, 0xFDFF, "arabic"),
    (0xFE70, 0xFEFF, "arabic"),
    (0x0590, 0x05FF, "hebrew"),
    (0x0370, 0x03FF, "greek"),
    (0x0400, 0x052F, "cyrillic"),
    (0x0E00, 0x0E7F, "thai"),
    (0x3040, 0x30FF, "kana"),
    (0xAC00, 0xD7AF, "hangul"),
    (0x1100, 0x11FF, "hangul"),
    (0x4E00, 0x9FFF, "han"),
    (0x3400, 0x4DBF, "han"),
)

# A script that (nearly) always means one language. Cyrillic, Latin and the like are shared by
# many languages: those stay "unknown" and the reply follows the customer's own words.
_SCRIPT_LANGUAGE = {
    "devanagari": "hi",  # Marathi and Nepali share it; Hindi is by far the likeliest here
    "bengali": "bn",
    "gurmukhi": "pa",
    "gujarati": "gu",
    "oriya": "or",
    "tamil": "ta",
    "telugu": "te",
    "kannada": "kn",
    "malayalam": "ml",
    "arabic": "ar",
    "hebrew": "he",
    "greek": "el",
    "thai": "th",
    "kana": "ja",
    "hangul": "ko",
    "han": "zh",
}
# Letters Urdu has and Arabic does not (ٹ ڈ ڑ ں ے ہ ھ گ ک پ چ): Urdu written in Arabic script.
_URDU_LETTERS = frozenset("ٹڈڑںےہھگکپچ")

LANGUAGE_NAMES = {
    "en": "English",
    "hi": "Hindi",
    "hinglish": "Hinglish",
    "ur": "Urdu",
    "bn": "Bengali",
    "pa": "Punjabi",
    "gu": "Gujarati",
    "or": "Odia",
    "ta": "Tamil",
    "te": "Telugu",
    "kn": "Kannada",
    "ml": "Malayalam",
    "ar": "Arabic",
    "he": "Hebrew",
    "el": "Greek",
    "th": "Thai",
    "ja": "Japanese",
    "ko": "Korean",
    "zh": "Chinese",
}

# Romanised Hindi words that are not English words: each one is evidence of Hinglish.
_HINDI_STRONG = frozenset(
    """
    hai hain hoga hogi honge hua hui huye hue tha thi thay kya kyu kyun kyon kab kaise kaisa kaisi kahan kaha kidhar
    kaun kon kitna kitne kitni mera meri mere mujhe mujhko muje hamara hamari humko hume humein aap aapka aapki aapke
    apna apni apne tum tumhara tumhari tera teri nahi nahin nai nhi mat karo karna karni karein kariye karke karta karti
    karte kar kiya kiye ki kijiye chahiye chaiye chahie abhi bhi aur lekin magar toh phir fir bhai bhaiya yaar ji
    accha acha achha theek thik kuch kuchh sab sabhi batao bataye bataiye bata dijiye dena dedo dediya diya diye gaya
    gayi gaye aaya aayi aaye aayega aayegi ayega raha rahi rahe wala wali wale haan hanji sakte sakta sakti paisa paise
    wapas vapas jaldi kal aaj parso bhejo bhej bheja liya lena milega milegi mila mili pata samajh samjha hoga chalega
    kab tak kaafi bahut bohot zyada jyada thoda abhitak kyunki isliye agar varna mein mai hum hu hoon hun
    """.split()
)
# Short Hindi words that are also English (or common abbreviations): they tip a message that
# already has a strong marker, and count for nothing on their own.
_HINDI_WEAK = frozenset("main me ka ke ko se na ya to do par pe hi h".split())
# English words that Hinglish speakers rarely use: their presence argues for English. Words shared
# by both ("order", "refund", "please", "ok", "thanks") are deliberately absent.
_ENGLISH = frozenset(
    """
    the a an is are was were be been being am i you he she it we they my your his her its our their me him us them
    this that these those what where when why how which who whom can could would should will shall may might must
    not don't doesn't didn't isn't aren't wasn't won't can't couldn't have has had do does did of for with from to
    into at by about and or but if then than so still yet any some there here want need got get received arrived
    tell know been just also very already since ago week yesterday today tomorrow
    """.split()
)
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
# A message with this many decisive words is taken at its word even against earlier messages.
_DECISIVE_WORDS = 3


@dataclass(frozen=True)
class Language:
    code: str  # "en", "hi", "hinglish", "ar", ... or "unknown"
    script: str  # "latin", "devanagari", "arabic", ... or "unknown"
    # How many words decided it: 0 for "ok", "👍" or "1042", which say nothing about the language.
    evidence: int = field(default=0, compare=False)

    @property
    def name(self) -> str:
        return LANGUAGE_NAMES.get(self.code, "the customer's language")


UNKNOWN = Language("unknown", "unknown")
ENGLISH = Language("en", "latin")


def _script_of(char: str) -> str | None:
    point = ord(char)
    for first, last, script in _SCRIPT_RANGES:
        if first <= point <= last:
            return script
    if char.isalpha() and "LATIN" in unicodedata.name(char, ""):
        return "latin"
    return None


def _letters_by_script(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for char in text:
        # Marks (Devanagari matras, Arabic harakat) belong to the letter they sit on.
        if not (char.isalpha() or unicodedata.category(char).startswith("M")):
            continue
        script = _script_of(char)
        if script is not None:
            counts[script] = counts.get(script, 0) + 1
    return counts


def _latin_language(text: str) -> Language:
    words = _WORD.findall(text.lower())
    strong = sum(w in _HINDI_STRONG for w in words)
    weak = sum(w in _HINDI_WEAK for w in words)
    english = sum(w in _ENGLISH for w in words)
    hindi = strong + (0.5 * weak if strong else 0.0)
    # Code-mixed sentences ("I want refund, paisa wapas karo") are Hinglish when the Hindi words
    # hold their own against the English ones; one Hindi-looking word in an English sentence
    # (a name: "send it to Kya Restaurant") must outweigh the English alone.
    if strong and hindi >= english * (0.5 if strong >= 2 else 1.0):
        return Language("hinglish", "latin", evidence=round(hindi))
    if english:
        return Language("en", "latin", evidence=english)
    if len(words) >= _DECISIVE_WORDS:
        # Latin text in a language we have no word list for (Spanish, Indonesian...).
        return Language("unknown", "latin", evidence=len(words))
    return Language("en", "latin", evidence=0)  # "ok", "thanks", "order 1042": no evidence either way


def detect_language(text: str) -> Language:
    """The language of one message, with how much evidence it carried."""
    counts = _letters_by_script(text)
    if not counts:
        return UNKNOWN
    script = max(sorted(counts), key=lambda s: counts[s])  # sorted: ties break the same way every time
    if script == "latin":
        return _latin_language(text)
    # Roughly one word per four letters: a lone "जी" weighs less than a sentence.
    evidence = max(1, counts[script] // 4)
    if script == "arabic" and any(c in _URDU_LETTERS for c in text):
        return Language("ur", "arabic", evidence=evidence)
    return Language(_SCRIPT_LANGUAGE.get(script, "unknown"), script, evidence=evidence)


def conversation_language(recent_customer_texts: Sequence[str], *, decay: float = 0.7) -> Language:
    """The language to answer in, from the customer's recent messages (oldest first).

    Each message votes with its evidence, older ones discounted by `decay` per step back, so the
    conversation follows a customer who switches language in a real sentence but not one who
    answers "ok" or sends an order number."""
    detected = [detect_language(t) for t in recent_customer_texts if t and t.strip()]
    if not detected:
        return UNKNOWN
    votes: dict[Language, float] = {}
    weight = 1.0
    for lang in reversed(detected):
        if lang.evidence:
            votes[lang] = votes.get(lang, 0.0) + lang.evidence * weight
        weight *= decay
    if not votes:
        return detected[-1]
    best = max(sorted(votes, key=lambda lang: (lang.code, lang.script)), key=lambda lang: votes[lang])
    return Language(best.code, best.script, evidence=round(votes[best]))


def reply_language_instruction(lang: Language) -> str:
    """One sentence for the system prompt that keeps the reply in the customer's language and script."""
    if lang.code == "hinglish":
        return (
            "Reply in Hinglish: Hindi words written in Latin script, like the customer. "
            "Do not switch to Devanagari or to formal English."
        )
    if lang.code == "hi":
        return "Reply in Hindi, in Devanagari script, like the customer."
    if lang.code == "en":
        return "Reply in English."
    if lang.code == "ur":
        return "Reply in Urdu, in Arabic script, like the customer."
    if lang.code in LANGUAGE_NAMES:
        return f"Reply in {lang.name}, in {lang.script.capitalize()} script, like the customer."
    if lang.script not in ("unknown", "latin"):
        return f"Reply in the customer's language, in {lang.script.capitalize()} script like their messages."
    return "Reply in the language of the customer's last message."
