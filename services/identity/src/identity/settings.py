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
