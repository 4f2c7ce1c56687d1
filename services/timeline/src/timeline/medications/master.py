"""The network's drug master (薬価基準収載品目): imported by its operator from the CSV of Japan's drug price list
and searched by staff when they add a medication.

The Ministry of Health, Labour and Welfare publishes the list (「薬価基準収載品目リスト及び後発医薬品に関する情報
について」) as spreadsheets for 内用薬, 注射薬, 外用薬 and 歯科用薬剤, revised several times a year; saved as one CSV
with one header row, it imports here. Columns are found by their headers, so the list's extra columns (薬価, 先発
医薬品, …) and their order do not matter. UTF-8 (with or without BOM) and Shift_JIS (cp932, as Excel saves it in
Japan) are read. An import replaces the network's master whole, in one transaction, or changes nothing."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.problems import Problem

from timeline.medications.matching import fold, ingredient_key
from timeline.medications.schemas import Drug, DrugMasterRowError, DrugMasterStatus
from timeline.models import DrugMaster

MAX_BYTES = 32 * 1024 * 1024  # the whole list is about 20,000 rows, a few MB
MAX_ERRORS = 20
CODE = re.compile(r"^[0-9A-Z]{12}$")
KINDS = ("内用薬", "注射薬", "外用薬", "歯科用薬剤")
# Header → our column. The list names the code 「薬価基準収載医薬品コード」; some exports shorten it.
HEADERS = {
    "薬価基準収載医薬品コード": "code",
    "薬価基準コード": "code",
    "成分名": "ingredient",
    "品名": "name",
    "規格": "standard",
    "メーカー名": "maker",
    "区分": "kind",
}
REQUIRED = ("code", "ingredient", "name")


def _too_large() -> Problem:
    return Problem(
        413, "drug-master-too-large", "File too large", "ファイルが大きすぎます。 / File too large."
    )


async def body_within_limit(request: Request) -> bytes:
    """The request's body, refused (413) once it passes MAX_BYTES: by its Content-Length before anything is
    read, else while it streams, so a huge upload is never held whole in memory."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BYTES:
        raise _too_large()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BYTES:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def _text(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise Problem(
        422,
        "drug-master-invalid",
        "Unreadable file",
        "文字コードを読み取れません（UTF-8 または Shift_JIS の CSV）。 / Not UTF-8 or Shift_JIS text.",
        errors=[],
    )


def _refused(errors: list[DrugMasterRowError], detail: str) -> Problem:
    return Problem(
        422,
        "drug-master-invalid",
        "Drug master refused",
        detail,
        errors=[e.model_dump() for e in errors[:MAX_ERRORS]],
    )


def parse(data: bytes) -> list[dict[str, str]]:
    """The rows as dicts of our columns; a 422 naming up to 20 rows when any is wrong (nothing is imported)."""
    if len(data) > MAX_BYTES:
        raise _too_large()
    try:
        return _rows(csv.reader(io.StringIO(_text(data))))
    except csv.Error as broken:  # an unclosed quote swallows the rest of the file into one field
        raise _refused([], f"CSV として読めません（{broken}）。 / Not a readable CSV ({broken}).") from broken


def _rows(reader: Any) -> list[dict[str, str]]:
    header = next(reader, None)
    if header is None:
        raise _refused([], "空のファイルです。 / The file is empty.")
    columns = {i: HEADERS[fold(h).strip()] for i, h in enumerate(header) if fold(h).strip() in HEADERS}
    missing = [c for c in REQUIRED if c not in columns.values()]
    if missing:
        names = {"code": "薬価基準収載医薬品コード", "ingredient": "成分名", "name": "品名"}
        raise _refused(
            [],
            "見出し行に次の列がありません: "
            + "、".join(names[m] for m in missing)
            + " / The header row lacks: "
            + ", ".join(missing),
        )
    rows: list[dict[str, str]] = []
    errors: list[DrugMasterRowError] = []
    seen: set[str] = set()
    for number, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue
        row = {column: "" for column in HEADERS.values()}
        for i, column in columns.items():
            if i < len(values):
                row[column] = values[i].strip()
        code = row["code"] = fold(row["code"])
        if not CODE.match(code):
            errors.append(
                DrugMasterRowError(row=number, reason=f"コードが 12 桁の英数字ではありません: {code[:20]}")
            )
        elif code in seen:
            errors.append(DrugMasterRowError(row=number, reason=f"コードが重複しています: {code}"))
        elif not row["ingredient"] or not row["name"]:
            errors.append(DrugMasterRowError(row=number, reason="成分名または品名が空です"))
        elif max(len(row[c]) for c in ("name", "ingredient", "standard", "maker", "kind")) > 300:
            errors.append(DrugMasterRowError(row=number, reason="長すぎる値があります"))
        elif row["kind"] and row["kind"] not in KINDS:
            errors.append(
                DrugMasterRowError(
                    row=number, reason=f"区分が {'・'.join(KINDS)} のどれでもありません: {row['kind'][:20]}"
                )
            )
        seen.add(code)
        rows.append(row)
    if errors:
        raise _refused(
            errors,
            f"{len(errors)} 行に誤りがあります。何も取り込んでいません。 / {len(errors)} rows are wrong; nothing imported.",
        )
    if not rows:
        raise _refused([], "品目がありません。 / No products in the file.")
    return rows


async def replace(session: AsyncSession, *, tenant: str, data: bytes) -> DrugMasterStatus:
    """The network's master becomes the file's rows (the caller's transaction; the caller audits)."""
    rows = parse(data)
    at = datetime.now(UTC)
    # Two imports at once take turns (the second replaces the first), instead of clashing on the keys.
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(f"drug_master:{tenant}"))))
    await session.execute(sa.delete(DrugMaster).where(DrugMaster.tenant == tenant))
    values = [
        {
            "tenant": tenant,
            "code": r["code"],
            "name": r["name"],
            "ingredient": r["ingredient"],
            "ingredient_key": ingredient_key(r["ingredient"], r["kind"]),
            "standard": r["standard"],
            "maker": r["maker"],
            "kind": r["kind"],
            "search_key": fold(f"{r['name']} {r['ingredient']} {r['code']}"),
            "imported_at": at,
        }
        for r in rows
    ]
    for start in range(0, len(values), 2000):  # asyncpg's 32,767 bind parameters
        await session.execute(sa.insert(DrugMaster), values[start : start + 2000])
    return DrugMasterStatus(count=len(values), imported_at=at)


async def status(session: AsyncSession, *, tenant: str) -> DrugMasterStatus:
    count, at = (
        await session.execute(
            sa.select(sa.func.count(), sa.func.max(DrugMaster.imported_at)).where(DrugMaster.tenant == tenant)
        )
    ).one()
    return DrugMasterStatus(count=int(count), imported_at=at)


def _drug(row: DrugMaster) -> Drug:
    return Drug(
        code=row.code,
        name=row.name,
        ingredient=row.ingredient,
        standard=row.standard,
        maker=row.maker,
        kind=row.kind,
    )


async def search(session: AsyncSession, *, tenant: str, q: str, limit: int) -> list[Drug]:
    """Products whose name, ingredient or code holds ``q`` (folded), names starting with it first."""
    needle = fold(q)
    if not needle:
        return []
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    statement = (
        sa.select(DrugMaster)
        .where(DrugMaster.tenant == tenant, DrugMaster.search_key.like(f"%{escaped}%", escape="\\"))
        .order_by(sa.not_(DrugMaster.search_key.like(f"{escaped}%", escape="\\")), DrugMaster.name)
        .limit(limit)
    )
    return [_drug(r) for r in (await session.execute(statement)).scalars().all()]


async def product(session: AsyncSession, *, tenant: str, code: str) -> DrugMaster | None:
    return await session.get(DrugMaster, (tenant, code))


async def same_ingredient(session: AsyncSession, *, tenant: str, code: str) -> DrugMaster | None:
    """A product whose YJ code shares the first seven characters (class, ingredient and route) with ``code``."""
    statement = (
        sa.select(DrugMaster)
        .where(DrugMaster.tenant == tenant, DrugMaster.code.startswith(code[:7], autoescape=True))
        .order_by(DrugMaster.code)
        .limit(1)
    )
    return (await session.execute(statement)).scalar_one_or_none()
