"""The pycontainer.network section: parsing, every problem with its JSON
path, and the schema in specs/ agreeing with the parser."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pycontainer.errors import ConfigError
from pycontainer.network import config, host_veth_name
from pycontainer.network.config import parse

SCHEMA = Path(__file__).resolve().parents[2] / "specs" / "network.schema.json"

GOOD = [
    {},
    {"veth": {}},
    {
        "bridge": {"name": "pcbr0", "addresses": ["10.200.0.1/24", "fd00:200::1/64"]},
        "veth": {
            "hostName": "vh0",
            "name": "eth1",
            "mtu": 1400,
            "mac": "02:42:ac:11:00:02",
            "addresses": ["10.200.0.2/24", "fd00:200::2/64"],
            "gateway6": "fd00:200::1",
        },
        "masquerade": True,
        "ports": [
            {"hostPort": 8080, "containerPort": 80},
            {"hostPort": 8080, "containerPort": 53, "protocol": "udp"},
        ],
        "links": [{"name": "db", "container": "db-1"}, {"name": "cache", "address": "fd00::5"}],
    },
    {"veth": {"addresses": ["10.201.0.2/30"], "hostAddresses": ["10.201.0.1/30"], "gateway": "10.201.0.1"}},
    {"container": "pod-infra", "links": [{"name": "x", "address": "10.0.0.1"}]},
]

BAD = [
    ([], "pycontainer.network", "must be an object"),
    ({"vethh": {}}, "pycontainer.network.vethh", "unknown property"),
    (
        {"veth": {"addresses": ["10.200.0.300/24"]}},
        "pycontainer.network.veth.addresses[0]",
        "does not appear",
    ),
    ({"veth": {"addresses": ["10.200.0.2/33"]}}, "pycontainer.network.veth.addresses[0]", "10.200.0.2/33"),
    ({"veth": {"addresses": ["10.200.0.2"]}}, "pycontainer.network.veth.addresses[0]", "prefix length"),
    ({"veth": {"addresses": ["10.200.0.0/24"]}}, "pycontainer.network.veth.addresses[0]", "network address"),
    ({"veth": {"addresses": ["10.200.0.255/24"]}}, "pycontainer.network.veth.addresses[0]", "broadcast"),
    ({"veth": {"name": "a" * 16}}, "pycontainer.network.veth.name", "not a valid interface name"),
    ({"veth": {"hostName": "a/b"}}, "pycontainer.network.veth.hostName", "not a valid interface name"),
    ({"veth": {"mtu": 20}}, "pycontainer.network.veth.mtu", "not an MTU"),
    ({"veth": {"mac": "01:00:5e:00:00:01"}}, "pycontainer.network.veth.mac", "multicast"),
    ({"veth": {"mac": "02:42"}}, "pycontainer.network.veth.mac", "not a MAC"),
    (
        {"veth": {"addresses": ["10.2.0.2/24"], "gateway": "10.3.0.1"}},
        "pycontainer.network.veth.gateway",
        "subnet",
    ),
    ({"veth": {"gateway": "fd00::1"}}, "pycontainer.network.veth.gateway", "not an IPv4"),
    (
        {"bridge": {"name": "a-bridge-name-too-long"}, "veth": {}},
        "pycontainer.network.bridge.name",
        "not a valid interface name",
    ),
    ({"bridge": {"name": "br0"}}, "pycontainer.network.bridge", "needs a veth"),
    ({"masquerade": "yes"}, "pycontainer.network.masquerade", "boolean"),
    ({"veth": {}, "masquerade": True}, "pycontainer.network.masquerade", "IPv4 address"),
    (
        {"ports": [{"hostPort": 0, "containerPort": 80}]},
        "pycontainer.network.ports[0].hostPort",
        "not a port",
    ),
    (
        {
            "veth": {"addresses": ["10.2.0.2/24"]},
            "ports": [{"hostPort": 1, "containerPort": 2, "protocol": "sctp"}],
        },
        "pycontainer.network.ports[0].protocol",
        "sctp",
    ),
    (
        {
            "veth": {"addresses": ["10.2.0.2/24"]},
            "ports": [{"hostPort": 80, "containerPort": 80}, {"hostPort": 80, "containerPort": 81}],
        },
        "pycontainer.network.ports[1].hostPort",
        "already published by pycontainer.network.ports[0]",
    ),
    ({"links": [{"name": "db"}]}, "pycontainer.network.links[0]", "exactly one"),
    (
        {"links": [{"name": "d b", "address": "10.0.0.1"}]},
        "pycontainer.network.links[0].name",
        "not a host name",
    ),
    ({"links": [{"name": "db", "address": "nope"}]}, "pycontainer.network.links[0].address", "not an IP"),
    ({"container": "x", "veth": {}}, "pycontainer.network.container", "cannot have veth"),
]


@pytest.mark.parametrize("section", GOOD)
def test_good_sections_parse(section):
    parse(section)


@pytest.mark.parametrize("section, path, words", BAD)
def test_bad_sections_name_the_path(section, path, words):
    with pytest.raises(ConfigError) as info:
        parse(section)
    assert any(p.path == path and words in p.message for p in info.value.problems), info.value.problems


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as info:
        parse({"veth": {"mtu": 1, "mac": "x", "addresses": ["y"]}})
    assert {p.path for p in info.value.problems} == {
        "pycontainer.network.veth.mtu",
        "pycontainer.network.veth.mac",
        "pycontainer.network.veth.addresses[0]",
    }


def test_defaults():
    cfg = parse(
        {"bridge": {"name": "br0", "addresses": ["10.9.0.1/24"]}, "veth": {"addresses": ["10.9.0.2/24"]}}
    )
    assert cfg.veth.name == "eth0"
    assert str(cfg.veth.gateway) == "10.9.0.1"  # the bridge's address in the subnet
    assert str(cfg.ipv4) == "10.9.0.2"
    assert cfg.ports == [] and cfg.masquerade is False


def test_generated_host_names_fit_and_differ():
    names = {host_veth_name(f"c{i}") for i in range(1000)} | {host_veth_name("x" * 1024)}
    assert len(names) == 1001
    assert all(len(n) <= 15 for n in names)


def test_ifname_limit_is_the_kernels():
    assert config.IFNAMSIZ == 16
    parse({"veth": {"name": "a" * 15}})


jsonschema = pytest.importorskip("jsonschema")


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(SCHEMA.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


@pytest.mark.parametrize("section", GOOD)
def test_the_schema_accepts_what_the_parser_accepts(validator, section):
    validator.validate(section)


SCHEMA_CATCHES = [
    b
    for b in BAD
    # What only the parser can say: values in a subnet, a prefix in range, an
    # address that parses, what needs another field, ports twice.
    if not any(w in b[2] for w in ("subnet", "does not appear", "/33", "network address", "broadcast"))
    and "IPv4 address" not in b[2]
    and "already published" not in b[2]
]


@pytest.mark.parametrize("section, path, words", SCHEMA_CATCHES)
def test_the_schema_rejects_what_the_parser_rejects(validator, section, path, words):
    assert list(validator.iter_errors(section)), f"the schema accepts {section}"
