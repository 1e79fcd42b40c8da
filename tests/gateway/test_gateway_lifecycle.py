"""The pure lifecycle state machine and the dedup window."""

from __future__ import annotations

import random

from gateway import lifecycle
from gateway.lifecycle import Life, Policy, SeqWindow

POLICY = Policy(rebirth_interval_s=30)


def names(events):
    return [event for event, _ in events]


def test_birth_then_reboot_with_crash_cause_then_boot_counter_reset():
    life = Life()
    assert names(lifecycle.on_birth(life, 3, 0, "power-on", 0, 0, 100.0)) == ["first-birth", "liveness"]
    assert names(lifecycle.on_birth(life, 4, 0, "watchdog", 0, 0, 200.0)) == ["crash-reboot"]
    assert names(lifecycle.on_birth(life, 4, 9, "soft", 0, 0, 210.0)) == ["rebirth"]
    events = lifecycle.on_birth(life, 1, 0, "power-on", 0, 0, 300.0)
    assert events == [("boot-counter-reset", {"from": 4, "to": 1, "reset": "power-on"})]


def test_death_matches_the_boot_of_the_current_birth():
    life = Life()
    lifecycle.on_birth(life, 5, 0, "power-on", 0, 0, 0.0)
    assert names(lifecycle.on_death(life, 4, 1.0)) == ["death-ignored"] and life.liveness == "online"
    assert names(lifecycle.on_death(life, 5, 2.0)) == ["death", "liveness"] and life.liveness == "offline"
    assert names(lifecycle.on_death(life, 5, 3.0)) == ["death-ignored"]


def test_gap_explained_by_buffer_is_quiet_and_unexplained_gap_asks_rebirth_once_per_interval():
    life = Life()
    lifecycle.on_birth(life, 1, 10, "power-on", 3, 0, 0.0)
    assert lifecycle.on_data(life, 1, 13, 1.0, POLICY) == []
    events = lifecycle.on_data(life, 1, 30, 2.0, POLICY)
    assert events == [
        ("gap", {"from": 14, "to": 30, "missing": 16}),
        ("rebirth-requested", {"reason": "sequence-gap"}),
    ]
    assert names(lifecycle.on_data(life, 1, 50, 3.0, POLICY)) == ["gap"]  # rate limited
    assert names(lifecycle.on_data(life, 1, 70, 40.0, POLICY)) == ["gap", "rebirth-requested"]
    assert life.gaps == 16 + 19 + 19
    assert lifecycle.on_data(life, 1, 12, 41.0, POLICY) == []  # a late replay moves nothing


def test_gap_without_rebirth_when_policy_says_so():
    life = Life()
    lifecycle.on_birth(life, 1, 0, "power-on", 0, 0, 0.0)
    assert names(lifecycle.on_data(life, 1, 5, 1.0, Policy(rebirth_on_gap=False))) == ["gap"]


def test_data_before_birth_or_of_a_newer_boot_asks_rebirth():
    life = Life()
    assert names(lifecycle.on_data(life, 1, 0, 0.0, POLICY)) == ["liveness", "rebirth-requested"]
    lifecycle.on_birth(life, 1, 0, "power-on", 0, 0, 50.0)
    assert names(lifecycle.on_data(life, 2, 0, 100.0, POLICY)) == ["rebirth-requested"]
    assert lifecycle.on_data(life, 0, 5, 100.0, POLICY) == []  # earlier boot: a replay


def test_liveness_follows_the_reporting_period():
    life = Life(period=10.0)
    lifecycle.on_birth(life, 1, 0, "power-on", 0, 0, 0.0)
    policy = Policy(stale_after_periods=3, offline_after_periods=10)
    assert lifecycle.tick(life, 30.0, policy) == []
    assert lifecycle.tick(life, 31.0, policy) == [("liveness", {"from": "online", "to": "stale"})]
    assert lifecycle.tick(life, 101.0, policy) == [("liveness", {"from": "stale", "to": "offline"})]
    assert names(lifecycle.on_status(life, 2, 5, 20, 102.0)) == ["liveness", "node-dropped"]
    assert life.period == 20.0 and life.buffered == 2 and life.liveness == "online"


def test_seq_window_matches_a_set_under_random_arrival():
    rng = random.Random(7)
    window, seen = SeqWindow(), set()
    for _ in range(5000):
        seq = rng.randrange(120)  # at most 60 intervals: under the bound
        assert window.add(seq) == (seq not in seen)
        seen.add(seq)
    assert window.intervals == [[0, 120]]


def test_seq_window_stays_bounded_by_giving_up_the_oldest_gaps():
    window = SeqWindow()
    for seq in range(0, 1000, 2):  # every other reading missing: 500 gaps
        window.add(seq)
    assert len(window.intervals) == SeqWindow.MAX_INTERVALS
    assert window.add(1) is False  # an old gap given up counts as seen
    assert window.add(997) is True  # a recent gap is still open
    assert window.top() == 999


def test_a_shared_subscription_member_does_not_record_the_gaps_it_is_bound_to_see():
    life = lifecycle.Life()
    lifecycle.on_birth(life, 1, 0, "power-on", 0, 0, 0.0)
    member = Policy(rebirth_on_gap=False, track_gaps=False)
    for seq in (0, 2, 4, 6):  # the other member got the odd ones
        assert lifecycle.on_data(life, 1, seq, 1.0, member) == []
    assert life.gaps == 0 and life.next_seq == 7
