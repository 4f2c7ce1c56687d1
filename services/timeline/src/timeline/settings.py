"""Settings of the timeline service (env prefix YUI_TIMELINE_, shared YUI_ also read)."""

from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import SettingsConfigDict
from yui_common.settings import CommonSettings


class NetworkPolicy(BaseModel):
    """What a network's terms of use decide for its timeline."""

    max_upload_bytes: int = 100 * 1024 * 1024
    # Five years from the day of posting (To19, Ni15).
    retention_years: int = 5


class Settings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="YUI_TIMELINE_", extra="ignore")
    service_name: ClassVar[str] = "timeline"
    worker_metrics_port: int = 9103

    # Per network (tenant) overrides, e.g. YUI_TIMELINE_NETWORK_POLICIES='{"koga": {"retention_years": 10}}'.
    network_policies: dict[str, NetworkPolicy] = Field(default_factory=dict)
    default_network_policy: NetworkPolicy = NetworkPolicy()

    # The service's Ed25519 key that signs every post version and attachment (T5): a PEM secret file in
    # production; `make run` and tests generate one at the default path when it is missing.
    signing_key_file: Path = Path(".run/timeline-signing-key.pem")
    signing_key_pem: SecretStr | None = None
    signing_key_create_if_missing: bool = True

    # Where the gateway serves this API: download links are relative to it (never to the object store).
    public_path: str = "/api/timeline"
    thumbnail_max_px: int = 320
    # Images larger than this are refused from their header, before decoding (a 40 MP photo decodes to 120 MB).
    max_image_pixels: int = 40_000_000
    # Office documents (zip archives) are refused beyond these, read from the archive's directory.
    office_max_members: int = 10_000
    office_max_uncompressed_bytes: int = 512 * 1024 * 1024
    office_max_compression_ratio: int = 100
    retention_interval_s: float = 3600.0
    # The sweep of stored objects no attachment row references (an upload whose process died before its
    # commit). The grace period must exceed the longest time between an upload's bytes and its commit.
    upload_sweep_interval_s: float = 3600.0
    upload_sweep_grace_s: float = 3600.0

    # Federation's published keys: they sign the grants of a peer network's reads and posts (issue 12).
    federation_jwks_url: str = "http://127.0.0.1:8106/.well-known/yui-federation"

    def policy_for(self, tenant: str) -> NetworkPolicy:
        return self.network_policies.get(tenant, self.default_network_policy)
