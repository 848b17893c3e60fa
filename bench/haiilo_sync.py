"""Bench a full Haiilo sync through a real Celery worker on PostgreSQL against the raw limit.

Run: `.venv/bin/python bench/haiilo_sync.py [--events 100000] [--page-size 1000] [--latency-ms 80] [--slices 4]`.
See bench/README.md for what the figures mean. Exits non-zero only when correctness fails.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import sync_limit  # noqa: E402 - the repository root must be on the path first

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/bench_haiilo"


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="events in the fake tenant (default 100000)")
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=100, help="changes before the incremental sync")
    sync_limit.arguments_add(parser, DEFAULT_DATABASE_URL)
    return parser.parse_args()


# --- the raw limit: fetch, parse, COPY + merge of the sync's own rows, no mapping in the clock ----------
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
    parsed, and the rows the sync writes staged, COPY + merge per page. The rows are the sync's own
    (each event mapped by the connector's `record_from_event`, drafts and private items left out as
    it leaves them), mapped in an untimed pass first: the mapping is the hub's work, timed apart as
    "mapping alone", and the limit writes the same bytes as the sync (text, HTML, metadata)."""
    import django

    django.setup()
    import psycopg

    with contextlib.closing(raw_session(spec)) as http:
        rows_of_page = premapped_pages(http, spec)
    started = sync_limit.raw_clock()
    events = rows = 0
    with contextlib.closing(raw_session(spec)) as http, psycopg.connect(spec["database_url"]) as db:
        for entity_type in spec["types"]:
            for page, (suffix, content) in enumerate(slice_pages(http, spec, entity_type)):
                if suffix:
                    continue
                events += len(content)
                ids = {"org_id": spec["org_id"], "integration_id": spec["integration_id"]}
                records = rows_of_page[(entity_type, page)]
                rows += sync_limit.copy_merge(db, sync_limit.staged_rows(records), **ids)
    print(sync_limit.raw_result(events, rows, started))


def premapped_pages(http, spec: dict) -> dict[tuple[str, int], list]:
    """Each events page's records as the connector maps them, by (entity type, page number)."""
    from connectors.base import Record
    from connectors.haiilo.mapping import record_from_event

    pages = {}
    for entity_type in spec["types"]:
        for page, (suffix, content) in enumerate(slice_pages(http, spec, entity_type)):
            if not suffix:
                mapped = (record_from_event(entity_type, event, spec["url"]) for event in content
                          if event.get("eventType") != "DELETE")  # fmt: skip
                pages[(entity_type, page)] = [record for record in mapped if isinstance(record, Record)]
    return pages


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
    return {"slices": slices, "items": len(fetched), "mapping_seconds": time.perf_counter() - started}


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
    return sync_limit.child_run(__file__, spec, env) if child else spec


# --- the sync through a real worker ----------------------------------------------------------------------
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
    env, queue = sync_limit.bench_ready(args, "haiilo")
    from hub.services import organisation_create
    from integrations.services import integration_create
    from tests.conftest import ensure_plans
    from tests.fakes.haiilo import FakeHaiilo

    ensure_plans()
    print(f"Generating a fake Haiilo tenant of {args.events} events ...", flush=True)
    fake = FakeHaiilo()
    fake.tenant.generate(args.events)
    pages = fake.tenant.prerender(args.page_size)  # pages are served from memory: the fake is not measured
    print(f"  {pages} pages of up to {args.page_size} events rendered in advance", flush=True)
    with fake:
        organisation = organisation_create(
            name=f"Bench {time.time():.0f}", plan_code="enterprise", subscription_status="active"
        )
        config = fake.config(page_size=args.page_size)
        synced, _ = integration_create(organisation=organisation, user=None, type="haiilo", name="sync", config=config)
        raw_a, _ = integration_create(organisation=organisation, user=None, type="haiilo", name="raw", config=config)
        raw_b, _ = integration_create(organisation=organisation, user=None, type="haiilo", name="raw2", config=config)
        fake.tenant.delay = args.latency_ms / 1000
        measured = sync_limit.phases_run(
            env,
            queue,
            raw_before=lambda: baseline_run(args, env, fake, organisation, raw_a),
            alone=lambda: slices_and_mapping(baseline_run(args, env, fake, organisation, raw_a, child=False)),
            sync=lambda pids: sync_limit.sync_run(synced, workers=pids),
            raw_after=lambda: baseline_run(args, env, fake, organisation, raw_b),
            then=lambda full: checked_incremental(args, env, fake, synced, raw_a, full),
        )
    problems, spread, incremental, gets, tokens = measured.then
    report(args, measured, incremental, gets, tokens)
    return sync_limit.run_end(args, "events", measured, spread, problems)


def checked_incremental(args, env, fake, synced, raw, full: dict) -> tuple[list[str], dict | None, dict, list, int]:
    """The ids check, the sync spread over `--workers` (if more than one), then `--changes` changes and the
    incremental sync: its requests and token requests."""
    problems = sync_limit.same_ids_problems(synced, raw, full["job"])
    config = fake.config(page_size=args.page_size)
    spread, found = sync_limit.spread_checked(args.workers, env, lambda: spread_integration(synced, config), raw)
    changes_apply(fake.tenant, args.changes)
    gets_before, tokens_before = len(fake.api_requests()), fake.tenant.token_requests
    incremental = sync_limit.sync_run(synced)
    gets = fake.api_requests()[gets_before:]
    return problems + found, spread, incremental, gets, fake.tenant.token_requests - tokens_before


def spread_integration(synced, config: dict):
    from integrations.services import integration_create

    return integration_create(organisation=synced.organisation, user=None, type="haiilo", name="spread",
                              config=config)[0]  # fmt: skip


def report(args, measured: sync_limit.Measured, incremental: dict, gets: list[str], tokens: int) -> None:
    job = measured.full["job"]
    note = f"(the sync's records_synced: {job.records_synced}, records_skipped: {job.records_skipped})"
    sync_limit.limit_print(args, f"{args.events} events, pages of {args.page_size}", "events", measured, note)
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


if __name__ == "__main__":
    raise SystemExit(main())
