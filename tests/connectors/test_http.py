"""UpstreamHttpClient against real HTTP servers on loopback: retries, refresh, SSRF, logs."""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from connectors.errors import (
    CredentialInvalid,
    InsufficientPermission,
    NotFoundUpstream,
    RateLimited,
    UnsafeUpstreamURL,
    UpstreamError,
    UpstreamRejected,
    UpstreamUnavailable,
)
from connectors.http import UpstreamHttpClient, redact_url, retry_after_seconds
from connectors.http_guard import GuardedNetworkBackend, is_public_address, tls_context
from tests.fakes.scripted_http import Scripted, ScriptedHttpServer

SECRET = "sup3r-secret"


@pytest.fixture
def upstream() -> Iterator[ScriptedHttpServer]:
    with ScriptedHttpServer() as server:
        yield server


@pytest.fixture
def second_upstream() -> Iterator[ScriptedHttpServer]:
    """Another origin: Linux routes all of 127/8 to loopback."""
    with ScriptedHttpServer(host="127.0.0.2") as server:
        yield server


@pytest.fixture
def sleeps() -> list[float]:
    return []


def client_for(base_url: str, sleeps: list[float], **kwargs) -> UpstreamHttpClient:
    kwargs.setdefault("allow_private", True)
    return UpstreamHttpClient(base_url=base_url, sleep=sleeps.append, **kwargs)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- retries and backoff ---


def test_retries_503_then_succeeds(upstream, sleeps):
    upstream.script("/items", Scripted(503), Scripted(503), Scripted(200, body={"ok": True}))
    with client_for(upstream.url, sleeps) as client:
        assert client.get_json("/items") == {"ok": True}
    assert len(upstream.requests_to("/items")) == 3
    assert len(sleeps) == 2


def test_gives_up_after_max_attempts_with_upstream_unavailable(upstream, sleeps):
    upstream.script("/items", *[Scripted(502)] * 5)
    with client_for(upstream.url, sleeps, max_attempts=3) as client:
        with pytest.raises(UpstreamUnavailable) as caught:
            client.get("/items")
    assert caught.value.status_code == 502
    assert caught.value.retryable
    assert len(upstream.requests_to("/items")) == 3
    assert len(sleeps) == 2


def test_honours_retry_after_seconds(upstream, sleeps):
    upstream.script("/items", Scripted(503, {"Retry-After": "7"}), Scripted(200))
    with client_for(upstream.url, sleeps) as client:
        client.get("/items")
    assert sleeps == [7.0]


def test_honours_retry_after_http_date(upstream, sleeps):
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    upstream.script("/items", Scripted(429, {"Retry-After": when}), Scripted(200))
    with client_for(upstream.url, sleeps) as client:
        client.get("/items")
    assert len(sleeps) == 1
    assert 28 < sleeps[0] <= 30  # an HTTP-date has whole seconds


def test_retry_after_http_date_is_read_against_now():
    now = datetime(2015, 10, 21, 7, 27, tzinfo=UTC)
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 60
    assert retry_after_seconds("soon", now=now) is None


def test_clamps_huge_retry_after_to_retry_after_max(upstream, sleeps):
    upstream.script("/items", Scripted(503, {"Retry-After": "86400"}), Scripted(200))
    with client_for(upstream.url, sleeps, retry_after_max=60) as client:
        client.get("/items")
    assert sleeps == [60.0]


def test_retry_after_in_the_past_waits_nothing(upstream, sleeps):
    upstream.script("/items", Scripted(503, {"Retry-After": "Thu, 01 Jan 2015 00:00:00 GMT"}))
    upstream.script("/items", Scripted(200))
    with client_for(upstream.url, sleeps) as client:
        client.get("/items")
    assert sleeps == [0.0]


def test_429_exhausted_raises_rate_limited_with_retry_after(upstream, sleeps):
    upstream.script("/items", *[Scripted(429, {"Retry-After": "5"})] * 2)
    with client_for(upstream.url, sleeps, max_attempts=2) as client:
        with pytest.raises(RateLimited) as caught:
            client.get("/items")
    assert caught.value.retry_after == 5.0
    assert caught.value.status_code == 429
    assert caught.value.retryable
    assert len(upstream.requests_to("/items")) == 2


def test_full_jitter_delays_stay_within_exponential_bounds(upstream, sleeps):
    upstream.script("/items", *[Scripted(500)] * 8)
    with client_for(upstream.url, sleeps, max_attempts=8, backoff_base=0.5, backoff_max=4) as client:
        with pytest.raises(UpstreamUnavailable):
            client.get("/items")
    caps = [min(4, 0.5 * 2**n) for n in range(7)]
    assert len(sleeps) == 7
    assert all(0 <= delay <= cap for delay, cap in zip(sleeps, caps, strict=True))
    # Without jitter every delay would sit on its cap; seven uniform draws all near it is ~0.
    assert any(delay < 0.9 * cap for delay, cap in zip(sleeps, caps, strict=True))


def test_connection_refused_becomes_upstream_unavailable_after_retries(sleeps):
    with client_for(f"http://127.0.0.1:{closed_port()}", sleeps, max_attempts=3) as client:
        with pytest.raises(UpstreamUnavailable) as caught:
            client.get("/items")
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert len(sleeps) == 2


def test_read_timeout_is_retried_for_get_but_not_for_post(sleeps):
    # A listening socket that never answers: the connect succeeds and the read times out.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        base_url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with client_for(base_url, sleeps, max_attempts=2, read_timeout=0.05) as client:
            with pytest.raises(UpstreamUnavailable):
                client.get("/items")
            assert len(sleeps) == 1
            with pytest.raises(UpstreamUnavailable):
                client.post("/items", json={})
            assert len(sleeps) == 1


# --- non-idempotent methods ---


def test_post_is_not_retried_on_500(upstream, sleeps):
    upstream.script("/items", Scripted(500), Scripted(201))
    with client_for(upstream.url, sleeps) as client:
        with pytest.raises(UpstreamUnavailable):
            client.post("/items", json={"title": "once"})
    assert len(upstream.requests_to("/items")) == 1
    assert sleeps == []


def test_post_is_retried_on_503_with_the_same_body(upstream, sleeps):
    upstream.script("/items", Scripted(503), Scripted(201))
    with client_for(upstream.url, sleeps) as client:
        assert client.post("/items", json={"title": "once"}).status_code == 201
    bodies = [r.body for r in upstream.requests_to("/items")]
    assert bodies == [b'{"title":"once"}'] * 2


def test_post_is_retried_when_the_connection_was_refused(sleeps):
    with client_for(f"http://127.0.0.1:{closed_port()}", sleeps, max_attempts=2) as client:
        with pytest.raises(UpstreamUnavailable):
            client.post("/items", json={})
    assert len(sleeps) == 1


# --- 401 and token refresh ---


def test_401_calls_refresher_once_and_the_retry_carries_the_new_header(upstream, sleeps):
    upstream.script("/me", Scripted(401), Scripted(200, body={"id": 1}), Scripted(200))
    calls: list[int] = []

    def refresh() -> dict[str, str]:
        calls.append(1)
        return {"Authorization": "Bearer fresh"}

    headers = {"Authorization": "Bearer stale"}
    with client_for(upstream.url, sleeps, headers=headers, token_refresher=refresh) as client:
        assert client.get_json("/me") == {"id": 1}
        client.get("/me")
    sent = [r.headers["authorization"] for r in upstream.requests_to("/me")]
    assert sent == ["Bearer stale", "Bearer fresh", "Bearer fresh"]
    assert calls == [1]


def test_401_twice_raises_credential_invalid_after_exactly_one_refresh(upstream, sleeps):
    upstream.script("/me", Scripted(401), Scripted(401))
    calls: list[int] = []

    def refresh() -> dict[str, str]:
        calls.append(1)
        return {"Authorization": "Bearer fresh"}

    with client_for(upstream.url, sleeps, token_refresher=refresh) as client:
        with pytest.raises(CredentialInvalid) as caught:
            client.get("/me")
    assert calls == [1]
    assert caught.value.status_code == 401
    assert not caught.value.retryable
    assert len(upstream.requests_to("/me")) == 2


def test_401_without_refresher_raises_credential_invalid_at_once(upstream, sleeps):
    upstream.script("/me", Scripted(401))
    with client_for(upstream.url, sleeps, max_attempts=1) as client:
        with pytest.raises(CredentialInvalid):
            client.get("/me")


# --- status mapping ---


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, UpstreamRejected),
        (403, InsufficientPermission),
        (404, NotFoundUpstream),
        (409, UpstreamRejected),
        (422, UpstreamRejected),
    ],
)
def test_4xx_maps_to_its_error_and_is_not_retried(upstream, sleeps, status, error):
    upstream.script("/items", Scripted(status, body={"error": "nope"}), Scripted(200))
    with client_for(upstream.url, sleeps) as client:
        with pytest.raises(error) as caught:
            client.get("/items")
    assert type(caught.value) is error
    assert caught.value.status_code == status
    assert not caught.value.retryable
    assert len(upstream.requests_to("/items")) == 1
    assert sleeps == []


def test_rejection_carries_a_short_body_excerpt(upstream, sleeps):
    upstream.script("/items", Scripted(400, body={"error": "title is required", "pad": "x" * 500}))
    with client_for(upstream.url, sleeps) as client:
        with pytest.raises(UpstreamRejected) as caught:
            client.post("/items", json={})
    assert "title is required" in caught.value.body_excerpt
    assert len(caught.value.body_excerpt) <= 200


def test_retryable_is_true_only_for_rate_limits_and_unavailability():
    retryable = {cls.__name__ for cls in _all_subclasses(UpstreamError) if cls.retryable}
    assert retryable == {"RateLimited", "UpstreamUnavailable", "DeadlineExceeded"}


def _all_subclasses(cls: type) -> set[type]:
    return {sub for direct in cls.__subclasses__() for sub in {direct, *_all_subclasses(direct)}}


# --- redirects ---


def test_307_keeps_method_and_body_and_303_becomes_get(upstream, sleeps):
    upstream.script("/old", Scripted(307, {"Location": "/new"}))
    upstream.script("/new", Scripted(201))
    upstream.script("/form", Scripted(303, {"Location": "/done"}))
    upstream.script("/done", Scripted(200))
    with client_for(upstream.url, sleeps) as client:
        client.post("/old", json={"a": 1})
        client.post("/form", json={"a": 1})
    (new,) = upstream.requests_to("/new")
    (done,) = upstream.requests_to("/done")
    assert (new.method, new.body) == ("POST", b'{"a":1}')
    assert (done.method, done.body) == ("GET", b"")


def test_redirect_to_another_origin_drops_credentials(upstream, second_upstream, sleeps):
    upstream.script("/file", Scripted(302, {"Location": f"{second_upstream.url}/blob"}))
    second_upstream.script("/blob", Scripted(200, body="data"))
    headers = {"Authorization": f"Bearer {SECRET}", "X-Api-Key": SECRET}
    with client_for(upstream.url, sleeps, headers=headers) as client:
        assert client.get("/file").text == "data"
    (blob,) = second_upstream.requests_to("/blob")
    assert "authorization" not in blob.headers
    assert "x-api-key" not in blob.headers


def test_too_many_redirects_is_rejected(upstream, sleeps):
    upstream.script("/loop", *[Scripted(302, {"Location": "/loop"})] * 10)
    with client_for(upstream.url, sleeps) as client:
        with pytest.raises(UpstreamRejected, match="redirects"):
            client.get("/loop")
    assert len(upstream.requests_to("/loop")) == 6


# --- SSRF guard ---


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:{port}",
        "http://localhost:{port}",
        "http://[::1]:{port}",
        "http://169.254.169.254",
        "http://10.1.2.3",
        "http://[::ffff:127.0.0.1]:{port}",
        "http://0.0.0.0:{port}",
    ],
)
def test_private_addresses_are_refused_without_being_contacted(upstream, sleeps, base_url):
    url = base_url.format(port=upstream.port)
    with client_for(url, sleeps, allow_private=False) as client:
        with pytest.raises(UnsafeUpstreamURL):
            client.get("/latest/meta-data/")
    assert upstream.requests == []
    assert sleeps == []  # a refusal is final, not retried


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("1.1.1.1", True),
        ("2001:4860:4860::8888", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("::", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00:ec2::254", False),
        ("ff0e::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:169.254.169.254", False),
        ("2002:7f00:1::", False),
        ("64:ff9b::a9fe:a9fe", False),
        ("example.com", False),
    ],
)
def test_is_public_address(address, public):
    assert is_public_address(address) is public


def _resolver(*addresses: str):
    def resolve(host: str, port: int, **kwargs) -> list[tuple]:
        family = socket.AF_INET6 if ":" in addresses[0] else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    return resolve


def test_a_public_looking_name_is_judged_by_what_it_resolves_to():
    private = GuardedNetworkBackend(is_public_address, resolve=_resolver("10.0.0.7"))
    mixed = GuardedNetworkBackend(is_public_address, resolve=_resolver("93.184.215.14", "127.0.0.1"))
    public = GuardedNetworkBackend(is_public_address, resolve=_resolver("93.184.215.14"))
    with pytest.raises(UnsafeUpstreamURL):
        private.vetted_addresses("api.example.com", 443)
    with pytest.raises(UnsafeUpstreamURL):
        mixed.vetted_addresses("api.example.com", 443)
    assert public.vetted_addresses("api.example.com", 443) == ["93.184.215.14"]


def test_redirect_to_a_refused_address_is_refused(upstream, second_upstream, sleeps):
    upstream.script("/start", Scripted(302, {"Location": f"{second_upstream.url}/internal"}))
    only_first = ipaddress.ip_address("127.0.0.1")
    with client_for(upstream.url, sleeps, address_policy=lambda ip: ip == only_first) as client:
        with pytest.raises(UnsafeUpstreamURL):
            client.get("/start")
    assert len(upstream.requests_to("/start")) == 1
    assert second_upstream.requests == []


def test_redirect_to_another_scheme_is_refused(upstream, sleeps):
    upstream.script("/start", Scripted(302, {"Location": "file:///etc/passwd"}))
    with client_for(upstream.url, sleeps) as client:
        with pytest.raises(UnsafeUpstreamURL):
            client.get("/start")


def test_allow_private_reaches_loopback(upstream, sleeps):
    upstream.script("/items", Scripted(200, body=[1, 2]))
    with client_for(upstream.url, sleeps, allow_private=True) as client:
        assert client.get_json("/items") == [1, 2]


@pytest.mark.parametrize("allowed", [True, False])
def test_allow_private_defaults_to_the_django_setting(upstream, sleeps, settings, allowed):
    settings.ALLOW_PRIVATE_UPSTREAMS = allowed
    upstream.script("/items", Scripted(200))
    with UpstreamHttpClient(base_url=upstream.url, sleep=sleeps.append) as client:
        if allowed:
            assert client.get("/items").status_code == 200
        else:
            with pytest.raises(UnsafeUpstreamURL):
                client.get("/items")


# --- logging ---


def test_logs_and_errors_never_contain_the_token_or_query_secret(upstream, sleeps, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    echo = {"error": f"bad key {SECRET}", "access_token": SECRET}
    upstream.script("/search", Scripted(503), Scripted(400, body=echo))
    headers = {"Authorization": f"Bearer {SECRET}"}
    with client_for(upstream.url, sleeps, headers=headers) as client:
        with pytest.raises(UpstreamRejected) as caught:
            client.get("/search", params={"api_key": SECRET, "q": "cats"})
    assert upstream.requests_to("/search")[0].headers["authorization"] == f"Bearer {SECRET}"
    assert SECRET not in caplog.text
    assert SECRET not in str(caught.value)
    assert SECRET not in caught.value.body_excerpt
    lines = [r.getMessage() for r in caplog.records if r.name == "connectors.http"]
    assert len(lines) == 2
    assert "GET http://127.0.0.1" in lines[0]
    assert "/search?api_key=***&q=***" in lines[0]
    assert "503" in lines[0] and "attempt 1" in lines[0]
    assert "400" in lines[1] and "attempt 2" in lines[1]


@pytest.mark.parametrize(
    ("client_kwargs", "send"),
    [
        pytest.param({"auth": httpx.BasicAuth("client-1", SECRET)}, {}, id="basic-auth-echoed-decoded"),
        pytest.param({}, {"data": {"client_secret": SECRET, "grant_type": "x"}}, id="form-body"),
        pytest.param({}, {"json": {"refresh_token": SECRET, "grant_type": "x"}}, id="json-body"),
    ],
)
def test_an_error_echoing_a_basic_password_or_a_body_secret_masks_it(upstream, sleeps, client_kwargs, send):
    # Echoed in words no field pattern catches: only knowing what was sent can mask it.
    upstream.script("/token", Scripted(422, body=f"client-1:{SECRET} refused; {SECRET} is unknown"))
    with client_for(upstream.url, sleeps, **client_kwargs) as client:
        with pytest.raises(UpstreamRejected) as caught:
            client.post("/token", **send)
    assert "refused" in caught.value.body_excerpt
    assert SECRET not in str(caught.value) and SECRET not in caught.value.body_excerpt


def test_redact_url_keeps_the_path_and_hides_query_values_and_userinfo():
    url = "https://user:pw@api.example.com/v1/items?token=abc&page=2"
    assert redact_url(url) == "https://api.example.com/v1/items?token=***&page=***"


# --- TLS ---


def self_signed_certificate(directory) -> tuple[str, str]:
    """A certificate for 127.0.0.1 that no CA signed, and its key, as PEM files in `directory`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return str(cert_path), str(key_path)


def test_every_upstream_client_verifies_tls_with_the_one_context_of_its_process(tmp_path, sleeps):
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(*self_signed_certificate(tmp_path))
    with ScriptedHttpServer(tls=server_context) as upstream:
        upstream.script("/items", Scripted(200, body={"ok": True}))
        for _ in range(2):  # a second client is refused the same way, by the same context
            with client_for(upstream.url, sleeps, max_attempts=1) as client:
                with pytest.raises(UpstreamUnavailable) as caught:
                    client.get("/items")
            assert "CERTIFICATE_VERIFY_FAILED" in repr(caught.value.__cause__)
        assert upstream.requests == []  # no request got past the handshake
    context = tls_context()
    assert tls_context() is context  # built once: reading the CA bundle costs about 30 ms each time
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
