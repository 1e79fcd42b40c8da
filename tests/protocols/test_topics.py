"""protocols.topics: build and parse rvb/v1/<site>/<node_id>/<channel>."""

import pytest
from vector_support import case_id, load

from protocols import topics

CASES = load("topics.json")


@pytest.mark.parametrize("case", [case for case in CASES if "error" not in case], ids=case_id)
def test_valid_topic(case):
    assert topics.parse(case["topic"]) == tuple(case["parts"])
    assert topics.parse(case["topic"].encode()) == tuple(case["parts"])
    assert topics.build(*case["parts"]) == case["topic"]


@pytest.mark.parametrize("case", [case for case in CASES if "error" in case], ids=case_id)
def test_malformed_topic(case):
    with pytest.raises(ValueError):
        topics.parse(case["topic"])


def test_every_channel_has_a_vector_and_a_direction():
    assert set(topics.UPLINK) | set(topics.DOWNLINK) == set(topics.CHANNELS)
    assert not set(topics.UPLINK) & set(topics.DOWNLINK)
    assert {case["parts"][2] for case in CASES if "parts" in case} == set(topics.CHANNELS)


def test_build_rejects_bad_parts():
    with pytest.raises(ValueError, match="site"):
        topics.build("Lille", "a1b2", "data")
    with pytest.raises(ValueError, match="node id"):
        topics.build("lille", "a/b", "data")
    with pytest.raises(ValueError, match="channel"):
        topics.build("lille", "a1b2", "telemetry")
    with pytest.raises(ValueError):
        topics.parse(b"rvb/v1/\xff/a/data")
    with pytest.raises(ValueError):
        topics.parse(None)


def test_subscription_filters():
    assert topics.gateway_filter() == "rvb/v1/+/+/+"
    assert topics.gateway_filter("gw") == "$share/gw/rvb/v1/+/+/+"
    assert topics.node_filters("lille", "a1b2") == ["rvb/v1/lille/a1b2/cmd", "rvb/v1/lille/a1b2/ota"]
    assert topics.is_uplink("data") and not topics.is_uplink("cmd")
