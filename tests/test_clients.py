"""Who the client is: the TCP peer, or the address the nearest trusted proxy saw."""

from __future__ import annotations

import pytest

from shared.web.clients import client_address, client_key, identify


def environ(peer: str, forwarded: str | None = None) -> dict[str, str]:
    return {"REMOTE_ADDR": peer, **({"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {})}


def test_with_no_trusted_proxy_the_peer_is_the_client_whatever_it_forwards() -> None:
    assert client_address(environ("127.0.0.2"), 0) == "127.0.0.2"
    assert client_address(environ("127.0.0.2", "127.0.0.3"), 0) == "127.0.0.2"


def test_behind_one_proxy_the_client_is_the_address_it_appended() -> None:
    # nginx's $proxy_add_x_forwarded_for: what the client sent, then the address nginx saw.
    assert client_address(environ("10.0.0.5", "127.0.0.2"), 1) == "127.0.0.2"
    assert client_address(environ("10.0.0.5", "127.0.0.3, 198.51.100.7, 127.0.0.2"), 1) == "127.0.0.2"


def test_behind_three_proxies_the_third_entry_from_the_right_is_the_client() -> None:
    # Knative: the ingress appends the client, the activator the ingress, queue-proxy the activator.
    chain = "203.0.113.9, 198.51.100.7, 10.1.0.4, 10.1.0.9"  # a forged first entry
    assert client_address(environ("127.0.0.1", chain), 3) == "198.51.100.7"


@pytest.mark.parametrize("forwarded", [None, "", "198.51.100.7", "not-an-address, 10.0.0.1"])
def test_a_request_that_skipped_a_trusted_proxy_is_its_peer(forwarded: str | None) -> None:
    assert client_address(environ("10.0.0.5", forwarded), 2) == "10.0.0.5"


def test_ipv6_clients_are_counted_by_their_64_and_mapped_ipv4_as_ipv4() -> None:
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:198.51.100.7") == "198.51.100.7"
    assert identify(environ("10.0.0.5", "2001:db8:1:2::99"), 1) == "2001:db8:1:2::/64"
