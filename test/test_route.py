"""The route round remembered surfaces (core/route.py): plain geometry, no model."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from world_model_ros.core.route import Route, RouteConfig, segment_distance

GOAL = np.array([3.0, 0.0, 0.0])


def wall(x_m: float, y_from: float, y_to: float, spacing_m: float = 0.05) -> np.ndarray:
    ys = np.arange(y_from, y_to + 1e-9, spacing_m)
    return np.stack([np.full_like(ys, x_m), ys], axis=1)


def clearances(path_m2: np.ndarray, surfaces_m2: np.ndarray) -> np.ndarray:
    return np.linalg.norm(path_m2[:, None, :] - surfaces_m2[None, :, :], axis=2).min(axis=1)


def test_goal_is_the_target_when_nothing_remembered_lies_near_the_straight_line():
    route = Route()
    assert route.plan(np.zeros(3), GOAL, np.empty((0, 2))).direct
    beside = wall(1.5, 1.0, 2.0)  # 1 m off the line: beyond inflation_m
    plan = route.plan(np.zeros(3), GOAL, beside)
    assert plan.direct and np.array_equal(plan.target_xyyaw, GOAL)


def test_goes_round_a_wall_across_the_straight_line_with_clearance():
    config = RouteConfig()
    surfaces = wall(1.5, -0.6, 0.5)
    plan = Route(config).plan(np.array([0.0, 0.1, 0.0]), GOAL, surfaces)
    assert not plan.direct
    assert np.allclose(plan.path_m2[0], [0.0, 0.1]) and np.allclose(plan.path_m2[-1], GOAL[:2])
    steps = np.linalg.norm(np.diff(plan.path_m2, axis=0), axis=1)
    assert steps.max() <= config.cell_m * math.sqrt(2) + 0.06  # contiguous (ends snapped from their cells)
    assert clearances(plan.path_m2, surfaces).min() >= config.clearance_m  # never through the blocked band
    # The cheaper side: round the wall's nearer end (y = 0.5 is nearer than y = -0.6).
    assert plan.path_m2[:, 1].max() > 0.5 + config.clearance_m
    # The target: on the route, within lookahead, and reachable in a straight line without
    # entering the blocked band (the line from the robot to it keeps the clearance).
    target = plan.target_xyyaw
    assert np.min(np.linalg.norm(plan.path_m2 - target[:2], axis=1)) < 1e-9
    assert 0.3 < np.hypot(*target[:2] - [0.0, 0.1]) <= config.lookahead_m
    line = np.linspace([0.0, 0.1], target[:2], 50)
    assert clearances(line, surfaces).min() >= config.clearance_m - config.cell_m
    assert target[1] > 0.1  # it leads up, round the end, not into the wall


def test_the_target_is_the_goal_once_the_route_to_it_is_short_and_in_sight():
    surfaces = wall(1.0, -1.0, 0.4)
    plan = Route().plan(np.array([2.2, 0.5, 0.0]), GOAL, surfaces)  # past the wall, goal 0.94 m away
    assert np.array_equal(plan.target_xyyaw, GOAL)


def test_a_robot_inside_the_blocked_band_is_led_out_not_stranded():
    surfaces = wall(1.0, -1.0, 1.0)
    robot = np.array([0.9, 0.0, 0.0])  # centre 0.1 m from the wall: inside clearance_m
    plan = Route().plan(robot, GOAL, surfaces)
    assert not plan.direct
    assert np.hypot(*(plan.target_xyyaw[:2] - robot[:2])) > 0.05
    # A route exists and reaches the goal; it does not cross the wall where the robot stands.
    assert np.allclose(plan.path_m2[-1], GOAL[:2])
    assert abs(plan.path_m2[np.argmin(np.abs(plan.path_m2[:, 0] - 1.0)), 1]) > 0.9


def test_a_robot_walled_in_all_round_still_gets_a_route_through_the_thinnest_wall():
    angles = np.linspace(0, 2 * np.pi, 120, endpoint=False)
    ring = np.stack([0.6 * np.cos(angles), 0.6 * np.sin(angles)], axis=1)
    plan = Route().plan(np.zeros(3), GOAL, ring)
    assert np.allclose(plan.path_m2[-1], GOAL[:2])
    assert plan.path_m2[:, 0].max() > 1.0  # crosses the ring towards the goal


def test_disabled_always_targets_the_goal():
    plan = Route(RouteConfig(enabled=False)).plan(np.zeros(3), GOAL, wall(1.5, -0.6, 0.6))
    assert plan.direct and np.array_equal(plan.target_xyyaw, GOAL)


@pytest.mark.parametrize("bad", [dict(cell_m=0.0), dict(clearance_m=0.5, inflation_m=0.4), dict(lookahead_m=0.0),
                                 dict(blocked_cost=0.5), dict(margin_m=-1.0), dict(inflation_cost=-1.0)])
def test_bad_configuration_is_refused_with_the_values(bad):
    with pytest.raises(ValueError, match="route"):
        RouteConfig(**bad)


def test_segment_distance():
    points = np.array([[0.0, 1.0], [-1.0, 0.0], [3.0, 4.0], [1.0, 0.0]])
    d = segment_distance(points, np.array([0.0, 0.0]), np.array([2.0, 0.0]))
    assert d == pytest.approx([1.0, 1.0, math.hypot(1.0, 4.0), 0.0])


coordinate = st.floats(-3.0, 3.0, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(robot=st.tuples(coordinate, coordinate), goal=st.tuples(coordinate, coordinate),
       surfaces=st.lists(st.tuples(coordinate, coordinate), min_size=1, max_size=60))
def test_any_surfaces_give_a_contiguous_route_from_robot_to_goal_and_a_target_on_it(robot, goal, surfaces):
    config = RouteConfig()
    plan = Route(config).plan(np.array([*robot, 0.3]), np.array([*goal, -0.2]), np.array(surfaces))
    assert plan.target_xyyaw.shape == (3,) and np.isfinite(plan.target_xyyaw).all()
    assert np.allclose(plan.path_m2[0], robot) and np.allclose(plan.path_m2[-1], goal)
    if plan.direct:
        assert np.array_equal(plan.target_xyyaw, [*goal, -0.2])
        return
    steps = np.linalg.norm(np.diff(plan.path_m2, axis=0), axis=1)
    assert steps.max() <= config.cell_m * math.sqrt(2) + config.cell_m  # the snapped ends move at most half a cell
    assert np.min(np.linalg.norm(plan.path_m2 - plan.target_xyyaw[:2], axis=1)) < 1e-9
