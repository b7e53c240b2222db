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


def test_stamp_monitor_backwards_and_reset():
    monitor = StampMonitor(reset_threshold_s=1.0)
    assert monitor.check(10.0) is StampOrder.OK
    assert monitor.check(10.0) is StampOrder.OK  # a repeated stamp is not out of order
    assert monitor.check(9.5) is StampOrder.BACKWARDS
    assert monitor.last_s == 10.0  # a rejected stamp is not remembered
    assert monitor.check(2.0) is StampOrder.RESET
    assert monitor.check(2.1) is StampOrder.OK
    monitor.clear()
    assert monitor.check(0.0) is StampOrder.OK


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
