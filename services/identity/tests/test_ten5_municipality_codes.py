"""ten5: local-government codes (全国地方公共団体コード) are checked against the national table by check digit and
existence; a wrong one is refused with problem+json, through the API and the command line alike."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from uuid import uuid4

import pytest
from identity.models import Network
from identity.networks import municipalities
from identity.platform import service as platform
from identity.platform.schemas import NetworkCreate
from sqlalchemy import text
from yui_common.problems import Problem

from tests.support.stack import Stack, eventually

REPO = Path(__file__).resolve().parents[3]


class TestTheNationalTable:
    def test_ten5_known_codes_have_their_check_digits(self) -> None:
        # Published codes: みよし市, 取手市, 札幌市 (a designated city), 北海道 (a prefecture).
        for code in ("232360", "082171", "011002", "010006", "131016", "141003", "141305", "271403"):
            assert municipalities.check_digit(code[:5]) == code[5], code

    def test_ten5_the_table_holds_every_local_government_with_valid_check_digits(self) -> None:
        rows = list(csv.DictReader(municipalities.TABLE.open(encoding="utf-8")))
        codes = {row["code6"] for row in rows}
        assert len(codes) == len(rows) > 1900
        assert all(municipalities.check_digit(c[:5]) == c[5] for c in codes)
        # 47 prefectures, 20 designated cities with their wards, Tokyo's 23 special wards.
        assert sum(1 for c in codes if c[2:5] == "000") == 47
        designated = [
            r for r in rows if r["code6"][2] == "1" and r["code6"][4] == "0" and r["name"].endswith("市")
        ]
        assert len([r for r in designated if r["code6"][:2] != "13"]) == 20
        assert sum(1 for r in rows if r["code6"].startswith("131") and r["name"].endswith("区")) == 23
        assert municipalities.lookup("011002").label == "北海道札幌市"  # type: ignore[union-attr]
        assert municipalities.lookup("232360").kana == "ミヨシシ"  # type: ignore[union-attr]
        assert municipalities.lookup("010006").label == "北海道"  # type: ignore[union-attr]

    @pytest.mark.parametrize(
        ("code", "reason"),
        [
            ("232361", "check-digit"),
            ("082170", "check-digit"),
            ("999997", "unknown"),
            ("23236", "malformed"),
            ("２３２３６０", "malformed"),
            ("abcdef", "malformed"),
        ],
    )
    def test_ten5_a_wrong_code_says_why(self, code: str, reason: str) -> None:
        if reason == "unknown":
            assert municipalities.check_digit(code[:5]) == code[5]  # well-formed, but no local government
        with pytest.raises(Problem) as refused:
            municipalities.validate(code)
        assert refused.value.status == 422
        assert refused.value.slug == f"municipality-code-{reason}"
        assert refused.value.extensions["reason"] == reason


def _assert_problem(response, slug: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == f"urn:yui:problem:{slug}"
    return body  # type: ignore[no-any-return]


async def _network_with_operator(stack: Stack) -> tuple[str, dict[str, str]]:
    slug = f"ten5-{uuid4().hex[:8]}"
    async with stack["identity"].sessionmaker() as session, session.begin():
        created = await platform.create_network(
            session,
            actor="test",
            data=NetworkCreate(
                slug=slug,
                name="テスト市 在宅ネット",
                municipality_codes=["082171"],
                operator_office="テスト市 福祉課",
                operator_login_id="operator",
                operator_name="運営 太郎",
            ),
        )
    async with stack["identity"].sessionmaker() as session:
        office = (
            await session.execute(text("SELECT facility_id FROM users WHERE tenant = :t"), {"t": slug})
        ).scalar_one()
    assert created.operator_login_id == "operator"
    operator = stack.staff(tenant=slug, facility_id=office, roles=("operator",))
    return slug, operator.headers


class TestNetworkSettingsRefuseWrongCodes:
    async def test_ten5_the_api_refuses_a_wrong_check_digit_and_an_unknown_code(self, stack: Stack) -> None:
        slug, headers = await _network_with_operator(stack)
        client = stack["identity"].client
        wrong = await client.patch(
            "/network", json={"municipality_codes": ["082171", "232361"]}, headers=headers
        )
        body = _assert_problem(wrong, "municipality-code-check-digit")
        assert body["code"] == "232361" and body["reason"] == "check-digit"
        unknown = await client.patch("/network", json={"municipality_codes": ["999997"]}, headers=headers)
        assert _assert_problem(unknown, "municipality-code-unknown")["reason"] == "unknown"
        malformed = await client.patch("/network", json={"municipality_codes": ["23236"]}, headers=headers)
        _assert_problem(malformed, "municipality-code-malformed")
        async with stack["identity"].sessionmaker() as session:
            network = await session.get(Network, slug)
            assert network is not None and network.municipality_codes == ["082171"]  # nothing half-written

        accepted = await client.patch(
            "/network", json={"municipality_codes": ["082171", "232360"]}, headers=headers
        )
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["municipality_codes"] == ["082171", "232360"]

        # Every service learns of the change by event (network-settings-changed.v1).
        async def consent_knows() -> bool:
            async with stack["consent"].sessionmaker() as session:
                state = (
                    await session.execute(
                        text("SELECT state FROM network_states WHERE tenant = :t"), {"t": slug}
                    )
                ).scalar_one_or_none()
            found = json.loads(state) if isinstance(state, str) else state
            return bool(found) and found["municipality_codes"] == ["082171", "232360"]

        await eventually(consent_knows, what="consent's projection of the new municipalities")


class TestTheCommandLineRefusesWrongCodes:
    async def test_ten5_network_create_refuses_a_wrong_check_digit_and_an_unknown_code(
        self, stack: Stack
    ) -> None:
        for code, reason in (("232361", "check-digit"), ("999997", "unknown")):
            slug = f"ten5-cli-{uuid4().hex[:6]}"
            finished = await asyncio.to_thread(
                subprocess.run,
                [
                    sys.executable,
                    "-m",
                    "identity",
                    "network",
                    "create",
                    "--slug",
                    slug,
                    "--name",
                    "CLI ネット",
                    "--municipality",
                    code,
                    "--operator-office",
                    "福祉課",
                    "--operator-login-id",
                    "op",
                    "--operator-name",
                    "運営 花子",
                ],
                capture_output=True,
                text=True,
                cwd=REPO,
                env=os.environ.copy(),
                timeout=120,
                check=False,
            )
            assert finished.returncode == 1, finished.stderr
            problem = json.loads(finished.stderr.strip().splitlines()[-1])
            assert problem["type"] == f"urn:yui:problem:municipality-code-{reason}"
            assert problem["status"] == 422
            async with stack["identity"].sessionmaker() as session:
                assert await session.get(Network, slug) is None
