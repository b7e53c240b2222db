"""The demo's rosbag2 (MCAP) recording, written with ``rosbags`` so no ROS install is needed.

Topics (bag time = header stamp = simulated time; episodes follow each other, the second
planner's after the first's, each starting with its arena on ``/demo/arena``):

| topic | type |
|---|---|
| /camera/image_raw | sensor_msgs/msg/Image (rgb8) |
| /odom | nav_msgs/msg/Odometry (odom -> base_link) |
| /tf | tf2_msgs/msg/TFMessage (odom -> base_link) |
| /cmd_vel | geometry_msgs/msg/Twist |
| /mpc_planner/plan | world_model_ros/msg/WorldModelPrediction (the plan and the states predicted
under it) |
| /mpc_planner/markers | visualization_msgs/msg/MarkerArray (sampled rollouts, the plan, the goal)
|
| /mpc_planner/status | std_msgs/msg/String ("<planner> episode <i>: active / reached / failed:
...") |
| /mpc_planner/occupancy | nav_msgs/msg/OccupancyGrid (the planner's occupancy map, once a second;
learned model) |
| /demo/arena | visualization_msgs/msg/MarkerArray (walls and obstacles, once per episode) |

Foxglove opens the .mcap directly; rviz2 replays it with ``ros2 bag play`` (the package's
messages must be built for the plan topic).
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import get_types_from_msg

from ..core.data.episodes import ArenaMap
from ..core.planning.mppi import MppiResult
from ..core.planning.occupancy_map import OccupancyMap
from .recorder import MessageFactory, typestore

MSG_DIR = Path(__file__).resolve().parent.parent.parent / "msg"
TOPICS = {
    "image": ("/camera/image_raw", "sensor_msgs/msg/Image"),
    "odom": ("/odom", "nav_msgs/msg/Odometry"),
    "tf": ("/tf", "tf2_msgs/msg/TFMessage"),
    "cmd_vel": ("/cmd_vel", "geometry_msgs/msg/Twist"),
    "plan": ("/mpc_planner/plan", "world_model_ros/msg/WorldModelPrediction"),
    "markers": ("/mpc_planner/markers", "visualization_msgs/msg/MarkerArray"),
    "status": ("/mpc_planner/status", "std_msgs/msg/String"),
    "occupancy": ("/mpc_planner/occupancy", "nav_msgs/msg/OccupancyGrid"),
    "arena": ("/demo/arena", "visualization_msgs/msg/MarkerArray"),
}


def _message_definitions() -> dict[str, str]:
    """The package's .msg files, from the source tree or the installed share/ folder."""
    candidates = [MSG_DIR]
    try:
        from ament_index_python.packages import (
            get_package_share_directory,
        )  # only in a ROS install

        candidates.append(Path(get_package_share_directory("world_model_ros")) / "msg")
    except Exception:  # noqa: BLE001 - not a ROS install: the source tree is the only place
        pass
    for folder in candidates:
        files = {f.stem: f.read_text() for f in sorted(folder.glob("*.msg"))}
        if {"PredictedState", "WorldModelPrediction"} <= set(files):
            return files
    raise FileNotFoundError(
        f"message definitions PredictedState.msg / WorldModelPrediction.msg not found in "
        f"{', '.join(str(c) for c in candidates)}"
    )


class DemoBag:
    """Writes one demo run; use as a context manager. ``marker_samples`` sampled rollouts per
    cycle."""

    def __init__(self, path: str | Path, marker_samples: int = 16):
        self.path = Path(path)
        self.store = typestore()
        types = {}
        for name, text in _message_definitions().items():
            types.update(get_types_from_msg(text, f"world_model_ros/msg/{name}"))
        self.store.register(types)
        self.messages = MessageFactory(self.store)
        t = self.store.types
        self.Marker, self.MarkerArray = (
            t["visualization_msgs/msg/Marker"],
            t["visualization_msgs/msg/MarkerArray"],
        )
        self.ColorRGBA, self.String = t["std_msgs/msg/ColorRGBA"], t["std_msgs/msg/String"]
        self.Duration = t["builtin_interfaces/msg/Duration"]
        self.Prediction, self.State = (
            t["world_model_ros/msg/WorldModelPrediction"],
            t["world_model_ros/msg/PredictedState"],
        )
        self.marker_samples = marker_samples
        self._writer: Writer | None = None
        self._connections = {}

    def __enter__(self) -> "DemoBag":
        self._writer = Writer(self.path, version=8, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        self._connections = {
            key: self._writer.add_connection(topic, msgtype, typestore=self.store)
            for key, (topic, msgtype) in TOPICS.items()
        }
        return self

    def __exit__(self, *exc) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _write(self, key: str, stamp_ns: int, msg) -> None:
        self._writer.write(
            self._connections[key], stamp_ns, self.store.serialize_cdr(msg, msg.__msgtype__)
        )

    # -- message builders ------------------------------------------------------------------------

    def _duration(self, seconds: float):
        ns = max(0, round(seconds * 1e9))
        return self.Duration(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)

    def _pose(self, x: float, y: float, yaw: float, z: float = 0.0):
        m = self.messages
        return m.Pose(
            position=m.Point(x=float(x), y=float(y), z=float(z)),
            orientation=m.Quaternion(x=0.0, y=0.0, z=math.sin(yaw / 2), w=math.cos(yaw / 2)),
        )

    def _marker(
        self,
        stamp_ns: int,
        ns: str,
        marker_id: int,
        marker_type: int,
        rgba,
        scale,
        pose=None,
        points=(),
        lifetime_s: float = 0.0,
    ):
        m = self.messages
        return self.Marker(
            header=m.header(stamp_ns, "odom"),
            ns=ns,
            id=marker_id,
            type=marker_type,
            action=0,
            pose=pose if pose is not None else self._pose(0.0, 0.0, 0.0),
            scale=m.Vector3(x=scale[0], y=scale[1], z=scale[2]),
            color=self.ColorRGBA(r=rgba[0], g=rgba[1], b=rgba[2], a=rgba[3]),
            lifetime=self._duration(lifetime_s),
            frame_locked=False,
            points=[m.Point(x=float(x), y=float(y), z=float(z)) for x, y, z in points],
            colors=[],
            texture_resource="",
            texture=self.store.types["sensor_msgs/msg/CompressedImage"](
                header=m.header(0, ""), format="", data=np.zeros(0, dtype=np.uint8)
            ),
            uv_coordinates=[],
            text="",
            mesh_resource="",
            mesh_file=self.store.types["visualization_msgs/msg/MeshFile"](
                filename="", data=np.zeros(0, dtype=np.uint8)
            ),
            mesh_use_embedded_materials=False,
        )

    # -- what the demo writes --------------------------------------------------------------------

    def arena(self, stamp_ns: int, arena: ArenaMap) -> None:
        """Walls and obstacles as rviz markers (CUBE / CYLINDER), replacing the previous
        episode's."""
        markers = [
            replace(self._marker(stamp_ns, "arena", 0, 0, (0, 0, 0, 0), (1, 1, 1)), action=3)
        ]  # DELETEALL
        h = arena.half_size_m
        for i, (x, y, sx, sy) in enumerate(
            [(h, 0, 0.05, 2 * h), (-h, 0, 0.05, 2 * h), (0, h, 2 * h, 0.05), (0, -h, 2 * h, 0.05)]
        ):
            markers.append(
                self._marker(
                    stamp_ns,
                    "arena/walls",
                    i,
                    1,
                    (0.8, 0.8, 0.8, 1.0),
                    (sx, sy, 0.3),
                    pose=self._pose(x, y, 0.0, 0.15),
                )
            )
        for i, o in enumerate(arena.obstacles):
            if o.kind == "box":
                marker = self._marker(
                    stamp_ns,
                    "arena/obstacles",
                    i,
                    1,
                    (0.9, 0.3, 0.2, 1.0),
                    (2 * o.hx, 2 * o.hy, 0.3),
                    pose=self._pose(o.x, o.y, o.yaw, 0.15),
                )
            else:
                marker = self._marker(
                    stamp_ns,
                    "arena/obstacles",
                    i,
                    3,
                    (0.2, 0.4, 0.9, 1.0),
                    (2 * o.hx, 2 * o.hx, 0.3),
                    pose=self._pose(o.x, o.y, 0.0, 0.15),
                )
            markers.append(marker)
        self._write("arena", stamp_ns, self.MarkerArray(markers=markers))

    def status(self, stamp_ns: int, text: str) -> None:
        self._write("status", stamp_ns, self.String(data=text))

    def occupancy(self, stamp_ns: int, occupancy_map: OccupancyMap) -> None:
        """The planner's occupancy map (core/planning/occupancy_map.py); nothing while it is
        empty."""
        if occupancy_map.empty:
            return
        t, m = self.store.types, self.messages
        header = m.header(stamp_ns, "odom")
        percent = occupancy_map.occupancy_percent_yx()
        origin = occupancy_map.origin_2.cpu().numpy()
        info = t["nav_msgs/msg/MapMetaData"](
            map_load_time=header.stamp,
            resolution=float(occupancy_map.config.resolution_m),
            width=int(percent.shape[1]),
            height=int(percent.shape[0]),
            origin=self._pose(float(origin[0]), float(origin[1]), 0.0),
        )
        self._write(
            "occupancy",
            stamp_ns,
            t["nav_msgs/msg/OccupancyGrid"](header=header, info=info, data=percent.ravel()),
        )

    def cycle(
        self,
        stamp_ns: int,
        image: np.ndarray | None,
        pose_3: np.ndarray,
        twist_2: np.ndarray,
        result: MppiResult,
        command_2: np.ndarray,
        model_id: str,
        dt_s: float,
        goal_3: np.ndarray,
    ) -> None:
        """One control cycle: what the robot saw, where it was, what it planned and commanded."""
        m = self.messages
        if image is not None:
            self._writer.write(self._connections["image"], stamp_ns, m.image(stamp_ns, image))
        self._writer.write(
            self._connections["odom"], stamp_ns, m.odometry(stamp_ns, pose_3, twist_2)
        )
        self._writer.write(self._connections["tf"], stamp_ns, m.tf(stamp_ns, pose_3))
        self._writer.write(self._connections["cmd_vel"], stamp_ns, m.twist(command_2))
        rollout = result.plan_rollout.to_numpy()
        actions = result.commands_h2.detach().cpu().numpy()
        states = [
            self.State(
                time_from_stamp=self._duration((i + 1) * dt_s),
                pose=self._pose(*rollout["poses_bh3"][0, i]),
                twist=m.twist_msg(rollout["twists_bh2"][0, i]),
                position_variance=float(rollout["position_var_bh"][0, i]),
                yaw_variance=float(rollout["yaw_var_bh"][0, i]),
                collision_probability=float(rollout["collision_prob_bh"][0, i]),
            )
            for i in range(actions.shape[0])
        ]
        plan = self.Prediction(
            header=m.header(stamp_ns, "odom"),
            model_id=model_id,
            dt=float(dt_s),
            states=states,
            actions=[m.twist_msg(a) for a in actions],
            action_source="plan",
            latency=self._duration(result.planning_s),
        )
        self._write("plan", stamp_ns, plan)
        samples = result.samples_kh3.detach().cpu().numpy()[: self.marker_samples]
        segments = [
            (p[0], p[1], 0.01)
            for rollout_k in samples
            for a, b in zip(rollout_k[:-1], rollout_k[1:], strict=False)
            for p in (a, b)
        ]
        plan_points = [(pose_3[0], pose_3[1], 0.02)] + [
            (x, y, 0.02) for x, y, _ in rollout["poses_bh3"][0]
        ]
        markers = [
            self._marker(
                stamp_ns,
                "mpc_planner/samples",
                0,
                5,
                (0.6, 0.6, 0.6, 0.5),
                (0.005, 0, 0),
                points=segments,
                lifetime_s=0.5,
            ),
            self._marker(
                stamp_ns,
                "mpc_planner/plan",
                1,
                4,
                (0.1, 0.9, 0.2, 1.0),
                (0.03, 0, 0),
                points=plan_points,
                lifetime_s=0.5,
            ),
            self._marker(
                stamp_ns,
                "mpc_planner/goal",
                2,
                0,
                (1.0, 0.5, 0.0, 1.0),
                (0.3, 0.05, 0.05),
                pose=self._pose(*goal_3),
                lifetime_s=0.5,
            ),
        ]
        self._write("markers", stamp_ns, self.MarkerArray(markers=markers))
