"""A complete export as one zip for the municipality: the manifest, then each service's part under its name
(``consent/tables/subjects.json``, ``timeline/attachments/<id>`` …), read from the exports bucket."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import zipfile
from typing import IO

from yui_common.problems import Problem
from yui_common.settings import CommonSettings
from yui_common.storage import ObjectStore

from identity.network_end.schemas import OperationRead
from identity.network_end.service import manifest


def damaged(service: str) -> Problem:
    return Problem(
        409,
        "network-export-damaged",
        "Export part damaged",
        f"{service} の書き出しが、書き出した時の SHA-256 と一致しません。書き出しをやり直してください。 / "
        f"{service}'s part no longer matches the SHA-256 recorded when it was written; export again.",
    )


async def _download(
    store: ObjectStore, key: str, file: IO[bytes], *, service: str, sha256: str | None
) -> None:
    """The part's bytes into ``file``, checked against the SHA-256 its service recorded when it wrote them:
    a part changed or cut short in the bucket never reaches the municipality as if it were whole."""
    digest = hashlib.sha256()
    async for chunk in store.stream(key):
        digest.update(chunk)
        file.write(chunk)
    if not sha256 or digest.hexdigest() != sha256:
        raise damaged(service)
    file.seek(0)


async def write_archive(
    settings: CommonSettings, operation: OperationRead, network_name: str, output: IO[bytes]
) -> int:
    """Write the export's single zip to ``output``; returns how many files it holds besides the manifest."""
    assert operation.kind == "export" and operation.completed_at is not None and operation.bucket
    store = ObjectStore(settings, bucket=operation.bucket)
    files = 0
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        archive.writestr(
            "manifest.json", json.dumps(manifest(operation, network_name), ensure_ascii=False, indent=1)
        )
        for step in operation.steps:
            with tempfile.TemporaryFile() as part_file:
                await _download(
                    store,
                    str(step.report["key"]),
                    part_file,
                    service=step.service,
                    sha256=step.report.get("sha256"),
                )
                with zipfile.ZipFile(part_file) as part:
                    for entry in part.infolist():
                        with (
                            part.open(entry) as source,
                            archive.open(f"{step.service}/{entry.filename}", "w") as target,
                        ):
                            shutil.copyfileobj(source, target, 1024 * 1024)
                        files += 1
    return files
