"""Bench the LeanIX connector both ways against the fake LeanIX, beside the raw limit of the same LDIF work.

Run: `.venv/bin/python bench/leanix_runs.py [--items 50000] [--run-size 5000]` (PostgreSQL, see
bench/README.md). Each job runs in a worker process of its own (`--job`), whose peak RSS is reported.
Exits non-zero only when correctness fails.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/bench_leanix"
RSS_TARGET_MB = 250


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--run-size", type=int, default=5000, help="the integration's run_size")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL))
    parser.add_argument("--job", nargs=2, metavar=("JOB_ID", "ORG_ID"), help=argparse.SUPPRESS)
    return parser.parse_args()


def environment(args: argparse.Namespace) -> dict[str, str]:
    from bench.keys import bench_keys

    return {
        **bench_keys(),
        "DJANGO_SETTINGS_MODULE": "hub.settings",
        "DATABASE_URL": args.database_url,
        "CELERY_BROKER_URL": "memory://",  # the jobs run in worker processes started here; no task is sent
        "ALLOW_PRIVATE_UPSTREAMS": "true",  # the fake LeanIX is on 127.0.0.1
        "LEANIX_POLL_FIRST_SECONDS": "0.1",
        "LEANIX_POLL_MAX_SECONDS": "1",
        "LOG_LEVEL": "WARNING",
    }


def worker_job(job_id: str, org_id: str) -> None:
    """The worker's side: one job through the engine, then its figures and this process's peak RSS."""
    import django

    django.setup()
    from integrations.runs.engine import sync_job_run

    started = time.perf_counter()
    outcome = sync_job_run(job_id=job_id, org_id=org_id)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"status": outcome.status, "seconds": seconds, "peak_rss_mb": peak_mb}))


def job_in_worker(integration, env: dict[str, str]) -> dict:
    from integrations.models import SyncJob

    job = SyncJob.objects.create(organisation_id=integration.organisation_id, integration=integration)
    command = [sys.executable, __file__, "--job", str(job.pk), str(integration.organisation_id)]
    done = subprocess.run(command, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, check=True)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    job.refresh_from_db()
    figures["job"] = job
    return figures


def raw_push_limit(count: int) -> dict:
    """Build the inbound LDIFs of `count` entries in runs of 5000 and parse them back: the least a push does."""
    from datetime import UTC, datetime

    from connectors.base import EntrySnapshot
    from connectors.leanix.ldif import Binding, content_item, ldif_bytes

    now = datetime.now(UTC)
    header = Binding("tributary", "tributary-knowledge-entries", "1.0.0").header(
        direction="inbound", lx_version="1.0.0", description="raw"
    )
    entries = [
        EntrySnapshot(
            id=f"e{n}",
            integration_id="s",
            external_id=f"doc-{n}",
            title=f"Document {n}",
            content=f"Text of document {n}. " * 20,
            html=None,
            url="",
            author="",
            language="en",
            metadata={},
            updated_at=now,
            content_hash="h",
            deleted=False,
        )  # fmt: skip
        for n in range(count)
    ]
    started = time.perf_counter()
    parsed = 0
    for start in range(0, count, 5000):
        ldif = ldif_bytes(
            header, (content_item(e, content_type="knowledgeEntry") for e in entries[start : start + 5000])
        )
        parsed += len(json.loads(ldif)["content"])
    seconds = time.perf_counter() - started
    return {"items": parsed, "seconds": seconds, "rate": parsed / seconds}


def raw_pull_limit(leanix) -> dict:
    """Build the results LDIF of the workspace and parse it item by item into records: the least a pull does."""
    from connectors.leanix.client import results_items
    from connectors.leanix.ldif import record_from_item
    from tests.fakes.leanix import shipped_configuration

    workspace = leanix.workspace
    run = workspace.run_create({"connectorType": "t", "connectorId": "t", "connectorVersion": "t", "lxVersion": "1"})
    started = time.perf_counter()
    results = json.dumps(workspace._export(run, shipped_configuration("outbound"))).encode()
    parsed = sum(
        record_from_item(item, site="https://x", workspace=ws) is not None for ws, item in results_items(results)
    )
    seconds = time.perf_counter() - started
    return {"items": parsed, "seconds": seconds, "rate": parsed / seconds}


def main() -> int:
    args = arguments()
    env = environment(args)
    os.environ.update(env)
    if args.job:
        worker_job(*args.job)
        return 0
    from bench.push_engine import ensure_database, entries_make, statistics_refresh

    ensure_database(args.database_url)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=os.environ,
                   check=True)  # fmt: skip
    import django

    django.setup()
    from hub.services import organisation_create
    from integrations.models import KnowledgeEntry
    from integrations.services import integration_create
    from tests.conftest import ensure_plans
    from tests.fakes.leanix import FakeLeanIX

    ensure_plans()
    organisation = organisation_create(name=f"Bench {time.time():.0f}", plan_code="enterprise",
                                       subscription_status="active")  # fmt: skip
    problems: list[str] = []
    with FakeLeanIX(validate=False) as leanix:
        workspace = leanix.workspace
        for n in range(args.items):
            workspace.fact_sheet_add("Application", f"App {n}", description=f"Application number {n}",
                                     lifecycle={"active": "2020-01-01"}, owners=[f"Team {n % 40}"])  # fmt: skip

        def integration(kind: str, name: str, config: dict):
            return integration_create(organisation=organisation, user=None, type=kind, name=name, config=config)[0]

        puller = integration("leanix", "from LeanIX", leanix.config(direction="from_leanix"))
        print(f"Importing {args.items} fact sheets ...", flush=True)
        pull = job_in_worker(puller, env)
        pulled = KnowledgeEntry.objects.filter(integration=puller, deleted_at__isnull=True).count()
        if pull["status"] != "completed" or pulled != args.items:
            problems.append(f"the pull ended {pull['status']} with {pulled} of {args.items} entries")

        source = integration("webhook", "source", {})
        print(f"Writing {args.items} entries, then sending them ...", flush=True)
        entries_make(source, args.items)
        statistics_refresh()
        pusher = integration("leanix", "to LeanIX", leanix.config(direction="to_leanix", sources=str(source.pk),
                                                                   run_size=args.run_size))  # fmt: skip
        push = job_in_worker(pusher, env)
        inbound = [r for r in workspace.runs.values() if r.ldif.get("processingDirection") == "inbound"]
        written = len(workspace.active("DataObject"))
        if push["status"] != "completed" or written != args.items:
            problems.append(f"the push ended {push['status']} with {written} of {args.items} fact sheets")
        raw_pull, raw_push = raw_pull_limit(leanix), raw_push_limit(args.items)

    outbound = sum(r.ldif.get("processingDirection") == "outbound" for r in workspace.runs.values())
    print()
    print(f"{'path':<40}{'items':>8}{'runs':>6}{'seconds':>9}{'items/s':>10}{'peak RSS MB':>13}")
    rows = [
        ("pull: from_leanix job (worker)", pull["job"].records_synced, outbound, pull["seconds"], pull["peak_rss_mb"]),
        ("push: to_leanix job (worker)", push["job"].records_synced, len(inbound), push["seconds"],
         push["peak_rss_mb"]),
    ]  # fmt: skip
    for name, items, runs, seconds, rss in rows:
        print(f"{name:<40}{items or 0:>8}{runs:>6}{seconds:>9.2f}{(items or 0) / seconds:>10,.0f}{rss:>13.0f}")
    for name, raw in (("raw: parse results LDIF to records", raw_pull), ("raw: build + parse inbound LDIF", raw_push)):
        print(f"{name:<40}{raw['items']:>8}{'':>6}{raw['seconds']:>9.2f}{raw['rate']:>10,.0f}")
    peak = max(pull["peak_rss_mb"], push["peak_rss_mb"])
    print(f"\nworker peak RSS: {peak:.0f} MB (target < {RSS_TARGET_MB} MB)")
    for problem in problems:
        print(f"CORRECTNESS: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
