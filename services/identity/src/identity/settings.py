"""Settings of the identity service (env prefix YUI_IDENTITY_, shared YUI_ also read)."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict
from yui_common.settings import CommonSettings


class Settings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="YUI_IDENTITY_", extra="ignore")
    service_name: ClassVar[str] = "identity"
    worker_metrics_port: int = 9101
    access_token_ttl_s: int = 900
    # The name authenticator apps show beside the six digits.
    totp_issuer: str = "Yui 結"
    # The admin's audit search asks each service's API directly (S2), inside the deployment, not the gateway.
    consent_url: str = "http://127.0.0.1:8102"
    timeline_url: str = "http://127.0.0.1:8103"
    portal_url: str = "http://127.0.0.1:8104"
    notify_url: str = "http://127.0.0.1:8105"
    audit_search_timeout_s: float = 10.0
    # Operators type and read times in the network's local time; the services store UTC.
    timezone: str = "Asia/Tokyo"
