"""Bench the Confluence page sync (full, then incremental after edits) against the raw fetch-and-parse limit.

Run: `.venv/bin/python bench/confluence_sync.py [--spaces 20] [--pages 10000] [--edits 50]`.
See bench/README.md for what the figures mean. Exits non-zero only when correctness fails.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/test"
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spaces", type=int, default=20)
    parser.add_argument("--pages", type=int, default=10_000, help="in all, spread evenly over the spaces")
    parser.add_argument("--edits", type=int, default=50, help="pages edited before the incremental sync")
    parser.add_argument("--rounds", type=int, default=3, help="each phase runs once a round; medians are shown")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))
    parser.add_argument("--bench-db", default="bench_confluence")
    return parser.parse_args()


# --- the fake Confluence, in its own process so its memory and CPU are not the sync's -----------------


def storage_body(n: int) -> str:
    """A page of a few kB in storage format: headings, text, a table, macros and links."""
    rows = "".join(f"<tr><td>Item {n}-{r}</td><td>{r * 7}</td><td>owner-{r}</td></tr>" for r in range(6))
    words = " ".join(f"word{(n * 31 + i) % 997}" for i in range(180))
    return (
        f"<h1>Runbook {n}</h1><p>{words}</p>"
        f'<ac:structured-macro ac:name="info"><ac:parameter ac:name="title">Note</ac:parameter>'
        f"<ac:rich-text-body><p>Check the dashboard before step {n % 9}.</p></ac:rich-text-body></ac:structured-macro>"
        f"<table><tbody><tr><th>Item</th><th>Count</th><th>Owner</th></tr>{rows}</tbody></table>"
        f'<ac:structured-macro ac:name="code"><ac:parameter ac:name="language">bash</ac:parameter>'
        f"<ac:plain-text-body><![CDATA[kubectl rollout restart deploy/app-{n} && echo done]]></ac:plain-text-body>"
        f'</ac:structured-macro><p>See <ac:link><ri:page ri:content-title="Runbook {n + 1}"/></ac:link>.</p>'
    )


def fake_process(connection, spaces: int, pages: int) -> None:
    from tests.fakes.confluence import FakeAtlassian

    with FakeAtlassian(validate=False) as fake:
        for s in range(spaces):
            fake.model.add_space(f"S{s:02d}", f"Space {s}")
        for n in range(pages):
            fake.model.add_page(f"S{n % spaces:02d}", f"Runbook {n}", storage_body(n))
        connection.send({"site_url": fake.site_url, "email": fake.model.email, "api_token": fake.model.api_token})
        while True:
            command, argument = connection.recv()
            if command == "requests":
                connection.send(len(fake.model.requests))
            elif command == "edit":
                chosen = random.Random(7).sample(sorted(fake.model.pages), argument)
                for page_id in chosen:
                    fake.model.edit_page(page_id, body=f"<p>Edited {page_id}</p>" + storage_body(int(page_id)))
                connection.send(chosen)
            elif command == "stop":
                connection.send(None)
                return


# --- measuring ------------------------------------------------------------------------------------------


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_SIZE


class PeakRss:
    """Samples this process's RSS every few ms; `growth` is the peak over the level at start."""

    def __init__(self) -> None:
        self.start = rss_bytes()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_bytes())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.start) / 2**20


@dataclass
class Phase:
    name: str
    pages: int
    seconds: float
    requests: int
    rss_growth_mb: float

    @property
    def rate(self) -> float:
        return self.pages / self.seconds if self.seconds else 0.0


def measured(name: str, fake, run) -> Phase:
    fake.send(("requests", None))
    before = fake.recv()
    with PeakRss() as memory:
        started = time.perf_counter()
        pages = run()
        seconds = time.perf_counter() - started
    fake.send(("requests", None))
    return Phase(name, pages, seconds, fake.recv() - before, memory.growth_mb)


# --- the baselines: fetch and parse as fast as a bare loop can ------------------------------------------


def raw_fetch_and_parse(site: dict[str, str], *, bodies: bool) -> int:
    """Every page of every space, following `_links.next`; JSON decoded, bodies reduced to text."""
    import httpx

    from connectors.confluence.storage import storage_to_text

    count = 0
    auth = httpx.BasicAuth(site["email"], site["api_token"])
    with httpx.Client(base_url=site["site_url"], auth=auth, timeout=30) as client:
        spaces = client.get("/wiki/api/v2/spaces", params={"limit": 250}).json()["results"]
        for space in spaces:
            params = {"limit": 250, "status": "current", **({"body-format": "storage"} if bodies else {})}
            answer = client.get(f"/wiki/api/v2/spaces/{space['id']}/pages", params=params).json()
            while True:
                for page in answer["results"]:
                    if bodies:
                        storage_to_text(page["body"]["storage"]["value"])
                    count += 1
                link = answer["_links"].get("next")
                if not link:
                    break
                answer = client.get(link).json()
    return count


# --- the sync, through the app's own services -----------------------------------------------------------


def bench_database_url(base_url: str, name: str) -> str:
    import psycopg

    parts = urlsplit(base_url)
    with psycopg.connect(urlunsplit(parts._replace(scheme="postgresql")), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path="/" + name))


def django_ready(database_url: str) -> None:
    from bench.keys import bench_keys

    os.environ.update(DATABASE_URL=database_url, DJANGO_SETTINGS_MODULE="hub.settings",
                      ALLOW_PRIVATE_UPSTREAMS="true", LOG_LEVEL="WARNING", **bench_keys())  # fmt: skip
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def integration_for(site: dict[str, str]):
    from hub.models import Role
    from hub.services import membership_set, organisation_create
    from integrations.services import integration_create

    suffix = uuid.uuid4().hex[:8]
    organisation = organisation_create(name=f"Bench {suffix}", plan_code="enterprise", subscription_status="active")
    membership, _ = membership_set(organisation=organisation, email=f"bench-{suffix}@example.com", role=Role.ADMIN,
                                   password=uuid.uuid4().hex)  # fmt: skip
    integration, _ = integration_create(organisation=organisation, user=membership.user, type="confluence",
                                        name="Bench wiki", config=dict(site))  # fmt: skip
    return integration


def pull_only(integration) -> int:
    """The connector's own pull, items counted and dropped: everything but the knowledge-base writes."""
    from connectors.base import Record
    from integrations.services import connector_for

    return sum(isinstance(item, Record) for item in connector_for(integration).pull({}))


def sync_once(integration) -> tuple[int, dict]:
    from integrations.models import SyncJob
    from integrations.runs.engine import sync_job_run

    job = SyncJob.objects.create(organisation=integration.organisation, integration=integration)
    outcome = sync_job_run(job_id=str(job.id), org_id=str(integration.organisation_id))
    job.refresh_from_db()
    if outcome.status != "completed":
        raise SystemExit(f"sync failed: {job.error_message}")
    return job.records_synced, job.progress


# --- the run --------------------------------------------------------------------------------------------


def main() -> int:
    args = arguments()
    database_url = bench_database_url(args.database_url, args.bench_db)
    fake, child_end = multiprocessing.Pipe()
    child = multiprocessing.get_context("fork").Process(target=fake_process, args=(child_end, args.spaces, args.pages))
    child.start()
    site = fake.recv()
    try:
        django_ready(database_url)
        return run_phases(args, fake, site)
    finally:
        fake.send(("stop", None))
        fake.recv()
        child.join(10)


def run_round(args: argparse.Namespace, fake, site: dict[str, str]) -> tuple[list[Phase], list[str]]:
    """The five phases once, on a fresh integration; and what went wrong, if anything."""
    from integrations.models import KnowledgeEntry

    integration = integration_for(site)
    raw_full = measured("raw fetch+parse, bodies", fake, lambda: raw_fetch_and_parse(site, bodies=True))
    pulled = measured("connector pull, no writes", fake, lambda: pull_only(integration))
    full = measured("sync, full", fake, lambda: sync_once(integration)[0])
    raw_list = measured("raw list, ids+versions", fake, lambda: raw_fetch_and_parse(site, bodies=False))
    fake.send(("edit", args.edits))
    edited = fake.recv()
    incr = measured("sync, incremental", fake, lambda: sync_once(integration)[0])
    entries = KnowledgeEntry.objects.filter(integration=integration)
    problems = []
    if entries.count() != args.pages or full.pages != args.pages:
        problems.append(f"expected {args.pages} entries and records, got {entries.count()} and {full.pages}")
    if incr.pages != args.edits:
        problems.append(f"incremental sync fetched {incr.pages} pages, not the {args.edits} edited")
    changed = entries.filter(external_id__in=edited, content__startswith="Edited ").count()
    if changed != args.edits:
        problems.append(f"{changed} of the {args.edits} edited pages show the edit")
    return [raw_full, pulled, full, raw_list, incr], problems


def median_phase(runs: list[Phase]) -> Phase:
    """The run with the median time; memory is the largest seen in any round."""
    chosen = sorted(runs, key=lambda phase: phase.seconds)[len(runs) // 2]
    return Phase(chosen.name, chosen.pages, chosen.seconds, chosen.requests, max(r.rss_growth_mb for r in runs))


def run_phases(args: argparse.Namespace, fake, site: dict[str, str]) -> int:
    rounds, problems = [], []
    for _ in range(args.rounds):
        phases, found = run_round(args, fake, site)
        rounds.append(phases)
        problems += found
    print_table([median_phase([r[i] for r in rounds]) for i in range(len(rounds[0]))], args)
    for problem in problems:
        print("FAIL:", problem)
    return 1 if problems else 0


def print_table(phases: list[Phase], args: argparse.Namespace) -> None:
    print(f"\n{args.pages} pages in {args.spaces} spaces, {args.edits} edits before the incremental sync; "
          f"median of {args.rounds} rounds\n")  # fmt: skip
    print(f"{'phase':<26}{'pages':>8}{'seconds':>9}{'pages/s':>10}{'requests':>10}{'peak RSS +MB':>14}")
    for phase in phases:
        print(f"{phase.name:<26}{phase.pages:>8}{phase.seconds:>9.2f}{phase.rate:>10.0f}{phase.requests:>10}"
              f"{phase.rss_growth_mb:>14.1f}")  # fmt: skip
    raw_full, pulled, full, raw_list, incr = phases
    print(f"\nconnector pull / raw fetch+parse rate:  {pulled.rate / raw_full.rate:.2f}")
    print(f"full sync / raw fetch+parse rate:       {full.rate / raw_full.rate:.2f}")
    print(f"incremental sync time / raw list time:  {incr.seconds / raw_list.seconds:.2f} "
          f"({args.pages / incr.seconds:.0f} pages checked per second)")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
