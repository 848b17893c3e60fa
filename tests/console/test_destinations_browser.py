"""Destinations in the console, in Debian's Chromium: sources chosen among the organisation's
integrations, the schedule, and push runs (a real worker, the fake shelf) shown in push words."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from connectors.base import Record
from hub.models import Role
from integrations.knowledge import entries_upsert
from integrations.models import Integration
from integrations.sources import destination_source_ids, source_ids_parse
from tests.console.conftest import LAPTOP, PHONE
from tests.fakes.shelf import ShelfServer

pytestmark = [pytest.mark.worker, pytest.mark.browser, pytest.mark.django_db(transaction=True)]
UUID_PATH = re.compile(r".*/integrations/[0-9a-f-]{36}$")
PUSH_WORDS = ["Offered", "Sent", "Accepted", "Unchanged", "Created remotely", "Failed"]


@pytest.fixture
def shelf() -> Iterator[ShelfServer]:
    with ShelfServer() as server:
        yield server


def source(org, name: str, type_: str = "notes", notes: int = 0) -> Integration:
    integration = Integration.objects.create(organisation=org, type=type_, name=name)
    records = [Record(f"{name}-{n}", f"{name} note {n}", f"What {name} says, part {n}.") for n in range(notes)]
    if records:
        entries_upsert(integration=integration, records=records)
    return integration


def shelf_destination(org, shelf: ShelfServer, *, type_: str = "shelf", sources: str = "") -> Integration:
    config = {"base_url": shelf.url, "api_key": "shelf-key", "sources": sources, "batch_size": 2}
    destination = Integration(organisation=org, type=type_, name="Public shelf")
    destination.config = config  # sealed on save
    destination.save()
    return destination


def api_integration(page, integration_id) -> dict:
    """The integration as the API lists it, asked with the page's own token."""
    body = page.evaluate("() => Tributary.api('GET', '/api/v1/integrations/')")
    return next(item for item in body["integrations"] if item["id"] == str(integration_id))


def run_sync(page) -> None:
    page.click("#sync-now")
    expect(page.locator("#sync-card")).to_have_attribute("data-status", "completed", timeout=30_000)


def counter(page, direction: str, name: str):
    return page.locator(f'#sync-counters [data-direction="{direction}"] [data-counter="{name}"] .value')


def test_admin_creates_a_destination_choosing_two_of_three_sources_and_edits_its_schedule(
    page, make_org, org, member_of, log_in, shelf, screenshot
):
    runbooks, support = source(org, "Runbooks"), source(org, "Support notes")
    deploys = source(org, "Deploys", type_="webhook")
    other_destination = shelf_destination(org, shelf)
    stranger = source(make_org("Beta"), "Beta's notes")
    log_in(page, member_of(org))

    page.goto("/integrations/new?type=shelf")
    choices = page.locator("#config-sources label.choice")
    # The organisation's sources by name and type; never a destination, never another organisation's.
    expect(choices).to_have_count(3)
    expect(choices).to_contain_text(["Runbooks", "Support notes", "Deploys"])
    expect(choices.filter(has_text="Deploys")).to_contain_text("Custom webhook")
    expect(page.locator("#config-sources")).not_to_contain_text(other_destination.name)
    expect(page.locator("#config-sources")).not_to_contain_text(stranger.name)
    expect(page.locator("#config-sources input[type=text]")).to_have_count(0)  # no typed ids
    expect(page.locator("#sources-summary")).to_have_text(
        "None chosen: every source of the organisation is published, also those added later."
    )
    expect(page.locator("#sync_interval_minutes")).to_have_value("")
    expect(page.locator("#run_after_sources")).not_to_be_checked()

    page.fill("#name", "Public shelf 2")
    page.fill("#config-base_url", shelf.url)
    page.fill("#config-api_key", "shelf-key")
    page.get_by_label("Runbooks").check()
    page.get_by_label("Deploys").check()
    expect(page.locator("#sources-summary")).to_have_text("Publishes 2 of 3 sources.")
    page.fill("#sync_interval_minutes", "0")
    page.check("#run_after_sources")
    screenshot(page, "destination-new")
    page.click("#submit-integration")
    # The API's refusal of the interval lands beside the field; nothing is created.
    expect(page.locator("#field-sync_interval_minutes .field-error")).to_contain_text("greater than or equal to 1")
    assert not Integration.objects.filter(name="Public shelf 2").exists()

    page.fill("#sync_interval_minutes", "60")
    page.click("#submit-integration")
    page.wait_for_url(UUID_PATH)
    created = Integration.objects.get(organisation=org, name="Public shelf 2")
    assert sorted(source_ids_parse(created.config["sources"])) == sorted([str(runbooks.id), str(deploys.id)])
    assert sorted(destination_source_ids(created)) == sorted([runbooks.id, deploys.id])
    listed = api_integration(page, created.id)
    assert (listed["sync_interval_minutes"], listed["run_after_sources"]) == (60, True)
    assert support.id not in destination_source_ids(created)

    expect(page.locator("#schedule-summary")).to_have_text("every 60 min · after sources")
    expect(page.locator("#sync_interval_minutes")).to_have_value("60")
    expect(page.locator("#run_after_sources")).to_be_checked()
    page.fill("#sync_interval_minutes", "-3")
    page.click("#save-schedule")
    expect(page.locator("#field-sync_interval_minutes .field-error")).to_contain_text("greater than or equal to 1")
    page.fill("#sync_interval_minutes", "15")
    page.uncheck("#run_after_sources")
    page.click("#save-schedule")
    expect(page.locator("#schedule-saved")).to_have_text("Schedule saved.")
    expect(page.locator("#schedule-summary")).to_have_text("every 15 min")
    expect(page.locator("#field-sync_interval_minutes .field-error")).to_have_count(0)
    created.refresh_from_db()
    assert (created.sync_interval_minutes, created.run_after_sources) == (15, False)
    screenshot(page, "destination-schedule", full_page=True)

    page.fill("#sync_interval_minutes", "")
    page.click("#save-schedule")
    expect(page.locator("#schedule-summary")).to_have_text("manual")
    created.refresh_from_db()
    assert created.sync_interval_minutes is None

    # A source's page has no "after sources" choice: only a destination runs after its sources.
    page.goto(f"/integrations/{runbooks.id}")
    expect(page.locator("#sync_interval_minutes")).to_be_visible()
    expect(page.locator("#run_after_sources")).to_have_count(0)
    page.fill("#sync_interval_minutes", "5")
    page.click("#save-schedule")
    expect(page.locator("#schedule-summary")).to_have_text("every 5 min")

    Integration.objects.filter(pk=other_destination.pk).update(run_after_sources=True)
    page.goto("/")
    rows = page.locator("#integrations-table tbody tr")
    expect(rows).to_have_count(5)
    schedule_of = {
        "Runbooks": "every 5 min",
        "Support notes": "manual",
        "Public shelf": "after sources",
        "Public shelf 2": "manual",
    }
    for name, text in schedule_of.items():
        row = rows.filter(has=page.get_by_role("link", name=name, exact=True))
        expect(row.locator("td.schedule")).to_have_text(text)
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.set_viewport_size(LAPTOP)


def test_a_source_deleted_meanwhile_is_refused_beside_the_choice_and_then_no_longer_offered(
    page, org, member_of, log_in, shelf
):
    old_wiki = source(org, "Old wiki")
    log_in(page, member_of(org))
    page.goto("/integrations/new?type=shelf")
    page.fill("#name", "Everything shelf")
    page.fill("#config-base_url", shelf.url)
    page.fill("#config-api_key", "shelf-key")
    page.get_by_label("Old wiki").check()
    old_wiki_id = old_wiki.pk
    old_wiki.delete()  # another admin deletes it while this form is open
    page.click("#submit-integration")
    expect(page.locator("#field-config-sources .field-error")).to_have_text(
        f"No integration {old_wiki_id} in this organisation."
    )
    assert not Integration.objects.filter(name="Everything shelf").exists()

    page.reload()
    expect(page.locator("#config-sources label.choice")).to_have_count(0)
    expect(page.locator("#sources-summary")).to_have_text(
        "The organisation has no sources yet: this destination will publish every source added later."
    )
    page.fill("#name", "Everything shelf")
    page.fill("#config-base_url", shelf.url)
    page.fill("#config-api_key", "shelf-key")
    page.click("#submit-integration")
    page.wait_for_url(UUID_PATH)
    created = Integration.objects.get(organisation=org, name="Everything shelf")
    assert not source_ids_parse(created.config.get("sources"))
    expect(page.locator("#schedule-summary")).to_have_text("manual")


def test_a_push_run_shows_offered_sent_accepted_and_a_refused_entry_with_its_reason_in_the_log(
    page, org, member_of, log_in, shelf, screenshot
):
    runbooks = source(org, "Runbooks", notes=3)
    source(org, "Drafts", notes=2)  # not chosen: its entries are never offered
    destination = shelf_destination(org, shelf, sources=str(runbooks.id))
    shelf.upstream.refuse_titles = {"Runbooks note 1": "titles must not end in a digit"}
    log_in(page, member_of(org, Role.ADMIN))
    page.goto(f"/integrations/{destination.id}")

    run_sync(page)
    expect(page.locator("#sync-message")).to_have_text("Completed: sent 3 of 3 entries.")
    push = page.locator('#sync-counters [data-direction="push"]')
    expect(push.locator(".counter .label")).to_have_text(PUSH_WORDS)
    expect(page.locator("#sync-counters .counter-group")).to_have_count(1)
    for name, value in [
        ("records_found", "3"),
        ("records_synced", "3"),
        ("records_imported", "2"),
        ("records_skipped", "0"),
        ("entries_created", "2"),
        ("records_failed", "1"),
    ]:
        expect(counter(page, "push", name)).to_have_text(value)
    assert sorted(shelf.upstream.sent_titles()) == ["Runbooks note 0", "Runbooks note 1", "Runbooks note 2"]

    history = page.locator("#history-table tbody tr:not(.log-row)")
    expect(history).to_have_count(1)
    expect(history.first.locator("td.run")).to_have_text("Push")
    expect(history.first.locator(".figures")).to_have_text(
        "sent 3 · accepted 2 · unchanged 0 · created remotely 2 · failed 1"
    )
    history.first.get_by_role("button", name="Log").click()
    log = page.locator("tr.log-row .log")
    expect(log.locator(".level-error")).to_have_text(["error"])
    expect(log).to_contain_text("The shelf refused it: titles must not end in a digit")
    expect(log.locator("code")).to_have_text("Runbooks-1")
    screenshot(page, "destination-push", full_page=True)

    # The refused entry stays due: the next run offers it alone; the two accepted are unchanged.
    shelf.upstream.refuse_titles = {}
    run_sync(page)
    expect(page.locator("#sync-message")).to_have_text("Completed: sent 1 of 1 entry.")
    for name, value in [("records_found", "1"), ("records_imported", "1"), ("records_skipped", "2")]:
        expect(counter(page, "push", name)).to_have_text(value)
    expect(counter(page, "push", "records_failed")).to_have_text("0")
    expect(history).to_have_count(2)
    expect(history.first.locator(".figures")).to_have_text(
        "sent 1 · accepted 1 · unchanged 2 · created remotely 1 · failed 0"
    )
    # The log opened before the run stays open under its job while the history follows the run.
    open_log = page.locator("tr.log-row")
    expect(open_log).to_have_count(1)
    expect(open_log).to_have_attribute("data-job-id", history.nth(1).get_attribute("data-job-id"))
    expect(open_log.locator(".log")).to_contain_text("titles must not end in a digit")
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_a_two_way_run_shows_its_pull_and_its_push_apart(page, org, member_of, log_in, shelf, screenshot):
    source(org, "Runbooks", notes=2)
    shelf.upstream.put_native("Written on the shelf", "By the shelf's own users.")
    two_way = shelf_destination(org, shelf, type_="shelf-two-way")
    log_in(page, member_of(org))
    page.goto(f"/integrations/{two_way.id}")
    expect(page.locator("#run_after_sources")).to_be_visible()  # two-way is also a destination

    run_sync(page)
    groups = page.locator("#sync-counters .counter-group")
    expect(groups).to_have_count(2)
    expect(groups.locator("h3")).to_have_text(["Pull", "Push"])
    expect(groups.nth(0).locator(".counter .label")).to_have_text(
        ["Found", "Fetched", "Imported", "Skipped", "Failed", "Created", "Deleted"]
    )
    expect(groups.nth(1).locator(".counter .label")).to_have_text(PUSH_WORDS)
    expect(counter(page, "pull", "records_synced")).to_have_text("1")
    expect(counter(page, "pull", "entries_created")).to_have_text("1")
    # The pulled article is the connector's own: only the two runbooks are pushed (no echo).
    expect(counter(page, "push", "records_synced")).to_have_text("2")
    expect(counter(page, "push", "entries_created")).to_have_text("2")
    expect(page.locator("#sync-message")).to_have_text(
        re.compile(r"^Completed: fetched 1 .*, then sent 2 of 2 entries\.$")
    )
    row = page.locator("#history-table tbody tr").first
    expect(row.locator("td.run")).to_have_text("Pull, then push")
    expect(row.locator('.figures li[data-direction="pull"]')).to_contain_text("Pull: fetched 1")
    expect(row.locator('.figures li[data-direction="push"]')).to_contain_text("Push: sent 2 · accepted 2")
    screenshot(page, "two-way-run", full_page=True)


def test_the_detail_page_shows_the_chosen_sources_and_an_admin_changes_them_keeping_the_rest_of_the_config(
    page, org, member_of, log_in, shelf, screenshot
):
    runbooks, support = source(org, "Runbooks", notes=1), source(org, "Support notes", notes=1)
    deploys = source(org, "Deploys", type_="webhook")
    destination = shelf_destination(org, shelf, sources=f"{runbooks.id},{deploys.id}")
    log_in(page, member_of(org, Role.ADMIN))
    page.goto(f"/integrations/{destination.id}")

    choices = page.locator("#sources-card #config-sources label.choice")
    expect(choices).to_have_count(3)
    expect(page.locator("#sources-card input:checked")).to_have_count(2)
    expect(page.get_by_label("Runbooks")).to_be_checked()
    expect(page.get_by_label("Deploys")).to_be_checked()
    expect(page.get_by_label("Support notes")).not_to_be_checked()
    expect(page.locator("#sources-badge")).to_have_text("2 sources")
    expect(page.locator("#sources-summary")).to_have_text("Publishes 2 of 3 sources.")
    expect(page.locator("#sources-card")).not_to_contain_text(destination.name)  # never itself
    expect(page.locator("#sources-read-only")).to_be_hidden()

    page.get_by_label("Runbooks").uncheck()
    page.get_by_label("Deploys").uncheck()
    page.get_by_label("Support notes").check()
    page.click("#save-sources")
    expect(page.locator("#sources-saved")).to_have_text("Sources saved.")
    expect(page.locator("#sources-badge")).to_have_text("1 source")
    assert api_integration(page, destination.id)["sources"] == [str(support.id)]
    destination.refresh_from_db()
    assert destination_source_ids(destination) == [support.id]
    assert (destination.config["base_url"], destination.config["api_key"]) == (shelf.url, "shelf-key")
    screenshot(page, "destination-sources", full_page=True)

    # The stored config still reaches the shelf: a push run sends the newly chosen source's entry alone.
    run_sync(page)
    expect(page.locator("#sync-message")).to_have_text("Completed: sent 1 of 1 entry.")
    assert shelf.upstream.sent_titles() == ["Support notes note 0"]

    # A source deleted while the page is open is refused beside the choice; nothing is stored.
    page.get_by_label("Runbooks").check()
    runbooks_id = runbooks.pk
    runbooks.delete()
    page.click("#save-sources")
    expect(page.locator("#field-config-sources .field-error")).to_have_text(
        f"No integration {runbooks_id} in this organisation."
    )
    destination.refresh_from_db()
    assert destination_source_ids(destination) == [support.id]

    # None chosen: every source, and the page says so.
    page.reload()
    expect(page.locator("#sources-card label.choice")).to_have_count(2)
    page.get_by_label("Support notes").uncheck()
    expect(page.locator("#sources-summary")).to_have_text(
        "None chosen: every source of the organisation is published, also those added later."
    )
    page.click("#save-sources")
    expect(page.locator("#sources-saved")).to_have_text("Sources saved.")
    expect(page.locator("#field-config-sources .field-error")).to_have_count(0)
    expect(page.locator("#sources-badge")).to_have_text("every source")
    assert api_integration(page, destination.id)["sources"] == []
    destination.refresh_from_db()
    assert not source_ids_parse(destination.config.get("sources")) and destination.config["base_url"] == shelf.url

    # A pure source has no Sources card.
    page.goto(f"/integrations/{support.id}")
    expect(page.locator("#schedule-card")).to_be_visible()
    expect(page.locator("#sources-card")).to_be_hidden()
    expect(page.locator("#run-preview")).to_have_text("Preview next sync")


def test_a_manager_sees_the_sources_but_cannot_change_them(page, org, member_of, log_in, shelf):
    """Below admin (a manager: the lowest role whose detail page opens, /health asks for it) the choice is read-only."""
    runbooks, support = source(org, "Runbooks"), source(org, "Support notes")
    destination = shelf_destination(org, shelf, sources=str(runbooks.id))
    log_in(page, member_of(org, Role.MANAGER, email="mo@acme.example"))
    page.goto(f"/integrations/{destination.id}")

    expect(page.locator("#sources-card label.choice")).to_have_count(2)
    expect(page.get_by_label("Runbooks")).to_be_checked()
    expect(page.get_by_label("Runbooks")).to_be_disabled()
    expect(page.get_by_label("Support notes")).to_be_disabled()
    expect(page.locator("#save-sources")).to_be_hidden()
    expect(page.locator("#sources-read-only")).to_have_text("Only an admin can change which sources are published.")
    # Not even by hand: the API refuses the manager's PATCH, and nothing changes.
    status = page.evaluate(
        "id => Tributary.api('PATCH', '/api/v1/integrations/' + id, {sources: []}).then(() => 200, e => e.status)",
        str(destination.id),
    )
    assert status == 403
    destination.refresh_from_db()
    assert destination_source_ids(destination) == [runbooks.id]
    assert support.id not in destination_source_ids(destination)


def test_a_destinations_preview_counts_the_entries_its_next_push_would_send_per_source(
    page, org, member_of, log_in, shelf, screenshot
):
    source(org, "Runbooks", notes=3)
    source(org, "Support notes", notes=2)
    source(org, "Drafts", notes=4)
    destination = shelf_destination(org, shelf)
    log_in(page, member_of(org, Role.MANAGER, email="mo@acme.example"))
    page.goto(f"/integrations/{destination.id}")

    expect(page.locator("#run-preview")).to_have_text("Preview next push")
    expect(page.locator("#preview")).to_have_text(
        "Counts the entries the next push would send, per source, without sending anything."
    )
    page.click("#run-preview")
    expect(page.locator("#preview-summary")).to_have_text("9 entries to send from 3 sources")
    rows = page.locator("#preview-sources tbody tr")
    expect(rows.locator("td.source-name")).to_have_text(["Drafts", "Runbooks", "Support notes"])
    expect(rows.locator("td.num")).to_have_text(["4", "3", "2"])
    expect(page.locator("#preview-sources th")).to_have_text(["Source", "Entries to send"])
    expect(page.locator("#preview")).not_to_contain_text("imported")
    screenshot(page, "destination-preview")
