"""SSRF guard for upstream calls: which addresses are safe, enforced when the socket connects."""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterable, Iterator

import httpcore
import httpx

from connectors.errors import UnsafeUpstreamURL
from connectors.http_bounds import DeadlineStream, connect_timeout

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
AddressPolicy = Callable[[IPAddress], bool]
Resolver = Callable[..., list[tuple]]

ALLOWED_SCHEMES = frozenset({"http", "https"})
# 64:ff9b::/96 translates to IPv4 through a NAT64 gateway, so the IPv4 inside is what we reach.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _reachable_forms(ip: IPAddress) -> Iterator[IPAddress]:
    """The address itself and every IPv4 address tunnelled inside it (mapped, 6to4, NAT64)."""
    yield ip
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            yield ip.ipv4_mapped
        if ip.sixtofour is not None:
            yield ip.sixtofour
        if ip.teredo is not None:
            yield from ip.teredo
        if ip in _NAT64:
            yield ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)


def is_public_address(address: str | IPAddress) -> bool:
    """True for a globally routable unicast address; False for anything else or a non-address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for form in _reachable_forms(ip):
        # is_global alone has had gaps across Python versions (e.g. IPv4-mapped, 6to4, ff0e::/16),
        # so the explicit flags are belt and braces.
        if not form.is_global or (
            form.is_private
            or form.is_loopback
            or form.is_link_local
            or form.is_multicast
            or form.is_reserved
            or form.is_unspecified
        ):
            return False
    return True


def allow_any_address(ip: IPAddress) -> bool:
    """Policy for development and tests (ALLOW_PRIVATE_UPSTREAMS): every address is allowed."""
    return True


def parsed_upstream_url(url: httpx.URL | str) -> httpx.URL:
    """`url` as httpx reads it, or UnsafeUpstreamURL: a URL httpx cannot parse is refused, not a crash."""
    try:
        return httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        # The message names no part of the URL: it may carry credentials in its userinfo.
        raise UnsafeUpstreamURL("The upstream URL is not valid; correct it in the integration's config.") from None


def check_scheme(url: httpx.URL | str) -> None:
    """Refuse anything but http and https; a reference with no scheme is judged once merged."""
    url = parsed_upstream_url(url)
    # Checked before merging too: httpx merges a URL without a host ("file:/etc/passwd") into
    # base_url, which would hide the foreign scheme from a check on the merged result.
    if url.scheme and url.scheme not in ALLOWED_SCHEMES:
        raise UnsafeUpstreamURL(f"Scheme {url.scheme!r} is not allowed for upstreams.")


class GuardedNetworkBackend(httpcore.SyncBackend):
    """Resolves the host itself, refuses unsafe addresses and connects to the vetted IP.

    Checking here, at connect time, rather than before sending is what defeats DNS rebinding:
    the address we vet is the address we connect to. TLS is unaffected because httpcore passes
    the original host to `start_tls` as server_hostname, for SNI and certificate checks.
    """

    def __init__(self, policy: AddressPolicy, *, resolve: Resolver = socket.getaddrinfo) -> None:
        self.policy = policy
        self.resolve = resolve

    def vetted_addresses(self, host: str, port: int) -> list[str]:
        """Every address `host` resolves to, or UnsafeUpstreamURL if any of them is refused."""
        host = host.strip("[]")
        try:
            infos = self.resolve(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpcore.ConnectError(f"Could not resolve {host}.") from exc
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
        # One refused address refuses the name: a name that mixes public and private answers
        # is an attack or a misconfiguration, and either way we should not pick for the caller.
        for address in addresses:
            if not self.policy(ipaddress.ip_address(address)):
                raise UnsafeUpstreamURL(f"Upstream host {host} resolves to a refused address.")
        if not addresses:
            raise httpcore.ConnectError(f"Could not resolve {host}.")
        return addresses

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        last_error: Exception | None = None
        for address in self.vetted_addresses(host, port):
            try:
                stream = super().connect_tcp(address, port, connect_timeout(timeout), local_address, socket_options)
                return DeadlineStream(stream)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None  # vetted_addresses never returns an empty list
        raise last_error

    def connect_unix_socket(self, *args: object, **kwargs: object) -> httpcore.NetworkStream:
        raise UnsafeUpstreamURL("Unix sockets are not allowed for upstreams.")


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's default TLS context (certifi's roots, certificates and host names verified), built once
    per process and shared by every upstream client: building one reads the whole CA bundle, about
    30 ms of CPU, and a transport built two (its own and its pool's) for every sync, probe and preview."""
    return httpx.create_ssl_context()


class GuardedTransport(httpx.HTTPTransport):
    """httpx's own transport, with a connection pool that connects through the guard.

    HTTPTransport takes no network backend, so we let it build itself and then swap in a pool
    built with httpcore's public `network_backend=` argument. That keeps httpx's request and
    exception mapping (a hand-written BaseTransport would copy httpx internals) at the cost of
    assigning one attribute, `_pool`, that HTTPTransport uses for everything (pinned httpx<0.29).
    Proxies are deliberately unsupported: through a proxy the guard would vet the proxy's address.
    """

    def __init__(self, policy: AddressPolicy) -> None:
        super().__init__(verify=tls_context())
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
        self._pool = httpcore.ConnectionPool(
            ssl_context=tls_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedNetworkBackend(policy),
        )
