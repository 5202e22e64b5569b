"""The words a customer uses to ask for a person, per language (agent/handoff.py reads them).

Written as people type them; agent/handoff.py normalises every entry the same way it normalises
a message (case, accents on Latin letters, Arabic letter variants, Devanagari nukta and
chandrabindu), so "Pásame" and "pasame", "أريد" and "اريد", "जोड़ो" and "जोडो" are one entry.

Each language lists:
- nouns: who the customer asks for ("agent", "insaan", "موظف").
- weak_nouns: "someone", "alguien", "kisi": a request only with a communication verb
  ("I need someone to fix this" is not one; "let me talk to someone" is).
- talk_cues: communication verbs (talk, connect, transfer, baat karao, اتكلم).
- want_cues: wanting / asking words (want, need, is there, chahiye, اريد).
- after_cues: words that make a request when they follow the noun ("human please",
  "agent needed"). In the verb-final languages (Hindi, Hinglish, German) every cue may follow.
- negations: a clause with one of these (not aimed at a bot) is not a request.
- identity: "are you a human?" style questions, with {N} standing for any person or bot word.
- excluded: phrases where the noun means something else ("human resources", "per person").
- fillers: articles, pronouns, adjectives and politeness that may sit around the noun without
  changing what is asked ("a real human please").
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Lexicon:
    nouns: tuple[str, ...]
    talk_cues: tuple[str, ...]
    want_cues: tuple[str, ...]
    negations: tuple[str, ...]
    identity: tuple[str, ...] = ()
    weak_nouns: tuple[str, ...] = ()
    after_cues: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    fillers: tuple[str, ...] = ()
    verb_final: bool = False  # cues may follow the noun ("insaan se baat karao")


ENGLISH = Lexicon(
    nouns=(
        "human", "humans", "human being", "agent", "agents", "person", "representative", "representatives", "rep",
        "operator", "supervisor", "manager", "staff", "staff member", "employee", "executive", "advisor", "adviser",
        "customer service", "customer care", "customer support", "support team", "support agent", "live chat",
        "team member", "somebody real", "someone real",
    ),
    weak_nouns=("someone", "somebody", "anyone", "anybody"),
    talk_cues=(
        "talk", "speak", "connect", "transfer", "escalate", "forward", "redirect", "put me through", "switch me",
        "reach", "contact", "hand me over", "pass me",
    ),
    # Not "can", "please" or "chat": "can the agent check…", "please tell the agent…" and "this chat
    # agent is useless" are not requests; "can I talk to…" and "chat with a human" carry another cue.
    want_cues=(
        "want", "wanna", "need", "get", "give", "gimme", "let", "lemme", "would like", "d like", "request",
        "require", "is there", "are there", "prefer",
    ),
    after_cues=("please", "pls", "plz", "needed", "required", "asap", "now", "pronto"),
    negations=(
        "not", "no", "never", "dont", "doesnt", "didnt", "isnt", "wont", "without", "nope", "nah", "neither", "nor",
    ),
    identity=(
        "are you {N}", "r you {N}", "r u {N}", "are u {N}", "you are {N}", "you re {N}", "u r {N}",
        "am i talking to", "am i speaking to", "am i chatting with", "am i talking with", "am i speaking with",
        "is this {N}", "is that {N}", "is it {N}", "this is {N}", "i am {N}", "i m {N}", "im {N}",
    ),
    excluded=(
        "human resources", "human resource", "human error", "human rights", "human nature", "human body",
        "human trafficking", "travel agent", "real estate agent", "estate agent", "delivery agent", "shipping agent",
        "insurance agent", "secret agent", "user agent", "booking agent", "customs agent", "courier agent", "sales agent",
        "in person", "per person", "first person", "third person", "missing person", "person of interest",
        "delivery person", "contact person", "store manager", "password manager", "account manager",
    ),
    fillers=(
        "a", "an", "the", "to", "with", "me", "my", "us", "i", "you", "u", "your", "ur", "real", "live", "actual",
        "actually", "some", "one", "of", "from", "for", "on", "just", "being", "proper", "genuine", "please", "pls",
        "plz", "kindly", "hi", "hello", "hey", "ok", "okay", "now", "asap", "right", "away", "quickly", "immediately",
        "straight", "directly", "urgently", "urgent", "again", "another", "any", "would", "d", "ll", "m",
    ),
)

SPANISH = Lexicon(
    nouns=(
        "humano", "humana", "ser humano", "persona", "persona real", "agente", "asesor", "asesora", "representante",
        "operador", "operadora", "ejecutivo", "ejecutiva", "encargado", "encargada", "supervisor", "empleado",
        "servicio al cliente", "atencion al cliente",
    ),
    weak_nouns=("alguien",),
    talk_cues=(
        "hablar", "comunicar", "comunicarme", "comunicame", "comuniqueme", "conectar", "conectame", "conecteme",
        "transferir", "transfiereme", "transfierame", "pasame", "paseme", "pasar", "contactar", "escalar", "chatear",
        "platicar", "atienda", "atender",
    ),
    want_cues=(
        "quiero", "quisiera", "necesito", "dame", "deme", "busco", "prefiero", "hay",
    ),
    after_cues=("favor", "porfa", "porfavor", "ya", "urgente"),
    negations=("no", "nunca", "sin", "ni", "tampoco", "jamas", "nadie"),
    identity=(
        "eres {N}", "eres un {N}", "eres una {N}", "sos {N}", "es usted {N}", "usted es {N}", "tu eres {N}",
        "estoy hablando con", "estoy chateando con", "hablo con un {N}", "hablo con una {N}",
    ),
    excluded=(
        "recursos humanos", "derechos humanos", "error humano", "por persona", "en persona", "agente de viajes",
        "agente inmobiliario",
    ),
    fillers=(
        "un", "una", "el", "la", "con", "a", "al", "de", "del", "me", "mi", "yo", "por", "favor", "porfa", "real",
        "verdadero", "verdadera", "verdad", "algun", "alguna", "hola", "ya", "ahora", "urgente", "otra", "vez", "su",
    ),
)

PORTUGUESE = Lexicon(
    nouns=(
        "humano", "humana", "ser humano", "pessoa", "pessoa real", "atendente", "agente", "representante", "operador",
        "operadora", "consultor", "consultora", "funcionario", "supervisor", "gerente", "atendimento humano",
    ),
    weak_nouns=("alguem",),
    talk_cues=(
        "falar", "fala", "conversar", "conectar", "transferir", "transfere", "transfira", "passar", "passa", "chamar",
        "chama", "contatar", "atender",
    ),
    want_cues=("quero", "queria", "preciso", "gostaria", "tem"),
    after_cues=("favor", "pfv", "pf", "pfvr", "agora", "urgente", "ja"),
    negations=("nao", "nunca", "sem", "nem", "jamais", "ninguem"),
    identity=(
        "voce e {N}", "voce e um {N}", "voce e uma {N}", "vc e {N}", "vc e um {N}", "tu es {N}", "ce e {N}",
        "e um {N}", "e uma {N}", "estou falando com", "to falando com", "tou falando com", "estou conversando com",
    ),
    excluded=("recursos humanos", "direitos humanos", "erro humano", "por pessoa", "em pessoa", "pessoa fisica", "pessoa juridica"),
    fillers=(
        "um", "uma", "o", "a", "com", "de", "do", "da", "me", "meu", "eu", "real", "verdade", "verdadeiro", "por",
        "favor", "pfv", "ola", "oi", "agora", "urgente", "ja", "algum", "alguma", "seu", "sua",
    ),
)

FRENCH = Lexicon(
    nouns=(
        "humain", "humaine", "etre humain", "personne", "personne reelle", "vraie personne", "agent", "conseiller",
        "conseillere", "operateur", "operatrice", "representant", "employe", "superviseur", "responsable",
        "service client",
    ),
    weak_nouns=("quelqu un",),
    talk_cues=(
        "parler", "discuter", "contacter", "joindre", "transferer", "transferez", "transfere", "passer", "passez",
        "mettre", "mettez", "connecter", "rediriger",
    ),
    want_cues=(
        "veux", "voudrais", "aimerais", "souhaite", "souhaiterais", "besoin", "y a t il",
    ),
    after_cues=("svp", "plait", "maintenant", "vite"),
    negations=("ne", "pas", "jamais", "sans", "aucun", "aucune", "non", "ni"),
    identity=(
        "es tu {N}", "etes vous {N}", "tu es {N}", "vous etes {N}", "t es {N}", "est ce un {N}", "est ce une {N}",
        "c est un {N}", "c est une {N}", "je parle a un", "je parle a une", "je parle avec",
    ),
    excluded=(
        "par personne", "en personne", "agent immobilier", "agent de voyage", "agent de voyages", "agent de securite",
        "droits humains", "erreur humaine",
    ),
    fillers=(
        "un", "une", "le", "la", "l", "a", "avec", "de", "du", "d", "des", "me", "moi", "m", "je", "j", "vrai",
        "vraie", "reel", "reelle", "veritable", "s", "il", "vous", "bonjour", "salut", "svp", "plait", "maintenant",
        "tout", "suite", "au", "votre",
    ),
)

GERMAN = Lexicon(
    nouns=(
        "mensch", "menschen", "echten menschen", "mitarbeiter", "mitarbeiterin", "mitarbeitern", "berater", "beraterin",
        "kundenberater", "kundenberaterin", "agent", "agenten", "person", "vertreter", "sachbearbeiter",
        "kundendienst", "kundenservice", "kundensupport",
    ),
    weak_nouns=("jemand", "jemandem", "jemanden"),
    talk_cues=(
        "sprechen", "reden", "verbinden", "verbinde", "verbindet", "weiterleiten", "durchstellen", "chatten",
        "kontaktieren", "erreichen",
    ),
    want_cues=("mochte", "will", "wollen", "brauche", "benotige", "hatte gern", "hatte gerne", "gibt es"),
    after_cues=("bitte", "sofort", "jetzt"),
    negations=("nicht", "kein", "keine", "keinen", "keinem", "keiner", "nie", "niemals", "ohne", "nein", "niemand"),
    identity=(
        "bist du {N}", "bist du ein {N}", "sind sie {N}", "sind sie ein {N}", "du bist {N}", "sie sind {N}",
        "spreche ich mit", "rede ich mit", "chatte ich mit", "ist das {N}", "ist das ein {N}",
    ),
    excluded=("pro person",),
    fillers=(
        "mit", "einem", "einer", "einen", "ein", "eine", "dem", "den", "der", "die", "das", "mich", "mir", "ich",
        "echten", "echter", "echte", "echtem", "richtigen", "bitte", "hallo", "jetzt", "sofort", "ihrem", "ihren", "gern", "gerne",
    ),
    verb_final=True,
)

INDONESIAN = Lexicon(
    nouns=(
        "manusia", "manusia asli", "orang asli", "orang sungguhan", "agen", "cs", "customer service", "petugas",
        "operator", "staf", "staff", "admin", "karyawan", "pegawai", "layanan pelanggan",
    ),
    weak_nouns=("orang", "seseorang"),
    talk_cues=(
        "bicara", "berbicara", "ngomong", "ngobrol", "hubungkan", "sambungkan", "sambungin", "hubungin", "transfer",
        "alihkan", "chat", "dihubungkan", "disambungkan",
    ),
    want_cues=("mau", "ingin", "pengen", "pingin", "minta", "butuh", "perlu", "panggil", "panggilkan", "ada"),
    after_cues=("tolong", "dong", "segera", "sekarang"),
    negations=("tidak", "tak", "bukan", "nggak", "ngga", "gak", "ga", "enggak", "engga", "ndak", "jangan", "tanpa", "gausah", "ogah"),
    identity=(
        "apakah kamu", "apakah anda", "apa kamu", "apa anda", "kamu {N}", "anda {N}", "kau {N}", "km {N}",
        "kamu itu {N}", "ini {N}",
    ),
    excluded=("sumber daya manusia", "hak asasi manusia", "per orang", "orang tua"),
    fillers=(
        "dengan", "sama", "ke", "ama", "ya", "aja", "saja", "seorang", "yang", "asli", "sungguhan", "nyata", "saya",
        "aku", "gue", "gw", "dong", "deh", "halo", "hai", "segera", "sekarang", "sih", "kak", "min",
    ),
)

HINGLISH = Lexicon(
    nouns=(
        "insaan", "insan", "insaano", "aadmi", "admi", "banda", "bande", "vyakti", "agent", "human", "executive",
        "manager", "representative", "person", "staff", "customer care", "customer support", "customer service",
    ),
    weak_nouns=("kisi", "koi"),
    talk_cues=("baat", "bat", "connect", "transfer", "milao", "milwao", "jodo", "talk", "speak"),
    want_cues=(
        "chahiye", "chahie", "chaiye", "chahiya", "bulao", "bulaiye", "bulado", "karao", "karwao", "karwa", "karva",
        "karvao", "karado", "karwado", "karvado", "karni", "karna", "dijiye", "dedo", "mangta", "mangti",
    ),
    negations=("nahi", "nahin", "nhi", "nai", "nahii", "mat"),
    identity=(
        "aap {N} ho", "ap {N} ho", "tum {N} ho", "tu {N} hai", "aap {N} hai", "aap ek {N} ho", "tum ek {N} ho",
        "aap {N} hain", "baat kar raha", "baat kar rahi", "baat kar rahe", "chat kar raha", "chat kar rahi",
    ),
    fillers=(
        "se", "ko", "kisi", "koi", "ek", "mujhe", "muje", "mujhko", "humein", "hume", "hamein", "real", "asli",
        "sach", "ke", "ki", "ka", "saath", "sath", "hai", "he", "h", "ho", "please", "plz", "pls", "na", "zara",
        "jara", "jaldi", "bhai", "sir", "ji", "abhi", "yaar",
    ),
    verb_final=True,
)

HINDI = Lexicon(
    nouns=(
        "इंसान", "इन्सान", "मनुष्य", "व्यक्ति", "एजेंट", "एजेन्ट", "कर्मचारी", "प्रतिनिधि", "अधिकारी", "मैनेजर", "आदमी",
        "मानव", "ह्यूमन", "ग्राहक सेवा", "कस्टमर केयर",
    ),
    weak_nouns=("किसी", "कोई"),
    talk_cues=("बात", "जोड़ो", "जोड़िए", "जोड़ें", "जोड़ दो", "कनेक्ट", "ट्रांसफर", "मिलाओ", "मिलाइए"),
    want_cues=("चाहिए", "कराओ", "कराइए", "करवाओ", "करवाइए", "करवा", "करा", "बुलाओ", "बुलाइए", "दीजिए", "करनी", "करना"),
    negations=("नहीं", "नही", "मत", "न"),
    identity=(
        "आप {N} हैं", "आप {N} हो", "तुम {N} हो", "आप एक {N} हैं", "तुम एक {N} हो", "बात कर रहा", "बात कर रही", "बात कर रहे",
    ),
    fillers=("से", "को", "किसी", "कोई", "एक", "मुझे", "हमें", "असली", "के", "की", "का", "साथ", "है", "हैं", "हो", "ज़रा", "कृपया", "अभी", "जी"),
    verb_final=True,
)

ARABIC = Lexicon(
    nouns=(
        "إنسان", "بشري", "موظف", "موظفة", "شخص", "شخص حقيقي", "وكيل", "ممثل", "مسؤول", "مسئول", "مشرف", "بني آدم",
        "خدمة العملاء", "موظف خدمة العملاء",
    ),
    weak_nouns=("حد", "أحد"),
    talk_cues=(
        "أتكلم", "اتكلم", "أتحدث", "تحدث", "التحدث", "أكلم", "كلم", "كلمني", "تكلم", "حولني", "حوّلني", "تحويل", "وصلني",
        "أوصلني", "اربطني", "ربطني", "تواصل", "أتواصل", "التواصل",
    ),
    want_cues=(
        "أريد", "اريد", "أود", "ابغى", "ابغي", "ابي", "بدي", "عايز", "عاوز", "عايزة", "محتاج", "أحتاج", "أطلب", "يوجد", "فيه",
    ),
    after_cues=("فضلك", "سمحت", "الآن", "حالا"),
    negations=("لا", "ليس", "لست", "مش", "مو", "مب", "بدون", "لن", "لم", "ما", "موش"),
    identity=("أنت {N}", "انت {N}", "إنت {N}", "انتي {N}", "حضرتك {N}", "هل أتكلم مع", "هل أتحدث مع", "هذا {N}"),
    excluded=("الموارد البشرية", "حقوق الإنسان"),
    fillers=("مع", "إلى", "الى", "أنا", "لي", "واحد", "حقيقي", "من", "فضلك", "لو", "سمحت", "يا", "هل", "مرحبا", "الآن"),
)

LANGUAGES = {
    "en": ENGLISH, "es": SPANISH, "pt": PORTUGUESE, "fr": FRENCH, "de": GERMAN, "id": INDONESIAN,
    "hi-latn": HINGLISH, "hi": HINDI, "ar": ARABIC,
}  # fmt: skip

# What a customer wants away from: a negation aimed at one of these ("not a bot, a human") does
# not cancel the request.
BOT_WORDS = (
    "bot", "bots", "robot", "robots", "chatbot", "ai", "machine", "computer", "automated", "maquina", "robo",
    "roboter", "maschine", "mesin", "बॉट", "रोबोट", "मशीन", "روبوت", "بوت", "آلي",
)

# Spoken-English questions that are requests even though they carry a negation: "can't you get
# me a human?", "why won't you transfer me?" (rewritten to "can you …" before matching).
NEGATIVE_QUESTIONS = ("can", "could", "would", "won")

# Where one clause ends and the next begins: "I don't want a bot but a human" asks for a human.
CLAUSE_BREAKS = ("but", "pero", "mas", "mais", "aber", "sondern", "tapi", "lekin", "magar", "लेकिन", "मगर", "لكن", "however")
