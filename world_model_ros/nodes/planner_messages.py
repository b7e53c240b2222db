"""Messages of the planner node <-> the arrays and dataclasses of core/planning.

In: a twin's ``WorldModelState`` -> ``PlanningInput`` (refusing a state of another
checkpoint), a goal ``PoseStamped`` -> (x, y, yaw). Out: ``PlannerStatus`` from the
controller's status, the plan as a ``WorldModelPrediction`` and rviz markers of the samples.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from geometry_msgs.msg import Point, PoseStamped, Twist, Vector3
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from world_model_ros.core.geometry import quaternion_to_yaw
from world_model_ros.core.live.input_checks import InputBounds, InputError, require_finite
from world_model_ros.core.model.contract import LatentState
from world_model_ros.core.planning.goal import ControllerStatus, PlanningInput
from world_model_ros.core.planning.mppi import MppiResult
from world_model_ros.msg import PlannerStatus, WorldModelState
from world_model_ros.nodes.conversions import (
    pose_from_xyyaw,
    rollout_to_prediction,
    s_to_duration,
    time_to_s,
)


def state_to_input(
    msg: WorldModelState,
    model_id: str,
    weights_sha256: str,
    device: torch.device,
    bounds: InputBounds | None = None,
) -> PlanningInput:
    """A twin's state -> what the controller plans from; InputError when it cannot be used.

    The latent must come from the checkpoint whose dynamics this planner rolls out: a latent
    of other weights means nothing to them (``wrong_checkpoint``). Pose, twist and latent are
    checked against ``bounds`` (finite, plausible, a unit quaternion).
    """
    bounds = bounds or InputBounds()
    other_weights = msg.checkpoint_sha256 != weights_sha256
    if other_weights or (not weights_sha256 and msg.model_id != model_id):
        raise InputError(
            "wrong_checkpoint",
            f"state from model '{msg.model_id}' (weights sha256 "
            f"{msg.checkpoint_sha256[:12] or 'none'}) but this planner rolls out '{model_id}' "
            f"(sha256 {weights_sha256[:12] or 'none'}): run both nodes with the same checkpoint",
        )
    p, q, t = msg.pose.position, msg.pose.orientation, msg.twist
    require_finite("state pose", (p.x, p.y, p.z, q.x, q.y, q.z, q.w))
    bounds.position("state position", (p.x, p.y, p.z))
    bounds.quaternion("state orientation", q.x, q.y, q.z, q.w)
    bounds.twist(
        "state twist",
        (t.linear.x, t.linear.y, t.linear.z),
        (t.angular.x, t.angular.y, t.angular.z),
    )
    latent = np.asarray(msg.latent, dtype=np.float32)
    if not np.isfinite(latent).all():
        raise InputError("non_finite", "state latent contains NaN or inf")
    if latent.size:
        bounds.latent(float(np.abs(latent).max()))
    if weights_sha256 and latent.size == 0:
        raise InputError("bad_state", "state has no latent vector but the model needs one")
    pose = [p.x, p.y, quaternion_to_yaw(q.x, q.y, q.z, q.w)]
    return PlanningInput(
        time_to_s(msg.header.stamp),
        LatentState(
            pose_3=torch.tensor(pose, dtype=torch.float32, device=device),
            twist_2=torch.tensor([t.linear.x, t.angular.z], dtype=torch.float32, device=device),
            features=torch.from_numpy(latent).to(device) if latent.size else None,
        ),
    )


def goal_to_xyyaw(msg: PoseStamped, bounds: InputBounds | None = None) -> np.ndarray:
    """A goal pose -> (x, y, yaw); InputError when it is not finite, beyond ``bounds`` or has
    no unit-quaternion orientation."""
    bounds = bounds or InputBounds()
    p, q = msg.pose.position, msg.pose.orientation
    require_finite("goal pose", (p.x, p.y, p.z, q.x, q.y, q.z, q.w))
    if q.x == q.y == q.z == q.w == 0.0:
        raise InputError("bad_quaternion", "goal orientation is the zero quaternion")
    bounds.position("goal position", (p.x, p.y, p.z))
    bounds.quaternion("goal orientation", q.x, q.y, q.z, q.w)
    return np.array([p.x, p.y, quaternion_to_yaw(q.x, q.y, q.z, q.w)])


def status_message(
    status: ControllerStatus,
    header: Header,
    command_2: np.ndarray | None,
    state_source: str,
    cycles: int,
    overruns: int,
) -> PlannerStatus:
    msg = PlannerStatus(header=header, state=status.state.value, reason=status.reason)
    msg.has_goal = status.goal_xyyaw is not None
    if status.goal_xyyaw is not None:
        msg.goal = pose_from_xyyaw(*status.goal_xyyaw)
    msg.distance_to_goal_m = float(status.distance_m)
    v, w = (0.0, 0.0) if command_2 is None else (float(command_2[0]), float(command_2[1]))
    msg.command = Twist(linear=Vector3(x=v), angular=Vector3(z=w))
    msg.predictor, msg.state_source = status.predictor, state_source
    msg.planning_ms = float(status.planning_ms)
    msg.cycles, msg.overruns = int(cycles), int(overruns)
    msg.critic_names = list(status.critic_costs)
    msg.critic_costs = [float(v) for v in status.critic_costs.values()]
    return msg


def plan_message(header: Header, model_id: str, dt_s: float, result: MppiResult, latency_s: float):
    """The chosen plan (its actions and the model's prediction under them)."""
    plan = rollout_to_prediction(
        header,
        model_id,
        dt_s,
        result.plan_rollout.to_numpy(),
        result.commands_h2.cpu().numpy(),
        "plan",
    )
    plan.latency = s_to_duration(latency_s)
    return plan


def plan_markers(
    header: Header, result: MppiResult, goal_3, namespace: str = "mpc_planner"
) -> MarkerArray:
    """rviz: sampled rollouts (one grey LINE_LIST, id 0), the plan (green LINE_STRIP, id 1), the
    goal (arrow, id 2)."""
    samples = result.samples_kh3.detach().cpu().numpy()
    plan = result.plan_rollout.poses_bh3[0].detach().cpu().numpy()
    lifetime = s_to_duration(1.0)

    def marker(ident: int, kind: int, name: str, rgba: tuple[float, ...]) -> Marker:
        m = Marker(header=header, ns=f"{namespace}/{name}", id=ident, type=kind, lifetime=lifetime)
        m.action = Marker.ADD
        m.color = ColorRGBA(r=rgba[0], g=rgba[1], b=rgba[2], a=rgba[3])
        m.pose.orientation.w = 1.0
        return m

    sampled = marker(0, Marker.LINE_LIST, "samples", (0.6, 0.6, 0.6, 0.5))
    sampled.scale.x = 0.005
    for rollout in samples:
        for a, b in zip(rollout[:-1], rollout[1:], strict=True):
            sampled.points += [
                Point(x=float(a[0]), y=float(a[1]), z=0.01),
                Point(x=float(b[0]), y=float(b[1]), z=0.01),
            ]
    chosen = marker(1, Marker.LINE_STRIP, "plan", (0.1, 0.9, 0.2, 1.0))
    chosen.scale.x = 0.03
    chosen.points = [Point(x=float(x), y=float(y), z=0.02) for x, y, _ in plan]
    markers = [sampled, chosen]
    if goal_3 is not None:
        goal = marker(2, Marker.ARROW, "goal", (1.0, 0.5, 0.0, 1.0))
        goal.scale.x, goal.scale.y, goal.scale.z = 0.3, 0.05, 0.05
        goal.pose.position.x, goal.pose.position.y = float(goal_3[0]), float(goal_3[1])
        goal.pose.orientation.z = math.sin(goal_3[2] / 2)
        goal.pose.orientation.w = math.cos(goal_3[2] / 2)
        markers.append(goal)
    return MarkerArray(markers=markers)


def clear_markers(namespace: str = "mpc_planner") -> MarkerArray:
    return MarkerArray(markers=[Marker(action=Marker.DELETEALL, ns=namespace)])
