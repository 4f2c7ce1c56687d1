"""Settings of the identity service (env prefix YUI_IDENTITY_, shared YUI_ also read), certificates included."""

from functools import cache
from pathlib import Path
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
    federation_url: str = "http://127.0.0.1:8106"
    audit_search_timeout_s: float = 10.0
    # Sign-in throttling (finding 2 of issue 14). Per login ID: from the network's lockout_threshold on, each
    # failure makes the next attempt wait 2, 4, 8 … seconds, never longer than this cap (it ends by itself).
    sign_in_backoff_cap_s: int = 900
    # Per client address (as the gateway reports it): this many failed sign-ins in one window, whatever the
    # login IDs, and the address's further attempts are refused until the window ends.
    sign_in_address_failure_limit: int = 30
    sign_in_address_window_s: int = 900
    # Operators type and read times in the network's local time; the services store UTC.
    timezone: str = "Asia/Tokyo"
    # Revocations (finding 1 of issue 14): the services whose deny lists must hold a suspension, a closed
    # facility, an ended session or a revoked certificate before identity answers the request that made it
    # (each acknowledges through its outbox), and how long that request waits for them before answering 202.
    revocation_participants: tuple[str, ...] = ("consent", "timeline", "notify", "portal", "federation")
    revocation_wait_s: float = 5.0
    revocation_poll_interval_s: float = 0.01

    # --- client certificates: the CA, access codes, the CRL for the gateway (identity.certificates) ---------
    # Encrypts the CA's private key at rest. The default is for `make run` only; deployments set their own.
    ca_key_passphrase: str = "yui-dev-ca-passphrase"  # noqa: S105
    access_code_valid_hours: float = 72.0
    access_code_attempts: int = 5
    client_certificate_valid_days: int = 730
    # nginx refuses every client certificate once the CRL's nextUpdate has passed: publish long before that.
    crl_valid_hours: float = 168.0
    crl_republish_hours: float = 24.0
    # Where the identity worker writes the CA and the CRL for the gateway, and the pid file of the nginx it
    # signals to reload them (see deploy/gateway/README.md). Unset: the worker publishes nothing.
    gateway_ca_file: Path | None = None
    gateway_crl_file: Path | None = None
    gateway_nginx_pid_file: Path | None = None
    crl_poll_interval_s: float = 1.0


@cache
def environment_settings() -> Settings:
    """The settings as the environment gives them, read once per process: for the certificate code, which
    the API, the worker's CRL job and the command line all call without a Settings of their own."""
    return Settings()
