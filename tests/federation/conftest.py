"""Two separate deployments (tests/support/two_stacks.py), started once for every test in tests/federation/.

Every test here is marked serial: `make test` runs them after the parallel phase, alone, in one process that
starts the two deployments once (beside the rest of the suite, on 2 cores, their start and the peers' retries
outran the timeouts). They also form one xdist group, so a parallel run of this directory alone starts them once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.two_stacks import TwoStacks, start_care, two_deployments


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/federation/" in item.nodeid.replace("\\", "/"):
            item.add_marker(pytest.mark.xdist_group("two-deployments"))


@pytest.fixture(scope="session")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoStacks]:
    with two_deployments(tmp_path_factory.mktemp("two-deployments")) as found:
        yield found


@pytest.fixture(scope="session")
def care(stacks: TwoStacks) -> TwoStacks:
    """The deployments with consent, timeline, notify and identity's worker running too (referrals: fed2, fed3),
    started by the first test that asks; the tests that do not ask never pay for them."""
    start_care(stacks)
    return stacks


@pytest.fixture(scope="session")
def agreements() -> dict[str, Any]:
    """Agreements made by earlier tests, by name, for later ones (each test still works alone: it makes what
    it needs when missing)."""
    return {}
