"""Fixed messages the platform itself sends (not the model): a hand-over, a confirmation that
expired. Fixed, so they are said even when every model is down, and in the customer's language
when we know it (the conversation's language code; Hinglish is "hi-Latn")."""

from __future__ import annotations

_NOTICES: dict[str, dict[str, str]] = {
    "handoff": {
        "en": "I'm bringing in a person from our team. They will reply here as soon as they can.",
        "hi": "मैं हमारी टीम के एक सदस्य को बुला रहा हूँ। वे जल्द से जल्द यहीं जवाब देंगे।",
        "hi-Latn": "Main hamari team ke ek member ko bula raha hoon. Woh jaldi se jaldi yahin reply karenge.",
        "es": "Voy a pasar tu conversación a una persona de nuestro equipo. Te responderá aquí lo antes posible.",
        "pt": "Vou chamar uma pessoa da nossa equipe. Ela responderá aqui assim que possível.",
        "fr": "Je fais appel à une personne de notre équipe. Elle vous répondra ici dès que possible.",
        "de": "Ich hole eine Person aus unserem Team dazu. Sie antwortet hier so bald wie möglich.",
        "id": "Saya akan menghubungkan Anda dengan anggota tim kami. Mereka akan membalas di sini secepatnya.",
        "ar": "سأحوّل محادثتك إلى أحد أعضاء فريقنا، وسيرد عليك هنا في أقرب وقت ممكن.",
    },
    "confirmation_expired": {
        "en": "I didn't get a yes from you, so I haven't gone ahead. Just ask again if you still want it.",
        "hi": "मुझे आपकी ओर से हाँ नहीं मिली, इसलिए मैंने यह नहीं किया। अगर आप अब भी चाहते हैं तो फिर से बताइए।",
        "hi-Latn": "Mujhe aapki taraf se haan nahi mila, isliye maine yeh nahi kiya. Agar aap ab bhi chahte hain to phir se bataiye.",
        "es": "No recibí tu confirmación, así que no he hecho nada. Pídemelo de nuevo si todavía lo quieres.",
        "pt": "Não recebi sua confirmação, então não fiz nada. Peça de novo se ainda quiser.",
        "fr": "Je n'ai pas reçu votre confirmation, donc je n'ai rien fait. Redemandez-moi si vous le souhaitez toujours.",
        "de": "Ich habe keine Bestätigung bekommen und daher nichts ausgeführt. Fragen Sie einfach noch einmal, wenn Sie es noch möchten.",
        "id": "Saya tidak menerima konfirmasi, jadi saya belum melakukannya. Silakan minta lagi jika masih diperlukan.",
        "ar": "لم يصلني تأكيد منك، لذلك لم أنفّذ الطلب. اطلبه مرة أخرى إن كنت لا تزال تريده.",
    },
    # A product name the customer may have misspelt: {written} and {product} are filled in.
    "product_check": {
        "en": 'Just to be sure: by "{written}" do you mean our "{product}"?',
        "hi": 'बस पक्का करने के लिए: "{written}" से क्या आपका मतलब हमारे "{product}" से है?',
        "hi-Latn": 'Bas confirm karne ke liye: "{written}" se kya aapka matlab hamare "{product}" se hai?',
        "es": 'Solo para confirmar: ¿con "{written}" te refieres a nuestro "{product}"?',
        "pt": 'Só para confirmar: com "{written}" você quer dizer o nosso "{product}"?',
        "fr": 'Juste pour être sûr : par « {written} », voulez-vous dire notre « {product} » ?',
        "de": 'Nur zur Sicherheit: Meinen Sie mit „{written}“ unser „{product}“?',
        "id": 'Sekadar memastikan: apakah "{written}" yang Anda maksud adalah "{product}" kami?',
        "ar": 'للتأكد فقط: هل تقصد بـ "{written}" منتجنا "{product}"؟',
    },
}


def notice(kind: str, language: str | None) -> str:
    """The notice in `language` ("hi", "hi-Latn", "es-MX" → "es"), else in English."""
    texts = _NOTICES[kind]
    if language == "hinglish":  # agent/language.py's code for Hindi written in Latin script
        language = "hi-Latn"
    if language in texts:
        return texts[language]
    base = (language or "en").split("-")[0].lower()
    return texts.get(base, texts["en"])
