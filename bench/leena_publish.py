"""Bench publishing to Leena: the engine and the connector against a plain loop of the same uploads.

Run: `.venv/bin/python bench/leena_publish.py [--entries 20000] [--batch-size 100] [--edits 100]`.
Both paths publish to the same fake Leena (tests/fakes/leena.py, real HTTP on 127.0.0.1) in this
process, on PostgreSQL. See bench/README.md for what the figures mean. Exits non-zero only when
correctness fails.
"""

from __future__ import annotations

import argparse
import base64
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.push_engine import edits_apply, engine_push, ensure_database, statistics_refresh  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/bench_leena"
RATIO_TARGET = 0.7


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=100, help="the destination's batch_size")
    parser.add_argument("--edits", type=int, default=100, help="entries edited before the incremental run")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL))
    return parser.parse_args()


def environment(args: argparse.Namespace) -> dict[str, str]:
    from bench.keys import bench_keys

    return {
        **bench_keys(),
        "DJANGO_SETTINGS_MODULE": "hub.settings",
        "DATABASE_URL": args.database_url,
        "CELERY_BROKER_URL": "memory://",  # the runs are in this process; no task is sent
        "ALLOW_PRIVATE_UPSTREAMS": "true",  # the fake Leena is on 127.0.0.1
    }


def entries_make(source, count: int) -> None:
    from connectors.base import Record
    from integrations.knowledge import entries_upsert

    for start in range(0, count, 2000):
        records = [
            Record(
                external_id=f"doc-{n}",
                title=f"Document {n}",
                content=f"Text of document {n}. " * 20,
                html=f"<h2>Document {n}</h2>" + f"<p>Text of <b>document</b> {n}.</p>" * 20,
            )
            for n in range(start, min(start + 2000, count))
        ]
        entries_upsert(integration=source, records=records)


def plain_loop(source, destination, leena, batch_size: int, language: str) -> dict:
    """The same uploads without the engine or the connector: read the entries in id order a batch at a
    time, make the same articles (the same cleaning), post them with one plain httpx client (a token,
    then per batch `sync/` and `complete/`) and write one ledger row per article, as bench/push_engine.py's
    raw loop does. No retries, no backoff, no progress, no lease: the floor of the work."""
    from django.db import transaction
    from django.utils import timezone

    from connectors.base import EntrySnapshot
    from connectors.leena import api
    from connectors.leena.articles import article_of
    from integrations.models import KnowledgeEntry, PushLedgerEntry

    fields = ("id", "integration_id", "external_id", "title", "content", "html", "url", "author", "language")
    fields += ("metadata", "updated_at", "content_hash")
    upstream = leena.upstream
    basic = base64.b64encode(f"{upstream.client_id}:{upstream.client_secret}".encode()).decode()
    grant = {"username": upstream.username, "password": upstream.password, "grant_type": "password"}
    calls_before = len(upstream.calls)
    started, sent, after = time.perf_counter(), 0, None
    with httpx.Client(base_url=leena.url, timeout=60) as client:
        token = client.post(api.TOKEN_PATH, json=grant, headers={"Authorization": f"Basic {basic}"})
        client.headers["Authorization"] = f"Bearer {token.raise_for_status().json()['access_token']}"
        while True:
            rows = KnowledgeEntry.objects.filter(integration=source).order_by("pk")
            rows = list((rows.filter(pk__gt=after) if after else rows).values(*fields)[:batch_size])
            if not rows:
                break
            snapshots = [
                EntrySnapshot(
                    **{key: str(row[key]) if key in ("id", "integration_id") else row[key] for key in fields},
                    deleted=False,
                )
                for row in rows
            ]
            articles = [article_of(entry, language, []) for entry in snapshots]
            results = client.post(api.ARTICLES_SYNC_PATH, json={"articles": articles}).raise_for_status().json()
            assert all(result["status"] == "success" for result in results["results"])
            client.post(api.SYNC_COMPLETE_PATH, json={}).raise_for_status()
            now = timezone.now()
            ledger = [
                PushLedgerEntry(
                    destination=destination,
                    entry_id=entry.id,
                    accepted_hash=entry.content_hash,
                    accepted_at=now,
                    remote_id=article["reference_id"],
                )
                for entry, article in zip(snapshots, articles, strict=True)
            ]
            with transaction.atomic():
                PushLedgerEntry.objects.bulk_create(ledger)
            sent += len(rows)
            after = rows[-1]["id"]
    seconds = time.perf_counter() - started
    return {"sent": sent, "seconds": seconds, "rate": sent / seconds, "calls": len(upstream.calls) - calls_before}


def main() -> int:
    args = arguments()
    env = environment(args)
    os.environ.update(env)
    ensure_database(args.database_url)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=os.environ, check=True
    )
    import django

    django.setup()
    from hub.services import organisation_create
    from integrations.services import integration_create
    from tests.conftest import ensure_plans
    from tests.fakes.leena import FakeLeena

    ensure_plans()
    organisation = organisation_create(
        name=f"Bench {time.time():.0f}", plan_code="enterprise", subscription_status="active"
    )

    def integration(kind: str, name: str, config: dict):
        return integration_create(organisation=organisation, user=None, type=kind, name=name, config=config)[0]

    with FakeLeena() as leena:
        upstream = leena.upstream
        source = integration("webhook", "source", {})
        print(f"Writing {args.entries} entries ...", flush=True)
        entries_make(source, args.entries)
        statistics_refresh()
        destination = integration("leena", "Leena", leena.config(sources=str(source.pk), batch_size=args.batch_size))
        # The plain loops keep their ledgers under destinations of their own, which never run.
        plain_config = leena.config(sources=str(source.pk), batch_size=args.batch_size)
        plain_before, plain_after = (
            integration("leena", "plain 1", plain_config),
            integration("leena", "plain 2", plain_config),
        )
        print("Plain loop (before) ...", flush=True)
        before = plain_loop(source, plain_before, leena, args.batch_size, "en")
        print("Engine and connector ...", flush=True)
        calls_before = len(upstream.calls)
        full = engine_push(destination)
        full_calls = upstream.steps()[calls_before:]
        print("Plain loop (after) ...", flush=True)
        after = plain_loop(source, plain_after, leena, args.batch_size, "en")

        edits_apply(source, args.edits, args.entries)
        statistics_refresh()
        calls_before = len(upstream.calls)
        incremental = engine_push(destination)
        incremental_calls = upstream.steps()[calls_before:]
        calls_before = len(upstream.calls)
        unchanged = engine_push(destination)
        unchanged_calls = upstream.steps()[calls_before:]

    job, raw_rate = full["job"], (before["rate"] + after["rate"]) / 2
    print()
    print(f"{'path':<30}{'articles':>9}{'seconds':>10}{'articles/s':>12}{'calls':>8}")
    rows = [
        ("plain loop (before)", before["sent"], before["seconds"], before["rate"], before["calls"]),
        ("engine + connector", job.records_imported, full["seconds"], full["rate"], len(full_calls)),
        ("plain loop (after)", after["sent"], after["seconds"], after["rate"], after["calls"]),
    ]
    for name, articles, seconds, rate, calls in rows:
        print(f"{name:<30}{articles:>9}{seconds:>10.2f}{rate:>12,.0f}{calls:>8}")
    ratio = full["rate"] / raw_rate
    print(f"\nengine / plain loop (mean of before and after): {ratio:.2f} (target >= {RATIO_TARGET})")
    counted = {step: full_calls.count(step) for step in ("token", "sync", "complete")}
    print(f"engine's calls: {counted}")
    inc_job = incremental["job"]
    inc_counted = {step: incremental_calls.count(step) for step in ("token", "sync", "complete")}
    print(
        f"incremental after {args.edits} edits of {args.entries}: {incremental['seconds']:.3f} s, "
        f"offered {inc_job.records_found}, accepted {inc_job.records_imported}, calls {inc_counted}"
    )
    print(f"a run with nothing changed: {unchanged['seconds']:.3f} s, calls {len(unchanged_calls)}")
    problems = []
    cycles = -(-args.entries // args.batch_size)
    if job.records_imported != args.entries or counted != {"token": 1, "sync": cycles, "complete": cycles}:
        problems.append(f"the full run accepted {job.records_imported} with calls {counted}")
    if inc_job.records_imported != args.edits or inc_counted["complete"] != -(-args.edits // args.batch_size):
        problems.append(f"the incremental run accepted {inc_job.records_imported} with calls {inc_counted}")
    if unchanged_calls:
        problems.append(f"a run with nothing changed called Leena: {unchanged_calls}")
    for problem in problems:
        print(f"CORRECTNESS: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
