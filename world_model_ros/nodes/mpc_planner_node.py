"""``mpc_planner_node``: MPPI on the world model, from a goal pose to ``cmd_vel``.

In: ``goal_pose`` (PoseStamped, rviz "2D Goal Pose"); the robot's state, either the twin's
``world_model/state`` (WorldModelState, ``state_source: twin``: world_model_node encodes each
camera frame once and this node rolls its candidates out from that latent with the same
checkpoint's dynamics) or ``camera/image_raw`` + ``odom`` encoded here (``state_source:
local``); ``world_model/domain`` (DomainStatus: the twin's verdict on its learned model, which
``fallback`` acts on). Out: ``cmd_vel`` (Twist or TwistStamped) every control period while a
goal is held; the chosen plan on ``mpc_planner/plan`` (WorldModelPrediction; the twin predicts
under it); rollouts on ``mpc_planner/markers``; ``mpc_planner/status`` (PlannerStatus,
latched: state, reason, each critic's share of the plan's cost); the costmap on
``mpc_planner/occupancy`` (nav_msgs/OccupancyGrid, once a second while someone listens).

The control cycle is ``core/planning/goal_controller.py`` (goal, staleness, timeout, safety
gate); this node converts messages and runs it. Threading (docs/architecture.md): callbacks
only store the newest inputs; a timer on the node's clock (simulated time under
``use_sim_time``) wakes a control thread once per period, so planning never runs on the
executor thread. A tick that finds the control thread still busy counts an overrun; a cycle
stuck longer than ``stale_timeout_s`` + one period makes the timer itself send zero.

Frames: tf2 is not on the registries this package installs from, so the node plans in the
odometry frame and accepts only goals stamped in it.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import torch
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped, Twist, TwistStamped, Vector3
from nav_msgs.msg import OccupancyGrid, Odometry
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image, LaserScan
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from world_model_ros.core.data.camera import encoder_half_fov_rad
from world_model_ros.core.live.output_checks import plan_problem
from world_model_ros.core.model.contract import EncoderInputs, KnowsItsRobot, Observation
from world_model_ros.core.model.registry import ModelSpec, load_world_model
from world_model_ros.core.planning.controller_config import ControllerConfig
from world_model_ros.core.planning.goal import GoalState
from world_model_ros.core.planning.goal_controller import GoalController
from world_model_ros.core.planning.robot_fit import (
    RobotLimits,
    fit_controller,
    fitted_settings,
    limits_exceeded,
)
from world_model_ros.msg import DomainStatus, PlannerStatus, WorldModelPrediction, WorldModelState
from world_model_ros.nodes.conversions import ns_to_time, occupancy_to_grid
from world_model_ros.nodes.lifetime import run_node
from world_model_ros.nodes.mpc_planner_config import NODE_NAME, PlannerNodeConfig
from world_model_ros.nodes.parameters import ParameterHandler
from world_model_ros.nodes.planner_diagnostics import PlannerSnapshot, planner_status
from world_model_ros.nodes.planner_inputs import PlannerInputs
from world_model_ros.nodes.planner_messages import (
    clear_markers,
    plan_markers,
    plan_message,
    status_message,
)
from world_model_ros.nodes.qos import ODOM_QOS, OUTPUT_QOS, create_camera_subscription
from world_model_ros.nodes.topic_types import command_type_watch

LATCHED = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)


class MpcPlannerNode(Node):
    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        self._robot_limits: RobotLimits | None = None  # the checkpoint's base limits, if known
        self.params = ParameterHandler(self, PlannerNodeConfig, check=self._beyond_the_robot)
        cfg = self.params.config
        if cfg.torch_threads > 0:
            torch.set_num_threads(cfg.torch_threads)
        self.model = load_world_model(
            ModelSpec(
                kind=cfg.model,
                checkpoint=cfg.checkpoint,
                device=cfg.device,
                dt_s=cfg.dt,
                horizon=cfg.controller.mppi.horizon,
                allow_unverified=cfg.allow_unverified_weights,
            )
        )
        # an adapted checkpoint names its robot's footprint (the contact memory's body radius)
        # and the limits its base was driven within (the plan never asks for more)
        robot = self.model if isinstance(self.model, KnowsItsRobot) else None
        footprint = None if robot is None else robot.footprint
        self._body_radius_m = None if footprint is None else footprint.circumscribed_radius_m
        self._robot_limits = None if robot is None else robot.limits
        camera = None if robot is None else robot.camera
        self._view_half_angle_rad = (
            None
            if camera is None
            else encoder_half_fov_rad(camera, getattr(self.model.config, "image_fit", "crop"))
        )
        controller_config, fitted = fit_controller(
            cfg.controller, self._body_radius_m, self._robot_limits, self._view_half_angle_rad
        )
        if fitted:
            fitted_text = ", ".join(fitted)
            self.get_logger().info(f"planner fitted to the checkpoint's robot: {fitted_text}")
            self._show_fitted_limits(controller_config)
        self.controller = GoalController(self.model, controller_config)
        self.controller.plan_check = lambda result: plan_problem(
            result.commands_h2.detach().cpu().numpy(),
            result.plan_rollout.to_numpy(),
            self.params.config.input_bounds,
        )
        blank = np.zeros((64, 64, 3), np.uint8) if self.model.uses_camera else None
        warm_s = self.controller.warm_up(
            Observation(0.0, blank, np.zeros(3, np.float32), np.zeros(2, np.float32))
        )
        use_camera = cfg.use_camera == "true" or (
            cfg.use_camera == "auto" and self.model.uses_camera
        )
        self.inputs = PlannerInputs(self, cfg, use_camera)
        self._camera_sub = None

        self.create_subscription(PoseStamped, "goal_pose", self.inputs.on_goal, 10)
        self.create_subscription(
            DomainStatus, "world_model/domain", self.inputs.on_domain, LATCHED
        )
        local_scan = cfg.state_source != "twin" and EncoderInputs.of(self.model).scan_sectors
        if cfg.use_scan or local_scan:  # best effort, as the twin takes it: a LiDAR's QoS
            self.create_subscription(LaserScan, "scan", self.inputs.on_scan, ODOM_QOS)
        if cfg.state_source == "twin":
            self.create_subscription(WorldModelState, "world_model/state", self.inputs.on_state, 5)
        else:
            self.create_subscription(Odometry, "odom", self.inputs.on_odom, ODOM_QOS)
            if use_camera:  # matching any camera publisher's reliability (nodes/qos.py)
                self._camera_sub = create_camera_subscription(
                    self, Image, "camera/image_raw", self.inputs.on_image
                )
        self.cmd_pub = self.create_publisher(
            TwistStamped if cfg.cmd_vel_stamped else Twist, "cmd_vel", 10
        )
        self._cmd_watch = command_type_watch(self, self.cmd_pub, cfg.cmd_vel_stamped)
        self.plan_pub = self.create_publisher(WorldModelPrediction, "mpc_planner/plan", OUTPUT_QOS)
        self.marker_pub = self.create_publisher(MarkerArray, "mpc_planner/markers", OUTPUT_QOS)
        self.status_pub = self.create_publisher(PlannerStatus, "mpc_planner/status", LATCHED)
        self.occupancy_pub = self.create_publisher(
            OccupancyGrid, "mpc_planner/occupancy", OUTPUT_QOS
        )
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "diagnostics", OUTPUT_QOS)
        self._last_report: dict[str, int] = {}
        # Steady clock: diagnostics keep coming while a simulation is paused or reset.
        self._diagnostics_timer = self.create_timer(
            cfg.diagnostics_period_s,
            self._publish_diagnostics,
            clock=Clock(clock_type=ClockType.STEADY_TIME),
        )

        self._cycles = self._overruns = self._plans = 0
        self._last_status = ""
        self._last_map_s = -1.0
        self._busy_since: float | None = None  # monotonic start of the running cycle
        self._wake = threading.Event()
        self._stopping = False
        self._publish_lock = threading.Lock()  # cmd_vel/status from the thread and the watchdog
        self._publish_status(self.controller.status, None)
        self._timer = self.create_timer(1.0 / cfg.control_rate_hz, self._on_tick)
        self._watchdog_sent = False
        self._thread = threading.Thread(target=self._control_loop, name="mpc_control", daemon=True)
        self._thread.start()
        self.get_logger().info(
            f"planning with '{self.model.model_id}' ({cfg.controller.mppi.num_samples} samples x "
            f"{cfg.controller.mppi.horizon} steps, warm-up {warm_s:.2f} s) at "
            f"{cfg.control_rate_hz:g} Hz from "
            + (
                f"the twin's state on '{self.resolve_topic_name('world_model/state')}'"
                if cfg.state_source == "twin"
                else f"odometry{' and the camera' if use_camera else ''} (local encoder)"
            )
        )

    # -- the control thread ---------------------------------------------------------------------

    def _now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_tick(self) -> None:
        """Executor thread: wake the control thread; never plan here."""
        busy_since = self._busy_since
        if busy_since is None:
            self._watchdog_sent = False
            self._wake.set()
            return
        self._overruns += 1
        cfg = self.params.config
        stuck_s = time.monotonic() - busy_since
        limit_s = cfg.controller.stale_timeout_s + 1.0 / cfg.control_rate_hz
        if stuck_s > limit_s and self.controller.goal is not None and not self._watchdog_sent:
            self._watchdog_sent = True
            self.get_logger().error(f"control cycle stuck for {stuck_s:.2f} s: sending zero")
            self._publish_command(None, zero=True)

    def _control_loop(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            self._busy_since = time.monotonic()
            try:
                self._cycle()
            except Exception as exc:  # noqa: BLE001 - the loop must outlive any bug; zero is sent
                self.get_logger().error(
                    f"control cycle failed: {type(exc).__name__}: {exc}", throttle_duration_sec=5.0
                )
                if self.controller.goal is not None:
                    self._publish_command(None, zero=True)
            finally:
                self._busy_since = None

    def _beyond_the_robot(self, config: PlannerNodeConfig) -> str | None:
        """A parameter change asking more of the base than the checkpoint's robot can give is
        refused, not silently capped: the value read back must be the one in force."""
        beyond = limits_exceeded(config.controller, self._robot_limits)
        if not beyond:
            return None
        return f"{'; '.join(beyond)} (the limits recorded in checkpoint '{config.checkpoint}')"

    def _show_fitted_limits(self, fitted: ControllerConfig) -> None:
        """Make the parameters read back what the planner uses after fitting to the robot."""
        fitted_values = fitted_settings(fitted)
        current = fitted_settings(self.params.config.controller)
        changed = [n for n, v in fitted_values.items() if v != current[n]]
        if changed:  # atomically: each alone would still find the others beyond the limits
            result = self.set_parameters_atomically(
                [Parameter(n, value=float(fitted_values[n])) for n in changed]
            )
            if not result.successful:
                self.get_logger().warning(f"cannot show the fitted limits: {result.reason}")

    def _cycle(self) -> None:
        cfg, changed = self.params.take_changes()
        if changed:
            # the limits again (a change beyond them was refused); the body and the view as the
            # parameters now say: set to the checkpoint's robot at start, a change since is theirs
            fitted = fit_controller(cfg.controller, None, self._robot_limits)
            self.controller.reconfigure(fitted[0])
            self.inputs.reconfigure(cfg)
            if "control_rate_hz" in changed:
                self._timer.timer_period_ns = int(1e9 / cfg.control_rate_hz)
            if "diagnostics_period_s" in changed:
                self._diagnostics_timer.timer_period_ns = int(1e9 * cfg.diagnostics_period_s)
        now_s = self._now_s()
        self._cycles += 1
        newest = self.inputs.take(self.controller, now_s)
        output = self.controller.step(
            newest, now_s, self.inputs.scan_for(newest) if cfg.use_scan else None
        )
        if output.command_2 is not None:
            self._publish_command(output.command_2)
        self._publish_status(output.status, output.command_2)
        if output.result is not None:
            self._publish_plan(output, now_s)

    # -- outputs --------------------------------------------------------------------------------

    def _publish_command(self, command_2, zero: bool = False) -> None:
        v, w = (0.0, 0.0) if zero else (float(command_2[0]), float(command_2[1]))
        twist = Twist(linear=Vector3(x=v), angular=Vector3(z=w))
        now = self.get_clock().now()
        with self._publish_lock:
            if self.params.config.cmd_vel_stamped:
                header = Header(stamp=now.to_msg(), frame_id=self.params.config.base_frame)
                self.cmd_pub.publish(TwistStamped(header=header, twist=twist))
            else:
                self.cmd_pub.publish(twist)
        self.inputs.record_command(now.nanoseconds * 1e-9, (v, w))

    def _publish_status(self, status, command_2) -> None:
        """Every cycle while a goal is held; otherwise only when the status changes."""
        text = status.text
        if status.goal_xyyaw is None and status.state is not GoalState.HOLDING:
            if text == self._last_status:
                return
        if text != self._last_status:
            if status.state in (GoalState.HOLDING, GoalState.FAILED):
                self.get_logger().warning(f"status: {text}")
            else:
                self.get_logger().info(f"status: {text}")
            if status.state in (GoalState.REACHED, GoalState.FAILED):
                self.marker_pub.publish(clear_markers())
        self._last_status = text
        header = Header(stamp=self.get_clock().now().to_msg(), frame_id=self.inputs.frame_id)
        msg = status_message(
            status,
            header,
            command_2,
            self.params.config.state_source,
            self._cycles,
            self._overruns,
        )
        with self._publish_lock:
            self.status_pub.publish(msg)

    def _publish_plan(self, output, now_s: float) -> None:
        result = output.result
        stamp_s = output.planned_from.stamp_s
        header = Header(stamp=ns_to_time(round(stamp_s * 1e9)), frame_id=self.inputs.frame_id)
        planner = self.controller.current_planner()
        self.plan_pub.publish(
            plan_message(header, planner.model.model_id, planner.dt_s, result, now_s - stamp_s)
        )
        if self.marker_pub.get_subscription_count() > 0:
            self.marker_pub.publish(plan_markers(header, result, self.controller.goal))
        occupancy = planner.occupancy_map
        steady_s = Clock(clock_type=ClockType.STEADY_TIME).now().nanoseconds * 1e-9
        if (
            steady_s - self._last_map_s >= 1.0
            and not occupancy.empty
            and self.occupancy_pub.get_subscription_count() > 0
        ):
            self._last_map_s = steady_s
            self.occupancy_pub.publish(
                occupancy_to_grid(
                    header,
                    occupancy.occupancy_percent_yx(),
                    occupancy.origin_2.cpu().numpy(),
                    occupancy.config.resolution_m,
                )
            )
        self._plans += 1
        if self._plans % 100 == 1:
            self.get_logger().info(
                f"planning {result.planning_s * 1e3:.0f} ms, command v={result.command_2[0]:.2f} "
                f"w={result.command_2[1]:.2f}, cost {result.best_cost:.2f}"
            )

    def _publish_diagnostics(self) -> None:
        """Executor thread, steady clock: a snapshot of counters the control thread updates
        (plain ints and a frozen status; a report may be one cycle behind)."""
        controller, inputs = self.controller, self.inputs
        status = controller.status
        with inputs.lock:
            received, rejected = dict(inputs.received), dict(inputs.rejected.counts)
        snapshot = PlannerSnapshot(
            state=status.state.value,
            reason=status.reason,
            predictor=status.predictor,
            cycles=self._cycles,
            overruns=self._overruns,
            controller_counts=dict(controller.counts),
            commands_refused=controller.gate.rejected,
            received=received,
            rejected=rejected,
            odom_time_resets=inputs.odom_time_resets,
            graph_problems=tuple(self._cmd_watch.check()),
        )
        diagnostic, self._last_report = planner_status(
            self.get_name(), snapshot, self._last_report
        )
        header = Header(stamp=self.get_clock().now().to_msg())
        self.diagnostics_pub.publish(DiagnosticArray(header=header, status=[diagnostic]))

    def stop_for_shutdown(self) -> None:
        """Stop the control thread, then zero the robot while the context still works."""
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=5.0)
        if self._camera_sub is not None:
            self._camera_sub.destroy()
        if self.controller.goal is not None:
            status = self.controller.cancel("planner shut down", self._now_s())
            self._publish_command(None, zero=True)
            self._publish_status(status, None)


def main(args: list[str] | None = None) -> int:
    # Stopping sends the zero command while the context still works (nodes/lifetime.py).
    from world_model_ros.core.config import ConfigError
    from world_model_ros.core.model.checkpoint import CheckpointError

    return run_node(
        MpcPlannerNode,
        args,
        name=NODE_NAME,
        stop=lambda node: node.stop_for_shutdown(),
        fatal=(ConfigError, CheckpointError, RuntimeError),
    )


if __name__ == "__main__":
    raise SystemExit(main())
