"""Odometry buffer, stamp monitor and plan alignment (pure core, no ROS)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from world_model_ros.core.live.input_checks import RejectionCounter, WarningThrottle
from world_model_ros.core.live.latency import LatencyMonitor, RollingStats, StageTimer
from world_model_ros.core.live.sync import (
    OdomBuffer,
    OdomSample,
    Plan,
    StampMonitor,
    StampOrder,
    SyncError,
    align_plan,
)


def sample(t, x=0.0, y=0.0, yaw=0.0, v=0.0, w=0.0, frame="odom"):
    return OdomSample(t, np.array([x, y, yaw]), np.array([v, w]), frame)


def test_interpolates_between_bracketing_samples():
    buffer = OdomBuffer()
    buffer.add(sample(1.0, x=0.0, v=1.0))
    buffer.add(sample(1.1, x=0.1, y=0.2, v=2.0))
    state = buffer.lookup(1.025, slop_s=0.0)
    assert state.stamp_s == 1.025
    assert state.pose_xyyaw[:2] == pytest.approx([0.025, 0.05])
    assert state.twist_vw[0] == pytest.approx(1.25)


def test_yaw_interpolates_the_short_way_across_pi():
    buffer = OdomBuffer(max_interpolation_gap_s=2.0)
    buffer.add(sample(0.0, yaw=math.pi - 0.1))
    buffer.add(sample(1.0, yaw=-math.pi + 0.1))
    assert abs(buffer.lookup(0.5, 0.0).pose_xyyaw[2]) == pytest.approx(math.pi, abs=1e-9)


def test_nearest_within_slop_else_out_of_sync():
    buffer = OdomBuffer()
    buffer.add(sample(1.0, x=3.0))
    assert buffer.lookup(1.04, slop_s=0.05).pose_xyyaw[0] == 3.0
    with pytest.raises(SyncError) as error:
        buffer.lookup(1.2, slop_s=0.05)
    assert error.value.reason == "odometry_out_of_sync" and "-0.200 s" in str(error.value)


def test_no_interpolation_across_a_long_gap():
    buffer = OdomBuffer(max_interpolation_gap_s=0.5)
    buffer.add(sample(0.0))
    buffer.add(sample(2.0))
    with pytest.raises(SyncError):
        buffer.lookup(1.0, slop_s=0.05)


def test_empty_buffer_and_history_window():
    buffer = OdomBuffer(history_s=1.0)
    with pytest.raises(SyncError) as error:
        buffer.lookup(0.0, 1.0)
    assert error.value.reason == "no_odometry"
    for t in np.arange(0.0, 3.0, 0.1):
        buffer.add(sample(float(t)))
    assert len(buffer) <= 11 and buffer.latest.stamp_s == pytest.approx(2.9)
    buffer.add(sample(buffer.latest.stamp_s, x=7.0))  # same stamp replaces
    assert buffer.latest.pose_xyyaw[0] == 7.0
    with pytest.raises(ValueError):
        buffer.add(sample(1.0))
    buffer.clear()
    assert len(buffer) == 0


@settings(max_examples=50, deadline=None)
@given(st.floats(0.0, 1.0), st.floats(-5, 5), st.floats(-5, 5))
def test_interpolation_stays_between_neighbours(alpha, x0, x1):
    buffer = OdomBuffer()
    buffer.add(sample(10.0, x=x0))
    buffer.add(sample(10.1, x=x1))
    x = buffer.lookup(10.0 + 0.1 * alpha, 0.0).pose_xyyaw[0]
    assert min(x0, x1) - 1e-9 <= x <= max(x0, x1) + 1e-9


def test_stamp_monitor_duplicates_and_backwards():
    monitor = StampMonitor(reset_threshold_s=1.0)
    assert monitor.check(10.0) is StampOrder.OK
    assert monitor.check(10.0) is StampOrder.DUPLICATE  # counted by the nodes (issue finding 6)
    assert monitor.check(9.5) is StampOrder.BACKWARDS
    assert monitor.last_s == 10.0  # a rejected stamp is not remembered
    assert monitor.check(10.1) is StampOrder.OK
    monitor.clear()
    assert monitor.check(0.0) is StampOrder.OK


@pytest.mark.parametrize("stray_s", [0.0, 1000.0 - 3600.0, 2_147_483_000.0])
def test_a_lone_message_from_another_timeline_is_an_outlier(stray_s):
    """Issue finding 5: one odometry message stamped 0, an hour old or in 2038 wiped the twin's
    history. It is rejected (stamp_outlier); the timeline the robot is on carries on."""
    monitor = StampMonitor(reset_threshold_s=1.0, confirm_count=5)
    assert monitor.check(1000.0, now_s=1000.01) is StampOrder.OK
    assert monitor.check(stray_s, now_s=1000.02) is StampOrder.OUTLIER
    assert monitor.last_s == 1000.0
    assert monitor.check(1000.02, now_s=1000.03) is StampOrder.OK
    # Without a clock (a bag without use_sim_time) the same holds.
    monitor = StampMonitor(reset_threshold_s=1.0, confirm_count=5)
    monitor.check(1000.0)
    assert monitor.check(stray_s) is StampOrder.OUTLIER
    assert monitor.check(1000.02) is StampOrder.OK


@given(
    strays=st.lists(
        st.floats(min_value=-2e9, max_value=4e9).filter(lambda t: abs(t - 1000.0) > 12.0),
        min_size=1,
        max_size=40,
    )
)
@settings(max_examples=200, deadline=None)
def test_stray_messages_between_good_ones_never_reset(strays):
    """A stray publisher repeating its messages between the real ones never wins."""
    monitor = StampMonitor(reset_threshold_s=1.0, confirm_count=3)
    t = 1000.0
    for stray in strays:
        assert monitor.check(t) is StampOrder.OK
        assert monitor.check(stray) is StampOrder.OUTLIER
        t += 0.02
    assert monitor.last_s == pytest.approx(t - 0.02)


def test_a_new_timeline_that_persists_resets_within_a_second():
    """A simulator restart (stamps from 0 again, no clock to tell): the reset comes with the
    confirm_count-th consecutive message, 0.08 s of 50 Hz odometry."""
    monitor = StampMonitor(reset_threshold_s=1.0, confirm_count=5)
    monitor.check(500.0)
    orders = [monitor.check(0.02 * k) for k in range(8)]
    assert orders[:4] == [StampOrder.OUTLIER] * 4
    assert orders[4] is StampOrder.RESET and 0.02 * 4 < 1.0
    assert orders[5:] == [StampOrder.OK] * 3
    # Repeated or scattered stamps are not a timeline.
    monitor = StampMonitor(reset_threshold_s=1.0, confirm_count=3)
    monitor.check(500.0)
    assert [monitor.check(0.0) for _ in range(10)] == [StampOrder.OUTLIER] * 10
    assert [monitor.check(t) for t in (0.0, 5.0, 10.0, 15.0)] == [StampOrder.OUTLIER] * 4


def test_the_clock_is_evidence_of_a_reset_and_of_a_pause():
    """Under use_sim_time /clock jumps back with the simulator: one message on the clock's
    timeline resets at once. A forward gap the clock agrees with is a pause, not a reset; one
    the clock does not agree with (2038) is an outlier."""
    monitor = StampMonitor(reset_threshold_s=1.0, confirm_count=5)
    assert monitor.check(1000.0, now_s=1000.01) is StampOrder.OK
    assert monitor.check(0.02, now_s=0.03) is StampOrder.RESET
    assert monitor.check(0.04, now_s=0.05) is StampOrder.OK
    assert monitor.check(30.0, now_s=30.1) is StampOrder.OK  # the camera paused for 30 s
    assert monitor.check(2_147_483_000.0, now_s=30.2) is StampOrder.OUTLIER
    assert monitor.check(0.0, now_s=30.2) is StampOrder.OUTLIER  # the clock vouches for 30 s
    # After a lone stray became the first stamp, the first message on the clock is taken.
    monitor = StampMonitor(reset_threshold_s=1.0, confirm_count=5)
    assert monitor.check(0.0, now_s=1000.0) is StampOrder.OK
    assert monitor.check(1000.0, now_s=1000.01) is StampOrder.OK
    assert monitor.check(0.02, now_s=1000.03) is StampOrder.OUTLIER


def test_align_plan_shifts_and_holds():
    plan = Plan(
        stamp_s=10.0, dt_s=0.1, actions_n2=np.array([[0.1 * i, -0.1 * i] for i in range(5)])
    )
    aligned = align_plan(plan, stamp_s=10.2, horizon=6, dt_s=0.1)
    assert aligned[:, 0] == pytest.approx([0.2, 0.3, 0.4, 0.4, 0.4, 0.4])  # then the last is held
    assert align_plan(plan, stamp_s=9.9, horizon=2, dt_s=0.1)[:, 0] == pytest.approx(
        [0.0, 0.0]
    )  # clamped
    coarse = align_plan(plan, stamp_s=10.0, horizon=4, dt_s=0.05)  # finer model steps
    assert coarse[:, 0] == pytest.approx([0.0, 0.0, 0.1, 0.1])


@pytest.mark.parametrize(
    "dt, actions",
    [
        (0.0, [[1, 0]]),
        (float("nan"), [[1, 0]]),
        (0.1, np.zeros((0, 2))),
        (0.1, [[float("inf"), 0]]),
        (0.1, [[1, 0, 0]]),
    ],
)
def test_bad_plans_are_rejected(dt, actions):
    with pytest.raises(ValueError):
        Plan(0.0, dt, np.asarray(actions, dtype=float))


def test_latency_monitor_counts_misses_and_stages():
    monitor = LatencyMonitor(budget_ms=100.0, window=10)
    timer = StageTimer()
    with timer.stage("encode"):
        pass
    for latency in (10.0, 20.0, 150.0):
        monitor.record(latency, timer.ms)
    summary = monitor.summary()
    assert monitor.deadline_misses == 1 and monitor.cycles == 3
    assert summary["latency_p50_ms"] == 20.0 and summary["latency_max_ms"] == 150.0
    assert "stage_encode_p95_ms" in summary and math.isnan(summary["stage_rollout_p50_ms"])
    monitor.clear_windows()
    assert math.isnan(monitor.summary()["latency_p50_ms"]) and monitor.deadline_misses == 1
    stats = RollingStats(window=3)
    for v in range(10):
        stats.add(v)
    assert stats.summary()["max"] == 9 and len(stats) == 3


def test_warning_throttle_and_counter():
    throttle = WarningThrottle(period_s=5.0)
    assert throttle.allow(("odom", "non_finite"), 0.0) == (True, 0)
    assert throttle.allow(("odom", "non_finite"), 1.0) == (False, 0)
    assert throttle.allow(("odom", "empty_frame_id"), 1.0) == (
        True,
        0,
    )  # other reasons not held back
    assert throttle.allow(("odom", "non_finite"), 6.0) == (True, 1)
    counter = RejectionCounter()
    counter.add("/odom", "non_finite")
    counter.add("/cmd_vel", "non_finite")
    assert counter.total() == 2 and counter.by_reason()["non_finite"] == 2
