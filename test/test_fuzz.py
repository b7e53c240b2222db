"""Fuzz every subscribed topic of every node, as processes over DDS (the short run).

For each node (world_model_node with a raw and with a compressed camera, mpc_planner_node with
the local and the twin state source, sim_node) hypothesis draws malformed messages for each
topic it subscribes to (test/malformed.py: sizes, encodings, stamps, magnitudes, frames,
formats). Each one must be counted on the node's ``diagnostics`` under one of the case's
reasons; the node must stay alive, publish nothing non-finite, and serve good input before and
after. The long run, with memory, is bench/fuzz.py.
"""

from __future__ import annotations

import pytest
from fuzz_harness import Fuzzer, planner_target, sim_target, world_model_target
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.ros

TARGETS = {
    "world_model": (world_model_target, 50),
    "world_model_compressed": (lambda: world_model_target(compressed=True), 20),
    "planner_local": (lambda: planner_target("local"), 40),
    "planner_twin": (lambda: planner_target("twin"), 20),
    "sim": (sim_target, 12),
}
RUN = settings(
    deadline=None,
    database=None,
    phases=[Phase.generate],  # a failing case is reported as drawn; shrinking would re-run DDS
    suppress_health_check=list(HealthCheck),
)


def always_valid(fuzzer: Fuzzer, topic: str, strategy):
    """A hypothesis run publishing messages that cannot be malformed (any value is valid)."""

    @settings(RUN, max_examples=5)
    @given(msg=strategy)
    def run(msg):
        fuzzer.accept(topic, msg)

    return run


@pytest.mark.parametrize("name", list(TARGETS))
def test_malformed_messages_are_counted_and_good_input_still_served(ros, tmp_path, name):
    make, examples = TARGETS[name]
    target = make()
    fuzzer = Fuzzer(ros, target, tmp_path)
    try:
        fuzzer.ready()
        fuzzer.serves_good_input()
        reasons: set[str] = set()

        @settings(RUN, max_examples=examples)
        @given(case=st.one_of(*target.cases.values()))
        def malformed(case):
            reasons.add(f"{case.topic}: {fuzzer.reject(case)}")

        malformed()

        for topic, strategy in target.valid.items():
            always_valid(fuzzer, topic, strategy)()

        fuzzer.serves_good_input()
        fuzzer.check_outputs()
        assert not fuzzer.non_finite, fuzzer.non_finite[:5]
        assert len(reasons) >= 2, reasons  # varied cases, not one repeated
        print(f"{name}: {fuzzer.sent} messages, reasons counted: {sorted(reasons)}")
    finally:
        assert fuzzer.stop() == 0, fuzzer.node.output()[-3000:]
