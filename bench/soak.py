"""Soak the hub: signed webhooks at a steady rate while a Haiilo sync and a Leena publish run beside them.

Run: `.venv/bin/python bench/soak.py [--rate 50] [--duration 60] [--events 20000] [--entries 5000]`.
The hub runs for real: gunicorn serving hub.wsgi, a prefork Celery worker serving every queue the settings
name, PostgreSQL and Redis; the fake Haiilo and Leena serve on 127.0.0.1 from this process. See
bench/README.md. Prints the figures; exits non-zero only when a correctness check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.keys import bench_keys  # noqa: E402
from bench.soak_checks import Accepted  # noqa: E402
from bench.webhook_receive import exchange, free_port, raw_request, signed_calls  # noqa: E402
from tests.processes import process_started  # noqa: E402

POSTGRES = "postgres://postgres@127.0.0.1:5432/postgres"
# A Redis database of the soak's own (the other benches default to 2).
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/15"
LEENA_LANGUAGE = "en"
REQUEST_TIMEOUT_SECONDS = 30.0


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0, help="webhooks per second (default 50)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of webhooks (default 60)")
    parser.add_argument("--connections", type=int, default=16, help="most requests in flight at once")
    parser.add_argument("--events", type=int, default=20_000, help="events in the fake Haiilo tenant")
    parser.add_argument("--page-size", type=int, default=1000, help="the Haiilo integration's page size")
    parser.add_argument("--entries", type=int, default=5_000, help="entries of the knowledge base Leena gets")
    parser.add_argument("--batch-size", type=int, default=100, help="the Leena destination's batch size")
    parser.add_argument("--gunicorn-workers", type=int, default=max(1, 2 * (os.cpu_count() or 1) - 1))
    parser.add_argument("--celery-concurrency", type=int, default=2, help="prefork children (both runs at once)")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"), help="default: a fresh database")
    parser.add_argument("--broker-url", default=os.environ.get("CELERY_BROKER_URL", DEFAULT_BROKER_URL))
    parser.add_argument(
        "--warmup", action=argparse.BooleanOptionalAction, default=True,
        help="first run each kind once on integrations of its own; RSS at start is taken after it",
    )  # fmt: skip
    parser.add_argument("--run-timeout", type=float, default=900.0, help="seconds to wait for the runs")
    parser.add_argument("--sender", action="store_true", help=argparse.SUPPRESS)  # the child that sends
    return parser.parse_args()


# --- the database -------------------------------------------------------------------------------------
@contextlib.contextmanager
def database(url: str | None):
    """`url` as given, else a fresh database beside the default one, dropped at the end."""
    if url:
        yield url
        return
    import psycopg

    name = f"bench_soak_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(POSTGRES)._replace(path="/" + name))
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def environment(database_url: str, broker_url: str) -> dict[str, str]:
    return {
        **os.environ,
        **bench_keys(),
        "DJANGO_SETTINGS_MODULE": "bench.settings_bench",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
        "ALLOW_PRIVATE_UPSTREAMS": "true",  # the fakes are on 127.0.0.1
        # One integration takes every delivery: above the default 6000/min, yet still counted.
        "WEBHOOK_RECEIVE_RATE": "100000000/min",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }


# --- the hub's processes --------------------------------------------------------------------------------
def queues() -> list[str]:
    """Every queue the settings name: the default one and, once runs have their own, `RUNS_QUEUE`."""
    from django.conf import settings

    names = [settings.CELERY_TASK_DEFAULT_QUEUE, getattr(settings, "RUNS_QUEUE", None)]
    return list(dict.fromkeys(name for name in names if name))


def healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def gunicorn(env: dict[str, str], port: int, workers: int):
    command = [
        sys.executable, "-m", "gunicorn", "hub.wsgi:application", "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers), "--backlog", "2048", "--log-level", "warning",
    ]  # fmt: skip
    return process_started(command, env=env, name="soak-gunicorn", ready=lambda _: healthy(port), timeout=60)


def celery_worker(env: dict[str, str], names: list[str], concurrency: int):
    queue_list = ",".join(names)
    subprocess.run(
        [sys.executable, "-m", "celery", "-A", "hub", "purge", "-f", "-Q", queue_list],
        cwd=ROOT, env=env, check=True, capture_output=True,
    )  # fmt: skip  # a task left by an earlier run would point at a dropped database
    command = [
        sys.executable, "-m", "celery", "-A", "hub", "worker", "--pool=prefork",
        f"--concurrency={concurrency}", "-l", "info", "-Q", queue_list, "-n", f"soak-{os.getpid()}@%h",
    ]  # fmt: skip
    return process_started(command, env=env, name="soak-worker", ready=lambda c: " ready." in c.log(), timeout=90)


def rss_bytes(pid: int) -> int:
    """The worker's resident memory: the main process and its prefork children, summed."""
    main = psutil.Process(pid)
    return sum(process.memory_info().rss for process in [main, *main.children(recursive=True)])


# --- what the hub works on --------------------------------------------------------------------------------
def fixtures(args, haiilo, leena, leena_warmup) -> dict:
    from bench.leena_publish import entries_make
    from hub.services import organisation_create
    from integrations.services import integration_create
    from tests.conftest import ensure_plans

    ensure_plans()
    organisation = organisation_create(
        name=f"Soak {time.time():.0f}", plan_code="enterprise", subscription_status="active"
    )

    def integration(kind: str, name: str, config: dict):
        return integration_create(organisation=organisation, user=None, type=kind, name=name, config=config)

    webhook, shown_once = integration("webhook", "webhooks", {})
    source, _ = integration("webhook", "Leena's knowledge base", {})
    print(f"Writing {args.entries} entries for Leena ...", flush=True)
    entries_make(source, args.entries)
    destination, _ = integration(
        "leena", "Leena", leena.config(sources=str(source.pk), batch_size=args.batch_size, language=LEENA_LANGUAGE)
    )
    haiilo_integration, _ = integration("haiilo", "Haiilo", haiilo.config(page_size=args.page_size))
    # The warm-up's runs: the same work, written elsewhere (another integration, another fake Leena).
    leena_config = leena_warmup.config(sources=str(source.pk), batch_size=args.batch_size, language=LEENA_LANGUAGE)
    return {
        "haiilo warm-up": integration("haiilo", "Haiilo warm-up", haiilo.config(page_size=args.page_size))[0],
        "leena warm-up": integration("leena", "Leena warm-up", leena_config)[0],
        "organisation": organisation,
        "webhook": webhook,
        "secret": shown_once["signing_secret"],
        "source": source,
        "leena": destination,
        "haiilo": haiilo_integration,
    }


def haiilo_expected_keys(haiilo) -> set[str]:
    """The tenant's live entities that may be in a knowledge base (the connector's own rule)."""
    from connectors.base import Record
    from connectors.haiilo.mapping import record_from_event

    tenant, keys = haiilo.tenant, set()
    for (entity_type, entity_id), event in tenant.latest.items():
        if event.event_type == "DELETE":
            continue
        state = {**tenant.state_of(entity_type, entity_id), "entityId": entity_id, "entityType": entity_type}
        if isinstance(mapped := record_from_event(entity_type, state, haiilo.url), Record):
            keys.add(mapped.external_id)
    return keys


# --- the webhooks: an open loop in a child process -------------------------------------------------------
def sender_spec(args, fixture: dict, port: int) -> dict:
    return {
        "port": port,
        "path": f"/api/v1/integrations/webhook/{fixture['webhook'].pk}/receive",
        "secret": fixture["secret"],
        "count": int(args.rate * args.duration),
        "rate": args.rate,
        "connections": args.connections,
        "tag": uuid.uuid4().hex[:8],
    }


def calls_of(spec: dict):
    return signed_calls(spec["path"], spec["secret"], spec["count"], spec["tag"], keyed=True)


def sender_main() -> None:
    """The child: reads its spec from stdin (the signing secret stays off the command line), prepares
    every request, says when its first is due (one line), sends, then writes the results as JSON."""
    spec = json.loads(sys.stdin.read())
    prepared = [raw_request(call, f"127.0.0.1:{spec['port']}") for call in calls_of(spec)]
    results = asyncio.run(open_loop(spec["port"], prepared, spec["rate"], spec["connections"]))
    json.dump(results, sys.stdout)


async def open_loop(port: int, prepared: list[bytes], rate: float, connections: int) -> list[dict]:
    """Send request i at start + i / rate whatever the answers before it (open loop); at most
    `connections` in flight. Latency counts from the scheduled time, so a slow hub shows as latency,
    not as fewer requests sent."""
    loop = asyncio.get_running_loop()
    in_flight = asyncio.Semaphore(connections)
    start = loop.time() + 0.2
    print(time.time() + 0.2, flush=True)  # one line to the parent: when the first request is due
    results: list[dict] = [{}] * len(prepared)

    async def send(index: int) -> None:
        scheduled = start + index / rate
        await asyncio.sleep(max(0.0, scheduled - loop.time()))
        async with in_flight:
            began = loop.time()
            try:
                answer = exchange("127.0.0.1", port, prepared[index])
                status, body = await asyncio.wait_for(answer, REQUEST_TIMEOUT_SECONDS)
                entry_id = json.loads(body).get("entry_id") if 200 <= status < 300 else None
            except (OSError, ValueError, IndexError, TimeoutError):
                status, entry_id = 0, None
        done = loop.time()
        results[index] = {
            "status": status,
            "entry_id": entry_id,
            "latency_ms": (done - scheduled) * 1000,
            "waited_ms": (began - scheduled) * 1000,
            "at": done - start,
            "answered_at": time.time(),  # wall clock: to tell the answers given while a run went on
        }

    await asyncio.gather(*(send(index) for index in range(len(prepared))))
    return results


def sender_start(spec: dict, env: dict[str, str]) -> tuple[subprocess.Popen, float]:
    """The sending child, once its requests are prepared, and the wall time its first is due."""
    child = subprocess.Popen(
        [sys.executable, __file__, "--sender"], cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    child.stdin.write(json.dumps(spec).encode())
    child.stdin.close()
    return child, float(child.stdout.readline())


# --- the runs ---------------------------------------------------------------------------------------------
def runs_request(fixture: dict, names: tuple[str, ...]) -> dict:
    from integrations.runs.engine import sync_job_request

    jobs = {}
    for name in names:
        job, _ = sync_job_request(organisation=fixture["organisation"], integration=fixture[name], user=None)
        jobs[name] = job.pk
    return jobs


def runs_wait(job_ids: dict, timeout: float) -> dict:
    from integrations.models import SyncJob

    deadline = time.monotonic() + timeout
    while True:
        jobs = {name: SyncJob.objects.get(pk=pk) for name, pk in job_ids.items()}
        if all(job.status in ("completed", "failed", "cancelled") for job in jobs.values()):
            return jobs
        if time.monotonic() > deadline:
            return jobs  # the checks report a run that did not end
        time.sleep(0.2)


def warmup_run(fixture: dict, args) -> dict:
    """One Haiilo sync and one Leena publish of the same sizes, at once (one per prefork child), before
    the clock: what a worker's first runs allocate for good (imports, pools, caches) is not growth."""
    print("Warm-up: one Haiilo sync and one Leena publish on integrations of their own ...", flush=True)
    jobs = runs_wait(runs_request(fixture, ("haiilo warm-up", "leena warm-up")), args.run_timeout)
    for name, job in jobs.items():
        print(f"  {name}: {job.status}", flush=True)
    return jobs


# --- the report -------------------------------------------------------------------------------------------
def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def webhook_report(results: list[dict], args, runs_ended: float | None) -> None:
    ok = [r for r in results if 200 <= r["status"] < 300]
    span = max((r["at"] for r in results), default=0.0) or args.duration
    statuses = Counter(r["status"] for r in results if not 200 <= r["status"] < 300)
    latencies = [r["latency_ms"] for r in ok]
    print(f"\nwebhooks: {len(results)} sent at {args.rate:g}/s for {args.duration:g} s, "
          f"at most {args.connections} in flight (open loop)")  # fmt: skip
    print(f"  accepted:   {len(ok)} ({len(ok) / span:.1f}/s over {span:.1f} s)")
    print(f"  latency:    p50 {percentile(latencies, 0.5):.1f} ms, p99 {percentile(latencies, 0.99):.1f} ms, "
          f"max {max(latencies, default=float('nan')):.1f} ms (from the scheduled send)")  # fmt: skip
    waited = [r["waited_ms"] for r in results]
    print(f"  waited for a connection slot: p99 {percentile(waited, 0.99):.1f} ms")
    errors = ", ".join(f"{status or 'no answer'}: {count}" for status, count in sorted(statuses.items())) or "none"
    print(f"  errors:     {sum(statuses.values())} ({errors})")
    if runs_ended is not None:
        during = [r["latency_ms"] for r in ok if r["answered_at"] <= runs_ended]
        after = [r["latency_ms"] for r in ok if r["answered_at"] > runs_ended]
        for name, part in (("while the runs went on", during), ("after the runs", after)):
            print(f"  {name}: {len(part)} accepted, p50 {percentile(part, 0.5):.1f} ms, "
                  f"p99 {percentile(part, 0.99):.1f} ms")  # fmt: skip


def run_report(name: str, job, count_field: str, sender_started: float) -> None:
    if job.started_at is None or job.completed_at is None:
        print(f"{name}: {job.status}, did not run to an end")
        return
    seconds = (job.completed_at - job.started_at).total_seconds()
    count = getattr(job, count_field)
    offset = job.started_at.timestamp() - sender_started
    print(f"{name}: {job.status}, {count} {count_field.replace('_', ' ')} in {seconds:.2f} s "
          f"({count / seconds:,.0f}/s), from {offset:.1f} s to {offset + seconds:.1f} s of the webhooks")  # fmt: skip


def main() -> int:
    args = arguments()
    if args.sender:
        sender_main()
        return 0
    with database(args.database_url) as database_url:
        return soak(args, environment(database_url, args.broker_url))


def soak(args, env: dict[str, str]) -> int:
    os.environ.update(env)
    print(f"database {urlsplit(env['DATABASE_URL']).path[1:]}, broker {args.broker_url}; migrating ...", flush=True)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    import django

    django.setup()
    from tests.fakes.haiilo import FakeHaiilo
    from tests.fakes.leena import FakeLeena

    haiilo = FakeHaiilo()
    haiilo.tenant.generate(args.events)
    haiilo.tenant.prerender(args.page_size)  # pages served from memory: the fake's own work stays small
    port = free_port()
    with contextlib.ExitStack() as stack:
        stack.enter_context(haiilo)
        leena = stack.enter_context(FakeLeena())
        fixture = fixtures(args, haiilo, leena, stack.enter_context(FakeLeena()))
        names = queues()
        print(f"gunicorn: {args.gunicorn_workers} sync workers on 127.0.0.1:{port}; celery: prefork, "
              f"{args.celery_concurrency} children, queues {', '.join(names)}", flush=True)  # fmt: skip
        stack.enter_context(gunicorn(env, port, args.gunicorn_workers))
        worker = stack.enter_context(celery_worker(env, names, args.celery_concurrency))
        time.sleep(2.0)  # the first reading once the worker has settled after " ready."
        rss_idle = rss_bytes(worker.process.pid)
        warmup = warmup_run(fixture, args) if args.warmup else {}
        rss_start = rss_bytes(worker.process.pid)
        spec = sender_spec(args, fixture, port)
        print(f"Sending {spec['count']} webhooks; the Haiilo sync ({args.events} events) and the Leena "
              f"publish ({args.entries} entries) start with them ...", flush=True)  # fmt: skip
        sender, sender_started = sender_start(spec, env)
        jobs = runs_wait(runs_request(fixture, ("haiilo", "leena")), args.run_timeout + args.duration)
        results = json.loads(sender.stdout.read())
        sender.wait()
        rss_end = rss_bytes(worker.process.pid)
        articles = dict(leena.upstream.articles)
        expected_haiilo = haiilo_expected_keys(haiilo)

    seen = Observed(spec, results, sender_started, jobs, warmup, (rss_idle, rss_start, rss_end), articles)
    report(seen, args)
    return checks(seen, fixture, expected_haiilo)


@dataclass
class Observed:
    """What a soak saw: the webhooks' results, the runs, the worker's RSS and the fake Leena's articles."""

    spec: dict
    results: list[dict]
    sender_started: float
    jobs: dict
    warmup: dict
    rss: tuple[int, int, int]  # idle, at start, at end
    articles: dict[str, dict]


def report(seen: Observed, args) -> None:
    ends = [job.completed_at.timestamp() for job in seen.jobs.values() if job.completed_at]
    webhook_report(seen.results, args, max(ends) if len(ends) == len(seen.jobs) else None)
    run_report("Haiilo sync", seen.jobs["haiilo"], "records_synced", seen.sender_started)
    run_report("Leena publish", seen.jobs["leena"], "records_imported", seen.sender_started)
    idle, start, end = (value / 2**20 for value in seen.rss)
    print(f"worker RSS (main + prefork children): {idle:.1f} MB idle, {start:.1f} MB at start "
          f"(after the warm-up: {'on' if args.warmup else 'off'}), {end:.1f} MB at end "
          f"({(end - start) / start:+.1%})")  # fmt: skip


def checks(seen: Observed, fixture: dict, expected_haiilo: set[str]) -> int:
    from bench import soak_checks

    calls = calls_of(seen.spec)
    accepted = [
        Accepted(key=calls[i].headers["webhook-id"], body=calls[i].body, entry_id=result["entry_id"])
        for i, result in enumerate(seen.results)
        if 200 <= result["status"] < 300
    ]
    jobs = seen.jobs
    failures = soak_checks.deliveries_failures(str(fixture["webhook"].pk), accepted)
    failures += soak_checks.haiilo_failures(jobs["haiilo"], str(fixture["haiilo"].pk), expected_haiilo)
    failures += soak_checks.leena_failures(jobs["leena"], str(fixture["source"].pk), seen.articles, LEENA_LANGUAGE)
    failures += soak_checks.rss_failures(seen.rss[1], seen.rss[2])
    for name, job in seen.warmup.items():
        failures += soak_checks.run_failures(name, job)
    if failures:
        print("\nCORRECTNESS FAILED:\n  " + "\n  ".join(failures))
        return 1
    print(f"\ncorrectness: {len(accepted)} accepted deliveries stored exactly once (entries and delivery rows); "
          f"Haiilo {len(expected_haiilo)} entries = the fake's; Leena {len(seen.articles)} articles = the "
          f"knowledge base; worker RSS grew by less than {soak_checks.RSS_GROWTH_LIMIT:.0%}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
