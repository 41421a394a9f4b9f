"""The SSRF guard's address rules, pure: every IPv6 form that carries an IPv4 address is judged by it."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mathnotes.vision.addresses import AddressBlocked, check_address, embedded_v4

PRIVATE_V4 = [
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
              "0.0.0.0/8", "224.0.0.0/4", "240.0.0.0/4", "198.18.0.0/15")
]  # fmt: skip
PUBLIC_V4 = ["8.8.8.8", "1.1.1.1", "47.96.1.1", "93.184.216.34", "203.119.1.1"]


def v4_in(net: ipaddress.IPv4Network) -> st.SearchStrategy[ipaddress.IPv4Address]:
    first = int(net.network_address)
    return st.integers(first, first + net.num_addresses - 1).map(ipaddress.IPv4Address)


private_v4 = st.sampled_from(PRIVATE_V4).flatmap(v4_in)


def forms(v4: ipaddress.IPv4Address, noise: int) -> dict[str, ipaddress.IPv6Address]:
    """``v4`` in every IPv6 form that carries one (``noise`` fills the bits the form leaves free)."""
    n = int(v4)
    return {
        "mapped": ipaddress.IPv6Address((0xFFFF << 32) | n),
        "siit": ipaddress.IPv6Address((0xFFFF << 48) | n),
        "nat64": ipaddress.IPv6Address((0x64FF9B << 96) | n),
        "6to4": ipaddress.IPv6Address((0x2002 << 112) | (n << 80) | (noise & ((1 << 80) - 1))),
        "teredo_client": ipaddress.IPv6Address((0x20010000 << 96) | (int(ipaddress.IPv4Address("65.54.227.120")) << 64)
                                               | ((noise & 0xFFFFFFFF) << 32) | (n ^ 0xFFFFFFFF)),
        "teredo_server": ipaddress.IPv6Address((0x20010000 << 96) | (n << 64) | (noise & ((1 << 64) - 1))),
        "compatible": ipaddress.IPv6Address(n),
    }  # fmt: skip


@given(private_v4, st.integers(0, (1 << 80) - 1))
def test_a_private_ipv4_address_is_refused_in_every_ipv6_form(v4: ipaddress.IPv4Address, noise: int) -> None:
    for name, ip in forms(v4, noise).items():
        if name == "compatible" and int(v4) <= 1:
            continue  # :: and ::1 are themselves, refused as such below
        assert v4 in embedded_v4(ip), (name, ip)
        with pytest.raises(AddressBlocked):
            check_address(str(ip))
        with pytest.raises(AddressBlocked):
            check_address(str(v4))


@pytest.mark.parametrize("v4", PUBLIC_V4)
def test_nat64_and_6to4_of_a_public_address_pass_and_the_rest_of_their_forms_do_not(v4: str) -> None:
    all_forms = forms(ipaddress.IPv4Address(v4), 1)
    assert str(check_address(str(all_forms["nat64"]))) == str(all_forms["nat64"])
    assert str(check_address(str(all_forms["6to4"]))) == str(all_forms["6to4"])
    for name in ("mapped", "siit", "teredo_client", "teredo_server"):  # never needed to reach a public host
        with pytest.raises(AddressBlocked):
            check_address(str(all_forms[name]))


@pytest.mark.parametrize(
    "address",
    [
        "::ffff:0:a9fe:a9fe",  # SIIT 169.254.169.254
        "::ffff:0:808:808",  # SIIT, even of a public address
        "::ffff:8.8.8.8",  # IPv4-mapped, even of a public address
        "64:ff9b:1::a9fe:a9fe",
        "64:ff9b:1:ffff::1",  # local-use NAT64: wherever its IPv4 sits
        "fec0::1",
        "feff:ffff::1",  # site-local, top of the range
        "2001:db8::1",
        "100::1",
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
        "::127.0.0.1",
    ],
)
def test_translation_prefixes_and_site_local_are_refused(address: str) -> None:
    with pytest.raises(AddressBlocked):
        check_address(address)


@pytest.mark.parametrize("address", ["2606:4700:4700::1111", "2400:3200::1", "240e::1"])
def test_plain_public_ipv6_passes(address: str) -> None:
    assert str(check_address(address)) == address
