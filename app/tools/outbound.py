"""Outbound URL policy shared by webhook tools and ``http_get``: allowlists, address checks, pinning.

An allowlist entry is an origin, ``scheme://host[:port]`` (no port means the scheme's default
port), or a wildcard origin ``scheme://*.example.com[:port]`` matching any subdomain (not the bare
domain). A URL is reachable only if its origin matches an entry.

At call time the host is resolved and every address checked: loopback, private, link-local and
reserved addresses are refused unless the matched allowlist entry names that origin explicitly by
IP literal or as ``localhost``. The request is then sent to the address that was checked (the
connection is *pinned*: the URL carries the IP, the ``Host`` header and TLS SNI carry the name),
so a DNS answer that changes between check and connect (DNS rebinding) cannot redirect it.
"""

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""``(host, port) -> addresses``; the system resolver by default, a seam for tests."""

_DEFAULT_PORTS = {"http": 80, "https": 443}
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class OutboundRefused(Exception):
    """The URL or the address it resolves to is not allowed; the message says why."""


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.scheme}://{_bracket(self.host)}:{self.port}"


@dataclass(frozen=True)
class AllowEntry:
    origin: Origin
    wildcard: bool

    def matches(self, origin: Origin) -> bool:
        if (origin.scheme, origin.port) != (self.origin.scheme, self.origin.port):
            return False
        if self.wildcard:
            return origin.host.endswith("." + self.origin.host)
        return origin.host == self.origin.host

    @property
    def names_address(self) -> bool:
        """An IP-literal or ``localhost`` entry: private addresses are fine, the admin named them."""
        return not self.wildcard and (self.origin.host == "localhost" or _ip(self.origin.host) is not None)


def parse_origin(url: str) -> Origin:
    """The origin of an absolute http(s) URL; `OutboundRefused` for anything else."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise OutboundRefused(f"{url!r} is not a valid URL.") from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise OutboundRefused(f"{url!r} must be an http or https URL.")
    if parts.username is not None or parts.password is not None:
        raise OutboundRefused("URLs with credentials are not allowed.")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise OutboundRefused(f"{url!r} has no host.")
    return Origin(scheme, host, port or _DEFAULT_PORTS[scheme])


def parse_allowlist(entries: Sequence[str]) -> list[AllowEntry]:
    """Parse configured entries; an entry that is not an origin is skipped."""
    parsed: list[AllowEntry] = []
    for entry in entries:
        wildcard = "://*." in entry
        try:
            origin = parse_origin(entry.replace("://*.", "://", 1) if wildcard else entry)
        except OutboundRefused:
            continue
        parsed.append(AllowEntry(origin, wildcard))
    return parsed


def match_allowlist(url: str, allowlist: Sequence[str]) -> AllowEntry:
    """The allowlist entry ``url`` falls under, or `OutboundRefused`."""
    origin = parse_origin(url)
    for entry in parse_allowlist(allowlist):
        if entry.matches(origin):
            return entry
    raise OutboundRefused(f"{origin} is not on the allowlist.")


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class PinnedRequest:
    """Where to send a request: the checked address, plus the name for ``Host`` and SNI."""

    url: str
    host_header: str
    server_name: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Host": self.host_header}

    @property
    def extensions(self) -> dict[str, Any]:
        return {"sni_hostname": self.server_name}


async def pin(url: str, allowlist: Sequence[str], resolver: Resolver = system_resolver) -> PinnedRequest:
    """Check ``url`` against the allowlist, resolve it, check every address, and pin the first."""
    entry = match_allowlist(url, allowlist)
    origin = parse_origin(url)
    literal = _ip(origin.host)
    try:
        addresses = (
            [literal] if literal is not None else [_ip_or_raise(a) for a in await resolver(origin.host, origin.port)]
        )
    except OSError as exc:
        raise OutboundRefused(f"Could not resolve {origin.host!r}.") from exc
    if not addresses:
        raise OutboundRefused(f"Could not resolve {origin.host!r}.")
    for address in addresses:
        if not _is_public(address) and not entry.names_address:
            raise OutboundRefused(
                f"{origin.host!r} resolves to a non-public address ({address}); "
                "only allowlist entries naming an IP or localhost may reach those."
            )
    parts = urlsplit(url.strip())
    netloc = f"{_bracket(str(addresses[0]))}:{origin.port}"
    default_port = origin.port == _DEFAULT_PORTS[origin.scheme]
    host_header = _bracket(origin.host) if default_port else f"{_bracket(origin.host)}:{origin.port}"
    pinned = urlunsplit((origin.scheme, netloc, parts.path or "/", parts.query, ""))
    return PinnedRequest(url=pinned, host_header=host_header, server_name=origin.host)


def _ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _ip_or_raise(address: str) -> IPAddress:
    parsed = _ip(address.split("%", 1)[0])
    if parsed is None:
        raise OSError(f"resolver returned {address!r}")
    return parsed


def _is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host
