"""Bench the push engine against the raw limit of the same work, on PostgreSQL.

Run: `.venv/bin/python bench/push_engine.py [--entries 100000] [--batch-size 500] [--edits 100]`.
See bench/README.md for what the figures mean. Exits non-zero only when correctness fails.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/bench_push"
RATIO_TARGET = 0.5
INCREMENTAL_TARGET_SECONDS = 1.0


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=500, help="the destination's batch size")
    parser.add_argument("--edits", type=int, default=100, help="entries edited before the incremental run")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL))
    return parser.parse_args()


def ensure_database(database_url: str) -> None:
    import psycopg

    parts = urlsplit(database_url)
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        name = parts.path.lstrip("/")
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def environment(args: argparse.Namespace) -> dict[str, str]:
    from bench.keys import bench_keys

    return {
        **bench_keys(),
        "DJANGO_SETTINGS_MODULE": "hub.settings",
        "DATABASE_URL": args.database_url,
        # The runs are in this process; no task is sent.
        "CELERY_BROKER_URL": "memory://",
        "EXTRA_CONNECTORS": "bench.push_engine.InstantDestination",
    }


def _instant_destination_class():
    """A destination that accepts every entry at once, in this process: what is measured is the hub."""
    from connectors.base import ConfigField, Connector, ConnectorInfo, PushAccepted
    from connectors.capabilities import SOURCES_FIELD, PushDestination

    class InstantDestination(Connector, PushDestination):
        info = ConnectorInfo(
            type="bench-instant",
            display_name="Instant (bench)",
            description="Accepts every entry at once.",
            icon="bench",
            data_description="Entries",
            auth_type="api_key",
            config_schema=(SOURCES_FIELD, ConfigField(key="batch_size", label="Batch size", type="number")),
        )

        def push_batch_size(self) -> int:
            return int(self.config.get("batch_size") or 500)

        def push_batch(self, entries: Sequence) -> Iterable:
            return [PushAccepted(entry_id=entry.id, remote_id=f"r-{entry.id}", created=True) for entry in entries]

    return InstantDestination


def __getattr__(name: str):  # EXTRA_CONNECTORS imports the class by name, after Django is set up
    if name == "InstantDestination":
        return _instant_destination_class()
    raise AttributeError(name)


def entries_make(source, count: int) -> None:
    from connectors.base import Record
    from integrations.knowledge import entries_upsert

    for start in range(0, count, 2000):
        records = [
            Record(external_id=f"doc-{n}", title=f"Document {n}", content=f"Text of document {n}. " * 20)
            for n in range(start, min(start + 2000, count))
        ]
        entries_upsert(integration=source, records=records)


def raw_push(source, destination, batch_size: int) -> dict:
    """The same work without the engine: read the entries in id order a batch at a time, hand each
    batch to the same destination as the same snapshots, and write one ledger row per answer."""
    from django.db import transaction
    from django.utils import timezone

    from connectors.base import EntrySnapshot
    from integrations.models import KnowledgeEntry, PushLedgerEntry
    from integrations.services import connector_for

    connector = connector_for(destination)
    started, sent, after = time.perf_counter(), 0, None
    fields = ("id", "integration_id", "external_id", "title", "content", "html", "url", "author", "language")
    fields += ("metadata", "updated_at", "content_hash", "deleted_at")
    while True:
        rows = KnowledgeEntry.objects.filter(integration=source).order_by("pk")
        rows = list((rows.filter(pk__gt=after) if after else rows).values(*fields)[:batch_size])
        if not rows:
            break
        batch = [
            EntrySnapshot(
                **{key: str(row[key]) if key in ("id", "integration_id") else row[key] for key in fields[:-1]},
                deleted=row["deleted_at"] is not None,
            )
            for row in rows
        ]
        hashes = {entry.id: entry.content_hash for entry in batch}
        now = timezone.now()
        ledger = [
            PushLedgerEntry(
                destination=destination,
                entry_id=answer.entry_id,
                accepted_hash=hashes[answer.entry_id],
                accepted_at=now,
                remote_id=answer.remote_id,
            )
            for answer in connector.push_batch(batch)
        ]
        with transaction.atomic():
            PushLedgerEntry.objects.bulk_create(ledger)
        sent += len(batch)
        after = rows[-1]["id"]
    seconds = time.perf_counter() - started
    return {"sent": sent, "seconds": seconds, "rate": sent / seconds}


def engine_push(destination) -> dict:
    """One run of the engine (integrations.runs.engine.sync_job_run), in this process."""
    from integrations.models import SyncJob
    from integrations.runs.engine import sync_job_run

    job = SyncJob.objects.create(organisation_id=destination.organisation_id, integration=destination)
    started = time.perf_counter()
    outcome = sync_job_run(job_id=str(job.pk), org_id=str(destination.organisation_id))
    seconds = time.perf_counter() - started
    job.refresh_from_db()
    assert outcome.status == "completed", (outcome, job.error_message)
    return {"job": job, "seconds": seconds, "rate": (job.records_synced or 0) / seconds if seconds else 0.0}


def edits_apply(source, count: int, total: int) -> None:
    from connectors.base import Record
    from integrations.knowledge import entries_upsert

    step = max(1, total // count)
    records = [
        Record(external_id=f"doc-{n}", title=f"Document {n}", content=f"Edited text of document {n}.")
        for n in range(0, step * count, step)
    ]
    entries_upsert(integration=source, records=records)


def statistics_refresh() -> None:
    """ANALYZE, as autovacuum does after a bulk load: without statistics PostgreSQL takes a 100,000-row
    table for an empty one and probes the ledger once per entry instead of hashing the join."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE integrations_knowledgeentry")
        cursor.execute("ANALYZE integrations_pushledgerentry")


def main() -> int:
    args = arguments()
    env = environment(args)
    os.environ.update(env)
    ensure_database(args.database_url)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env={**os.environ, **env},
        check=True,
    )
    import django

    django.setup()
    from hub.services import organisation_create
    from integrations.models import PushLedgerEntry
    from integrations.runs.push import entries_due
    from integrations.services import integration_create
    from tests.conftest import ensure_plans

    ensure_plans()
    organisation = organisation_create(
        name=f"Bench {time.time():.0f}", plan_code="enterprise", subscription_status="active"
    )

    def integration(kind: str, name: str, config: dict):
        return integration_create(organisation=organisation, user=None, type=kind, name=name, config=config)[0]

    source = integration("webhook", "source", {})
    print(f"Writing {args.entries} entries ...", flush=True)
    entries_make(source, args.entries)
    statistics_refresh()
    config = {"sources": str(source.pk), "batch_size": args.batch_size}
    raw_before, raw_after = integration("bench-instant", "raw", config), integration("bench-instant", "raw2", config)
    destination = integration("bench-instant", "engine", config)

    print("Raw loop (before) ...", flush=True)
    before = raw_push(source, raw_before, args.batch_size)
    print("Engine ...", flush=True)
    full = engine_push(destination)
    print("Raw loop (after) ...", flush=True)
    after = raw_push(source, raw_after, args.batch_size)

    edits_apply(source, args.edits, args.entries)
    statistics_refresh()
    started = time.perf_counter()
    found = entries_due(destination).count()
    found_seconds = time.perf_counter() - started
    incremental = engine_push(destination)

    job, raw_rate = full["job"], (before["rate"] + after["rate"]) / 2
    print()
    print(f"{'path':<34}{'entries':>9}{'seconds':>10}{'entries/s':>12}")
    print(f"{'raw loop (before)':<34}{before['sent']:>9}{before['seconds']:>10.2f}{before['rate']:>12,.0f}")
    print(f"{'engine, full run':<34}{job.records_synced:>9}{full['seconds']:>10.2f}{full['rate']:>12,.0f}")
    print(f"{'raw loop (after)':<34}{after['sent']:>9}{after['seconds']:>10.2f}{after['rate']:>12,.0f}")
    ratio = full["rate"] / raw_rate
    print(f"\nengine / raw (mean of before and after): {ratio:.2f} (target >= {RATIO_TARGET})")
    inc_job = incremental["job"]
    print(
        f"incremental after {args.edits} edits of {args.entries}: found {found} due in {found_seconds:.3f} s; "
        f"the whole run took {incremental['seconds']:.3f} s (target < {INCREMENTAL_TARGET_SECONDS} s), "
        f"offered {inc_job.records_found}, sent {inc_job.records_synced}, unchanged {inc_job.records_skipped}"
    )
    ledger = PushLedgerEntry.objects.filter(destination=destination)
    problems = []
    if (job.records_found, job.records_synced, job.records_imported) != (args.entries,) * 3:
        problems.append(f"the full run pushed {job.records_synced} of {args.entries}")
    if ledger.count() != args.entries or ledger.filter(accepted_at__isnull=True).exists():
        problems.append("the ledger does not hold one accepted row per entry")
    if (found, inc_job.records_found, inc_job.records_synced) != (args.edits,) * 3:
        problems.append(f"the incremental run offered {inc_job.records_found}, expected {args.edits}")
    if inc_job.records_skipped != args.entries - args.edits:
        problems.append(f"the incremental run counted {inc_job.records_skipped} unchanged")
    for problem in problems:
        print(f"CORRECTNESS: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
