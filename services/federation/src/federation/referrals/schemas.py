"""HTTP models of referrals."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from yui_common.vocabulary import PostCategory


class Facility(BaseModel):
    id: UUID
    name: str


class ReferralOption(BaseModel):
    """An agreement this network may refer the subject under: the peer network, its facilities, what may be shared."""

    agreement_id: UUID
    peer_network_name: str
    facilities: list[Facility]
    categories: list[str]
    reachable: bool = True  # False when the peer's directory could not be fetched just now


class ReferralCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject_id: UUID
    agreement_id: UUID
    facility_id: UUID
    purpose: str = Field(min_length=1, max_length=2000)
    starts_on: date
    ends_on: date
    # The timeline's post categories (the record's sections are not shared through a referral).
    categories: list[PostCategory] = Field(min_length=1, max_length=20)
    # The consent that covers sharing with the peer: the subject's own, or a proxy's (代諾).
    consent_basis: Literal["consent", "proxy"] = "consent"


class PersonLabel(BaseModel):
    name: str
    profession: str
    facility_name: str


class ReferralRead(BaseModel):
    id: UUID
    side: Literal["home", "peer"]
    state: Literal["active", "ended", "withdrawn"]
    subject_name: str
    subject_name_kana: str | None
    home_network_name: str
    peer_network_name: str
    facility_name: str
    purpose: str
    starts_on: date
    ends_on: date
    categories: list[str]
    consent_basis: str
    referred_by: PersonLabel
    created_at: datetime
    ended_at: datetime | None
    withdrawn_at: datetime | None
    acknowledged_at: datetime | None
    # home side: the peer's acknowledgement (what it purged, its audit head)
    acknowledgement: dict[str, object] | None = None


class SharedPost(BaseModel):
    id: UUID
    parent_id: UUID | None
    category: str
    body: str
    created_at: datetime
    updated_at: datetime | None
    author: dict[str, object]
    # 既読: who at home (or at a peer) read it, and whether the asking user has.
    read_by: list[dict[str, object]] = Field(default_factory=list)
    read_by_me: bool = False
    replies: list[SharedPost] = Field(default_factory=list)


class SharedTimeline(BaseModel):
    referral: ReferralRead
    posts: list[SharedPost]
    categories: list[str]
    from_cache: bool = False
    fetched_at: datetime


class SharedPostCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: PostCategory = "other"
    body: str = Field(min_length=1, max_length=20000)
    parent_id: UUID | None = None
