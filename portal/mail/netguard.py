"""Outgoing HTTP to addresses admins typed, without letting them reach inside the network.

A webhook URL is refused unless its scheme is http or https and every address its host
resolves to is public: not loopback, private (RFC 1918, unique-local fc00::/7), link-local
(169.254/16 with the cloud metadata service, fe80::/10), unspecified, multicast, reserved,
shared (CGNAT 100.64/10), or an IPv4-mapped IPv6 address of one of those. It is checked when
an endpoint is saved and again at each delivery, which then connects to the very address it
checked (the name is not looked up twice, so DNS rebinding cannot swap in another), sending
the name in the Host header and for TLS (SNI and certificate). Hosts on the admins' allow-list
("127.0.0.1:8080", "localhost") skip the address check, for receivers on the same machine.

No redirect is followed, the connection and the whole exchange have short timeouts, and at
most a few KiB of the answer are read.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_METADATA = ipaddress.ip_address("169.254.169.254")


class Refused(Exception):
    """The URL may not be called: said in words an admin understands."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as in the URL, lower case, without brackets
    port: int
    path: str  # with its query

    @property
    def host_port(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse(url: str) -> Target:
    """The parts of a webhook URL, or Refused when it is not one the portal will call."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise Refused("That is not a valid URL.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise Refused("Use an http:// or https:// address.")
    if not parts.hostname:
        raise Refused("The address needs a host name, as in https://hooks.example.com/portal.")
    if parts.username is not None or parts.password is not None:
        raise Refused("Leave the user name and password out of the address.")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(
        scheme=scheme,
        host=parts.hostname.lower().rstrip("."),
        port=port or (443 if scheme == "https" else 80),
        path=path,
    )


def blocked_reason(address: IPAddress) -> str | None:
    """Why an address must not be called, in a few words; None for a public address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        reason = blocked_reason(address.ipv4_mapped)
        return f"an IPv4-mapped {reason}" if reason else None
    if address == _METADATA:
        return "the cloud metadata address"
    checks = (
        (address.is_unspecified, "an unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (
            isinstance(address, ipaddress.IPv4Address) and address in _SHARED,
            "a shared (CGNAT) address",
        ),
        (address.is_reserved, "a reserved address"),
        (address.is_private, "a private address"),
        (not address.is_global, "not a public address"),
    )
    for hit, reason in checks:
        if hit:
            return reason
    return None


def is_allowed_locally(target: Target, allowed: Collection[str]) -> bool:
    """Whether the admins listed this host (any port) or this host and port for local use."""
    names = {entry.strip().lower().rstrip(".") for entry in allowed if entry.strip()}
    bare = f"[{target.host}]" if ":" in target.host else target.host
    return bool(names & {target.host, bare, target.host_port})


def resolve(target: Target) -> list[IPAddress]:
    """Every address the host stands for (a literal address stands for itself)."""
    try:
        return [ipaddress.ip_address(target.host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise Refused(f"The host {target.host} could not be found.") from None
    found: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    if not found:
        raise Refused(f"The host {target.host} could not be found.")
    return found


def checked_addresses(target: Target, allowed: Collection[str]) -> list[IPAddress]:
    """The addresses to connect to, every one checked; Refused if any of them is blocked."""
    addresses = resolve(target)
    if is_allowed_locally(target, allowed):
        return addresses
    for address in addresses:
        reason = blocked_reason(address)
        if reason:
            shown = "" if str(address) == target.host else f" resolves to {address}, which"
            raise Refused(
                f"The host {target.host}{shown} is {reason}: the portal does not call "
                "addresses inside its own network. (Admins can allow a host for local use in "
                "the webhook settings.)"
            )
    return addresses


def check_url(url: str, allowed: Collection[str]) -> Target:
    """For saving an endpoint: the URL parses and its host resolves only to callable addresses."""
    target = parse(url)
    checked_addresses(target, allowed)
    return target


# --- Calling -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    excerpt: str
    location: str | None = None


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Talks to `address`, whatever `host` (which goes in the Host header) resolves to."""

    def __init__(self, host: str, port: int, address: IPAddress, *, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.pinned = address

    def connect(self) -> None:
        self.sock = socket.create_connection((str(self.pinned), self.port), timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    def __init__(self, host: str, port: int, address: IPAddress, *, timeout: float) -> None:
        super().__init__(host, port, address, timeout=timeout)
        self.context = ssl.create_default_context()

    def connect(self) -> None:
        super().connect()
        # The certificate must be the name's, as if the name had been looked up here.
        self.sock = self.context.wrap_socket(self.sock, server_hostname=self.host)


def post(
    target: Target,
    addresses: list[IPAddress],
    body: bytes,
    headers: dict[str, str],
    *,
    connect_timeout: float,
    total_timeout: float,
    cap: int,
) -> Answer:
    """POST body to the first of the checked addresses that answers; at most `cap` bytes of
    the response are read. Raises OSError (including timeouts) or http.client errors."""
    deadline = time.monotonic() + total_timeout
    last_error: OSError | None = None
    for address in addresses:
        kind = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
        conn = kind(target.host, target.port, address, timeout=connect_timeout)
        try:
            conn.connect()
        except OSError as exc:
            last_error = exc
            conn.close()
            continue
        try:
            return _exchange(conn, target, body, headers, deadline=deadline, cap=cap)
        finally:
            conn.close()
    raise last_error or OSError("no address to connect to")


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the receiver took too long to answer")
    return left


def _exchange(
    conn: _PinnedHTTPConnection,
    target: Target,
    body: bytes,
    headers: dict[str, str],
    *,
    deadline: float,
    cap: int,
) -> Answer:
    sock = conn.sock  # kept: http.client lets go of it once the answer says it will close
    assert sock is not None
    sock.settimeout(_remaining(deadline))
    conn.request("POST", target.path, body=body, headers=headers)
    sock.settimeout(_remaining(deadline))
    response = conn.getresponse()
    chunks: list[bytes] = []
    size = 0
    while size < cap:
        sock.settimeout(_remaining(deadline))
        chunk = response.read1(cap - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    excerpt = b"".join(chunks)[:cap].decode("utf-8", "replace")
    return Answer(status=response.status, excerpt=excerpt, location=response.getheader("Location"))
