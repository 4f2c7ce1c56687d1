"""Settings of the federation service (env prefix YUI_FEDERATION_, shared YUI_ also read)."""

from functools import cache
from typing import ClassVar

from pydantic_settings import SettingsConfigDict
from yui_common.settings import CommonSettings


class Settings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="YUI_FEDERATION_", extra="ignore")
    service_name: ClassVar[str] = "federation"
    worker_metrics_port: int = 9106

    # Where peers reach this deployment's federation endpoints (/federation/v1/…, /.well-known/yui-federation):
    # the gateway's origin. A network's `source` is `<base_url>/networks/<tenant>`. Empty: the public URL.
    base_url: str = ""

    # How long a message may have been signed before (or after) our clock, either way.
    clock_skew_s: float = 300.0
    # A retired key stays published (state `retiring`) this long: every message signed with it and still being
    # retried is accepted until then. At least the delivery's retry window.
    key_retry_window_s: float = 86400.0
    # A new key is published (state `next`) this long before it signs, so peers' cached JWKS already hold it.
    key_publish_ahead_s: float = 3600.0
    # A peer's JWKS is kept this long; an unknown kid refetches it at most once per peer per interval.
    peer_keys_cache_s: float = 300.0
    peer_keys_refetch_interval_s: float = 30.0

    # Delivery to peers: the worker's sweep interval, retry back-off (exponential with jitter), request timeout.
    delivery_interval_s: float = 0.5
    delivery_backoff_initial_s: float = 1.0
    delivery_backoff_max_s: float = 300.0
    request_timeout_s: float = 10.0
    # Mutual TLS towards peers: this deployment's client certificate and key (PEM files, issued by its own CA).
    # The agreement's pinned CA certificate is the only trust for the peer's server certificate.
    client_cert_file: str | None = None
    client_key_file: str | None = None
    # This deployment's CA certificate (PEM file), sent in a proposal for the peer to pin. Without it the peer's
    # operator gives it when accepting.
    ca_cert_file: str | None = None
    # CA certificates (one PEM bundle) of peer deployments the operators exchanged out of band: the gateway's peer
    # port admits their client certificates before an agreement pins them, so their first proposal can arrive.
    introduced_ca_file: str | None = None
    # Where the worker writes the CAs the gateway's peer port trusts (federation.peer_trust), and the nginx whose
    # master it then signals to reload (make run; compose's gateway watches the file itself).
    gateway_peer_ca_file: str | None = None
    gateway_nginx_pid_file: str | None = None
    peer_ca_publish_interval_s: float = 2.0
    # Tests of crash recovery only: the receiver exits the process right after committing the message whose id
    # this names, before it answers (tests/federation, fed5). Never set in a deployment.
    crash_after_commit_of: str | None = None

    # This deployment's timeline API (internal): a referral's reads and posts, under a grant federation signs.
    timeline_url: str = "http://127.0.0.1:8103"
    # A peer network's facilities (for the referral form) are kept this long.
    directory_cache_s: float = 300.0
    # How often the peer side drops what it cached of referred subjects beyond the agreement's cache limit (or
    # past the referral's period).
    cache_expiry_interval_s: float = 60.0

    @property
    def federation_base_url(self) -> str:
        return (self.base_url or self.public_url).rstrip("/")

    def network_source(self, tenant: str) -> str:
        """The CloudEvents `source` naming one of this deployment's networks."""
        return f"{self.federation_base_url}/networks/{tenant}"


@cache
def current_settings() -> Settings:
    """The process's settings, for a consumer of the bus (its handlers are given no settings)."""
    return Settings()
