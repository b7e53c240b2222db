"""Nodes started with no parameter file agree: the planner plans with the model the twin runs."""

from world_model_ros.nodes.mpc_planner_config import PlannerNodeConfig
from world_model_ros.nodes.world_model_config import WorldModelNodeConfig


def test_the_planner_and_the_twin_default_to_the_shipped_learned_model():
    planner, twin = PlannerNodeConfig(), WorldModelNodeConfig()
    assert planner.model == twin.model == "latent"
    assert planner.checkpoint == twin.checkpoint == ""  # "" = the shipped checkpoint
    assert planner.state_source == "twin"  # plans from the twin's state, one encoder
