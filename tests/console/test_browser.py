"""The console in Debian's Chromium against the hub on 127.0.0.1, with a real worker and fake upstreams."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone
from playwright.sync_api import expect

from connectors.base import Record
from hub.models import Role
from integrations.knowledge import entries_upsert
from integrations.models import Integration, KnowledgeEntry, SyncJob
from tests.console.conftest import LAPTOP, PHONE
from webhooks.signing import signature_for

pytestmark = [pytest.mark.worker, pytest.mark.browser, pytest.mark.django_db(transaction=True)]
UUID_PATH = re.compile(r".*/integrations/[0-9a-f-]{36}$")


def assert_fits_width(page, width: int) -> None:
    """Nothing sticks out sideways: the page reads without horizontal scrolling."""
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_visitor_is_sent_to_login_picks_an_organisation_and_sees_why_add_is_disabled(
    page, make_org, member_of, log_in, screenshot
):
    acme, beta = make_org("Acme", plan="starter"), make_org("Beta", plan="business", status="past_due")
    ann = member_of(acme, Role.ADMIN, email="ann@acme.example")
    member_of(beta, Role.ADMIN, email="ann@acme.example")
    synced = timezone.now() - timedelta(hours=3)
    for type_, name, status, last_sync_at in [
        ("webhook", "Deploys", "active", None),
        ("notes", "Team runbooks", "active", synced),
        ("fakedrive", "Shared drive", "syncing", synced),
        ("notes", "Support notes", "error", synced - timedelta(days=2)),
        ("webhook", "Alerts", "inactive", None),
    ]:
        Integration.objects.create(organisation=acme, type=type_, name=name, status=status, last_sync_at=last_sync_at)

    page.goto("/")
    page.wait_for_url("**/login?next=%2F")
    screenshot(page, "login")
    page.fill("#email", "ann@acme.example")
    page.fill("#password", "wrong-password")
    page.click("#login-submit")
    expect(page.locator("#login-error")).to_have_text("Invalid email or password.")

    log_in(page, ann, organisation_name="Acme")
    expect(page.locator("#account-org")).to_have_text("Acme")
    expect(page.locator("#usage-text")).to_have_text("5 of 5 integrations · Starter plan")
    rows = page.locator("#integrations-table tbody tr")
    expect(rows).to_have_count(5)
    expect(rows.nth(0)).to_contain_text("Deploys")
    expect(rows.nth(0)).to_contain_text("Custom webhook")  # the type's name from GET /connectors
    expect(rows.nth(0).locator("td").nth(3)).to_have_text("Never")
    expect(rows.nth(1).locator("td").nth(3)).to_have_text("3 hours ago")
    expect(rows.locator(".badge")).to_have_text(["Active", "Active", "Syncing", "Error", "Inactive"])
    add = page.locator("#add-integration")
    expect(add).to_have_attribute("aria-disabled", "true")
    expect(page.locator("#limit-note")).to_have_text(
        "The Starter plan allows 5 integrations. Delete one or upgrade the plan to add more."
    )
    screenshot(page, "integrations")
    page.set_viewport_size(PHONE)
    assert_fits_width(page, PHONE["width"])
    screenshot(page, "integrations-phone")
    page.set_viewport_size(LAPTOP)

    page.click("#logout")
    page.wait_for_url("**/login")
    log_in(page, ann, organisation_name="Beta")
    expect(page.locator("#integrations-empty")).to_contain_text("No integrations yet")
    expect(page.locator("#usage-text")).to_have_text("0 of 25 integrations · Business plan")
    expect(page.locator("#subscription-banner")).to_be_visible()
    expect(add).to_have_attribute("aria-disabled", "true")
    paused = "Adding integrations is paused while the subscription is inactive."
    expect(page.locator("#limit-note")).to_have_text(paused)


def test_admin_adds_a_webhook_sees_its_secret_once_and_a_signed_post_appears_in_knowledge(
    page, hub, org, member_of, log_in, screenshot
):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    log_in(page, member_of(org))
    page.click("#add-integration")
    page.click('.connector-card[data-type="webhook"]')
    expect(page.locator("#field-config-source_label .help")).to_have_text(
        "Shown with each entry when the payload names no source."
    )
    expect(page.locator("#config-source_label")).to_have_attribute("placeholder", "ci-system")
    expect(page.locator("#field-name .required-mark")).to_be_visible()
    expect(page.locator("#field-config-source_label .required-mark")).to_have_count(0)
    page.fill("#name", "CI events")
    page.fill("#config-source_label", "ci-system")
    page.click("#submit-integration")

    expect(page.locator("#shown-once")).to_be_visible()
    integration = Integration.objects.get(organisation=org, name="CI events")
    url, secret = page.input_value("#webhook-url"), page.input_value("#signing-secret")
    assert url == f"{hub.url}/api/v1/integrations/webhook/{integration.id}/receive"
    assert secret == integration.credentials["signing_secret"]
    expect(page.locator("#curl-example")).to_contain_text(f"'{url}'")
    expect(page.locator("#curl-example")).to_contain_text('-H "X-Knora-Signature: $SIG"')
    copy_secret = page.locator("#shown-once .copy-row button").nth(1)
    copy_secret.click()
    expect(copy_secret).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    screenshot(page, "webhook-created")
    page.set_viewport_size(PHONE)
    assert_fits_width(page, PHONE["width"])
    page.set_viewport_size(LAPTOP)

    # The page's curl example, run as shown, is accepted: it signs exactly as the hub verifies.
    example = page.locator("#curl-example").inner_text()
    answer = json.loads(subprocess.run(["bash", "-c", example], capture_output=True, text=True, check=True).stdout)
    assert answer["accepted"] is True and answer["integration_id"] == str(integration.id)

    page.click("#go-to-integration")
    page.wait_for_url(UUID_PATH)
    expect(page.locator("#integration-name")).to_have_text("CI events")
    assert secret not in page.content()  # shown once: never again

    page.goto("/knowledge")
    expect(page.locator(".entry")).to_have_count(1)
    deploy = {
        "title": "Deploy <img src=x onerror=alert(1)> v3.1.0",
        "text": "Deployment completed for v3.1.0.",
        "url": "https://ci.example.com/runs/42",
        "author": "ci-bot",
    }
    sneaky = {"text": "Rollback of v2.4.0 finished.", "url": "javascript:alert(document.domain)"}
    for payload in (deploy, sneaky):
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "X-Knora-Signature": signature_for(secret, body)}
        assert httpx.post(url, content=body, headers=headers).status_code == 202

    page.reload()
    entries = page.locator(".entry")
    expect(entries).to_have_count(3)
    page.fill("#search", "v3.1.0")
    expect(entries).to_have_count(1)
    entry = entries.first
    # Upstream text is shown as text: the <img> in the title is letters, not an element.
    expect(entry.locator(".entry-title")).to_have_text(deploy["title"])
    expect(page.locator(".entry img")).to_have_count(0)
    expect(entry.locator(".entry-source")).to_contain_text("CI events")
    expect(entry.locator("a.entry-link")).to_have_attribute("href", deploy["url"])
    assert page.url.endswith("/knowledge?q=v3.1.0")
    screenshot(page, "knowledge")

    page.fill("#search", "Rollback")
    expect(entries).to_have_count(1)
    expect(entries.first.locator(".entry-title")).to_have_text("Rollback of v2.4.0 finished.")
    expect(entries.first.locator("a")).to_have_count(0)  # a javascript: URL never becomes a link
    page.fill("#search", "no such words")
    expect(page.locator("#entries-empty")).to_contain_text("No entries match")

    page.set_viewport_size(PHONE)
    page.fill("#search", "")
    expect(entries).to_have_count(3)
    assert_fits_width(page, PHONE["width"])
    screenshot(page, "knowledge-phone")


def test_admin_syncs_and_watches_the_progress_bar_reach_completion(
    page, hub, org, member_of, log_in, notes, screenshot
):
    for n in range(10):
        notes.upstream.put(f"n{n}", f"Runbook {n}", f"What to do when alert {n} fires.")
    notes.upstream.page_delay = 0.7  # five pages of two: a few seconds of visible progress
    log_in(page, member_of(org))
    page.goto("/integrations/new?type=notes")
    page.fill("#name", "Team runbooks")
    page.fill("#config-base_url", notes.url)
    page.click("#submit-integration")
    expect(page.locator("#field-config-api_key .field-error")).to_have_text("This field is required.")
    expect(page.locator("#field-config-base_url .field-error")).to_have_count(0)
    expect(page.locator("#config-api_key")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "add-form-errors")
    page.fill("#config-api_key", "notes-key")
    page.click("#submit-integration")
    page.wait_for_url(UUID_PATH)
    integration = Integration.objects.get(organisation=org, name="Team runbooks")
    expect(page.locator("#flash")).to_have_text("Added “Team runbooks”.")
    expect(page.locator("#history-empty")).to_contain_text("No syncs yet")

    page.click("#check-connection")
    expect(page.locator("#health-message")).to_have_text("Notes credentials verified for notes-user.")
    page.click("#run-preview")
    expect(page.locator("#preview-summary")).to_have_text("Found 10 notes")

    page.click("#sync-now")
    progress = page.locator("#sync-progress")
    page.wait_for_function(
        "() => { const v = Number(document.querySelector('#sync-progress').getAttribute('aria-valuenow'));"
        " return v > 0 && v < 100; }"
    )
    midway = int(progress.get_attribute("aria-valuenow"))
    assert 0 < midway < 100
    expect(page.locator("#sync-message")).to_contain_text("of 10 records")
    expect(page.locator("#sync-now")).to_be_disabled()
    screenshot(page, "sync-running")

    expect(page.locator("#sync-card")).to_have_attribute("data-status", "completed", timeout=30_000)
    expect(progress).to_have_attribute("aria-valuenow", "100")
    expect(page.locator("#sync-message")).to_have_text("Completed: fetched 10 of 10 records.")
    expect(page.locator('[data-counter="entries_created"] .value')).to_have_text("10")
    expect(page.locator('[data-counter="records_imported"] .value')).to_have_text("10")
    history = page.locator("#history-table tbody tr:not(.log-row)")
    expect(history).to_have_count(1)
    expect(history.first.locator(".badge")).to_have_text("Completed")
    history.first.get_by_role("button", name="Log").click()
    expect(page.locator("tr.log-row")).to_contain_text("Nothing was logged for this job.")
    assert KnowledgeEntry.objects.filter(integration=integration).count() == 10
    screenshot(page, "integration", full_page=True)
    page.set_viewport_size(PHONE)
    assert_fits_width(page, PHONE["width"])
    screenshot(page, "integration-phone", full_page=True)
    page.set_viewport_size(LAPTOP)
    page.click("#entries-link")
    expect(page.locator(".entry")).to_have_count(10)
    expect(page.locator("#integration-filter option:checked")).to_have_text("Team runbooks")
    page.go_back()

    # Credentials revoked upstream: the next sync fails, and its log says why.
    notes.upstream.api_key = "rotated"
    page.click("#sync-now")
    expect(page.locator("#sync-card")).to_have_attribute("data-status", "failed", timeout=30_000)
    expect(page.locator("#sync-message")).to_contain_text("401")
    expect(page.locator("#integration-status .badge")).to_have_text("Error")
    expect(history).to_have_count(2)
    expect(history.first.locator(".badge")).to_have_text("Failed")
    history.first.get_by_role("button", name="Log").click()
    expect(page.locator("tr.log-row .log .level-error").first).to_have_text("error")
    expect(page.locator("tr.log-row .log")).to_contain_text("401")

    page.click("#delete-integration")
    expect(page.locator("#delete-dialog")).to_be_visible()
    expect(page.locator("#delete-dialog-text")).to_contain_text("“Team runbooks”")
    page.click("#delete-cancel")
    expect(page.locator("#delete-dialog")).to_be_hidden()
    assert Integration.objects.filter(id=integration.id).exists()
    page.click("#delete-integration")
    page.click("#delete-confirm")
    page.wait_for_url(f"{hub.url}/")
    expect(page.locator("#flash")).to_have_text("Deleted “Team runbooks”.")
    expect(page.locator("#integrations-empty")).to_contain_text("No integrations yet")
    assert not Integration.objects.filter(id=integration.id).exists()


def test_admin_connects_an_oauth_integration_through_the_popup(page, org, member_of, log_in, fake_oauth, screenshot):
    sign_ins_before = len(fake_oauth.state.issued_access_tokens)
    log_in(page, member_of(org))
    page.goto("/integrations/new?type=fakedrive")
    expect(page.locator("#config-region option:checked")).to_have_text("Europe")
    expect(page.locator("#config-max_items")).to_have_value("100")
    expect(page.locator("#config-include_shared")).not_to_be_checked()
    expect(page.locator("#submit-integration")).to_have_text("Connect with Fake Drive")
    page.fill("#name", "Shared drive")
    page.select_option("#config-region", label="United States")
    page.fill("#config-max_items", "250")
    page.check("#config-include_shared")
    screenshot(page, "add-oauth-form")

    fake_oauth.state.deny = True
    with page.expect_popup() as refused:
        page.click("#submit-integration")
    expect(page.locator("#form-error")).to_contain_text("Access denied by user.")
    assert refused.value.is_closed()  # the callback page closed itself after posting its message
    assert not Integration.objects.filter(organisation=org).exists()
    fake_oauth.state.deny = False

    # A page of another origin in the pop-up (here: the provider's) cannot pose as the callback.
    forged = (
        "<script>window.opener.postMessage({type: 'knora:oauth:success', connector: 'fakedrive',"
        " account: 'mallory', integrationId: '00000000-0000-0000-0000-000000000000'}, '*');</script>"
    )
    authorize = f"{fake_oauth.url}/authorize*"
    page.context.route(authorize, lambda route: route.fulfill(content_type="text/html", body=forged))
    with page.expect_popup() as hijacked:
        page.click("#submit-integration")
    hijacked.value.wait_for_url(f"{fake_oauth.url}/authorize**")
    hijacked.value.close()
    expect(page.locator("#form-error")).to_contain_text("The sign-in window was closed before the connection finished.")
    expect(page.locator("#oauth-connected")).to_have_count(0)
    page.context.unroute(authorize)

    # Signed in, but the config misses a required field: finalising answers VALIDATION_ERROR, shown beside
    # the field; the pending integration waits, and "Finish" needs no second sign-in.
    with page.expect_popup():
        page.click("#submit-integration")
    expect(page.locator("#field-config-folder .field-error")).to_have_text("This field is required.")
    expect(page.locator("#oauth-connected")).to_contain_text("Connected as ann@fake.example.")
    expect(page.locator("#submit-integration")).to_have_text("Finish")
    assert Integration.objects.get(organisation=org).is_pending
    page.fill("#config-folder", "/Team/Docs")
    page.click("#submit-integration")
    page.wait_for_url(UUID_PATH)
    expect(page.locator("#integration-name")).to_have_text("Shared drive")
    integration = Integration.objects.get(organisation=org)
    assert not integration.is_pending and integration.type == "fakedrive"
    assert integration.config == {"folder": "/Team/Docs", "region": "us", "max_items": 250, "include_shared": True}
    assert len(fake_oauth.state.issued_access_tokens) == sign_ins_before + 1  # one sign-in, two presses
    assert integration.credentials["access_token"] == fake_oauth.state.issued_access_tokens[-1]


def test_member_sees_no_admin_controls_and_the_api_refuses_what_it_tries(page, browser, hub, org, member_of, log_in):
    integration = Integration.objects.create(organisation=org, type="webhook", name="Deploys")
    log_in(page, member_of(org, Role.MEMBER), landing="/knowledge")
    # An access token that no longer works is refreshed once with the stored refresh token.
    page.evaluate("localStorage.setItem('tributary.access', 'expired-or-garbage')")
    page.reload()
    expect(page.locator("#entries-empty")).to_contain_text("No entries yet")
    assert page.evaluate("localStorage.getItem('tributary.access')") != "expired-or-garbage"
    # A refresh token works once: the console keeps the new one it got, so the next refresh works too.
    page.evaluate("localStorage.setItem('tributary.access', 'expired-again')")
    page.reload()
    expect(page.locator("#entries-empty")).to_contain_text("No entries yet")
    assert page.evaluate("localStorage.getItem('tributary.access')") != "expired-again"
    records = [Record(f"r{n}", f"Release note {n}", f"What changed in release {n}.") for n in range(25)]
    entries_upsert(integration=integration, records=records)
    page.reload()
    expect(page.locator(".entry")).to_have_count(20)  # one page
    expect(page.locator(".entry").first.locator(".entry-source")).to_contain_text("Deploys")
    page.click("#load-more")
    expect(page.locator(".entry")).to_have_count(25)
    expect(page.locator("#load-more")).to_be_hidden()
    expect(page.locator("nav").get_by_role("link", name="Integrations")).to_be_hidden()
    expect(page.locator("#integration-filter")).to_be_hidden()

    page.goto(f"/integrations/{integration.id}")
    expect(page.locator("#page-error")).to_contain_text("This action requires the manager role or higher.")
    expect(page.locator("#sync-now")).to_be_hidden()
    expect(page.locator("#delete-integration")).to_be_hidden()
    # What the page hides, the API refuses: the member's own token, sent by hand.
    answer = page.evaluate(
        "id => Tributary.send('POST', '/api/v1/integrations/' + id + '/sync', undefined, Tributary.session.access())",
        str(integration.id),
    )
    assert answer["status"] == 403 and answer["body"]["error"]["code"] == "INSUFFICIENT_ROLE"
    assert not SyncJob.objects.exists()
    page.goto("/integrations/new")
    expect(page.locator("#page-error")).to_contain_text("This action requires the manager role or higher.")

    # A manager sees integrations, health, preview and history, but nothing only an admin may do.
    context = browser.new_context(viewport=LAPTOP, base_url=hub.url)
    manager_page = context.new_page()
    log_in(manager_page, member_of(org, Role.MANAGER))
    expect(manager_page.locator("#integrations-table tbody tr")).to_have_count(1)
    expect(manager_page.locator("#add-integration")).to_be_hidden()
    manager_page.click("text=Deploys")
    expect(manager_page.locator("#check-connection")).to_be_visible()
    expect(manager_page.locator("#run-preview")).to_be_visible()
    expect(manager_page.locator("#history-empty")).to_contain_text("An admin can start the first one.")
    expect(manager_page.locator("#sync-now")).to_be_hidden()
    expect(manager_page.locator("#delete-integration")).to_be_hidden()
    answer = manager_page.evaluate(
        "id => Tributary.send('DELETE', '/api/v1/integrations/' + id, undefined, Tributary.session.access())",
        str(integration.id),
    )
    assert answer["status"] == 403 and answer["body"]["error"]["code"] == "INSUFFICIENT_ROLE"
    assert Integration.objects.filter(id=integration.id).exists()
    context.close()


def test_static_files_are_served_by_whitenoise_with_hashed_names_and_compression(hub):
    html = httpx.get(f"{hub.url}/login").text
    css_path = re.search(r'href="(/static/console/console\.[0-9a-f]{12}\.css)"', html).group(1)
    response = httpx.get(f"{hub.url}{css_path}", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/css")
    assert response.headers["content-encoding"] == "gzip"
    assert "immutable" in response.headers["cache-control"]
    assert httpx.get(f"{hub.url}/static/console/missing.css").status_code == 404
