"""A complete export as one zip for the municipality: the manifest, then each service's part under its name
(``consent/tables/subjects.json``, ``timeline/attachments/<id>`` …), read from the exports bucket."""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from typing import IO

from yui_common.settings import CommonSettings
from yui_common.storage import ObjectStore

from identity.network_end.schemas import OperationRead
from identity.network_end.service import manifest


async def _download(store: ObjectStore, key: str, file: IO[bytes]) -> None:
    async for chunk in store.stream(key):
        file.write(chunk)
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
                await _download(store, str(step.report["key"]), part_file)
                with zipfile.ZipFile(part_file) as part:
                    for entry in part.infolist():
                        with (
                            part.open(entry) as source,
                            archive.open(f"{step.service}/{entry.filename}", "w") as target,
                        ):
                            shutil.copyfileobj(source, target, 1024 * 1024)
                        files += 1
    return files
