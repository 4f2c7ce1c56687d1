"""Every requirement ID that a test function's name carries is defined, once, in docs/requirements.md."""

from __future__ import annotations

import ast
import os
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = REPO_ROOT / "docs" / "requirements.md"

# A test proves a requirement by starting its name with the ID: `test_c4_withdrawal_…`, `test_ux1_…`.
# An ID is a short lower-case prefix and a one- or two-digit number, and it must be the first word after `test_`.
TEST_NAME_WITH_ID = re.compile(r"^test_([a-z]{1,4}[0-9]{1,2})_")
# Words of that same shape that are technical terms, not requirement IDs: versions (`test_v2_event`), HTML
# headings, percentiles, encodings, protocols, digests, the PKCS#12 file and FHIR's release.
TECHNICAL_WORDS = re.compile(
    r"^(v[0-9]+|h[1-6]|p(50|90|95|99)|utf(8|16|32)|http[1-3]|tls1[0-3]|ipv[46]|md5|sha[1-3]|b64|base64|p12|r[45]|py3)$"
)
# A definition in docs/requirements.md is a list item that opens with the ID in bold: `- **C4 Withdrawal.** …`.
DEFINITION = re.compile(r"^- \*\*([A-Za-z]{1,4}[0-9]{1,2})\b", re.MULTILINE)
# Directories never holding the repository's own tests: virtual environments, caches, tools' state.
SKIPPED_DIRECTORIES = {"node_modules", "__pycache__"}


def requirement_id_of(test_name: str) -> str | None:
    """The requirement ID a test function's name starts with, lower case, or None."""
    match = TEST_NAME_WITH_ID.match(test_name)
    if match is None or TECHNICAL_WORDS.match(match.group(1)):
        return None
    return match.group(1)


def repository_test_modules() -> Iterator[Path]:
    """Every test module of the repository: `test_*.py` inside a `tests` directory, services and libs included."""
    for directory, subdirectories, files in os.walk(REPO_ROOT):
        # Pruning in place keeps os.walk out of .venv, .git and the like (hidden) and out of caches.
        subdirectories[:] = [
            name for name in subdirectories if not name.startswith(".") and name not in SKIPPED_DIRECTORIES
        ]
        path = Path(directory)
        if "tests" not in path.relative_to(REPO_ROOT).parts:
            continue
        for name in files:
            if name.startswith("test_") and name.endswith(".py"):
                yield path / name


def ids_in_test_names() -> dict[str, list[str]]:
    """Each requirement ID named by a test function (in classes too), with the tests that name it."""
    found: dict[str, list[str]] = defaultdict(list)
    for path in repository_test_modules():
        # Parsing, not grepping, so an ID in a comment or a string is not taken for a test's name.
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                requirement = requirement_id_of(node.name)
                if requirement is not None:
                    found[requirement].append(f"{path.relative_to(REPO_ROOT)}::{node.name}")
    return found


def defined_ids() -> list[str]:
    """The IDs docs/requirements.md defines, lower case, in the order they appear."""
    return [
        requirement.lower() for requirement in DEFINITION.findall(REQUIREMENTS.read_text(encoding="utf-8"))
    ]


class TestRequirementIds:
    def test_every_id_a_test_name_carries_is_defined_in_docs(self) -> None:
        defined = set(defined_ids())
        undefined = {
            requirement: tests
            for requirement, tests in ids_in_test_names().items()
            if requirement not in defined
        }
        assert not undefined, (
            "these requirement IDs are used in test names but not defined in docs/requirements.md "
            f"(add a `- **<ID> Title.** …` item there, or rename the test): {dict(sorted(undefined.items()))}"
        )

    def test_each_id_is_defined_once(self) -> None:
        defined = defined_ids()
        twice = sorted({requirement for requirement in defined if defined.count(requirement) > 1})
        assert not twice, f"defined more than once in docs/requirements.md (case-insensitive): {twice}"

    def test_the_ids_the_suite_is_known_to_carry_are_found(self) -> None:
        # Guards the collector itself: a walk that found no test files would let every ID pass unchecked.
        found = ids_in_test_names()
        assert {"c4", "f7", "i13", "n5", "s2", "t10", "u4"} <= found.keys(), sorted(found)
        assert any(test.startswith("services/consent/tests/") for test in found["c4"])
        assert any(test.startswith("tests/") for test in found["f7"])


@pytest.mark.parametrize(
    ("test_name", "expected"),
    [
        ("test_c4_withdrawal_cascade", "c4"),
        ("test_t10_posts_export_as_fhir", "t10"),
        ("test_ux1_a_team_built_by_name", "ux1"),
        ("test_perf2_lean_path_agrees", "perf2"),
        ("test_a_new_post_tells_the_team", None),
        ("test_every_service_answers", None),
        ("test_i_audit_search_pages", None),
        ("test_utf8_names_survive", None),
        ("test_p99_stays_low", None),
        ("test_v2_event_beside_v1", None),
        ("test_sha256_of_the_upload", None),
        ("test_c4", None),
        ("test_consent123_is_refused", None),
    ],
)
def test_only_code_shaped_first_words_are_taken_for_requirement_ids(
    test_name: str, expected: str | None
) -> None:
    assert requirement_id_of(test_name) == expected
