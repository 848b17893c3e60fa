"""Bench HTML-to-text candidates on one corpus: documents/s, ratio to today's lxml, texts that differ.

Run: `.venv/bin/python bench/html_text.py [--events 20000] [--pages 2000] [--rounds 5]`.
The corpus is what `html_to_text` is handed in a sync: the HTML bodies of the Haiilo bench's
generated tenant (every text field its mapping converts) and the Confluence bench's storage pages
after storage.py's rewrite, plus the markup of the existing tests. Timing is CPU only, no I/O.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.html_text_candidates import CANDIDATES  # noqa: E402

BASELINE = "lxml (today)"
NEW = "scan + lexbor, new"
TEXT_FIELDS = ("textContent", "description")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="generated Haiilo events (default 20000)")
    parser.add_argument("--pages", type=int, default=2_000, help="Confluence bench pages (default 2000)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds; medians are shown")
    return parser.parse_args()


def haiilo_events(events: int) -> list[tuple[str, dict]]:
    """(entity type, event as served) of the Haiilo bench's generated tenant."""
    from tests.fakes.haiilo import HaiiloTenant

    tenant = HaiiloTenant()
    tenant.generate(events)
    return [(event.entity_type, tenant._event_body(event)) for stream in tenant.events.values() for event in stream]


def haiilo_bodies(served: list[tuple[str, dict]]) -> list[list[str]]:
    """Per event, the strings the Haiilo mapping hands to html_to_text (every language)."""
    per_event = []
    for _, state in served:
        bodies = [v for f in TEXT_FIELDS if isinstance(v := state.get(f), str)]
        bodies += [v for f in TEXT_FIELDS if isinstance(state.get(f), dict) for v in state[f].values()]
        if isinstance(message := (state.get("data") or {}).get("message"), str):
            bodies.append(message)
        per_event.append(bodies)
    return per_event


def confluence_html(pages: int) -> list[str]:
    """The Confluence bench's pages as storage.py hands them to html_to_text."""
    from bench.confluence_sync import storage_body
    from connectors.confluence import storage

    captured: list[str] = []
    original = storage.html_to_text
    storage.html_to_text = lambda markup: captured.append(markup) or ""
    try:
        for n in range(pages):
            storage.storage_to_text(storage_body(n))
    finally:
        storage.html_to_text = original
    return captured


def test_markup() -> list[str]:
    """The markup of the existing html_to_text and storage tests (storage ones as rewritten)."""
    from connectors.confluence import storage
    from tests.connectors.confluence.test_storage import CODE_MACRO

    cases = [
        "<p>One</p><p>Two</p>", "Line<br>break", "<b>bold</b> and <i>italic</i>",
        "Fish &amp; chips &lt;3 &#8364;", "<p>kept</p><script>alert(1)</script><style>p{}</style>",
        "<ul><li>a</li><li>b</li></ul>", "<table><tr><th>k</th><th>v</th></tr><tr><td>x</td><td>1</td></tr></table>",
        "<p>a<!-- hidden -->b</p>", "<div><p>deep</p>\n\n\n\n<p>gap</p></div>", "<p>unclosed <b>tags",
    ]  # fmt: skip
    captured: list[str] = []
    original = storage.html_to_text
    storage.html_to_text = lambda markup: captured.append(markup) or ""
    try:
        storage.storage_to_text(CODE_MACRO)
        storage.storage_to_text("<p>Caf&eacute;&nbsp;menu &amp; more</p><p>Unclosed <b>bold</p><p>next")
    finally:
        storage.html_to_text = original
    return cases + captured


def mapping_seconds(served: list[tuple[str, dict]], convert) -> float:
    """The Haiilo connector's whole mapping (record_from_event) of every event, with `convert` as its
    HTML-to-text: the mapping alone, no fetch or write."""
    from connectors.haiilo import mapping

    original, mapping.html_to_text = mapping.html_to_text, convert
    try:
        started = time.perf_counter()
        for entity_type, event in served:
            mapping.record_from_event(entity_type, event, "https://haiilo.example")
        return time.perf_counter() - started
    finally:
        mapping.html_to_text = original


def timed(convert, documents: list[str]) -> float:
    started = time.perf_counter()
    for markup in documents:
        convert(markup)
    return time.perf_counter() - started


def main() -> None:
    args = arguments()
    served = haiilo_events(args.events)
    per_event = haiilo_bodies(served)
    corpora = {
        "haiilo": [body for bodies in per_event for body in bodies],
        "confluence": confluence_html(args.pages),
        "tests": test_markup(),
    }
    converters, not_run = {}, {}
    for name, make in CANDIDATES.items():
        try:
            converters[name] = make()
        except (ImportError, RuntimeError) as error:  # a candidate that cannot load here is named, not timed
            not_run[name] = str(error).split(". ")[0]
    expected = {key: [converters[BASELINE](m) for m in docs] for key, docs in corpora.items()}
    seconds: dict[tuple[str, str], list[float]] = {}
    names = list(converters)
    for round_ in range(args.rounds):  # the order flips each round, so drift is not charged to one
        for name in names if round_ % 2 == 0 else reversed(names):
            for key in ("haiilo", "confluence"):
                seconds.setdefault((name, key), []).append(timed(converters[name], corpora[key]))
    sizes = {k: len(v) for k, v in corpora.items()}
    print(f"corpus: {len(per_event)} Haiilo events ({sizes['haiilo']} bodies), {sizes['confluence']} Confluence pages,"
          f" {sizes['tests']} test markups; median of {args.rounds} rounds")  # fmt: skip
    print(f"{'candidate':30} {'haiilo docs/s':>14} {'events/s':>10} {'confl. docs/s':>14} {'x lxml':>7} {'differ':>7}")
    base = {key: statistics.median(seconds[(BASELINE, key)]) for key in ("haiilo", "confluence")}
    for name, convert in converters.items():
        haiilo, confluence = (statistics.median(seconds[(name, key)]) for key in ("haiilo", "confluence"))
        ratio = (base["haiilo"] + base["confluence"]) / (haiilo + confluence)
        differ = sum(convert(m) != e for key, docs in corpora.items() for m, e in zip(docs, expected[key], strict=True))
        print(
            f"{name:28} {sizes['haiilo'] / haiilo:>14,.0f} {len(per_event) / haiilo:>10,.0f}"
            f" {sizes['confluence'] / confluence:>14,.0f} {ratio:>7.2f} {differ:>7}"
        )
    mapped = {name: [] for name in (BASELINE, NEW)}
    for round_ in range(args.rounds):
        for name in mapped if round_ % 2 == 0 else reversed(mapped):
            mapped[name].append(mapping_seconds(served, converters[name]))
    rates = {name: len(served) / statistics.median(times) for name, times in mapped.items()}
    print(
        f"Haiilo mapping alone (record_from_event), events/s: {rates[BASELINE]:,.0f} with {BASELINE},"
        f" {rates[NEW]:,.0f} with {NEW} ({rates[NEW] / rates[BASELINE]:.2f}x)"
    )
    for name, reason in not_run.items():
        print(f"{name:28} not run: {reason}")
    print(f"differ: texts unlike today's, of {sum(sizes.values())} documents; x lxml: on both corpora together")


if __name__ == "__main__":
    main()
