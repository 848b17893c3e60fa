"""Bench the CPU cost per record of the knowledge-entry write path, in one process on PostgreSQL.

Run: `.venv/bin/python bench/write_path.py [--records 20000] [--rounds 5]`.

The records are the connectors' own: Haiilo events of the fake tenant mapped by
`connectors.haiilo.mapping.record_from_event`, and Confluence pages of the fake's model mapped by
`connectors.confluence.mapping.page_record` (both decoded from JSON first, as a sync gets them). For each
kind it prints µs per record of (a) `record_cleaned`, (b) the content hash, (c) building the COPY's
stage rows, each the best of `--rounds`, and (d) the whole `entries_upsert` in batches of 1000 into a
new integration (every entry created) and again (every entry unchanged): wall time, and this process's
own CPU time (PostgreSQL's work is in its own process). Figures only, nothing asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import sync_limit  # noqa: E402 - the repository root must be on the path first

DEFAULT_DATABASE_URL = "postgres://root@127.0.0.1:5432/bench_write_path"
BATCH = 1000


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000, help="of each kind (default 20000)")
    parser.add_argument("--rounds", type=int, default=5, help="runs of each timed step; the best is shown")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL))
    parser.add_argument("--broker-url", default=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/12"))
    return parser.parse_args()


# --- the records ------------------------------------------------------------------------------------------
def haiilo_records(count: int) -> list:
    """`count` Haiilo records: the fake tenant's pages of events, decoded, mapped (skipped ones left out)."""
    from connectors.base import Record
    from connectors.haiilo.mapping import record_from_event
    from tests.fakes.haiilo import TYPES, HaiiloTenant

    tenant = HaiiloTenant()
    tenant.generate(count * 2)  # drafts, private items and updates of the same entity drop out
    records: dict[str, Record] = {}
    for entity_type in TYPES:
        start = 0
        while True:
            page = json.loads(tenant.page_body(entity_type, False, start, BATCH))
            for event in page["content"]:
                mapped = record_from_event(entity_type, event, "https://haiilo.example.com")
                if isinstance(mapped, Record):
                    records[mapped.external_id] = mapped
            if len(page["content"]) < BATCH:
                break
            start = page["lastEventId"]
    return list(records.values())[:count]


def confluence_records(count: int) -> list:
    """`count` Confluence records: pages of the confluence bench's body, as v2 answers them, mapped."""
    from bench.confluence_sync import storage_body
    from connectors.confluence.mapping import page_record
    from tests.fakes.confluence_model import ConfluenceModel, page_json, space_json

    model = ConfluenceModel()
    spaces = [model.add_space(f"S{s:02d}", f"Space {s}") for s in range(20)]
    records = []
    for n in range(count):
        space = spaces[n % len(spaces)]
        page = model.add_page(space.key, f"Runbook {n}", storage_body(n))
        wire_page = json.loads(json.dumps(page_json(page, space, body_format="storage")))
        wire_space = json.loads(json.dumps(space_json(space, description=False, icon=False)))
        records.append(page_record(wire_page, space=wire_space, base="https://confluence.example.com/wiki"))
    return records


# --- the steps --------------------------------------------------------------------------------------------
def best_us(step: Callable[[], object], count: int, rounds: int) -> float:
    """The fastest of `rounds` runs of `step`, in µs per record."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - started)
    return best / count * 1e6


def upsert_us(integration, records: list) -> tuple[float, float, int]:
    """`entries_upsert` of `records` in batches of BATCH: wall and CPU µs per record, and entries created."""
    from integrations.knowledge.writes import entries_upsert

    created = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(records), BATCH):
        created += entries_upsert(integration=integration, records=records[start : start + BATCH]).created
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall / len(records) * 1e6, cpu / len(records) * 1e6, created


def kind_measured(name: str, records: list, organisation, rounds: int) -> list[str]:
    from integrations.knowledge.clean import record_cleaned_with_json
    from integrations.knowledge.copy import _stage_row
    from integrations.knowledge.writes import content_hash
    from integrations.services import integration_create

    count = len(records)
    cleaned = [record_cleaned_with_json(record) for record in records]
    digested = [(record, content_hash(record, metadata_json), metadata_json) for record, metadata_json in cleaned]
    clean = best_us(lambda: [record_cleaned_with_json(record) for record in records], count, rounds)
    digest = best_us(lambda: [content_hash(record, metadata_json) for record, metadata_json in cleaned], count, rounds)
    stage = best_us(lambda: [_stage_row(*parts) for parts in digested], count, rounds)
    integration, _ = integration_create(organisation=organisation, user=None, type="webhook", name=name, config={})
    first_wall, first_cpu, created = upsert_us(integration, records)
    again_wall, again_cpu, _ = upsert_us(integration, records)
    size = sum(len(r.content) + len(r.html or "") for r in records) / count
    return [
        f"{name}: {count} records, {size:.0f} chars of content + html on average, {created} created",
        f"  (a) clean {clean:6.1f}   (b) hash {digest:6.1f}   (c) stage rows {stage:6.1f}   "
        f"a+b+c {clean + digest + stage:6.1f} µs/record",
        f"  (d) entries_upsert, batches of {BATCH}: created   {first_wall:6.1f} µs wall, {first_cpu:6.1f} µs CPU "
        "of this process per record",
        f"      entries_upsert, batches of {BATCH}: unchanged {again_wall:6.1f} µs wall, {again_cpu:6.1f} µs CPU "
        "of this process per record",
    ]


def main() -> int:
    args = arguments()
    env = sync_limit.django_env(database_url=args.database_url, broker_url=args.broker_url,
                                queue=f"bench-write-{os.getpid()}", slices=None)  # fmt: skip
    sync_limit.django_ready(env)
    from hub.services import organisation_create
    from tests.conftest import ensure_plans

    ensure_plans()
    organisation = organisation_create(name=f"Bench write {time.time():.0f}", plan_code="enterprise",
                                       subscription_status="active")  # fmt: skip
    print(f"Mapping {args.records} records of each kind ...", flush=True)
    kinds = {"haiilo": haiilo_records(args.records), "confluence": confluence_records(args.records)}
    for name, records in kinds.items():
        print("\n".join(kind_measured(name, records, organisation, args.rounds)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
