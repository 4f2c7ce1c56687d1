"""Settings of the portal service (env prefix YUI_PORTAL_, shared YUI_ also read)."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict
from yui_common.settings import CommonSettings


class Settings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="YUI_PORTAL_", extra="ignore")
    service_name: ClassVar[str] = "portal"
    worker_metrics_port: int = 9104
