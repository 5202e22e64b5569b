"""The conversation workflow's voice steps: a customer's voice note downloaded and transcribed
(its words replace the note's text), and a reply spoken back. A mixin of ConversationWorkflow."""

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from activities.media import DownloadMediaInput, MediaActivities
    from activities.messages import MessageActivities, RecordTranscriptInput
    from activities.voice import SynthesizeSpeechInput, TranscribeAudioInput, VoiceActivities
    from channels.base import Attachment, InboundMessage, OutboundMedia
    from workflows import policies
    from workflows.agent_turn import failure_reason
    from workflows.conversation_types import ConversationInput, ConversationState
    from workflows.steps import database_step

VOICE_KINDS = frozenset({"voice", "audio"})
# What the model reads (and the history keeps) for a note nobody could hear: it then says so
# honestly instead of guessing.
UNTRANSCRIBED = "[voice note could not be transcribed]"


class VoiceSteps:
    _input: ConversationInput
    _state: ConversationState

    async def _transcribe(self, message: InboundMessage, index: int, audio: Attachment) -> str | None:
        """Downloads and transcribes a voice note and writes its words back to the message.
        Returns the language to voice the reply in, when the account answers voice with voice;
        a note that cannot be heard leaves the UNTRANSCRIBED marker for the model to answer."""
        inp = self._input
        record = RecordTranscriptInput(
            tenant_id=inp.tenant_id,
            channel_account_id=inp.channel_account_id,
            external_id=message.external_id,
            text=UNTRANSCRIBED,
        )
        try:
            media = await workflow.execute_activity_method(
                MediaActivities.download_media,
                DownloadMediaInput(inp.tenant_id, inp.channel_account_id, message.external_id, audio, index),
                start_to_close_timeout=policies.MEDIA_TIMEOUT,
                retry_policy=policies.MEDIA_RETRY,
            )
            record.audio_path = media.path
            heard = await workflow.execute_activity_method(
                VoiceActivities.transcribe_audio,
                TranscribeAudioInput(tenant_id=inp.tenant_id, path=media.path, language=self._state.language),
                task_queue=inp.stt_task_queue or workflow.info().task_queue,
                start_to_close_timeout=policies.STT_TIMEOUT,
                schedule_to_close_timeout=policies.STT_SCHEDULE_TO_CLOSE,
                heartbeat_timeout=policies.STT_HEARTBEAT_TIMEOUT,
                retry_policy=policies.STT_RETRY,
            )
        except FailureError as err:
            record.error = failure_reason(err)
            workflow.logger.warning("voice note not transcribed", extra={"reason": record.error})
        else:
            record.language, record.duration = heard.language, heard.duration
            if heard.text.strip():
                record.text = heard.text.strip()
                self._state.language = heard.language
            else:
                record.error = "no speech heard"
        message.text = record.text
        stored = await database_step(MessageActivities.record_transcript, record)
        return record.language if stored.voice_replies and record.error is None else None

    async def _voice(self, text: str, language: str, key: str) -> OutboundMedia | None:
        """The reply as a voice note; None (the text goes alone) when it cannot be made."""
        try:
            speech = await workflow.execute_activity_method(
                VoiceActivities.synthesize_speech,
                SynthesizeSpeechInput(tenant_id=self._input.tenant_id, text=text, key=key, language=language),
                task_queue=self._input.stt_task_queue or workflow.info().task_queue,
                start_to_close_timeout=policies.TTS_TIMEOUT,
                schedule_to_close_timeout=policies.TTS_SCHEDULE_TO_CLOSE,
                heartbeat_timeout=policies.STT_HEARTBEAT_TIMEOUT,
                retry_policy=policies.TTS_RETRY,
            )
        except FailureError as err:
            workflow.logger.warning("voice reply not synthesised, sending text", extra={"reason": failure_reason(err)})
            return None
        return OutboundMedia(kind="voice", path=speech.path, mime_type=speech.mime_type)


def voice_note(message: InboundMessage) -> tuple[int, Attachment] | None:
    """The audio attachment (and its index) of a voice note; None for any other message."""
    if message.kind not in VOICE_KINDS:
        return None
    for index, attachment in enumerate(message.attachments):
        if attachment.kind in VOICE_KINDS or (attachment.mime_type or "").startswith("audio/"):
            return index, attachment
    return None
