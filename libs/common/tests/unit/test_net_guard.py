"""The address policy refuses what a tenant or a model must not reach (loopback, private,
link-local and metadata addresses, also spelt as IPv6 or behind a name that resolves to them),
and lets through public addresses and the networks an operator allowed."""

import pytest

from chatbot_common.net_guard import AddressPolicy, BlockedAddress


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.1", "169.254.169.254", "100.64.0.1",
                                     "0.0.0.0", "::1", "fe80::1", "fd00:ec2::254", "::ffff:127.0.0.1", "2002:7f00:1::1",
                                     "224.0.0.1"])
def test_non_public_addresses_are_refused(address):
    with pytest.raises(BlockedAddress):
        AddressPolicy().check_address(address)


def test_public_addresses_pass_and_an_allowed_network_opens_only_itself():
    AddressPolicy().check_address("93.184.216.34")
    policy = AddressPolicy(["127.0.0.0/8"])
    policy.check_address("127.0.0.2")
    with pytest.raises(BlockedAddress):
        policy.check_address("10.0.0.1")


@pytest.mark.parametrize("address", ["169.254.169.254", "fd00:ec2::254", "100.100.100.200", "::ffff:169.254.169.254",
                                     "169.254.170.2", "fd00:ec2::23", "192.0.0.192"])
def test_metadata_addresses_stay_refused_inside_an_allowed_network(address):
    with pytest.raises(BlockedAddress, match="metadata"):
        AddressPolicy(["169.254.0.0/16", "fd00::/8", "100.64.0.0/10", "192.0.0.0/24"]).check_address(address)


async def test_names_are_resolved_and_every_address_checked():
    with pytest.raises(BlockedAddress, match="127.0.0.1|::1"):
        await AddressPolicy().check_url("http://localhost:8080/mcp")
    assert await AddressPolicy(["127.0.0.0/8", "::1/128"]).resolve("localhost", 80)


@pytest.mark.parametrize("url", ["ftp://example.com/", "file:///etc/passwd", "http://user:pw@example.com/", "http:///nohost",
                                 "http://example.com:99999/"])
async def test_urls_that_are_not_plain_http_are_refused(url):
    with pytest.raises(BlockedAddress):
        await AddressPolicy().check_url(url)
