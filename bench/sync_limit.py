"""What the sync benches share (haiilo_sync.py, confluence_sync.py): the database, the worker and the
sync through the hub; the raw limit's COPY + merge without the hub; and the printed figures.

See bench/README.md. The figures are printed beside their goals, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
RATIO_TARGET = 0.8  # sync / raw limit
WALL_TARGET = 1.3  # sync wall / slowest slice, with latency
RSS_TARGET_MB = 250.0
SPREAD_TARGET = 1.5  # spread over two workers / one worker
# What the bench process itself needs of the worker's environment to create integrations and jobs.
PROCESS_ENV_KEYS = (
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "CELERY_TASK_DEFAULT_QUEUE",
    "RUNS_QUEUE",
    "ALLOW_PRIVATE_UPSTREAMS",
    "SECRET_KEY",
    "FIELD_ENCRYPTION_KEYS",
)


def arguments_add(parser: argparse.ArgumentParser, database_url: str) -> None:
    """The switches every sync bench has: where it runs, the fake's latency, the worker's slices."""
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", database_url))
    parser.add_argument("--broker-url", default=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/2"))
    parser.add_argument("--latency-ms", type=float, default=0.0, help="fixed delay of the fake per request")
    parser.add_argument("--slices", type=int, help="RUN_MAX_CONCURRENT_SLICES for the worker (default: the hub's)")
    parser.add_argument(
        "--workers", type=int, default=1, help="also sync spread over this many worker processes (RUN_SLICE_TASKS)"
    )
    parser.add_argument("--baseline-child", help=argparse.SUPPRESS)  # JSON arguments of the raw loop


# --- processes: the database, the worker, the raw limit's child --------------------------------------------
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


def django_env(*, database_url: str, broker_url: str, queue: str, slices: int | None) -> dict[str, str]:
    """The production settings on the bench database, for the worker, the raw limit and this process."""
    from bench.keys import bench_keys

    return {
        **os.environ,
        **bench_keys(),
        "DJANGO_SETTINGS_MODULE": "hub.settings",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "RUNS_QUEUE": f"{queue}-runs",  # sync runs go to the runs queue (hub/queues.py)
        "ALLOW_PRIVATE_UPSTREAMS": "true",
        **({"RUN_MAX_CONCURRENT_SLICES": str(slices)} if slices else {}),
        "RUN_SLICE_TASKS": "1",  # the sync on one worker; spread_run sets its own
        "MALLOC_ARENA_MAX": "2",  # as docker-compose.yml and `make run` start the workers
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }


def django_ready(env: dict[str, str]) -> None:
    """Create and migrate the bench database, then set Django up in this process with `env`."""
    os.environ.update({key: env[key] for key in PROCESS_ENV_KEYS})
    ensure_database(env["DATABASE_URL"])
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    import django

    django.setup()


def bench_ready(args: argparse.Namespace, name: str) -> tuple[dict[str, str], str]:
    """The bench's environment and its own queue; the database ready and Django set up in this process."""
    queue = f"bench-{name}-{os.getpid()}"
    env = django_env(database_url=args.database_url, broker_url=args.broker_url, queue=queue, slices=args.slices)
    django_ready(env)
    return env, queue


def child_run(script: str, spec: dict, env: dict[str, str]) -> dict:
    """Run `script --baseline-child SPEC` in its own process, like the worker; its last line as JSON."""
    command = [sys.executable, script, "--baseline-child", json.dumps(spec)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"the raw-limit loop failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def worker_start(env: dict[str, str], queue: str, log_path: Path, name: str = "bench") -> subprocess.Popen:
    """A real `celery worker --pool=solo` on the bench's own queues (the task runs in this very process),
    once it answers a ping: at `-l warning` it logs nothing when it is ready."""
    from hub.celery import app

    name = f"{name}-{os.getpid()}@{socket.gethostname()}"
    command = [sys.executable, "-m", "celery", "-A", "hub", "worker", "--pool=solo", "-l", "warning",
               "-Q", f"{queue},{queue}-runs", "-n", name]  # fmt: skip
    log = open(log_path, "w")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"worker exited early:\n{log_path.read_text()}")
        if app.control.ping(destination=[name], timeout=0.5):
            return process
    process.terminate()
    raise RuntimeError(f"the worker did not answer within 60 s:\n{log_path.read_text()}")


@dataclass
class Measured:
    """One bench run's phases: the raw runs, the slices and mapping alone, the sync, the worker's RSS, and
    what `then` gave (the bench's own checks and incremental sync)."""

    before: dict
    alone: dict
    full: dict
    after: dict
    rss_idle_mb: float
    rss_mb: float
    then: Any


Phase = Callable[[], dict]


def phases_run(env: dict[str, str], queue: str, *, raw_before: Phase, alone: Phase, sync: Callable[[list[int]], dict],
               raw_after: Phase, then: Callable[[dict], Any]) -> Measured:  # fmt: skip
    """The phases in the same order for every bench, on one worker started for them and stopped after;
    `sync` is given the worker's pid, to count its CPU."""
    with tempfile.TemporaryDirectory() as tmp:
        worker = worker_start(env, queue, Path(tmp) / "worker.log")
        try:
            rss_idle = peak_rss_mb(worker.pid)
            print("Raw limit (before) ...", flush=True)
            before = raw_before()
            print("Slices fetched alone, then the mapping alone ...", flush=True)
            slices = alone()
            print("Sync through the worker ...", flush=True)
            full = sync([worker.pid])
            rss = peak_rss_mb(worker.pid)
            print("Raw limit (after) ...", flush=True)
            after = raw_after()
            rest = then(full)
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    return Measured(before, slices, full, after, rss_idle, rss, rest)


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
    """Request a sync, as the API does, and wait for the worker to end it: the job, its time, the wall time;
    with `workers`, the CPU seconds they and the whole machine used meanwhile."""
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


def spread_run(workers: int, env: dict[str, str], integration, log_dir: Path) -> dict:
    """A full sync of `integration` spread over `workers` workers (each a process of its own, on a queue of
    their own): the job, its time, every worker's peak RSS and how many of them took part."""
    from django.conf import settings

    from integrations.models import SyncJobSlice

    queue = f"{env['CELERY_TASK_DEFAULT_QUEUE']}-spread"
    spread_env = {**env, "CELERY_TASK_DEFAULT_QUEUE": queue, "RUNS_QUEUE": f"{queue}-runs"}
    spread_env["RUN_SLICE_TASKS"] = str(workers)
    started = [worker_start(spread_env, queue, log_dir / f"spread-{n}.log", name=f"spread{n}") for n in range(workers)]
    runs_queue, settings.RUNS_QUEUE = settings.RUNS_QUEUE, spread_env["RUNS_QUEUE"]
    try:
        run = sync_run(integration, workers=[worker.pid for worker in started])
        run["rss"] = [peak_rss_mb(worker.pid) for worker in started]
    finally:
        settings.RUNS_QUEUE = runs_queue
        for worker in started:
            worker.terminate()
            worker.wait(timeout=30)
    run["parts"] = len(set(SyncJobSlice.objects.filter(job=run["job"]).values_list("worker", flat=True)))
    return run


def spread_checked(
    workers: int, env: dict[str, str], integration_new: Callable[[], Any], raw
) -> tuple[dict | None, list[str]]:
    """With more than one worker: a sync of a new integration spread over them, and whether it wrote the
    raw limit's ids."""
    if workers <= 1:
        return None, []
    print(f"Sync spread over {workers} workers ...", flush=True)
    integration = integration_new()
    with tempfile.TemporaryDirectory() as tmp:
        spread = spread_run(workers, env, integration, Path(tmp))
    return spread, same_ids_problems(integration, raw, spread["job"])


def spread_lines(unit: str, workers: int, measured: Measured, spread: dict) -> list[str]:
    """The spread sync beside the one-worker sync: job times, rates, their ratio, the workers' RSS, the
    spread's wall time against the slowest slice, and the cores each kept busy."""
    one = measured.full
    one_rate = one["job"].records_synced / one["seconds"]
    spread_rate = spread["job"].records_synced / spread["seconds"]
    _, slowest_s, _ = slices_summary(measured.alone["slices"])
    lines = [
        f"spread over {workers} workers (RUN_SLICE_TASKS={workers}; {spread['parts']} took part): "
        f"{spread['seconds']:.2f} s job time, {spread_rate:.0f} {unit}/s; one worker {one['seconds']:.2f} s, "
        f"{one_rate:.0f} {unit}/s",
        ratio_line(f"{workers} workers / one worker", spread_rate / one_rate, f">= {SPREAD_TARGET}"),
        "spread workers' peak RSS (MB): " + ", ".join(f"{rss:.1f}" for rss in spread["rss"]),
        ratio_line("spread wall / slowest slice", spread["wall"] / slowest_s, f"<= {WALL_TARGET}, with latency"),
    ]
    for name, run in (("one worker", one), (f"{workers} workers", spread)):
        cpu = run["cpu"]
        lines.append(f"cores busy during the sync, {name}: workers {cpu['workers'] / run['wall']:.2f}, "
                     f"the whole machine {cpu['machine'] / run['wall']:.2f} (PostgreSQL, the fake, ...), "
                     f"of {os.cpu_count()}")  # fmt: skip
    return lines


# --- the raw limit's write: the hub's own PostgreSQL batch statements, nothing around them -----------------
def staged_rows(records: Iterable) -> list[list]:
    """Records as staging rows, the last of an external id kept (as the hub keeps a batch's ids unique);
    their metadata encoded once for the hash and the row, as the hub does."""
    from integrations.knowledge.clean import METADATA_JSON
    from integrations.knowledge.copy import _stage_row
    from integrations.knowledge.writes import content_hash

    rows = {}
    for record in records:
        metadata_json = METADATA_JSON.encode(record.metadata)
        rows[record.external_id] = _stage_row(record, content_hash(record, metadata_json), metadata_json)
    return list(rows.values())


def copy_merge(db, rows: list[list], *, org_id: str, integration_id: str) -> int:
    """One batch as integrations/knowledge/copy.py writes it: COPY into the staging table and one merge, in
    one transaction, on a plain psycopg connection; the number of entries it created."""
    if not rows:
        return 0
    from integrations.knowledge.copy import _statements, stage_rows_copy

    create, _, merge = _statements()
    with db.transaction(), db.cursor() as cursor:
        cursor.execute(create)
        stage_rows_copy(cursor, rows)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        cursor.execute(merge, [org_id, integration_id, now, now])
        return sum(1 for (inserted,) in cursor.fetchall() if inserted)


def raw_clock() -> tuple[float, float]:
    """Where the raw-limit child starts its clock: the wall time and this process's CPU time."""
    return time.perf_counter(), time.process_time()


def raw_result(items: int, rows: int, started: tuple[float, float]) -> str:
    """The raw-limit child's last line: what it fetched and created, its time, its CPU time (since
    `raw_clock`) and its own peak RSS."""
    seconds, cpu = time.perf_counter() - started[0], time.process_time() - started[1]
    return json.dumps({"items": items, "rows": rows, "seconds": seconds, "cpu_seconds": cpu,
                       "peak_rss_mb": peak_rss_mb(os.getpid())})  # fmt: skip


# --- the figures ------------------------------------------------------------------------------------------
@dataclass
class Row:
    """One line of the table: `items` fetched (shown unless `items_shown` is off), entries created, time."""

    name: str
    items: int
    seconds: float
    created: int | None = None
    rss_mb: float | None = None
    items_shown: bool = True


def table(unit: str, rows: list[Row]) -> list[str]:
    """The table's lines: items, created, seconds, items/s, entries/s and peak RSS per row."""
    lines = [f"{'':28}{unit:>9}{'created':>9}{'seconds':>9}{unit + '/s':>10}{'entries/s':>11}{'peak RSS MB':>13}"]
    for row in rows:
        items = f"{row.items:>9}" if row.items_shown else f"{'':>9}"
        created = f"{row.created:>9}" if row.created is not None else f"{'':>9}"
        per_entry = f"{row.created / row.seconds:>11.0f}" if row.created is not None else f"{'':>11}"
        rss = f"{row.rss_mb:>13.1f}" if row.rss_mb is not None else ""
        rate = f"{row.seconds:>9.2f}{row.items / row.seconds:>10.0f}"
        lines.append(f"{row.name:28}{items}{created}{rate}{per_entry}{rss}")
    return lines


def ratio_line(name: str, value: float, goal: str) -> str:
    """One printed ratio with its goal; the goal is printed, never asserted."""
    return f"{name}: {value:.2f} (goal {goal})"


def slices_summary(slices: dict[str, float]) -> tuple[str, float, float]:
    """The slowest slice (name, seconds) and the sum of all slices' seconds."""
    slowest = max(slices, key=slices.__getitem__)
    return slowest, slices[slowest], sum(slices.values())


def limit_lines(*, sync_rate: float, raw_rate: float, mapping_rate: float, slices: dict[str, float],
                wall: float, rss_mb: float, rss_idle_mb: float) -> list[str]:  # fmt: skip
    """The ratios against the limit, the slices beside the sync's wall time, and the worker's memory."""
    slowest, slowest_s, total = slices_summary(slices)
    return [
        ratio_line("sync / raw limit", sync_rate / raw_rate, f">= {RATIO_TARGET}; limit = the faster raw run"),
        ratio_line("mapping alone / raw limit", mapping_rate / raw_rate, "none: how much CPU the mapping costs"),
        "slice fetch alone (s): " + ", ".join(f"{name} {seconds:.2f}" for name, seconds in slices.items()),
        f"slowest slice {slowest} {slowest_s:.2f} s, sum of slices {total:.2f} s, sync wall {wall:.2f} s",
        ratio_line("sync wall / slowest slice", wall / slowest_s, f"<= {WALL_TARGET}, with latency"),
        f"worker peak RSS: {rss_mb:.1f} MB (idle {rss_idle_mb:.1f} MB; target < {RSS_TARGET_MB:.0f} MB)",
    ]


def limit_report(unit: str, measured: Measured, note: str) -> list[str]:
    """The table and the figures against the limit (the faster raw run); `note`: a line after the table."""
    before, after, alone, full = measured.before, measured.after, measured.alone, measured.full
    rss_mb, rss_idle_mb = measured.rss_mb, measured.rss_idle_mb
    job = full["job"]
    items = before["items"]  # every item fetched: the same for the limit, the mapping and the sync
    baseline = max(before, after, key=lambda b: b["items"] / b["seconds"])
    rows = [
        Row("raw limit (before)", before["items"], before["seconds"], before["rows"], before["peak_rss_mb"]),
        Row("raw limit (after)", after["items"], after["seconds"], after["rows"], after["peak_rss_mb"]),
        Row("mapping alone (CPU)", alone["items"], alone["mapping_seconds"]),
        Row("sync (worker, job time)", items, full["seconds"], job.entries_created, rss_mb),
        Row("sync (wall, with dispatch)", items, full["wall"], items_shown=False),
    ]
    figures = limit_lines(
        sync_rate=items / full["seconds"],
        raw_rate=baseline["items"] / baseline["seconds"],
        mapping_rate=alone["items"] / alone["mapping_seconds"],
        slices=alone["slices"],
        wall=full["wall"],
        rss_mb=rss_mb,
        rss_idle_mb=rss_idle_mb,
    )
    cpu = full["cpu"]
    busy = [
        f"cores busy during the sync: the worker {cpu['workers'] / full['wall']:.2f}, the whole machine "
        f"{cpu['machine'] / full['wall']:.2f} (PostgreSQL, the fake, ...), of {os.cpu_count()}",
        f"CPU seconds: the sync's worker {cpu['workers']:.2f}, the raw limit's process {baseline['cpu_seconds']:.2f} "
        f"(the rest of their time they wait for PostgreSQL or the fake)",
    ]
    return [*table(unit, rows), note, "", *figures, *busy]


def limit_print(args: argparse.Namespace, title: str, unit: str, measured: Measured, note: str) -> None:
    """The run's switches, then the table and the figures against the limit."""
    print()
    print(f"{title}, latency {args.latency_ms:g} ms/request, "
          f"RUN_MAX_CONCURRENT_SLICES={args.slices or 'hub default'}")  # fmt: skip
    print("\n".join(limit_report(unit, measured, note)))


def run_end(args: argparse.Namespace, unit: str, measured: Measured, spread: dict | None, problems: list[str]) -> int:
    """The spread figures (if any), what went wrong, and the exit status: 1 only when correctness failed."""
    if spread is not None:
        print()
        print("\n".join(spread_lines(unit, args.workers, measured, spread)))
    for problem in problems:
        print(f"CORRECTNESS: {problem}")
    return 1 if problems else 0


def same_ids_problems(synced, raw, job) -> list[str]:
    """The sync (its integration `synced`, its job) and the raw limit wrote the same ids, as many entries
    (contents differ: the limit does not map)."""
    from integrations.models import KnowledgeEntry

    live = KnowledgeEntry.objects.filter(deleted_at__isnull=True)
    ours = set(live.filter(integration=synced).values_list("external_id", flat=True))
    theirs = set(KnowledgeEntry.objects.filter(integration=raw).values_list("external_id", flat=True))
    problems = []
    if job.entries_created != len(theirs):
        problems.append(f"the sync created {job.entries_created} entries, the raw limit {len(theirs)}")
    if ours != theirs:
        problems.append(f"ids differ: {len(ours - theirs)} only the sync's, {len(theirs - ours)} only the limit's, "
                        f"e.g. {sorted(ours ^ theirs)[:3]}")  # fmt: skip
    if not problems:
        print(f"correctness: the sync wrote the same {len(theirs)} entry ids as the raw limit")
    return problems
