"""Bench a full Haiilo sync through a real Celery worker on PostgreSQL against the raw limit.

Run: `.venv/bin/python bench/haiilo_sync.py [--events 100000] [--page-size 1000] [--latency-ms 80] [--slices 4]`.
See bench/README.md for what the figures mean. Exits non-zero only when correctness fails.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/bench_haiilo"
RATIO_TARGET = 0.8  # sync / raw limit, printed, never asserted
WALL_TARGET = 1.3  # sync wall / slowest slice, with latency
RSS_TARGET_MB = 250.0
SPREAD_TARGET = 1.5  # spread over two workers / one worker, printed, never asserted


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="events in the fake tenant (default 100000)")
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=100, help="changes before the incremental sync")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL))
    parser.add_argument("--broker-url", default=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/2"))
    parser.add_argument("--latency-ms", type=float, default=0.0, help="fixed delay of the fake per request")
    parser.add_argument("--slices", type=int, help="RUN_MAX_CONCURRENT_SLICES for the worker (default: the hub's)")
    parser.add_argument(
        "--workers", type=int, default=1, help="also sync spread over this many worker processes (RUN_SLICE_TASKS)"
    )
    parser.add_argument("--baseline-child", help=argparse.SUPPRESS)  # JSON arguments of the raw loop
    return parser.parse_args()


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the highest resident set size the process has had."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def ensure_database(database_url: str) -> None:
    import psycopg

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def django_env(args: argparse.Namespace, queue: str) -> dict[str, str]:
    from bench.keys import bench_keys

    return {
        **os.environ,
        **bench_keys(),
        "DJANGO_SETTINGS_MODULE": "hub.settings",
        "DATABASE_URL": args.database_url,
        "CELERY_BROKER_URL": args.broker_url,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "RUNS_QUEUE": f"{queue}-runs",  # sync runs go to the runs queue (hub/queues.py)
        "ALLOW_PRIVATE_UPSTREAMS": "true",
        **({"RUN_MAX_CONCURRENT_SLICES": str(args.slices)} if args.slices else {}),
        "RUN_SLICE_TASKS": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }


# --- the raw limit: fetch, parse, COPY + merge of the raw fields, no mapping -----------------------------
TITLE_FIELDS = ("title", "name", "displayName", "subject", "label")
TEXT_FIELDS = ("textContent", "description", "text", "content", "body", "teaserText", "teaser")


def raw_field(event: dict, names: tuple[str, ...]) -> str:
    """The first of `names` the event has, as its raw string (a language map gives its first value)."""
    for name in names:
        value = event.get(name)
        if isinstance(value, dict):
            value = next(iter(value.values()), None)
        if value:
            return str(value)
    return ""


def raw_session(spec: dict):
    import httpx

    http = httpx.Client(base_url=spec["url"], timeout=60)
    token = http.post(
        "/api/oauth/token", data={"grant_type": "client_credentials"}, auth=(spec["client_id"], spec["client_secret"])
    ).json()["access_token"]
    http.headers["Authorization"] = f"Bearer {token}"
    return http


def slice_pages(http, spec: dict, entity_type: str):
    """One slice as the connector reads it: the type's deletes pages, then its events pages, in order."""
    for suffix in ("/deletes", ""):
        start = 0
        while True:
            params = {"startId": start, "pageSize": spec["page_size"]}
            page = http.get(f"/web/content-connector/events/{entity_type}{suffix}", params=params).json()
            yield suffix, page["content"]
            if len(page["content"]) < spec["page_size"]:
                break
            start = page["lastEventId"]


def baseline_child(spec: dict) -> None:
    """The physical limit without the hub, in its own process like the worker: every page fetched and
    parsed, each kept event staged straight from its raw fields (raw title, raw HTML body as content, no
    HTML to text, no languages, no links), COPY + merge per page. Drafts and private items are left out with
    the connector's own `skip_reason` (a status test, so that both write the same ids)."""
    import django

    django.setup()
    import psycopg

    from connectors.base import Record
    from connectors.haiilo.mapping import skip_reason
    from integrations.knowledge.copy import _stage_row, _statements
    from integrations.knowledge.writes import content_hash

    create, copy_sql, merge = _statements()
    started = time.perf_counter()
    events = rows = 0
    with contextlib.closing(raw_session(spec)) as http, psycopg.connect(spec["database_url"]) as db:
        for entity_type in spec["types"]:
            for suffix, content in slice_pages(http, spec, entity_type):
                if suffix:
                    continue
                events += len(content)
                by_id = {}
                for event in content:
                    if event.get("eventType") == "DELETE" or skip_reason(event):
                        continue
                    record = Record(
                        external_id=f"{entity_type}:{event['entityId']}",
                        title=raw_field(event, TITLE_FIELDS),
                        content=raw_field(event, TEXT_FIELDS),
                    )
                    by_id[record.external_id] = _stage_row(record, content_hash(record))
                if by_id:
                    with db.transaction(), db.cursor() as cursor:
                        cursor.execute(create)
                        with cursor.copy(copy_sql) as copy:
                            for row in by_id.values():
                                copy.write_row(row)
                        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                        cursor.execute(merge, [spec["org_id"], spec["integration_id"], now, now])
                        rows += sum(1 for (inserted,) in cursor.fetchall() if inserted)
    seconds = time.perf_counter() - started
    print(json.dumps({"events": events, "rows": rows, "seconds": seconds, "peak_rss_mb": peak_rss_mb(os.getpid())}))


def slices_and_mapping(spec: dict) -> dict:
    """Each slice's fetch alone (sequential requests, JSON parsed), then the connector's mapping alone over
    the events already fetched (CPU only, nothing written)."""
    from connectors.haiilo.mapping import record_from_event

    slices: dict[str, float] = {}
    fetched: list[tuple[str, dict]] = []
    with contextlib.closing(raw_session(spec)) as http:
        for entity_type in spec["types"]:
            started = time.perf_counter()
            for suffix, content in slice_pages(http, spec, entity_type):
                fetched.extend((entity_type, event) for event in content if not suffix)
            slices[entity_type] = time.perf_counter() - started
    started = time.perf_counter()
    for entity_type, event in fetched:
        if event.get("eventType") != "DELETE":
            record_from_event(entity_type, event, spec["url"])
    return {"slices": slices, "events": len(fetched), "mapping_seconds": time.perf_counter() - started}


def baseline_run(args, env, fake, organisation, integration, child: bool = True) -> dict:
    spec = {
        "url": fake.url,
        "client_id": fake.tenant.client_id,
        "client_secret": fake.tenant.client_secret,
        "page_size": args.page_size,
        "types": list(integration.config.get("entity_types") or []) or None,
        "database_url": args.database_url,
        "org_id": str(organisation.id),
        "integration_id": str(integration.id),
    }
    from connectors.haiilo.mapping import SUPPORTED_TYPES

    spec["types"] = spec["types"] or list(SUPPORTED_TYPES)
    if not child:
        return spec
    command = [sys.executable, __file__, "--baseline-child", json.dumps(spec)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"the raw-limit loop failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the sync through a real worker ----------------------------------------------------------------------
def worker_start(env: dict[str, str], queue: str, log_path: Path, name: str = "bench") -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "hub",
        "worker",
        "--pool=solo",
        "-l",
        "warning",
        "-Q",
        f"{queue},{queue}-runs",
        "-n",
        f"{name}-{os.getpid()}@%h",
    ]
    log = open(log_path, "w")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"worker exited early:\n{log_path.read_text()}")
        if " ready." in log_path.read_text() or "celery@" in log_path.read_text():
            break
        time.sleep(0.2)
    time.sleep(1.0)
    return process


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes have used (of the ones still alive)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (all but idle and iowait), from /proc/stat."""
    fields = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def sync_run(integration, workers: list[int] | None = None) -> dict:
    """The job to its end; with `workers`, the CPU seconds they and the whole machine used meanwhile."""
    from integrations.models import SyncJob
    from integrations.runs.engine import sync_job_request

    cpu_before = [cpu_seconds(workers or []), machine_busy_seconds()]
    wall_started = time.perf_counter()
    job, _ = sync_job_request(organisation=integration.organisation, integration=integration, user=None)
    while True:
        job = SyncJob.objects.get(id=job.id)
        if job.status in ("completed", "failed"):
            break
        time.sleep(0.05)
    wall = time.perf_counter() - wall_started
    if job.status != "completed":
        raise SystemExit(f"sync failed: {job.error_message}")
    seconds = (job.completed_at - job.started_at).total_seconds()
    cpu = {"workers": cpu_seconds(workers or []) - cpu_before[0], "machine": machine_busy_seconds() - cpu_before[1]}
    return {"job": job, "seconds": seconds, "wall": wall, "cpu": cpu}


def spread_run(args, env: dict[str, str], organisation, config: dict, tmp: Path) -> dict:
    """A full sync of a new integration spread over `args.workers` workers (each a process of its own,
    on a queue of their own), the job's time and every worker's peak RSS."""
    from django.conf import settings

    from integrations.services import integration_create

    queue = f"{env['CELERY_TASK_DEFAULT_QUEUE']}-spread"
    spread_env = {**env, "CELERY_TASK_DEFAULT_QUEUE": queue, "RUNS_QUEUE": f"{queue}-runs"}
    spread_env["RUN_SLICE_TASKS"] = str(args.workers)
    integration, _ = integration_create(
        organisation=organisation, user=None, type="haiilo", name="spread", config=config
    )
    workers = [worker_start(spread_env, queue, tmp / f"spread-{n}.log", name=f"spread{n}") for n in range(args.workers)]
    runs_queue, settings.RUNS_QUEUE = settings.RUNS_QUEUE, spread_env["RUNS_QUEUE"]
    try:
        run = sync_run(integration, workers=[worker.pid for worker in workers])
        run["rss"] = [peak_rss_mb(worker.pid) for worker in workers]
    finally:
        settings.RUNS_QUEUE = runs_queue
        for worker in workers:
            worker.terminate()
            worker.wait(timeout=30)
    from integrations.models import SyncJobSlice

    slices = SyncJobSlice.objects.filter(job=run["job"])
    run["parts"] = len({row.worker for row in slices})
    run["integration"] = integration
    return run


def spread_report(args, one: dict, spread: dict, alone: dict) -> None:
    events = one["job"].records_synced
    one_rate, spread_rate = events / one["seconds"], spread["job"].records_synced / spread["seconds"]
    print()
    print(f"spread over {args.workers} workers (RUN_SLICE_TASKS={args.workers}; {spread['parts']} took part): "
          f"{spread['seconds']:.2f} s job time, {spread_rate:.0f} events/s; one worker {one['seconds']:.2f} s, "
          f"{one_rate:.0f} events/s")  # fmt: skip
    print(ratio_line(f"{args.workers} workers / one worker", spread_rate / one_rate, f">= {SPREAD_TARGET}"))
    print("spread workers' peak RSS (MB): " + ", ".join(f"{rss:.1f}" for rss in spread["rss"]))
    _, slowest_s, _ = slices_summary(alone["slices"])
    print(ratio_line("spread wall / slowest slice", spread["wall"] / slowest_s, f"<= {WALL_TARGET}, with latency"))
    for name, run in (("one worker", one), (f"{args.workers} workers", spread)):
        cpu = run["cpu"]
        print(f"cores busy during the sync, {name}: workers {cpu['workers'] / run['wall']:.2f}, "
              f"the whole machine {cpu['machine'] / run['wall']:.2f} (PostgreSQL, the fake, ...), "
              f"of {os.cpu_count()}")  # fmt: skip


def changes_apply(tenant, count: int) -> None:
    """`count` changes across types: 60% updates, 20% creates, 20% deletes."""
    from tests.fakes.haiilo import TYPES

    for n in range(count):
        entity_type = TYPES[n % len(TYPES)]
        ids = tenant.generated_ids(entity_type)
        if n % 5 == 3:
            tenant.create(
                entity_type,
                name={"en": f"New {n}"},
                description={"en": f"<p>Created {n}</p>"},
                title={"en": f"New {n}"},
                textContent={"en": f"<p>Created {n}</p>"},
            )
        elif n % 5 == 4:
            tenant.delete(entity_type, ids[n])
        else:
            tenant.update(
                entity_type,
                ids[n * 3],
                modifiedDate="2026-11-23T00:00:00Z",
                description={"en": f"<p>Changed {n}</p>"},
                textContent={"en": f"<p>Changed {n}</p>"},
            )


def main() -> int:
    args = arguments()
    if args.baseline_child:
        baseline_child(json.loads(args.baseline_child))
        return 0
    queue = f"bench-haiilo-{os.getpid()}"
    env = django_env(args, queue)
    os.environ.update(
        {
            k: env[k]
            for k in (
                "DJANGO_SETTINGS_MODULE",
                "DATABASE_URL",
                "CELERY_BROKER_URL",
                "CELERY_TASK_DEFAULT_QUEUE",
                "RUNS_QUEUE",
                "ALLOW_PRIVATE_UPSTREAMS",
                "SECRET_KEY",
                "FIELD_ENCRYPTION_KEYS",
            )
        }
    )
    ensure_database(args.database_url)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    import django

    django.setup()
    from hub.services import organisation_create
    from integrations.models import KnowledgeEntry
    from integrations.services import integration_create
    from tests.conftest import ensure_plans
    from tests.fakes.haiilo import FakeHaiilo

    ensure_plans()
    print(f"Generating a fake Haiilo tenant of {args.events} events ...", flush=True)
    fake = FakeHaiilo()
    fake.tenant.generate(args.events)
    pages = fake.tenant.prerender(args.page_size)  # pages are served from memory: the fake is not measured
    print(f"  {pages} pages of up to {args.page_size} events rendered in advance", flush=True)
    with fake, tempfile.TemporaryDirectory() as tmp:
        organisation = organisation_create(
            name=f"Bench {time.time():.0f}", plan_code="enterprise", subscription_status="active"
        )
        config = fake.config(page_size=args.page_size)
        synced, _ = integration_create(organisation=organisation, user=None, type="haiilo", name="sync", config=config)
        raw_a, _ = integration_create(organisation=organisation, user=None, type="haiilo", name="raw", config=config)
        raw_b, _ = integration_create(organisation=organisation, user=None, type="haiilo", name="raw2", config=config)
        fake.tenant.delay = args.latency_ms / 1000
        worker = worker_start(env, queue, Path(tmp) / "worker.log")
        try:
            rss_idle = peak_rss_mb(worker.pid)
            print("Raw limit (before) ...", flush=True)
            baseline_before = baseline_run(args, env, fake, organisation, raw_a)
            print("Slices fetched alone, then the mapping alone ...", flush=True)
            alone = slices_and_mapping(baseline_run(args, env, fake, organisation, raw_a, child=False))
            print("Sync through the worker ...", flush=True)
            full = sync_run(synced, workers=[worker.pid])
            rss_full = peak_rss_mb(worker.pid)
            print("Raw limit (after) ...", flush=True)
            baseline_after = baseline_run(args, env, fake, organisation, raw_b)
            correctness = check(synced, raw_a, full, KnowledgeEntry)
            spread = None
            if args.workers > 1:
                print(f"Sync spread over {args.workers} workers ...", flush=True)
                spread = spread_run(args, env, organisation, config, Path(tmp))
                correctness |= check(synced, raw_a, spread, KnowledgeEntry, integration=spread["integration"])
            changes_apply(fake.tenant, args.changes)
            gets_before, tokens_before = len(fake.api_requests()), fake.tenant.token_requests
            incremental = sync_run(synced)
            gets = fake.api_requests()[gets_before:]
            tokens = fake.tenant.token_requests - tokens_before
        finally:
            worker.terminate()
            worker.wait(timeout=30)
        report(args, full, baseline_before, baseline_after, alone, rss_idle, rss_full, incremental, gets, tokens)
        if spread is not None:
            spread_report(args, full, spread, alone)
        return correctness


def ratio_line(name: str, value: float, goal: str) -> str:
    """One printed ratio with its goal; the goal is printed, never asserted."""
    return f"{name}: {value:.2f} (goal {goal})"


def slices_summary(slices: dict[str, float]) -> tuple[str, float, float]:
    """The slowest slice (name, seconds) and the sum of all slices' seconds."""
    slowest = max(slices, key=slices.__getitem__)
    return slowest, slices[slowest], sum(slices.values())


def report(args, full, before, after, alone, rss_idle, rss_full, incremental, gets, tokens) -> None:
    job = full["job"]
    events = before["events"]  # every event fetched: the same items for the limit, the mapping and the sync
    sync_rate = events / full["seconds"]
    baseline = max(before, after, key=lambda b: b["events"] / b["seconds"])
    raw_rate = baseline["events"] / baseline["seconds"]
    mapping_rate = alone["events"] / alone["mapping_seconds"]
    print()
    print(f"{args.events} events, pages of {args.page_size}, latency {args.latency_ms:g} ms/request, "
          f"RUN_MAX_CONCURRENT_SLICES={args.slices or 'hub default'}")  # fmt: skip
    print(f"{'':28}{'events':>9}{'created':>9}{'seconds':>9}{'events/s':>10}{'entries/s':>11}{'peak RSS MB':>13}")
    for name, b in (("raw limit (before)", before), ("raw limit (after)", after)):
        print(
            f"{name:28}{b['events']:>9}{b['rows']:>9}{b['seconds']:>9.2f}{b['events'] / b['seconds']:>10.0f}"
            f"{b['rows'] / b['seconds']:>11.0f}{b['peak_rss_mb']:>13.1f}"
        )
    print(f"{'mapping alone (CPU)':28}{alone['events']:>9}{'':>9}{alone['mapping_seconds']:>9.2f}{mapping_rate:>10.0f}")
    print(
        f"{'sync (worker, job time)':28}{events:>9}{job.entries_created:>9}{full['seconds']:>9.2f}"
        f"{sync_rate:>10.0f}{job.entries_created / full['seconds']:>11.0f}{rss_full:>13.1f}"
    )
    print(f"{'sync (wall, with dispatch)':28}{'':>9}{'':>9}{full['wall']:>9.2f}{events / full['wall']:>10.0f}")
    print(f"(the sync's records_synced: {job.records_synced}, records_skipped: {job.records_skipped})")
    print()
    print(ratio_line("sync / raw limit", sync_rate / raw_rate, f">= {RATIO_TARGET}; limit = the faster raw run"))
    print(ratio_line("mapping alone / raw limit", mapping_rate / raw_rate, "none: how much CPU the mapping costs"))
    slowest, slowest_s, total = slices_summary(alone["slices"])
    print("slice fetch alone (s): " + ", ".join(f"{t} {s:.2f}" for t, s in alone["slices"].items()))
    print(f"slowest slice {slowest} {slowest_s:.2f} s, sum of slices {total:.2f} s, sync wall {full['wall']:.2f} s")
    print(ratio_line("sync wall / slowest slice", full["wall"] / slowest_s, f"<= {WALL_TARGET}, with latency"))
    print(f"worker peak RSS: {rss_full:.1f} MB (idle {rss_idle:.1f} MB; target < {RSS_TARGET_MB:.0f} MB)")
    inc = incremental["job"]
    per_type: dict[str, int] = {}
    for path in gets:
        entity_type = urlsplit(path).path.split("/")[4]
        per_type[entity_type] = per_type.get(entity_type, 0) + 1
    print(
        f"incremental after {args.changes} changes: {len(gets)} event/delete requests + {tokens} token "
        f"request(s) ({', '.join(f'{t} {n}' for t, n in per_type.items())}); "
        f"{inc.records_synced} records synced, {inc.progress.get('entries_deleted')} deleted; "
        f"job {incremental['seconds']:.2f} s, wall {incremental['wall']:.2f} s"
    )


def check(synced, raw, full, KnowledgeEntry, integration=None) -> int:
    """The sync and the raw limit wrote the same ids, as many entries (contents differ: the limit does not map)."""
    live = KnowledgeEntry.objects.filter(integration=integration or synced, deleted_at__isnull=True)
    ours = set(live.values_list("external_id", flat=True))
    theirs = set(KnowledgeEntry.objects.filter(integration=raw).values_list("external_id", flat=True))
    job = full["job"]
    problems = []
    if job.entries_created != len(theirs):
        problems.append(f"the sync created {job.entries_created} entries, the raw limit {len(theirs)}")
    if ours != theirs:
        problems.append(f"ids differ: {len(ours - theirs)} only the sync's, {len(theirs - ours)} only the limit's, "
                        f"e.g. {sorted(ours ^ theirs)[:3]}")  # fmt: skip
    for problem in problems:
        print(f"CORRECTNESS: {problem}")
    if not problems:
        print(f"correctness: the sync wrote the same {len(theirs)} entry ids as the raw limit")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
