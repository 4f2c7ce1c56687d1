"""The audit search by name: a patient's or a user's typed name turned into the ids the services filter by, and
each result's actor, facility, subject and target shown by name instead of by id (issue 10).

Patients' names come from consent (operator-only ``GET /subjects/lookup`` and ``POST /subjects/names``, asked
with the operator's own token, so consent decides and audits); users and facilities are identity's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.audit_api import AuditEntryRead
from yui_common.auth import Principal
from yui_common.people import UNKNOWN_NAME
from yui_common.web import local_time, translate

from identity.admin import repository
from identity.audit_search.service import AuditForm, AuditSources, ServiceUnansweredError
from identity.people.service import person_ref

TARGET_KINDS = ("user", "facility", "subject", "post", "reply", "attachment", "group", "notice", "terms",
                "suspension", "certificate", "session", "maintenance", "inquiry", "incident", "consent",
                "login", "network", "notification")  # fmt: skip


def as_uuid(value: str | None) -> UUID | None:
    try:
        return UUID(value) if value else None
    except ValueError:
        return None


@dataclass
class Choice:
    """One of several people a typed name matched: the id goes into the form, the label is what is shown."""

    id: str
    label: str


@dataclass
class NameResolution:
    """What the typed names became: chosen ids, or choices to make, or a note that nobody matched."""

    subject_choices: list[Choice] = field(default_factory=list)
    user_choices: list[Choice] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # catalogue keys
    subject_label: str | None = None
    user_label: str | None = None

    @property
    def ready(self) -> bool:
        """The services can be asked: every typed name stands for exactly one person."""
        return not (self.subject_choices or self.user_choices or self.notes)


def _narrowed(form: AuditForm, **ids: str) -> None:
    form.values.update(ids)
    form.audit_filter = form.audit_filter.model_copy(update=ids)


async def resolve_names(
    sources: AuditSources, session: AsyncSession, principal: Principal, form: AuditForm, lang: str
) -> NameResolution:
    """Turn ``subject_name`` and ``user_name`` into ``subject_id`` and ``user_id`` (an id already chosen from
    the choices wins over the name it was chosen for)."""
    resolution = NameResolution()
    subject_name, subject_id = form.values.get("subject_name", ""), form.values.get("subject_id", "")
    if subject_name and not subject_id:
        try:
            found = await sources.subjects_named(subject_name)
        except ServiceUnansweredError:
            resolution.notes.append("audit.name.consent_unanswered")
            found = None
        if found == []:
            resolution.notes.append("audit.name.subject_not_found")
        elif found and len(found) == 1:
            _narrowed(form, subject_id=found[0]["id"])
            resolution.subject_label = f"{found[0]['name']}（{found[0]['name_kana']}）"
        elif found:
            resolution.subject_choices = [Choice(s["id"], f"{s['name']}（{s['name_kana']}）") for s in found]
    elif subject_id:
        with_names = await _subject_names(sources, [subject_id])
        resolution.subject_label = with_names.get(subject_id)
        if subject_name:  # chosen from several of that name: shown with the reading, as it was offered
            with_kana = await _subjects_named(sources, subject_name)
            chosen = [f"{s['name']}（{s['name_kana']}）" for s in with_kana if s["id"] == subject_id]
            resolution.subject_label = chosen[0] if chosen else resolution.subject_label
    user_name, user_id = form.values.get("user_name", ""), form.values.get("user_id", "")
    if user_name and not user_id:
        people = await repository.people_named(session, tenant=principal.tenant, name=user_name)
        if not people:
            resolution.notes.append("audit.name.user_not_found")
        elif len(people) == 1:
            user, facility = people[0]
            _narrowed(form, user_id=str(user.id))
            resolution.user_label = person_ref(user, facility).label(lang)
        else:
            resolution.user_choices = [Choice(str(u.id), person_ref(u, f).label(lang)) for u, f in people]
    elif (chosen_user := as_uuid(user_id)) is not None:
        known = await repository.people_by_id(session, tenant=principal.tenant, user_ids=[chosen_user])
        if chosen_user in known:
            resolution.user_label = person_ref(*known[chosen_user]).label(lang)
    return resolution


async def _subjects_named(sources: AuditSources, name: str) -> list[dict[str, str]]:
    try:
        return await sources.subjects_named(name)
    except ServiceUnansweredError:
        return []


async def _subject_names(sources: AuditSources, subject_ids: list[str]) -> dict[str, str]:
    wanted = [s for s in subject_ids if as_uuid(s)]
    try:
        return await sources.subject_names(wanted)
    except ServiceUnansweredError:
        return {}  # the entries then read "unknown patient"; the search itself still stands


@dataclass
class EntryNames:
    """Names for one page of results; every lookup is by the ids on that page only."""

    lang: str
    people: dict[str, str] = field(default_factory=dict)
    facilities: dict[str, str] = field(default_factory=dict)
    subjects: dict[str, str] = field(default_factory=dict)

    def _t(self, key: str, **params: str) -> str:
        return translate(self.lang, key, **params)

    def actor(self, entry: AuditEntryRead) -> str:
        actor = entry.actor_id
        if actor in self.people:
            return self.people[actor]
        if actor == "system":
            return self._t("audit.actor.system")
        kind, _, rest = actor.partition(":")
        if rest and kind in ("applicant", "login"):
            return self._t(f"audit.actor.{kind}", value=rest)
        return UNKNOWN_NAME.get(self.lang, UNKNOWN_NAME["ja"]) if as_uuid(actor) else actor

    def facility(self, entry: AuditEntryRead) -> str:
        if not entry.facility_id:
            return ""
        return self.facilities.get(entry.facility_id) or self._t("audit.unknown_facility")

    def subject(self, entry: AuditEntryRead) -> str:
        if not entry.subject_id:
            return ""
        return self.subjects.get(entry.subject_id) or self._t("audit.unknown_subject")

    def target(self, entry: AuditEntryRead) -> str:
        """The target's kind in words, and its name when it is a person, facility or patient."""
        if not entry.target:
            return ""
        kind, _, rest = entry.target.partition(":")
        if kind not in TARGET_KINDS:
            return "" if as_uuid(entry.target) else entry.target
        word = self._t(f"audit.target.{kind}")
        name = {"user": self.people, "facility": self.facilities, "subject": self.subjects}.get(kind, {}).get(
            rest
        )
        if name:
            return f"{word}: {name}"
        return word if as_uuid(rest) or not rest else f"{word}: {rest}"

    def detail(self, value: object) -> str:
        """A detail's value: a time in Japan time, anything else as it is."""
        if isinstance(value, str) and len(value) >= 19 and value[4:5] == "-" and "T" in value:
            shown = local_time(value)
            if shown != value:
                return shown
        return str(value)


async def entry_names(
    sources: AuditSources,
    session: AsyncSession,
    principal: Principal,
    entries: list[AuditEntryRead],
    lang: str,
) -> EntryNames:
    names = EntryNames(lang)
    user_ids: set[UUID] = set()
    facility_ids: set[UUID] = set()
    subject_ids: set[str] = set()
    for entry in entries:
        if (actor := as_uuid(entry.actor_id)) is not None:
            user_ids.add(actor)
        if entry.facility_id and (found := as_uuid(entry.facility_id)):
            facility_ids.add(found)
        if entry.subject_id and as_uuid(entry.subject_id):
            subject_ids.add(entry.subject_id)
        kind, _, rest = (entry.target or "").partition(":")
        if (found := as_uuid(rest)) is not None:
            {"user": user_ids, "facility": facility_ids}.get(kind, set()).add(found)
            if kind == "subject":
                subject_ids.add(rest)
    people = await repository.people_by_id(session, tenant=principal.tenant, user_ids=user_ids)
    names.people = {str(uid): person_ref(u, f).label(lang) for uid, (u, f) in people.items()}
    facilities = await repository.facilities_by_id(
        session, tenant=principal.tenant, facility_ids=facility_ids
    )
    names.facilities = {str(fid): f.name for fid, f in facilities.items()}
    names.subjects = await _subject_names(sources, sorted(subject_ids))
    return names
