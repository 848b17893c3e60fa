"""The soak bench's correctness checks, on the database the hub wrote to (Django set up).

Each check returns the failures it found, one sentence each; an empty list means it holds. They are
apart from bench/soak.py so that tests/bench/test_soak_checks.py can show each one failing.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

RSS_GROWTH_LIMIT = 0.10
ENTRY_FIELDS = ("id", "integration_id", "external_id", "title", "content", "html", "url", "author", "language")
ENTRY_FIELDS += ("metadata", "updated_at", "content_hash")


@dataclass(frozen=True)
class Accepted:
    """A delivery the hub answered 2xx: the unsigned `webhook-id` sent, the body, the answered entry_id."""

    key: str
    body: bytes
    entry_id: str | None


def deliveries_failures(integration_id: str, accepted: list[Accepted]) -> list[str]:
    """Every accepted delivery is stored exactly once: one entry keyed by its body's hash (the webhook
    connector's key when the id is unsigned), one delivery row under its key pointing at that entry,
    and nothing else in the integration."""
    from integrations.models import KnowledgeEntry
    from webhooks.models import WebhookDelivery
    from webhooks.services import delivery_key_of_unsigned

    failures = []
    entries = dict(
        KnowledgeEntry.objects.filter(integration_id=integration_id).values_list("external_id", "id").iterator()
    )
    entries = {external_id: str(pk) for external_id, pk in entries.items()}
    expected = {"sha256:" + hashlib.sha256(a.body).hexdigest(): a for a in accepted}
    if missing := expected.keys() - entries.keys():
        failures.append(f"{len(missing)} accepted deliveries have no entry, e.g. {_first(missing)}")
    if extra := entries.keys() - expected.keys():
        failures.append(f"{len(extra)} entries no accepted delivery made, e.g. {_first(extra)}")
    wrong_answer = [a.key for ext, a in expected.items() if ext in entries and entries[ext] != a.entry_id]
    if wrong_answer:
        failures.append(f"{len(wrong_answer)} deliveries answered an entry_id that is not their entry")
    rows = WebhookDelivery.objects.filter(integration_id=integration_id).values_list("idempotency_key", "entry_id")
    rows = list(rows)
    keys = {delivery_key_of_unsigned(a.key): a for a in accepted}
    stored_keys = {key for key, _ in rows}
    if missing_rows := keys.keys() - stored_keys:
        failures.append(f"{len(missing_rows)} accepted deliveries have no delivery row")
    if len(rows) != len(keys):
        failures.append(f"{len(rows)} delivery rows for {len(keys)} accepted deliveries")
    shared = [entry for entry, count in Counter(str(e) for _, e in rows).items() if count > 1]
    if shared:
        failures.append(f"{len(shared)} entries are the entry of more than one delivery row")
    return failures


def run_failures(name: str, job) -> list[str]:
    """The run ended COMPLETED."""
    if job is None:
        return [f"{name}: no run"]
    if job.status != "completed":
        return [f"{name}: the run ended {job.status}: {job.error_message or 'no message'}"]
    return []


def keys_failures(name: str, stored: Iterable[str], expected: Iterable[str]) -> list[str]:
    """The stored keys are exactly the expected ones."""
    stored, expected = Counter(list(stored)), set(expected)
    failures = []
    if doubled := [key for key, count in stored.items() if count > 1]:
        failures.append(f"{name}: {len(doubled)} keys stored more than once, e.g. {_first(doubled)}")
    if missing := expected - stored.keys():
        failures.append(f"{name}: {len(missing)} of {len(expected)} expected keys missing, e.g. {_first(missing)}")
    if extra := stored.keys() - expected:
        failures.append(f"{name}: {len(extra)} keys not expected, e.g. {_first(extra)}")
    return failures


def haiilo_failures(job, integration_id: str, expected_keys: set[str]) -> list[str]:
    """The sync completed and the live entries are exactly the fake tenant's publishable entities."""
    from integrations.models import KnowledgeEntry

    live = KnowledgeEntry.objects.filter(integration_id=integration_id, deleted_at__isnull=True)
    stored = live.values_list("external_id", flat=True).iterator()
    return run_failures("Haiilo", job) + keys_failures("Haiilo entries", stored, expected_keys)


def leena_failures(job, source_id: str, articles: dict[str, dict], language: str) -> list[str]:
    """The publish completed and the fake's articles are exactly the source's entries, by reference_id
    and by content (name and cleaned HTML, as the connector maps an entry)."""
    from connectors.leena.articles import article_of
    from integrations.models import KnowledgeEntry

    expected = {}
    for row in KnowledgeEntry.objects.filter(integration_id=source_id, deleted_at__isnull=True).values(*ENTRY_FIELDS):
        article = article_of(_snapshot(row), language, [])
        expected[article["reference_id"]] = _same(article)
    failures = run_failures("Leena", job) + keys_failures("Leena articles", articles, expected)
    differing = [ref for ref, article in articles.items() if expected.get(ref, _same(article)) != _same(article)]
    if differing:
        failures.append(f"Leena articles: {len(differing)} differ from their entry, e.g. {differing[0]}")
    return failures


def rss_failures(start_bytes: int, end_bytes: int, limit: float = RSS_GROWTH_LIMIT) -> list[str]:
    """The workers' resident memory grew by less than `limit` (a fraction of the start)."""
    growth = (end_bytes - start_bytes) / start_bytes
    if growth >= limit:
        return [f"worker RSS grew by {growth:.1%} ({start_bytes >> 20} -> {end_bytes >> 20} MB), limit {limit:.0%}"]
    return []


def _same(article: dict) -> tuple[str, str]:
    return article["name"], article["html_content"]


def _snapshot(row: dict):
    from connectors.base import EntrySnapshot

    values = {key: str(row[key]) if key in ("id", "integration_id") else row[key] for key in ENTRY_FIELDS}
    return EntrySnapshot(**values, deleted=False)


def _first(items: Iterable[str]) -> str:
    return sorted(items)[0]
