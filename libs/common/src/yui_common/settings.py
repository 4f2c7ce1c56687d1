"""CommonSettings: configuration every service shares, read by pydantic-settings only."""

from __future__ import annotations

from functools import cached_property
from typing import Any, ClassVar

from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict


class CommonSettings(BaseSettings):
    """Settings of one service process.

    A subclass sets ``service_name`` and ``env_prefix`` (``YUI_<SVC>_``); every field can also be given
    through the shared prefix ``YUI_``, and the service-specific variable wins over the shared one.
    """

    service_name: ClassVar[str] = "common"

    # PostgreSQL: one server, one database per service.
    postgres_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432"
    database_prefix: str = "yui_"
    database_url: str | None = None  # a full override for this one service
    database_pool_size: int = 10
    database_max_overflow: int = 10

    # RabbitMQ
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    exchange: str = "yui.events"
    consumer_prefetch: int = 64
    # Messages that arrive together commit together (each still inbox-claimed); 1 turns batching off. As many
    # as the prefetch: one batch can take every delivery in flight, batches commit in delivery order and one
    # ack(multiple) settles each (at 32 of 64, two batches committed out of order and most acks went one by
    # one; issue 13's bench went from 0.6 to 1.0 of the hand-written outbox).
    consumer_batch_max: int = 64
    # Batches in flight at once per queue: another starts for a full batch waiting, or for messages a busy
    # batch has left waiting 20 ms (a slow handler holds up the others no longer than that).
    consumer_concurrency: int = 4
    delivery_limit: int = 5
    retry_delays_ms: tuple[int, ...] = (1000, 5000, 30000)

    # S3-compatible object storage
    s3_endpoint: str = "127.0.0.1:8333"
    s3_access_key: str = "yui-dev"
    s3_secret_key: str = "yui-dev-secret"  # noqa: S105 - local development default only
    s3_secure: bool = False
    s3_region: str = "us-east-1"

    # identity's JWKS, for verifying access tokens
    jwks_url: str = "http://127.0.0.1:8101/.well-known/jwks.json"
    token_issuer: str = "yui-identity"  # noqa: S105 - a name, not a secret
    token_audience: str = "yui"  # noqa: S105 - a name, not a secret

    # telemetry
    otel_exporter_otlp_endpoint: str | None = None
    log_level: str = "INFO"

    # where people reach Yui
    public_url: str = "https://localhost:8443"
    default_tenant: str = "demo"

    # the outbox relay
    outbox_batch_size: int = 500
    outbox_poll_interval_s: float = 1.0

    # The audit seal (yui_common.audit_seal): how often the worker seals the log, the service's Ed25519 key
    # (PEM) that signs each seal head, and how long the store keeps the exported heads locked.
    audit_seal_interval_s: float = 1.0
    audit_key_file: str | None = None
    audit_seal_retention_days: int = 3650

    worker_metrics_port: int = 0
    worker_metrics_host: str = "127.0.0.1"
    # Addresses whose X-Forwarded-* headers uvicorn trusts: the gateway's (a pod or compose network in containers).
    forwarded_allow_ips: str = "127.0.0.1"
    # Server-rendered pages: check each template's file for changes on every render (while editing them).
    # Off in deployments: the checks were 4.5 % of a staff page's rendering (issue 13).
    templates_auto_reload: bool = False

    model_config = SettingsConfigDict(env_prefix="YUI_", extra="ignore")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The subclass's own prefix (YUI_<SVC>_) first, then the shared YUI_ prefix.
        shared = EnvSettingsSource(settings_cls, env_prefix="YUI_")
        return (init_settings, env_settings, shared, dotenv_settings, file_secret_settings)

    @cached_property
    def database_name(self) -> str:
        return f"{self.database_prefix}{self.service_name}"

    @property
    def dsn(self) -> str:
        """The SQLAlchemy URL of this service's own database."""
        if self.database_url:
            return self.database_url
        return f"{self.postgres_url.rstrip('/')}/{self.database_name}"

    @property
    def s3_bucket(self) -> str:
        return f"{self.database_prefix.replace('_', '-')}{self.service_name}"

    @property
    def audit_seal_bucket(self) -> str:
        """Where every service's signed seal heads go: one bucket beside the services' own, object-locked."""
        return f"{self.database_prefix.replace('_', '-')}audit-seals"

    def engine_options(self) -> dict[str, Any]:
        return {
            "pool_size": self.database_pool_size,
            "max_overflow": self.database_max_overflow,
            "pool_pre_ping": True,
        }
