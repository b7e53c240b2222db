"""mpc_planner_node over Fast DDS: it drives towards a goal and stops safely when it must.

The node runs as a process (its console script). Most tests use the kinematic model with the
local state source and no camera: the test plays the robot's odometry and watches cmd_vel, the
plan and the status topic. The safety contract (docs/planner.md): whatever makes the input
unusable, zero is sent within ``stale_timeout_s`` + one control period of the last usable
input, and keeps coming every period while the goal is held.
"""

import math

import numpy as np
import pytest
from ros_harness import get_parameter, set_parameter

pytestmark = pytest.mark.ros

NODE = "mpc_planner_node"
STALE_S, RATE_HZ = 0.5, 20.0
# The shipped parameter file (so a broken config/mpc_planner.yaml fails here), then test overrides.
FAST = [
    "--ros-args",
    "--params-file",
    "config/mpc_planner.yaml",
    "-p",
    "num_samples:=128",
    "-p",
    f"control_rate_hz:={RATE_HZ}",
    "-p",
    f"stale_timeout_s:={STALE_S}",
    "-p",
    "seed:=1",
    "-p",
    "model:=kinematic",
    "-p",
    "state_source:=local",
]  # the stop conditions do not depend on the model; no camera needed


def odometry(ros, x=0.0, y=0.0, yaw=0.0, frame="odom", stamp=None):
    from nav_msgs.msg import Odometry

    msg = Odometry()
    msg.header.stamp = stamp or ros.now_msg()
    msg.header.frame_id = frame
    msg.child_frame_id = "base_link"
    msg.pose.pose.position.x, msg.pose.pose.position.y = x, y
    msg.pose.pose.orientation.z, msg.pose.pose.orientation.w = math.sin(yaw / 2), math.cos(yaw / 2)
    return msg


def goal(ros, x, y, yaw=0.0, frame="odom"):
    from geometry_msgs.msg import PoseStamped

    msg = PoseStamped()
    msg.header.stamp = ros.now_msg()
    msg.header.frame_id = frame
    msg.pose.position.x, msg.pose.position.y = x, y
    msg.pose.orientation.z, msg.pose.orientation.w = math.sin(yaw / 2), math.cos(yaw / 2)
    return msg


def connect(ros, inputs=("odom",)):
    """Publishers and collectors, once the node under test is subscribed to our inputs."""
    from geometry_msgs.msg import PoseStamped, Twist
    from nav_msgs.msg import Odometry
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    from world_model_ros.msg import PlannerStatus, WorldModelPrediction, WorldModelState

    types = {"odom": Odometry, "world_model/state": WorldModelState}
    io = {name: ros.publisher(types[name], name) for name in inputs}
    io["goal"] = ros.publisher(PoseStamped, "goal_pose")
    io["cmd"] = ros.subscribe(Twist, "cmd_vel")
    latched = QoSProfile(
        depth=50,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL,
    )
    io["status"] = ros.subscribe(PlannerStatus, "mpc_planner/status", latched)
    io["plan"] = ros.subscribe(WorldModelPrediction, "mpc_planner/plan")
    for name in (*inputs, "goal_pose"):
        ros.wait_for_subscriber(name)
    ros.wait_for_publisher("cmd_vel")
    ros.wait_for(lambda: io["status"] and io["status"][-1].state == "idle", what="status 'idle'")
    return io


def text(status) -> str:
    return f"{status.state}: {status.reason}" if status.reason else status.state


def statuses(io):
    return [text(m) for m in io["status"]]


def drive_until_moving(ros, io, feed):
    io["goal"].publish(goal(ros, 2.0, 0.0))

    def feed_and_moving():
        feed()
        return any(m.linear.x > 0.05 for m in io["cmd"]) and io["plan"]

    ros.wait_for(feed_and_moving, timeout_s=20, what="a forward command while inputs flow")


def stops_while(ros, io, feed, timeout_s=5.0) -> float:
    """Keep ``feed``-ing (the fault) until a zero command arrives; seconds it took."""
    started = ros.node.get_clock().now().nanoseconds * 1e-9
    io["cmd"].clear()

    def zero():
        feed()
        return io["cmd"] and io["cmd"][-1].linear.x == 0.0 and io["cmd"][-1].angular.z == 0.0

    ros.wait_for(zero, timeout_s=timeout_s, what="a zero command while the fault lasts")
    took_s = ros.node.get_clock().now().nanoseconds * 1e-9 - started
    # The status of the same cycle follows on its own topic.
    ros.wait_for(lambda: not statuses(io)[-1].startswith("active"), 2.0, "the status to follow")
    return took_s


def keeps_sending_zero(ros, io, feed) -> None:
    io["cmd"].clear()
    for _ in range(30):  # ~1 s at the node's 20 Hz
        feed()
        ros.spin(0.03)
    assert len(io["cmd"]) >= 5, "zero must come every control period, not once"
    assert all(m.linear.x == 0.0 and m.angular.z == 0.0 for m in io["cmd"])


def test_drives_then_holds_when_odometry_stops_and_resumes(ros, start_node):
    node = start_node(NODE, *FAST)
    io = connect(ros)
    drive_until_moving(ros, io, lambda: io["odom"].publish(odometry(ros)))
    assert "active" in statuses(io)
    plan = io["plan"][-1]
    assert plan.header.frame_id == "odom" and plan.model_id == "kinematic"
    assert len(plan.states) == len(plan.actions) == 20 and plan.dt == pytest.approx(0.1)
    assert plan.states[-1].pose.position.x > 0.0  # predicted forward motion under the plan
    stops_while(ros, io, lambda: None)  # odometry stops
    keeps_sending_zero(ros, io, lambda: None)
    assert statuses(io)[-1].startswith("holding") and "no valid plan" in statuses(io)[-1]
    drive_until_moving(ros, io, lambda: io["odom"].publish(odometry(ros)))  # and comes back
    assert node.alive()


@pytest.mark.parametrize("fault", ["republished", "frozen_stamp"])
def test_odometry_that_arrives_but_cannot_be_used_stops_the_robot(ros, start_node, fault):
    """Issue finding 1: the same Odometry again and again, or a fresh pose under a frozen stamp:
    the planner used to leave its last command in force; now it holds the robot at zero and
    says why."""
    start_node(NODE, *FAST)
    io = connect(ros)
    drive_until_moving(ros, io, lambda: io["odom"].publish(odometry(ros)))
    frozen = odometry(ros)
    moving = [0.0]

    def fault_feed():
        if fault == "republished":
            io["odom"].publish(frozen)
        else:
            moving[0] += 0.01
            io["odom"].publish(odometry(ros, x=moving[0], stamp=frozen.header.stamp))

    stops_while(ros, io, fault_feed)
    keeps_sending_zero(ros, io, fault_feed)
    reason = statuses(io)[-1]
    assert reason.startswith("holding"), reason
    assert "did not advance" in reason


def test_goal_reached_gives_zero_command_and_status(ros, start_node):
    start_node(NODE, *FAST)
    io = connect(ros)
    io["odom"].publish(odometry(ros, 1.0, 1.0, 0.5))
    io["goal"].publish(goal(ros, 1.05, 1.0, 0.45))

    def feed_and_reached():
        io["odom"].publish(odometry(ros, 1.0, 1.0, 0.5))
        return statuses(io)[-1] == "reached"

    ros.wait_for(feed_and_reached, timeout_s=20, what="status 'reached'")
    assert io["cmd"] and io["cmd"][-1].linear.x == 0.0 and io["cmd"][-1].angular.z == 0.0


def test_goal_in_another_frame_is_rejected(ros, start_node):
    node = start_node(NODE, *FAST)
    io = connect(ros)
    io["odom"].publish(odometry(ros))
    io["goal"].publish(goal(ros, 2.0, 0.0, frame="map"))

    def feed_and_rejected():
        io["odom"].publish(odometry(ros))
        return statuses(io)[-1].startswith("failed: goal frame 'map'")

    ros.wait_for(feed_and_rejected, timeout_s=20, what="the goal in 'map' rejected")
    assert "'map'" in node.output()
    assert all(m.linear.x == 0.0 and m.angular.z == 0.0 for m in io["cmd"])


def test_unavailable_model_is_a_clear_error(start_node, tmp_path):
    node = start_node(
        NODE, *FAST, "-p", "model:=latent", "-p", f"checkpoint:={tmp_path / 'missing'}"
    )
    from conftest import wait_until

    wait_until(lambda: not node.alive(), 60.0, what="the node to exit")
    assert node.process.returncode != 0 and "missing" in node.output()


def test_parameters_mean_what_they_say(ros, start_node):
    """Issue finding 2: num_samples = -5 was accepted and planned with; a change of the limits
    changed nothing. Now invalid values are refused with the field's reason, static ones are
    refused with why, and accepted ones take effect at the next cycle."""
    start_node(NODE, *FAST)
    io = connect(ros)
    result = set_parameter(ros, NODE, "num_samples", -5)
    assert not result.successful and "num_samples" in result.reason
    result = set_parameter(ros, NODE, "model", "latent")
    assert not result.successful and "restart" in result.reason
    result = set_parameter(ros, NODE, "costs.critics", ["goal", "bogus"])
    assert not result.successful and "bogus" in result.reason
    for name, value in (("num_samples", 64), ("v_max", 0.1), ("w_max", 0.3)):
        result = set_parameter(ros, NODE, name, value)
        assert result.successful, (name, result.reason)
    drive_until_moving(ros, io, lambda: io["odom"].publish(odometry(ros)))
    io["cmd"].clear()
    for _ in range(20):
        io["odom"].publish(odometry(ros))
        ros.spin(0.05)
    assert io["cmd"] and max(m.linear.x for m in io["cmd"]) <= 0.1 + 1e-6
    assert max(abs(m.angular.z) for m in io["cmd"]) <= 0.3 + 1e-6
    status = io["status"][-1]
    assert list(status.critic_names)[:2] == ["goal", "goal_terminal"]
    assert len(status.critic_costs) == len(status.critic_names)


def test_an_adapted_checkpoint_caps_the_planner_at_its_robots_limits(ros, start_node, tmp_path):
    """A checkpoint adapted to a slower, larger base records its footprint and limits: the
    planner takes the radius, lowers v_max/a_max to the base's (the parameters read back what is
    in force) and refuses a later change beyond them, naming the limit."""
    import shutil

    from world_model_ros.core.model.checkpoint import DEFAULT_CHECKPOINT, update_config

    folder = tmp_path / "large_robot"
    shutil.copytree(DEFAULT_CHECKPOINT, folder)
    limits = {
        "max_linear_mps": 0.4,
        "max_angular_radps": 1.5,
        "max_linear_accel_mps2": 0.6,
        "max_angular_accel_radps2": 2.5,
    }
    footprint = {"kind": "circle", "radius_m": 0.22, "length_m": 0.0, "width_m": 0.0}
    footprint |= {"circumscribed_radius_m": 0.22, "inscribed_radius_m": 0.22}
    camera = {"width": 160, "height": 120, "fovx_deg": 63.742, "fovy_deg": 50.0}
    update_config(
        folder,
        robot={"name": "large", "footprint": footprint, "limits": limits},
        camera={**camera, "encoding": "bgr8", "source": "camera_info", "image_fit": "crop"},
    )
    learned = ["-p", "model:=latent", "-p", f"checkpoint:={folder}"]
    node = start_node(NODE, *FAST, *learned)
    connect(ros)
    ros.wait_for(lambda: "planner fitted" in node.output(), 60, "the fitted-planner log line")
    line = next(x for x in node.output().splitlines() if "planner fitted" in x)
    assert "body radius" in line and "v_max 0.5 -> 0.4" in line and "a_max 1 -> 0.6" in line
    assert get_parameter(ros, NODE, "v_max") == pytest.approx(0.4)
    assert get_parameter(ros, NODE, "a_max") == pytest.approx(0.6)
    assert get_parameter(ros, NODE, "w_max") == pytest.approx(1.5)  # within the limit: kept
    # what the encoder sees of a 4:3 camera cropped square: 50 degrees across, not 70
    view = get_parameter(ros, NODE, "occupancy.view_half_angle_rad")
    assert view == pytest.approx(math.radians(25.0), abs=0.01)
    assert get_parameter(ros, NODE, "memory.body_radius_m") == pytest.approx(0.22)
    result = set_parameter(ros, NODE, "v_max", 1.0)
    assert not result.successful and "v_max=1" in result.reason and "0.4" in result.reason
    assert get_parameter(ros, NODE, "v_max") == pytest.approx(0.4)
    assert set_parameter(ros, NODE, "v_max", 0.3).successful  # slower than the base: fine


def twin_state(ros, x=0.0, stamp=None, sha="", model_id="kinematic"):
    from world_model_ros.msg import WorldModelState

    msg = WorldModelState(model_id=model_id, checkpoint_sha256=sha)
    msg.header.stamp = stamp or ros.now_msg()
    msg.header.frame_id = "odom"
    msg.pose.position.x = x
    msg.pose.orientation.w = 1.0
    return msg


def test_plans_from_the_twins_state_and_refuses_another_checkpoints(ros, start_node):
    """state_source: twin: no camera, no odometry subscription; the state drives the plan. A
    state whose latent comes from other weights holds the robot with the reason."""
    node = start_node(NODE, *FAST[:-2], "-p", "state_source:=twin")
    io = connect(ros, inputs=("world_model/state",))
    assert ros.node.count_subscribers("odom") == 0
    assert ros.node.count_subscribers("camera/image_raw") == 0
    feed = io["world_model/state"].publish
    drive_until_moving(ros, io, lambda: feed(twin_state(ros)))
    assert io["status"][-1].state_source == "twin"
    stops_while(ros, io, lambda: feed(twin_state(ros, sha="ab" * 32, model_id="latent:other")))
    assert "wrong_checkpoint" in statuses(io)[-1] or "latent:other" in statuses(io)[-1]
    assert "run both nodes with the same checkpoint" in node.output()


def test_learned_planner_publishes_the_occupancy_map_of_what_it_sees(ros, start_node):
    """The shipped checkpoint's occupancy head, fed a simulator frame of a wall 0.5 m ahead: the
    map on mpc_planner/occupancy marks cells near the wall and leaves the floor behind unknown."""
    from nav_msgs.msg import OccupancyGrid
    from sensor_msgs.msg import Image

    from world_model_ros.sim.simulator import DiffDriveSim, SimConfig

    sim = DiffDriveSim(SimConfig(obstacles_min=0, obstacles_max=0), layout_seed=1)
    sim.reset(layout_seed=1, start_pose=(1.8, 0.0, 0.0))  # facing the wall at x = 2.5
    frame = sim.render()
    start_node(NODE, *FAST, "-p", "model:=latent")  # the shipped checkpoint
    io = connect(ros)
    camera = ros.publisher(Image, "camera/image_raw")
    grids = ros.subscribe(OccupancyGrid, "mpc_planner/occupancy")
    ros.wait_for_subscriber("camera/image_raw")

    def image(encoding="rgb8"):
        msg = Image(
            height=frame.shape[0],
            width=frame.shape[1],
            encoding=encoding,
            step=3 * frame.shape[1],
            data=frame.tobytes(),
        )
        msg.header.stamp, msg.header.frame_id = ros.now_msg(), "camera"
        return msg

    def feed():
        io["odom"].publish(odometry(ros, 1.8, 0.0, 0.0))
        camera.publish(image())

    io["odom"].publish(odometry(ros, 1.8, 0.0, 0.0))
    io["goal"].publish(goal(ros, 0.5, 1.0))
    ros.wait_for(lambda: feed() or bool(grids), timeout_s=40, what="an OccupancyGrid")
    grid = grids[-1]
    assert grid.header.frame_id == "odom" and grid.info.resolution == pytest.approx(0.05)
    cells = np.array(grid.data, dtype=np.int16).reshape(grid.info.height, grid.info.width)
    x0, y0 = grid.info.origin.position.x, grid.info.origin.position.y

    def at(x, y):
        return int(cells[int((y - y0) / 0.05), int((x - x0) / 0.05)])

    assert at(2.4, 0.0) > 50  # a robot centred 10 cm from the wall would touch it
    assert 0 <= at(2.15, 0.0) < 50  # the floor just ahead is free
    assert at(1.0, 0.0) == -1  # behind the robot: never seen

    # Issue finding 1: frames that arrive but cannot be used (an unsupported encoding) hold the
    # robot at zero, with the reason on the status.
    def bad_frames():
        io["odom"].publish(odometry(ros, 1.8, 0.0, 0.0))
        camera.publish(image("yuv422"))

    stops_while(ros, io, bad_frames)
    keeps_sending_zero(ros, io, bad_frames)
    assert "yuv422" in statuses(io)[-1]


def wall_scan(ros, wall_x=1.0, increment=0.0174533):  # 1 degree
    """A 360-beam LaserScan from base_link of a wall across x = ``wall_x`` (no return behind)."""
    from sensor_msgs.msg import LaserScan

    angles = -math.pi + increment * np.arange(round(2 * math.pi / increment))
    with np.errstate(divide="ignore"):
        ranges = np.where(np.cos(angles) > 0.3, wall_x / np.cos(angles), np.inf)
    msg = LaserScan(angle_min=-math.pi, angle_increment=increment, range_min=0.05)
    msg.range_max = 8.0
    msg.ranges = ranges.astype(np.float32).tolist()
    msg.header.stamp, msg.header.frame_id = ros.now_msg(), "laser"
    return msg


@pytest.mark.parametrize("source", ["twin", "local"])
def test_the_planner_fuses_a_lidar_into_its_costmap_and_counts_bad_scans(ros, start_node, source):
    """The kinematic model (no occupancy head: without the scan the map stays empty), planning
    from the twin's state or from odometry: a scan of a wall 1 m ahead marks where the 0.17 m
    body would touch it and clears the floor in front; a scan with no beam spacing is refused,
    named and counted."""
    from nav_msgs.msg import OccupancyGrid
    from sensor_msgs.msg import LaserScan

    node = start_node(NODE, *FAST[:-2], "-p", f"state_source:={source}")
    state = "world_model/state" if source == "twin" else "odom"
    io = connect(ros, inputs=(state,))
    scans = ros.publisher(LaserScan, "scan")
    grids = ros.subscribe(OccupancyGrid, "mpc_planner/occupancy")
    ros.wait_for_subscriber("scan")
    broken = wall_scan(ros)
    broken.angle_increment = 0.0

    def feed():
        io[state].publish(twin_state(ros) if source == "twin" else odometry(ros))
        scans.publish(wall_scan(ros))
        scans.publish(broken)

    def at(grid, x, y):
        cells = np.array(grid.data, dtype=np.int16).reshape(grid.info.height, grid.info.width)
        origin, cell = grid.info.origin.position, grid.info.resolution
        return int(cells[int((y - origin.y) / cell), int((x - origin.x) / cell)])

    io["goal"].publish(goal(ros, 0.5, 1.0))
    ros.wait_for(  # one scan is evidence, a few make it sure (the map is published at 1 Hz)
        lambda: feed() or (bool(grids) and at(grids[-1], 0.9, 0.0) > 50),
        timeout_s=20,
        what="an OccupancyGrid that marks the wall",
    )
    grid = grids[-1]
    assert at(grid, 0.9, 0.5) > 50  # within 0.17 m of the wall
    assert 0 <= at(grid, 0.5, 0.0) < 20  # the beams crossed it
    assert at(grid, -0.5, 0.0) == -1  # no return that way: never cleared
    assert "scan rejected" in node.output() and "bad_scan" in node.output()


def test_a_planner_told_not_to_use_the_scan_does_not_subscribe(ros, start_node):
    start_node(NODE, *FAST, "-p", "use_scan:=false")
    connect(ros)
    assert ros.node.count_subscribers("scan") == 0
    assert get_parameter(ros, NODE, "use_scan") is False


def test_a_local_encoder_whose_model_takes_a_scan_reads_the_lidar(ros, start_node, tmp_path):
    """state_source: local with a checkpoint whose encoder takes a LaserScan: the planner
    subscribes 'scan' for its encoder even with the costmap's LiDAR layer off, and says so when
    frames come and no scan does (the encoder then reads "no scan"). A scan stamped 0 is
    refused as off the timeline, not taken for a restarted clock."""
    from sensor_msgs.msg import Image, LaserScan

    from world_model_ros.core.model.checkpoint import save_checkpoint
    from world_model_ros.core.model.latent_model import LatentDynamicsModel, LatentModelConfig

    config = LatentModelConfig(
        image_size=32,
        encoder_channels=(8, 8),
        image_features=16,
        latent_dim=8,
        hidden_dim=16,
        scan_sectors=8,
    )
    folder = save_checkpoint(tmp_path / "scan_model", LatentDynamicsModel(config))
    local = ["-p", "model:=latent", "-p", f"checkpoint:={folder}", "-p", "state_source:=local"]
    node = start_node(NODE, *FAST[:-4], *local, "-p", "use_scan:=false")
    camera = ros.publisher(Image, "camera/image_raw")
    io = connect(ros)
    ros.wait_for_subscriber("camera/image_raw")
    assert ros.node.count_subscribers("scan") == 1
    io["goal"].publish(goal(ros, 2.0, 0.0))

    def frame_and_warned():
        stamp = ros.now_msg()
        io["odom"].publish(odometry(ros, stamp=stamp))
        image = Image(height=24, width=32, encoding="rgb8", step=96, data=bytes(24 * 96))
        image.header.stamp, image.header.frame_id = stamp, "camera"
        camera.publish(image)
        ros.spin(0.05)
        return "takes a LaserScan and none is within" in node.output()

    ros.wait_for(frame_and_warned, timeout_s=30, what="the missing-scan warning")
    scans = ros.publisher(LaserScan, "scan")
    ros.wait_for_subscriber("scan")
    for _ in range(3):
        scans.publish(wall_scan(ros))
        ros.spin(0.1)
    zero = wall_scan(ros)
    zero.header.stamp.sec, zero.header.stamp.nanosec = 0, 0
    scans.publish(zero)
    ros.wait_for(
        lambda: "scan rejected: stamp_outlier" in node.output(),
        timeout_s=10,
        what="the zero-stamped scan refused",
    )
