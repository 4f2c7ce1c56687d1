"""axe-core for the accessibility checks: axe.min.js is committed beside this file (a machine without npm
still runs u3); delete it and the next run fetches the pinned version again with ``npm pack``."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

AXE_VERSION = "4.10.3"
AXE_FILE = Path(__file__).with_name("axe.min.js")


def axe_script() -> Path:
    """The path of axe.min.js, fetching the pinned version with ``npm pack`` when it is missing."""
    if AXE_FILE.exists():
        return AXE_FILE
    npm = shutil.which("npm")
    assert npm, "npm is needed once to fetch axe-core for the accessibility tests (apt-get install npm)"
    with tempfile.TemporaryDirectory() as work:
        subprocess.run(
            [npm, "pack", f"axe-core@{AXE_VERSION}", "--silent"], cwd=work, check=True, capture_output=True
        )
        [archive] = Path(work).glob("axe-core-*.tgz")
        with tarfile.open(archive) as tar:
            member = tar.extractfile("package/axe.min.js")
            assert member is not None
            AXE_FILE.write_bytes(member.read())
    return AXE_FILE
