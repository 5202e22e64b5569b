"""Voice notes on the `stt` queue: transcribing what the customer said, voicing our reply."""

# Payload dataclasses keep real (not string) annotations: Temporal resolves their type hints
# on every payload it decodes, and string annotations turn that into an eval each time.
import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.heartbeats import heartbeating
from voice.media_store import MediaStore
from voice.stt import AudioRejected, Transcriber
from voice.tts import SpeechFailed, Synthesizer

# One thread does the speech work: two transcriptions at once on 2 cores each take twice as
# long, and the queue in front of this thread is Temporal's, visible and bounded.
_SPEECH_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="speech")


@dataclass
class TranscribeAudioInput:
    tenant_id: str
    path: str  # in the media store (download_media's result)
    language: str | None = None  # the conversation's language so far: a hint, None to detect


@dataclass
class TranscribeAudioResult:
    text: str  # "" when the note holds no speech
    language: str
    duration: float


@dataclass
class SynthesizeSpeechInput:
    tenant_id: str
    text: str
    key: str  # the reply's idempotency key: names the file, so a retry reuses it
    language: str | None = None


@dataclass
class SynthesizeSpeechResult:
    path: str
    mime_type: str
    engine: str


class VoiceActivities:
    def __init__(self, store: MediaStore, transcriber: Transcriber, synthesizer: Synthesizer) -> None:
        self._store = store
        self._transcriber = transcriber
        self._synthesizer = synthesizer

    def warm_up(self) -> None:
        """Loads the speech model now (blocking), so a broken set-up stops the worker at start."""
        self._transcriber.model()

    async def _in_speech_thread(self, fn, *args):
        loop = asyncio.get_running_loop()
        async with heartbeating(lambda: "working"):
            return await loop.run_in_executor(_SPEECH_THREAD, fn, *args)

    @activity.defn
    async def transcribe_audio(self, input: TranscribeAudioInput) -> TranscribeAudioResult:
        path = Path(input.path)
        if not self._store.contains(path):
            raise ApplicationError("the audio is not in the media store", type="InvalidInput", non_retryable=True)
        if not path.is_file():
            # Downloaded by a conversation worker: this worker does not share its media directory.
            raise ApplicationError(
                f"{path} is not on this worker; conversation and stt workers must share FRONTDESK_MEDIA_DIR",
                type="MediaMissing",
                non_retryable=True,
            )
        try:
            transcript = await self._in_speech_thread(self._transcriber.transcribe, path, input.language)
        except AudioRejected as exc:
            raise ApplicationError(str(exc), type="AudioRejected", non_retryable=True) from exc
        return TranscribeAudioResult(text=transcript.text, language=transcript.language, duration=transcript.duration)

    @activity.defn
    async def synthesize_speech(self, input: SynthesizeSpeechInput) -> SynthesizeSpeechResult:
        try:
            out = self._store.outbound_path(input.tenant_id, input.key, ".ogg")
        except ValueError:
            raise ApplicationError("tenant_id must be a UUID", type="InvalidInput", non_retryable=True) from None
        try:
            speech = await self._in_speech_thread(self._synthesizer.synthesize, input.text, input.language, out)
        except SpeechFailed as exc:
            raise ApplicationError(str(exc), type="SpeechFailed", non_retryable=True) from exc
        return SynthesizeSpeechResult(path=str(speech.path), mime_type=speech.mime_type, engine=speech.engine)
