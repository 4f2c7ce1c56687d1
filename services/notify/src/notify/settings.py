"""Settings of the notify service (env prefix YUI_NOTIFY_, shared YUI_ also read)."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict
from yui_common.settings import CommonSettings


class Settings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="YUI_NOTIFY_", extra="ignore")
    service_name: ClassVar[str] = "notify"
    worker_metrics_port: int = 9105

    # Outgoing mail (make run starts a local catcher on this port).
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    mail_from: str = "Yui <no-reply@yui.localhost>"
    # How often the worker looks for e-mails to send and digests that are due.
    email_interval_s: float = 1.0
    digest_interval_s: float = 60.0
    retention_interval_s: float = 3600.0
    # Digest hours are the network's local time.
    timezone: str = "Asia/Tokyo"

    # Live stream: a comment this often keeps proxies from closing an idle connection.
    stream_heartbeat_s: float = 15.0
