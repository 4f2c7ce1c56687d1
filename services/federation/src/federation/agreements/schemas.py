"""HTTP models of agreements."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from yui_common.vocabulary import PostCategory, Profession

# What a peer's staff may be shown: the timeline's post categories and the subject's record sections.
RecordSection = Literal["vitals", "summary", "medications"]
DATA_CATEGORIES: tuple[str, ...] = (*get_args(PostCategory), *get_args(RecordSection))
DataCategory = PostCategory | RecordSection
AgreeableType = Literal["yui.federation.audit-head.v1", "yui.federation.referral.v1"]

HOME, PEER = "home", "peer"
PROPOSED, ACCEPTED, SUSPENDED, ENDED = "proposed", "accepted", "suspended", "ended"


class AgreementCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The peer deployment's federation base URL (its gateway's origin) and the peer network's `source`.
    peer_base_url: str = Field(
        pattern=r"^https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~\-/]*)?$", max_length=300
    )
    peer_source: str = Field(min_length=1, max_length=500)
    # The peer deployment's CA certificate (PEM), pinned: the only trust for its TLS certificates.
    peer_ca_pem: str = Field(min_length=1, max_length=20000)
    event_types: list[AgreeableType] = Field(default_factory=list, max_length=20)
    # Which of the peer's professions may see which data categories.
    professions: dict[Profession, list[DataCategory]] = Field(default_factory=dict)
    cache_limit_hours: int = Field(ge=0, le=24 * 90)


class AgreementAccept(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The proposer's CA certificate, when the proposal did not carry one (or to confirm it: must then match).
    peer_ca_pem: str | None = Field(default=None, min_length=1, max_length=20000)


class AgreementRead(BaseModel):
    id: UUID
    network_source: str  # this side's network
    side: Literal["home", "peer"]
    state: Literal["proposed", "accepted", "suspended", "ended"]
    peer_source: str
    peer_base_url: str
    peer_ca_sha256: str | None
    event_types: list[str]
    professions: dict[str, list[str]]
    cache_limit_hours: int
    governing_terms: str
    created_at: datetime
    state_changed_at: datetime
