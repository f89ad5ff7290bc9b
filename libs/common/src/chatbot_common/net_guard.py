"""Server-side request forgery protection for addresses a tenant or a model chooses (an MCP
server's URL, the HTTP tool's requests): only public addresses are reached, unless the operator
allows a network (a cluster's own range, say) in settings.

A host name is resolved and every address it resolves to is checked: one private address among
public ones refuses the whole name (a DNS answer is the attacker's to choose). Callers check
again on each connection and each redirect, since a name may resolve differently the next time."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


# Cloud metadata services (AWS, GCP, Azure, OpenStack; AWS over IPv6; Alibaba; AWS ECS task
# credentials and time sync; Oracle's legacy one): refused even inside a network the operator
# allowed, since they hand out the host's own credentials.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "fd00:ec2::254", "100.100.100.200", "169.254.170.2", "169.254.170.23", "fd00:ec2::23",
    "169.254.169.123", "fd00:ec2::123", "192.0.0.192",
))
# Their names, refused before any lookup (an allow-list entry like *.internal must not reach them).
METADATA_HOSTS = frozenset({
    "metadata", "metadata.google.internal", "metadata.goog", "metadata.azure.com", "instance-data",
    "instance-data.ec2.internal", "metadata.tencentyun.com", "metadata.platformequinix.com",
})


class BlockedAddress(Exception):
    """The destination is not allowed; the message says why, without anything secret."""


def _effective(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 form carries (::ffff:127.0.0.1, 6to4), which is what is reached."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
    return address


class AddressPolicy:
    """Public addresses only, plus the networks the operator allowed."""

    def __init__(self, allowed_networks: Iterable[str] = ()) -> None:
        self.allowed: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(n, strict=False) for n in allowed_networks)

    def check_address(self, address: str | IPAddress) -> None:
        ip = _effective(ipaddress.ip_address(address) if isinstance(address, str) else address)
        if ip in METADATA_ADDRESSES:
            raise BlockedAddress(f"{ip} is a cloud metadata address")
        if any(ip in network for network in self.allowed):
            return
        # Loopback, private, link-local (the cloud metadata service at 169.254.169.254), CGNAT,
        # multicast, reserved and unspecified addresses are all "not global".
        if not ip.is_global or ip.is_multicast:
            raise BlockedAddress(f"{ip} is not a public address (loopback, private, link-local or metadata)")

    async def resolve(self, host: str, port: int) -> list[str]:
        """Every address `host` resolves to, each checked; raises BlockedAddress otherwise."""
        host = host.strip("[]")
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            self.check_address(literal)
            return [str(literal)]
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            raise BlockedAddress(f"{host} does not resolve") from None
        addresses = sorted({info[4][0] for info in infos})
        if not addresses:
            raise BlockedAddress(f"{host} does not resolve")
        for address in addresses:
            self.check_address(address.split("%", 1)[0])  # an IPv6 zone (fe80::1%eth0) names no other address
        return addresses

    async def check_url(self, url: str, schemes: tuple[str, ...] = ("https", "http")) -> None:
        """The URL's scheme is one of `schemes` and its host resolves only to allowed addresses."""
        parts = urlsplit(url)
        if parts.scheme not in schemes or not parts.hostname:
            raise BlockedAddress(f"not an {' or '.join(schemes)} URL")
        if parts.username or parts.password:
            raise BlockedAddress("credentials belong in headers, not in the URL")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise BlockedAddress("the URL's port is not a number") from None
        await self.resolve(parts.hostname, port)
