"""Files of knowledge entries: stored after a pull's batch is written, read for destinations and the API.

The bytes live in Django's default storage (the filesystem under var/ unless STORAGES says otherwise),
under a path of random names (see `integrations.models.entry_file_path`): the upstream's file name is
only a column. A file is stored once per version the upstream gives it; a record's files are the
entry's files from then on (a version the record no longer has is removed). A file over
`ATTACHMENT_MAX_BYTES` is skipped with a line in the job's log: its download is streamed to a spooled
temporary file and stopped at the cap, never read whole into memory. Removing a row removes its bytes
(the post_delete receiver in `integrations.models`), so a deleted entry, integration or organisation
leaves nothing behind in the storage.
"""

from __future__ import annotations

import functools
import logging
import re
import tempfile
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.files import File

from connectors.base import Deletion, FileSnapshot, Record, RecordFile
from connectors.errors import ResponseTooLarge, UpstreamError
from integrations.knowledge.clean import text_cleaned
from integrations.models import EntryFile, Integration, KnowledgeEntry

if TYPE_CHECKING:
    from integrations.runs.jobs import JobLog

logger = logging.getLogger(__name__)

# Up to this much of a download stays in memory; the rest goes to a temporary file on disk.
SPOOL_MEMORY_BYTES = 1024 * 1024
NAME_MAX_CHARS = 255
FALLBACK_NAME = "file"
FALLBACK_CONTENT_TYPE = "application/octet-stream"
# type/subtype with RFC 6838's characters, optionally with parameters (`text/plain; charset=utf-8`).
CONTENT_TYPE = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}(\s*;.{0,100})?$"
)
# What a download may raise about its upstream: the connector's typed errors and the transport's.
DOWNLOAD_ERRORS = (UpstreamError, OSError)


class FileTooLarge(Exception):
    """The file is larger than ATTACHMENT_MAX_BYTES."""


@dataclass
class FilesStored:
    stored: int = 0
    unchanged: int = 0
    removed: int = 0
    skipped: int = 0
    failed: int = 0


def attachment_max_bytes() -> int:
    return int(settings.ATTACHMENT_MAX_BYTES)


def safe_file_name(name: str) -> str:
    """The name without any directory part, control characters or leading dots, cut to the column."""
    name = unicodedata.normalize("NFC", str(name or ""))
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip().lstrip(".")
    if len(name) > NAME_MAX_CHARS:
        stem, dot, suffix = name.rpartition(".")
        keep = suffix if dot and len(suffix) <= 16 else ""
        name = (name[: NAME_MAX_CHARS - len(keep) - 1] + "." + keep) if keep else name[:NAME_MAX_CHARS]
    return name or FALLBACK_NAME


def safe_content_type(value: str) -> str:
    value = str(value or "").strip()
    return value if CONTENT_TYPE.match(value) else FALLBACK_CONTENT_TYPE


def entry_files_write(
    *, integration: Integration, records: Sequence[Record], deletions: Sequence[Deletion], log: JobLog
) -> FilesStored:
    """Make the files of the batch's entries what its records carry; a tombstoned entry keeps no files.

    Called by the pull engine after the batch's entries are written, in the same transaction. One query
    reads the batch's stored files; only versions not stored yet are downloaded.
    """
    result = FilesStored()
    if not any(record.files for record in records) and not integration_has_files(integration):
        return result  # most sources carry no files: a batch then costs one cheap query, not a join of its ids
    # Keyed as the write rule stored them (integrations.knowledge.clean): a hostile id is matched as written.
    latest = {text_cleaned(record.external_id): record for record in records}
    gone = {text_cleaned(deletion.external_id) for deletion in deletions}
    stored = list(
        EntryFile.objects.filter(
            entry__integration=integration, entry__external_id__in=[*latest, *gone]
        ).select_related("entry")
    )
    kept: set[tuple[str, str]] = set()
    for row in stored:
        record = latest.get(row.entry.external_id)
        if record is not None and any(file.version == row.version for file in record.files):
            kept.add((row.entry.external_id, row.version))
            result.unchanged += 1
        else:
            row.delete()  # the bytes go with it, once the transaction commits
            result.removed += 1
    carrying = {external_id: record for external_id, record in latest.items() if record.files}
    if not carrying:
        return result
    entries = KnowledgeEntry.objects.filter(integration=integration, external_id__in=carrying).only(
        "id", "organisation_id", "external_id"
    )
    for entry in entries:
        for record_file in carrying[entry.external_id].files:
            if (entry.external_id, record_file.version) in kept:
                continue
            kept.add((entry.external_id, record_file.version))
            _entry_file_store(entry, record_file, log, result)
    return result


def integration_has_files(integration: Integration) -> bool:
    return EntryFile.objects.filter(entry__integration=integration).exists()


def _entry_file_store(entry: KnowledgeEntry, record_file: RecordFile, log: JobLog, result: FilesStored) -> None:
    name, cap = safe_file_name(record_file.name), attachment_max_bytes()
    if record_file.size is not None and record_file.size > cap:
        result.skipped += 1
        log.add("warning", _too_large(name, f"{record_file.size} bytes", cap), external_id=entry.external_id)
        return
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES) as spool:
        try:
            size = _download_capped(record_file, spool, cap)
        except (FileTooLarge, ResponseTooLarge):  # the cap met by the HTTP layer or here
            result.skipped += 1
            log.add("warning", _too_large(name, "more bytes", cap), external_id=entry.external_id)
            return
        except DOWNLOAD_ERRORS as exc:
            result.failed += 1
            reason = getattr(exc, "message", None) or type(exc).__name__
            log.add("warning", f"File {name!r} was not stored: {reason}", external_id=entry.external_id)
            logger.warning("File of entry %s not downloaded: %s", entry.id, type(exc).__name__)
            return
        spool.seek(0)
        row = EntryFile(
            entry=entry,
            name=name,
            content_type=safe_content_type(record_file.content_type),
            size=size,
            version=record_file.version[:255],
        )
        row.file.save(name, File(spool), save=False)
        row.save()
        result.stored += 1


def _download_capped(record_file: RecordFile, sink: Any, cap: int) -> int:
    """Copy the file's chunks into `sink`, stopping (and closing the download) once it passes `cap`."""
    size = 0
    chunks = record_file.fetch()
    try:
        for chunk in chunks:
            size += len(chunk)
            if size > cap:
                raise FileTooLarge
            sink.write(chunk)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return size


def _too_large(name: str, size: str, cap: int) -> str:
    return f"File {name!r} skipped: {size} is over the {cap}-byte limit (ATTACHMENT_MAX_BYTES)."


def entry_file_snapshots(entry_ids: Iterable[Any]) -> dict[str, tuple[FileSnapshot, ...]]:
    """The stored files of these entries as destinations receive them, by entry id; one query."""
    found: dict[str, list[FileSnapshot]] = {}
    for row in EntryFile.objects.filter(entry_id__in=list(entry_ids)).order_by("entry_id", "name", "id"):
        opener = functools.partial(row.file.storage.open, row.file.name, "rb")
        snapshot = FileSnapshot(name=row.name, content_type=row.content_type, size=row.size, open=opener)
        found.setdefault(str(row.entry_id), []).append(snapshot)
    return {entry_id: tuple(files) for entry_id, files in found.items()}
