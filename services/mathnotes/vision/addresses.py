"""Which IP addresses an image URL may reach: the SSRF guard's pure half.

:func:`check_address` refuses private, loopback, link-local, metadata, multicast and
reserved addresses, whatever ``ipaddress.is_global`` says (its answer differs between
Python versions), and IPv6 forms that carry an IPv4 address when that address is one
of those: NAT64 (``64:ff9b::/96``), 6to4 (``2002::/16``), Teredo (``2001::/32``, server
and client), IPv4-compatible (``::a.b.c.d``). IPv4-mapped and SIIT-translated
addresses (``::ffff:a.b.c.d``, ``::ffff:0:a.b.c.d``), local-use NAT64 (``64:ff9b:1::/48``,
where the embedded address sits anywhere) and the old site-local ``fec0::/10`` are
refused whole: no public host needs them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

__all__ = ["AddressBlocked", "IPAddress", "Network", "check_address", "embedded_v4"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _nets(*cidrs: str) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


_DENIED = _nets(
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",  # CGNAT, incl. Alibaba Cloud metadata 100.100.100.200
    "127.0.0.0/8",
    "169.254.0.0/16",  # link-local, incl. 169.254.169.254 metadata
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/128",
    "::1/128",
    "::ffff:0:0/96",  # IPv4-mapped
    "::ffff:0:0:0/96",  # SIIT IPv4-translated
    "64:ff9b:1::/48",  # local-use NAT64 (RFC 8215)
    "100::/64",  # discard-only
    "2001::/32",  # Teredo
    "2001:db8::/32",  # documentation
    "fc00::/7",
    "fe80::/10",
    "fec0::/10",  # site-local (deprecated, still routed inside some networks)
    "ff00::/8",
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_COMPATIBLE = ipaddress.ip_network("::/96")
_SIIT = ipaddress.ip_network("::ffff:0:0:0/96")
_TRANSLATED = (_NAT64, ipaddress.ip_network("2002::/16"))  # judged by the IPv4 address they carry


class AddressBlocked(ValueError):
    """An address the image fetcher must not connect to."""


def embedded_v4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """Every IPv4 address an IPv6 address carries by a standard translation or tunnel form."""
    low = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip in _SIIT or ip in _NAT64 or (ip in _COMPATIBLE and int(ip) > 1):
        return [low]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)  # (server, client)
    return []


def _denied(ip: IPAddress) -> bool:
    return any(ip in net for net in _DENIED if net.version == ip.version) or not ip.is_global


def check_address(address: str, allow: Sequence[Network] = ()) -> IPAddress:
    """The parsed address if it may be fetched; AddressBlocked if not (ValueError if it is no address)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if any(ip in net for net in allow if net.version == ip.version):
        return ip
    carried = embedded_v4(ip) if isinstance(ip, ipaddress.IPv6Address) else []
    if carried and all(any(v4 in net for net in allow if net.version == 4) for v4 in carried):
        return ip
    translated = isinstance(ip, ipaddress.IPv6Address) and any(ip in net for net in _TRANSLATED)
    candidates: list[IPAddress] = list(carried) if translated else [ip, *carried]
    if any(_denied(candidate) for candidate in candidates):
        raise AddressBlocked(f"{ip} is a private, loopback, reserved or metadata address")
    return ip
