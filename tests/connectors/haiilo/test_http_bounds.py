"""The Haiilo client under the HTTP layer's bounds, against the fake over real HTTP: the events page is read
as a stream under HAIILO_MAX_BODY_BYTES, and an answer that is not the API's is a typed error."""

from __future__ import annotations

import pytest

from connectors.errors import MalformedResponse, ResponseTooLarge
from connectors.haiilo.client import HaiiloClient
from tests.fakes.haiilo import FakeHaiilo
from tests.fakes.scripted_http import Scripted, ScriptedHttpServer


def client_for(base_url: str, tenant=None) -> HaiiloClient:
    return HaiiloClient(
        base_url=base_url,
        client_id=tenant.client_id if tenant else "id",
        client_secret=tenant.client_secret if tenant else "secret",
        max_attempts=1,
    )


def test_an_events_page_over_the_haiilo_cap_fails_typed_naming_the_step(settings):
    with FakeHaiilo() as haiilo:
        for n in range(20):
            haiilo.tenant.create("article", title=f"Article {n}", content="<p>" + "words " * 100 + "</p>")
        with client_for(haiilo.url, haiilo.tenant) as client:
            page = client.events_page("article", start_id=0, page_size=200)  # under the default cap
            assert sum(1 for _ in page.events()) == 20
        settings.HAIILO_MAX_BODY_BYTES = 4096
        with client_for(haiilo.url, haiilo.tenant) as client:
            with pytest.raises(ResponseTooLarge) as caught:
                client.events_page("article", start_id=0, page_size=200)
    message = str(caught.value)
    assert message.startswith(f"Haiilo: GET {haiilo.url}/web/content-connector/events/article?startId=***&pageSize=***")
    assert "over the 4096-byte cap" in message and caught.value.bytes_read <= 4096 + 64 * 1024


def test_the_haiilo_cap_defaults_to_the_hub_s(settings):
    settings.UPSTREAM_MAX_BODY_BYTES = 1234
    with client_for("http://127.0.0.1:9") as client:
        assert client._api_http.max_body_bytes == 1234
    settings.HAIILO_MAX_BODY_BYTES = 99
    settings.HAIILO_REQUEST_DEADLINE_SECONDS = 3
    with client_for("http://127.0.0.1:9") as client:
        assert (client._api_http.max_body_bytes, client._api_http.deadline_seconds) == (99, 3)


@pytest.mark.parametrize(
    ("answer", "what"),
    [
        (Scripted(200, headers={"Content-Type": "text/html"}, body="<html>Maintenance</html>"), "an HTML page"),
        (Scripted(200, headers={"Content-Type": "application/json"}, body='{"content": [{"eventId": 1}, '), "invalid"),
    ],
)
def test_an_events_page_that_is_html_or_cut_short_is_typed(answer, what):
    with ScriptedHttpServer() as upstream:
        upstream.script("/api/oauth/token", Scripted(200, body={"access_token": "t", "expires_in": 3600}))
        upstream.script("/web/content-connector/events/article", answer)
        with client_for(upstream.url) as client:
            with pytest.raises(MalformedResponse) as caught:
                list(client.events_page("article", start_id=0, page_size=10).events())
    message = str(caught.value)
    assert message.startswith(f"Haiilo: GET {upstream.url}/web/content-connector/events/article?startId=***")
    assert "returned 200 with" in message and what in message and caught.value.status_code == 200
