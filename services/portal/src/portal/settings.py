"""Settings of the portal service (env prefix YUI_PORTAL_, shared YUI_ also read)."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict
from yui_common.settings import CommonSettings


class Settings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="YUI_PORTAL_", extra="ignore")
    service_name: ClassVar[str] = "portal"
    worker_metrics_port: int = 9104

    # The services the staff UI calls (backend-for-frontend), straight to their APIs, not via the gateway.
    identity_url: str = "http://127.0.0.1:8101"
    consent_url: str = "http://127.0.0.1:8102"
    timeline_url: str = "http://127.0.0.1:8103"
    notify_url: str = "http://127.0.0.1:8105"
    federation_url: str = "http://127.0.0.1:8106"
    # Encrypts the staff session cookie; empty means a random key per process (sessions end at a restart).
    staff_session_key: str = ""
    staff_session_max_hours: int = 12
