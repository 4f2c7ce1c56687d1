"""Settings of the consent service (env prefix YUI_CONSENT_, shared YUI_ also read)."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict
from yui_common.settings import CommonSettings


class Settings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="YUI_CONSENT_", extra="ignore")
    service_name: ClassVar[str] = "consent"
    worker_metrics_port: int = 9102
    # Services that must report back before a withdrawal cascade counts as complete.
    cascade_participants: tuple[str, ...] = ("timeline", "notify", "federation")
    # What the network decided a withdrawal does to shared data: "stop" (支援中止) or "delete".
    # The default for networks consent holds no rules for (the network table wins; identity owns networks).
    withdrawal_mode: str = "stop"
    consent_form_max_bytes: int = 20 * 1024 * 1024
    # Where the gateway publishes this API: links handed to clients are relative to it (deploy/gateway).
    public_path: str = "/api/consent"
    # How often the worker ends exceptional grants whose time is up (C5).
    exceptional_access_sweep_interval_s: float = 5.0
    # How often the worker measures incomplete withdrawal cascades for /metrics (the alert waits 5 minutes).
    cascade_gauge_interval_s: float = 15.0
