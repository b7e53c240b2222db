"""The planner's occupancy map: evidence where it was seen, outvoted, faded, following the
robot."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from world_model_ros.core.model.occupancy_head import OccupancyHeadConfig
from world_model_ros.core.planning.occupancy_map import OccupancyMap, OccupancyMapConfig

CELLS = OccupancyHeadConfig().cells_c2()


def frame(occupied_ahead_m: tuple[float, float] | None) -> torch.Tensor:
    """Head logits for one frame: +6 in a band of distance ahead (a wall across the view), else
    -6."""
    logits = torch.full((CELLS.shape[0],), -6.0)
    if occupied_ahead_m is not None:
        near, far = occupied_ahead_m
        logits[(CELLS[:, 0] >= near) & (CELLS[:, 0] < far)] = 6.0
    return logits


def test_empty_map_charges_nothing_and_reads_the_prior():
    occupancy = OccupancyMap()
    assert occupancy.empty and occupancy.collision_prob(torch.zeros(4, 5, 3)) is None
    assert float(occupancy.probability_at(torch.tensor([[1.0, 1.0]]))[0]) == pytest.approx(0.1)


def test_a_wall_seen_ahead_stays_where_it_was_seen():
    occupancy = OccupancyMap()
    pose = torch.tensor([1.0, -0.5, math.pi / 2])  # facing +y
    for _ in range(3):
        occupancy.update(pose, CELLS, frame((0.8, 1.0)))
    wall, free, behind = (
        torch.tensor([[1.0, 0.4]]),
        torch.tensor([[1.0, 0.0]]),
        torch.tensor([[1.0, -1.2]]),
    )
    assert float(occupancy.probability_at(wall)[0]) > 0.9
    assert float(occupancy.probability_at(free)[0]) < 0.02
    assert float(occupancy.probability_at(behind)[0]) == pytest.approx(
        0.1
    )  # never in view: the prior
    # The robot turns away: the wall is out of view and stays in the map.
    occupancy.update(torch.tensor([1.0, -0.5, -math.pi / 2]), CELLS, frame(None))
    assert float(occupancy.probability_at(wall)[0]) > 0.9
    # Rollouts into it are charged, rollouts away from it are not.
    into = torch.tensor([[[1.0, 0.0, 0.0], [1.0, 0.4, 0.0]]])
    away = torch.tensor([[[1.0, -0.7, 0.0], [1.0, -0.9, 0.0]]])
    probability = occupancy.collision_prob(torch.cat([into, away]), pose[:2])
    assert float(probability[0, 1]) > 0.9 and float(probability[1].max()) < 0.2


def test_a_wrong_guess_is_outvoted_when_seen_free_again():
    occupancy = OccupancyMap()
    pose = torch.tensor([0.0, 0.0, 0.0])
    occupancy.update(pose, CELLS, frame((0.6, 0.8)))
    phantom = torch.tensor([[0.7, 0.0]])
    assert float(occupancy.probability_at(phantom)[0]) > 0.5
    for _ in range(3):
        occupancy.update(pose, CELLS, frame(None))
    assert float(occupancy.probability_at(phantom)[0]) < 0.1


def test_standing_in_an_occupied_cell_still_lets_the_robot_leave():
    occupancy = OccupancyMap()
    occupancy.update(torch.tensor([0.0, 0.0, 0.0]), CELLS, frame((0.6, 1.2)))
    here = torch.tensor([0.9, 0.0])  # drift put the robot inside what the map calls occupied
    leave = torch.tensor([[[0.8, 0.0, 0.0], [0.7, 0.0, 0.0]]])
    assert float(occupancy.collision_prob(leave, here).max()) == 0.0


def test_inflation_reads_the_highest_probability_nearby():
    plain, inflated = (
        OccupancyMap(OccupancyMapConfig(inflation_m=0.0)),
        OccupancyMap(OccupancyMapConfig(inflation_m=0.1)),
    )
    for occupancy in (plain, inflated):
        occupancy.update(torch.tensor([0.0, 0.0, 0.0]), CELLS, frame((0.8, 1.0)))
    short = torch.tensor([[0.72, 0.0]])  # 8 cm short of the band
    assert (
        float(plain.probability_at(short)[0])
        < 0.1
        < 0.5
        < float(inflated.probability_at(short)[0])
    )
    with pytest.raises(ValueError, match="inflation_m"):
        OccupancyMapConfig(inflation_m=-0.1)


def test_evidence_fades_with_the_half_life():
    occupancy = OccupancyMap(OccupancyMapConfig(half_life_s=2.0))
    occupancy.update(torch.tensor([0.0, 0.0, 0.0]), CELLS, frame((0.6, 0.8)))
    before = occupancy.log_odds_xy.clone()
    occupancy.age(2.0)
    torch.testing.assert_close(occupancy.log_odds_xy, before * 0.5)


def test_the_map_follows_the_robot_and_keeps_what_it_saw():
    occupancy = OccupancyMap(OccupancyMapConfig(size_m=6.0))
    occupancy.update(torch.tensor([0.0, 0.0, 0.0]), CELLS, frame((0.6, 0.8)))
    origin = occupancy.origin_2.clone()
    occupancy.update(
        torch.tensor([1.5, 0.0, 0.0]), CELLS, frame(None)
    )  # near the edge: re-centred
    assert not torch.equal(origin, occupancy.origin_2)
    assert (
        float(occupancy.probability_at(torch.tensor([[0.7, 0.0]]))[0]) > 0.5
    )  # still there, now behind


def test_updates_in_inference_mode_and_ageing_outside_it_mix():
    """The planner updates the map under torch.inference_mode and ages it between cycles
    outside."""
    occupancy = OccupancyMap(OccupancyMapConfig(size_m=6.0))
    for x in (0.0, 1.5, 3.0):  # the second and third re-centre the map
        with torch.inference_mode():
            occupancy.update(torch.tensor([x, 0.0, 0.0]), CELLS, frame((0.6, 0.8)))
        occupancy.age(0.1)
        occupancy.update(torch.tensor([x, 0.0, 0.0]), CELLS, frame((0.6, 0.8)))
    assert float(occupancy.probability_at(torch.tensor([[3.7, 0.0]]))[0]) > 0.5


def test_bad_configuration_is_refused():
    with pytest.raises(ValueError, match="prior"):
        OccupancyMapConfig(prior=1.0)
    with pytest.raises(ValueError, match="size_m"):
        OccupancyMapConfig(size_m=2.0, max_range_m=1.5)


@settings(max_examples=40, deadline=None)
@given(
    x=st.floats(-50, 50),
    y=st.floats(-50, 50),
    yaw=st.floats(-10, 10),
    logits=st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=1),
)
def test_any_pose_and_any_logits_give_probabilities(x, y, yaw, logits):
    occupancy = OccupancyMap()
    occupancy.update(torch.tensor([x, y, yaw]), CELLS, torch.full((CELLS.shape[0],), logits[0]))
    rollouts = torch.tensor([[[x + 0.5, y, 0.0], [x + 60.0, y - 60.0, 0.0]]])
    probability = occupancy.collision_prob(rollouts, torch.tensor([x, y]))
    assert (
        torch.isfinite(probability).all()
        and float(probability.min()) >= 0
        and float(probability.max()) <= 1
    )


def test_what_rollouts_read_follows_every_change_of_the_map():
    """The inflated grid is computed once per state of the map: each update, fading and clear
    must reach the next read."""
    occupancy = OccupancyMap()
    pose = torch.tensor([0.0, 0.0, 0.0])
    ahead = torch.tensor([[[0.9, 0.0, 0.0]]])
    occupancy.update(pose, CELLS, frame(None))
    free = float(occupancy.collision_prob(ahead)[0, 0])
    occupancy.update(pose, CELLS, frame((0.8, 1.0)))
    seen = float(occupancy.collision_prob(ahead)[0, 0])
    occupancy.age(14.0)
    faded = float(occupancy.collision_prob(ahead)[0, 0])
    assert free < 0.1 < faded < seen
    occupancy.clear()
    assert occupancy.collision_prob(ahead) is None
