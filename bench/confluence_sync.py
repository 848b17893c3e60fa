"""Bench a full Confluence page sync through a real Celery worker on PostgreSQL against the raw limit.

Run: `.venv/bin/python bench/confluence_sync.py [--pages 10000] [--spaces 20] [--latency-ms 80] [--slices 4]`.
See bench/README.md for what the figures mean. Exits non-zero only when correctness fails.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import sync_limit  # noqa: E402 - the repository root must be on the path first

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/bench_confluence"
LIST_LIMIT = 250  # what the connector asks for (connectors/confluence/client.py)
EDIT_MARK = "Edited"


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=10_000, help="in all, spread evenly over the spaces")
    parser.add_argument("--spaces", type=int, default=20)
    parser.add_argument("--edits", type=int, default=50, help="pages edited before the incremental sync")
    sync_limit.arguments_add(parser, DEFAULT_DATABASE_URL)
    return parser.parse_args()


# --- the fake's pages -------------------------------------------------------------------------------------
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


def edited_body(page_id: str) -> str:
    """A new version's body: its text starts with EDIT_MARK, so the incremental check can see it."""
    return f"<p>{EDIT_MARK} {page_id}</p>" + storage_body(int(page_id))


def fake_seeded(pages: int, spaces: int):
    """The fake Confluence (OpenAPI check off, answers kept once encoded: the fake is not measured)."""
    from tests.fakes.confluence import FakeAtlassian

    fake = FakeAtlassian(validate=False, cache_answers=True)
    for s in range(spaces):
        fake.model.add_space(f"S{s:02d}", f"Space {s}")
    for n in range(pages):
        fake.model.add_page(f"S{n % spaces:02d}", f"Runbook {n}", storage_body(n))
    return fake


# --- the raw limit: fetch, parse, COPY + merge of the sync's own rows, no mapping in the clock ----------
def listing_params(*, bodies: bool) -> list[tuple[str, object]]:
    """GET /spaces/{id}/pages as the connector asks it, in its order (the fake keeps answers per query)."""
    return [("limit", LIST_LIMIT), ("status", "current"), *([("body-format", "storage")] if bodies else [])]


def raw_session(spec: dict):
    import httpx

    return httpx.Client(base_url=spec["url"], auth=httpx.BasicAuth(spec["email"], spec["api_token"]), timeout=60)


def spaces_listed(http) -> list[dict]:
    return http.get("/wiki/api/v2/spaces", params=[("limit", LIST_LIMIT)]).json()["results"]


def slice_pages(http, space_id: str, *, bodies: bool = True):
    """One slice as the connector reads it: the space's pages, 250 an answer, following `_links.next`."""
    answer = http.get(f"/wiki/api/v2/spaces/{space_id}/pages", params=listing_params(bodies=bodies)).json()
    while True:
        yield answer["results"]
        link = answer["_links"].get("next")
        if not link:
            return
        answer = http.get(link).json()


def baseline_child(spec: dict) -> None:
    """The physical limit without the hub, in its own process like the worker: every space's pages fetched
    and parsed, and the rows the sync writes staged, COPY + merge per answer (250 pages). The rows are the
    sync's own (`premapped_answers`), mapped in an untimed pass first: the mapping is the hub's work, timed
    apart as "mapping alone", and the limit writes the same bytes as the sync (text, HTML, metadata)."""
    import django

    django.setup()
    import psycopg

    with contextlib.closing(raw_session(spec)) as http:
        rows_of_answer = premapped_answers(http, spec)
    started = sync_limit.raw_clock()
    pages = rows = 0
    ids = {"org_id": spec["org_id"], "integration_id": spec["integration_id"]}
    with contextlib.closing(raw_session(spec)) as http, psycopg.connect(spec["database_url"]) as db:
        for space in spaces_listed(http):
            for answer, results in enumerate(slice_pages(http, str(space["id"]))):
                pages += len(results)
                records = rows_of_answer[(space["id"], answer)]
                rows += sync_limit.copy_merge(db, sync_limit.staged_rows(records), **ids)
    print(sync_limit.raw_result(pages, rows, started))


def premapped_answers(http, spec: dict) -> dict[tuple[str, int], list]:
    """Each answer's pages as the connector maps them (`page_record`), by (space id, answer number)."""
    from connectors.confluence.mapping import page_record

    base = spec["url"] + "/wiki"
    return {
        (space["id"], answer): [page_record(page, space=space, base=base) for page in results]
        for space in spaces_listed(http)
        for answer, results in enumerate(slice_pages(http, str(space["id"])))
    }


def slices_and_mapping(spec: dict) -> dict:
    """Each space's fetch alone (its requests one after another, JSON parsed), then the connector's mapping
    alone (`page_record`: storage to text, URL, metadata) over the pages already fetched, CPU only."""
    from connectors.confluence.mapping import page_record

    slices: dict[str, float] = {}
    fetched: list[tuple[dict, dict]] = []
    with contextlib.closing(raw_session(spec)) as http:
        for space in spaces_listed(http):
            started = time.perf_counter()
            for results in slice_pages(http, str(space["id"])):
                fetched.extend((page, space) for page in results)
            slices[space["key"]] = time.perf_counter() - started
    started = time.perf_counter()
    for page, space in fetched:
        page_record(page, space=space, base=spec["url"] + "/wiki")
    return {"slices": slices, "items": len(fetched), "mapping_seconds": time.perf_counter() - started}


def listings_alone(spec: dict) -> dict[str, float]:
    """The floor of an incremental sync: each space's ids and versions listed (no bodies), its seconds."""
    seconds: dict[str, float] = {}
    with contextlib.closing(raw_session(spec)) as http:
        for space in spaces_listed(http):
            started = time.perf_counter()
            for _ in slice_pages(http, str(space["id"]), bodies=False):
                pass
            seconds[space["key"]] = time.perf_counter() - started
    return seconds


def raw_spec(args, fake, integration) -> dict:
    return {
        "url": fake.site_url,
        "email": fake.model.email,
        "api_token": fake.model.api_token,
        "database_url": args.database_url,
        "org_id": str(integration.organisation_id),
        "integration_id": str(integration.id),
    }


# --- the incremental sync ---------------------------------------------------------------------------------
def pages_edit(fake, count: int) -> list[str]:
    """`count` pages, the same each run, get a new version; the fake's kept answers are dropped."""
    chosen = random.Random(7).sample(sorted(fake.model.pages), count)
    for page_id in chosen:
        fake.model.edit_page(page_id, body=edited_body(page_id))
    fake.answers_forget()
    return chosen


def incremental_problems(*, edits: int, synced: int, shown: int) -> list[str]:
    """The incremental sync fetched exactly the edited pages and every edited entry shows its edit."""
    problems = []
    if synced != edits:
        problems.append(f"the incremental sync fetched {synced} pages, not the {edits} edited")
    if shown != edits:
        problems.append(f"{shown} of the {edits} edited pages show the edit")
    return problems


def incremental_run(args, fake, synced) -> tuple[dict, list[str]]:
    from integrations.models import KnowledgeEntry

    edited = pages_edit(fake, args.edits)
    listings_alone(raw_spec(args, fake, synced))  # renders and keeps the new listings, untimed
    requests_before = len(fake.model.requests)
    listings = listings_alone(raw_spec(args, fake, synced))
    listing_requests = len(fake.model.requests) - requests_before
    incremental = sync_limit.sync_run(synced)
    entries = KnowledgeEntry.objects.filter(integration=synced, external_id__in=edited)
    shown = entries.filter(content__startswith=f"{EDIT_MARK} ").count()
    incremental.update(
        requests=len(fake.model.requests) - requests_before - listing_requests,
        listings=listings,
        listing_requests=listing_requests,
    )
    return incremental, incremental_problems(edits=args.edits, synced=incremental["job"].records_synced, shown=shown)


def confluence_integration(organisation, name: str, config: dict):
    from integrations.services import integration_create

    return integration_create(organisation=organisation, user=None, type="confluence", name=name, config=config)[0]


# --- the run ----------------------------------------------------------------------------------------------
def main() -> int:
    args = arguments()
    if args.baseline_child:
        baseline_child(json.loads(args.baseline_child))
        return 0
    os.environ["LOG_LEVEL"] = "WARNING"  # this process only: the integrations' live checks log every request
    env, queue = sync_limit.bench_ready(args, "confluence")
    from hub.services import organisation_create
    from tests.conftest import ensure_plans

    ensure_plans()
    print(f"Seeding a fake Confluence of {args.pages} pages in {args.spaces} spaces ...", flush=True)
    fake = fake_seeded(args.pages, args.spaces)
    with fake:
        organisation = organisation_create(
            name=f"Bench {time.time():.0f}", plan_code="enterprise", subscription_status="active"
        )
        config = {"site_url": fake.site_url, "email": fake.model.email, "api_token": fake.model.api_token}
        made = {name: confluence_integration(organisation, name, config) for name in ("sync", "raw", "raw2")}
        made["config"] = config
        slices_and_mapping(raw_spec(args, fake, made["raw"]))  # renders and keeps every answer, untimed
        fake.model.delay = args.latency_ms / 1000
        measured = sync_limit.phases_run(
            env,
            queue,
            raw_before=lambda: sync_limit.child_run(__file__, raw_spec(args, fake, made["raw"]), env),
            alone=lambda: slices_and_mapping(raw_spec(args, fake, made["raw"])),
            sync=lambda pids: full_sync(fake, made["sync"], pids),
            raw_after=lambda: sync_limit.child_run(__file__, raw_spec(args, fake, made["raw2"]), env),
            then=lambda full: checked_incremental(args, env, fake, made, full),
        )
    spread, incremental, problems = measured.then
    report(args, measured, incremental)
    return sync_limit.run_end(args, "pages", measured, spread, problems)


def full_sync(fake, integration, workers: list[int]) -> dict:
    """The sync through the worker, and how many requests the fake answered for it."""
    requests_before = len(fake.model.requests)
    full = sync_limit.sync_run(integration, workers=workers)
    return {**full, "requests": len(fake.model.requests) - requests_before}


def checked_incremental(args, env, fake, made: dict, full: dict) -> tuple[dict | None, dict, list[str]]:
    """The ids check, the sync spread over `--workers` (if more than one), then the incremental sync."""
    problems = sync_limit.same_ids_problems(made["sync"], made["raw"], full["job"])
    new = functools.partial(confluence_integration, made["sync"].organisation, "spread", made["config"])
    spread, found = sync_limit.spread_checked(args.workers, env, new, made["raw"])
    print(f"Incremental sync after {args.edits} edits ...", flush=True)
    incremental, more = incremental_run(args, fake, made["sync"])
    return spread, incremental, problems + found + more


def report(args, measured: sync_limit.Measured, incremental: dict) -> None:
    full = measured.full
    job = full["job"]
    note = f"(the sync's records_synced: {job.records_synced}, requests: {full['requests']})"
    sync_limit.limit_print(args, f"{args.pages} pages in {args.spaces} spaces", "pages", measured, note)
    inc = incremental["job"]
    slowest, slowest_s, total = sync_limit.slices_summary(incremental["listings"])
    print(
        f"incremental after {args.edits} edits: {incremental['requests']} requests, {inc.records_synced} pages "
        f"fetched; job {incremental['seconds']:.2f} s, wall {incremental['wall']:.2f} s; each space's ids and "
        f"versions listed alone: slowest {slowest} {slowest_s:.2f} s, sum {total:.2f} s "
        f"({incremental['listing_requests']} requests); wall / slowest listing {incremental['wall'] / slowest_s:.2f}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
