"""The batch rule against the fake Leena over real HTTP: backoff, Retry-After, attachments, tokens.

The connector is called directly here (the worker tests in tests/integrations/leena/ run the same code
through the engine), so its sleeper can be replaced and the waits asserted without waiting.
"""

from __future__ import annotations

import pytest

from connectors.base import PushAccepted, PushFailed, Warning
from connectors.errors import CredentialInvalid
from tests.connectors.leena.conftest import file_of, snapshot
from tests.fakes.leena import FakeLeena, Fault

UPLOAD, SYNC = "/api/integration/articles/upload/", "/api/integration/articles/sync/"


def answers(connector, entries) -> tuple[dict, list[str]]:
    by_entry, notes = {}, []
    for item in connector.push_batch(entries):
        if isinstance(item, Warning):
            notes.append(item.message)
        else:
            by_entry[item.entry_id] = item
    return by_entry, notes


def test_an_article_that_keeps_failing_is_retried_after_1_2_4_8_16_s_and_its_cycle_never_completes(
    connector, leena: FakeLeena, waits
):
    good, bad = snapshot("Good"), snapshot("Bad")
    leena.upstream.article_faults["Bad"] = Fault(status=None, message="duplicate content")
    result, notes = answers(connector, [good, bad])
    assert waits == [1, 2, 4, 8, 16]
    assert leena.upstream.steps() == ["token", "sync"] + ["sync"] * 5
    assert "complete" not in leena.upstream.steps() and leena.upstream.completed == []
    assert result[bad.id] == PushFailed(
        bad.id, f"Leena did not take article {bad.id}$en: Leena answered failed: duplicate content"
    )
    assert isinstance(result[good.id], PushFailed)
    assert result[good.id].reason.startswith("its cycle did not complete: 1 article(s) failed after 5 retries")
    assert [note.split("; ")[-1] for note in notes] == [f"retry {n} of 5 in {s:g} s." for n, s in enumerate(waits, 1)]


@pytest.mark.parametrize(
    ("retry_after", "expected_waits"),
    [("7", [7, 7]), (None, [1, 2])],
    ids=["Retry-After wins", "without Retry-After the seed's schedule"],
)
def test_a_429_is_retried_after_retry_after_when_sent_else_after_the_schedule(
    connector, leena: FakeLeena, waits, retry_after, expected_waits
):
    entry = snapshot("Busy")
    leena.upstream.article_faults["Busy"] = Fault(status=429, times=2, retry_after=retry_after)
    result, _ = answers(connector, [entry])
    assert waits == expected_waits
    assert leena.upstream.steps() == ["token", "sync", "sync", "sync", "complete"]
    assert result[entry.id] == PushAccepted(entry.id, remote_id=f"{entry.id}$en", created=True)


def test_a_503_with_retry_after_and_a_failing_complete_are_retried_after_what_leena_asks(
    connector, leena: FakeLeena, waits
):
    leena.upstream.path_faults[SYNC] = Fault(status=503, times=1, retry_after="3")
    leena.upstream.path_faults["/api/integration/articles/sync/complete/"] = Fault(status=500, times=2)
    entry = snapshot("One")
    result, notes = answers(connector, [entry])
    assert waits == [3, 1, 2]
    assert leena.upstream.steps() == ["token", "sync", "sync", "complete", "complete", "complete"]
    assert isinstance(result[entry.id], PushAccepted) and "sync/complete/ failed" in notes[-1]


def test_a_complete_that_keeps_failing_fails_every_article_of_the_cycle(connector, leena: FakeLeena, waits):
    leena.upstream.path_faults["/api/integration/articles/sync/complete/"] = Fault(status=500)
    entries = [snapshot("One"), snapshot("Two")]
    result, _ = answers(connector, entries)
    assert waits == [1, 2, 4, 8, 16] and leena.upstream.count("complete") == 6
    for entry in entries:
        assert result[entry.id].reason.startswith("its cycle did not complete: Leena's sync/complete/ failed")


def test_a_5xx_of_the_sync_call_retries_every_article_of_it_then_completes(connector, leena: FakeLeena, waits):
    entries = [snapshot("One"), snapshot("Two")]
    leena.upstream.path_faults[SYNC] = Fault(status=502, times=1)
    result, _ = answers(connector, entries)
    assert waits == [1]
    assert leena.upstream.steps() == ["token", "sync", "sync", "sync", "complete"]
    assert all(isinstance(result[entry.id], PushAccepted) for entry in entries)


def test_a_timeout_counts_as_a_failed_upload(connector, leena: FakeLeena, waits, settings):
    settings.LEENA_READ_TIMEOUT_SECONDS = 0.2
    leena.upstream.sync_delay = 0.5
    connector.close()  # the next client reads the setting
    entry = snapshot("Slow")
    result, notes = answers(connector, [entry])
    assert waits == [1, 2, 4, 8, 16] and "complete" not in leena.upstream.steps()
    assert "ReadTimeout" in result[entry.id].reason and "ReadTimeout" in notes[0]


def test_files_are_uploaded_as_multipart_before_their_article_which_lists_their_ids(connector, leena: FakeLeena):
    manual = snapshot(
        "Manual",
        files=(file_of("guide.pdf", "application/pdf", b"%PDF-1.7 guide"), file_of("map.png", "image/png", b"\x89PNG")),
    )
    plain = snapshot("Plain")
    result, _ = answers(connector, [manual, plain])
    assert leena.upstream.steps() == ["token", "upload", "upload", "sync", "complete"]
    stored = leena.upstream.articles[f"{manual.id}$en"]
    assert [leena.upstream.attachments[a] for a in stored["attachments"]] == [
        {"name": "guide.pdf", "content_type": "application/pdf", "content": b"%PDF-1.7 guide"},
        {"name": "map.png", "content_type": "image/png", "content": b"\x89PNG"},
    ]
    assert leena.upstream.articles[f"{plain.id}$en"]["attachments"] == []
    assert all(isinstance(answer, PushAccepted) for answer in result.values())


def test_a_failed_attachment_retries_its_whole_unit_attachments_and_article_and_holds_back_complete(
    connector, leena: FakeLeena, waits
):
    manual = snapshot("Manual", files=(file_of("a.pdf", "application/pdf", b"a"), file_of("b.png", "image/png", b"b")))
    other = snapshot("Other", files=(file_of("c.txt", "text/plain", b"c"),))
    leena.upstream.attachment_faults["b.png"] = Fault(status=500, times=1)
    result, _ = answers(connector, [manual, other])
    uploads = [call.detail for call in leena.upstream.calls if call.path == UPLOAD]
    assert uploads == ["a.pdf", "b.png", "c.txt", "a.pdf", "b.png"]
    syncs = [call.detail for call in leena.upstream.calls if call.path == SYNC]
    assert syncs == [[f"{other.id}$en"], [f"{manual.id}$en"]]
    assert leena.upstream.steps()[-1] == "complete" and leena.upstream.count("complete") == 1 and waits == [1]
    names = [leena.upstream.attachments[a]["name"] for a in leena.upstream.articles[f"{manual.id}$en"]["attachments"]]
    assert names == ["a.pdf", "b.png"]
    assert all(isinstance(answer, PushAccepted) for answer in result.values())


def test_an_attachment_that_keeps_failing_fails_the_cycle_without_complete(connector, leena: FakeLeena, waits):
    manual = snapshot("Manual", files=(file_of("huge.pptx", "application/vnd.ms-powerpoint", b"x"),))
    leena.upstream.attachment_faults["huge.pptx"] = Fault(status=413)
    result, _ = answers(connector, [manual, snapshot("Other")])
    assert waits == [1, 2, 4, 8, 16] and leena.upstream.count("complete") == 0
    assert "attachment 'huge.pptx'" in result[manual.id].reason and "413" in result[manual.id].reason
    assert leena.upstream.count("sync") == 1  # the other article; the manual never went without its file


def test_a_token_that_expires_mid_cycle_is_replaced_once_and_the_refused_call_repeated(connector, leena: FakeLeena):
    entries = [snapshot("One", files=(file_of("a.txt", "text/plain", b"a"),)), snapshot("Two")]
    leena.upstream.expire_token_after_calls = 2  # the article sync, after the upload, gets 401
    result, _ = answers(connector, entries)
    assert leena.upstream.steps() == ["token", "upload", "sync", "token", "sync", "complete"]
    first, second = leena.upstream.calls[1].token, leena.upstream.calls[4].token
    assert first != second and leena.upstream.calls[5].token == second
    assert all(isinstance(answer, PushAccepted) for answer in result.values())


def test_one_token_serves_every_cycle_until_shortly_before_it_expires(connector, leena: FakeLeena):
    now = [1000.0]
    connector.clock = lambda: now[0]
    leena.upstream.token_lifetime = 600
    answers(connector, [snapshot("One")])
    now[0] += 500  # within its lifetime less the margin (60 s at most)
    answers(connector, [snapshot("Two")])
    assert leena.upstream.steps() == ["token", "sync", "complete", "sync", "complete"]
    now[0] += 50  # 550 s of 600: inside the margin, so renewed before it is sent, not after a 401
    answers(connector, [snapshot("Three")])
    assert leena.upstream.steps()[5:] == ["token", "sync", "complete"]
    assert len({call.token for call in leena.upstream.calls if call.token}) == 2


def test_a_token_refused_twice_ends_the_cycle_as_invalid_credentials(connector, leena: FakeLeena):
    answers(connector, [snapshot("One")])
    leena.upstream.password = "rotated"
    leena.upstream.tokens.clear()
    with pytest.raises(CredentialInvalid):
        answers(connector, [snapshot("Two")])
    assert leena.upstream.steps()[3:] == ["sync", "token"] and leena.upstream.count("complete") == 1


def test_a_form_only_token_endpoint_is_answered_with_the_grant_as_a_form(connector, leena: FakeLeena):
    leena.upstream.path_faults["/api/v1.0/oauth/token"] = Fault(status=415, times=1)
    assert connector.probe().healthy
    assert leena.upstream.steps() == ["token", "token"]


def test_a_file_upload_refused_with_401_is_sent_again_whole_with_the_new_token(connector, leena: FakeLeena):
    entry = snapshot("One", files=(file_of("guide.pdf", "application/pdf", b"%PDF whole body"),))
    leena.upstream.expire_token_after_calls = 1  # the upload itself gets 401
    result, _ = answers(connector, [entry])
    assert leena.upstream.steps() == ["token", "upload", "token", "upload", "sync", "complete"]
    [attachment_id] = leena.upstream.articles[f"{entry.id}$en"]["attachments"]
    assert leena.upstream.attachments[attachment_id]["content"] == b"%PDF whole body"
    assert isinstance(result[entry.id], PushAccepted)
