"""mpc_planner_node over Fast DDS: it drives towards a goal and stops safely when it must.

The node runs as a process (its console script) with the kinematic model and no camera; the
test plays the robot's odometry and watches cmd_vel, the plan and the status topic.
"""

import math

import pytest

pytestmark = pytest.mark.ros

NODE = "mpc_planner_node"
# The shipped parameter file (so a broken config/mpc_planner.yaml fails here), then test overrides.
FAST = [
    "--ros-args",
    "--params-file",
    "config/mpc_planner.yaml",
    "-p",
    "num_samples:=128",
    "-p",
    "control_rate_hz:=20.0",
    "-p",
    "stale_timeout_s:=0.5",
    "-p",
    "seed:=1",
    "-p",
    "model:=kinematic",
]  # the stop conditions do not depend on the model; no camera needed


def odometry(ros, x=0.0, y=0.0, yaw=0.0, frame="odom"):
    from nav_msgs.msg import Odometry

    msg = Odometry()
    msg.header.stamp = ros.now_msg()
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


def connect(ros):
    """Publishers and collectors, once the node under test is subscribed to our inputs."""
    from geometry_msgs.msg import PoseStamped, Twist
    from nav_msgs.msg import Odometry
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from std_msgs.msg import String

    from world_model_ros.msg import WorldModelPrediction

    io = {
        "odom": ros.publisher(Odometry, "odom"),
        "goal": ros.publisher(PoseStamped, "goal_pose"),
        "cmd": ros.subscribe(Twist, "cmd_vel"),
        "status": ros.subscribe(
            String,
            "mpc_planner/status",
            QoSProfile(
                depth=10,
                reliability=ReliabilityPolicy.RELIABLE,
                durability=DurabilityPolicy.TRANSIENT_LOCAL,
            ),
        ),
        "plan": ros.subscribe(WorldModelPrediction, "mpc_planner/plan"),
    }
    ros.wait_for_subscriber("odom")
    ros.wait_for_subscriber("goal_pose")
    ros.wait_for_publisher("cmd_vel")
    ros.wait_for(lambda: io["status"] and io["status"][-1].data == "idle", what="status 'idle'")
    return io


def statuses(io):
    return [m.data for m in io["status"]]


def test_drives_then_stops_when_odometry_goes_stale(ros, start_node):
    node = start_node(NODE, *FAST)
    io = connect(ros)
    io["odom"].publish(odometry(ros))
    io["goal"].publish(goal(ros, 2.0, 0.0))

    def feed_and_moving():
        io["odom"].publish(odometry(ros))
        return any(m.linear.x > 0.05 for m in io["cmd"]) and io["plan"]

    ros.wait_for(
        feed_and_moving, timeout_s=20, what="a forward command and a plan while odometry flows"
    )
    assert "active" in statuses(io)
    plan = io["plan"][-1]
    assert (
        plan.header.frame_id == "odom"
        and plan.action_source == "plan"
        and plan.model_id == "kinematic"
    )
    assert len(plan.states) == len(plan.actions) == 20 and plan.dt == pytest.approx(0.1)
    assert plan.states[-1].pose.position.x > 0.0  # predicted forward motion under the plan
    # Odometry stops: within stale_timeout_s the node must send a zero command and give up.
    ros.wait_for(
        lambda: statuses(io)[-1].startswith("failed: stale inputs"),
        timeout_s=10,
        what="status 'failed: stale inputs'",
    )
    ros.wait_for(
        lambda: io["cmd"][-1].linear.x == 0.0 and io["cmd"][-1].angular.z == 0.0,
        timeout_s=5,
        what="a zero command",
    )
    sent = len(io["cmd"])
    for _ in range(10):  # ~0.3 s more of the node's 20 Hz timer
        ros.spin(0.03)
    assert len(io["cmd"]) <= sent + 1  # no more driving commands after the stop
    assert node.alive()
    assert "stale inputs" in node.output()


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
    ros.wait_for(
        lambda: statuses(io)[-1].startswith("failed: goal frame 'map'"),
        timeout_s=20,
        what="the goal in 'map' rejected",
    )
    assert "'map'" in node.output() and not io["cmd"]


def test_unavailable_model_refuses_goals(ros, start_node, tmp_path):
    node = start_node(
        NODE, *FAST, "-p", "model:=latent", "-p", f"checkpoint:={tmp_path / 'missing'}"
    )
    io = connect(ros)
    io["odom"].publish(odometry(ros))
    io["goal"].publish(goal(ros, 2.0, 0.0))
    ros.wait_for(
        lambda: statuses(io)[-1].startswith("failed: model unavailable"),
        timeout_s=20,
        what="status 'failed: model unavailable'",
    )
    assert node.alive() and not io["cmd"]


def test_learned_planner_publishes_the_occupancy_map_of_what_it_sees(ros, start_node):
    """The shipped checkpoint's occupancy head, fed a simulator frame of a wall 0.5 m ahead: the
    map on mpc_planner/occupancy marks cells near the wall and leaves the floor behind unknown."""
    import numpy as np
    from nav_msgs.msg import OccupancyGrid
    from sensor_msgs.msg import Image

    from world_model_ros.sim.simulator import DiffDriveSim, SimConfig

    sim = DiffDriveSim(SimConfig(obstacles_min=0, obstacles_max=0), layout_seed=1)
    sim.reset(layout_seed=1, start_pose=(1.8, 0.0, 0.0))  # facing the wall at x = 2.5
    frame = sim.render()
    start_node(
        NODE, *FAST, "-p", "model:=latent"
    )  # the shipped checkpoint (config/mpc_planner.yaml)
    io = connect(ros)
    camera = ros.publisher(Image, "camera/image_raw")
    grids = ros.subscribe(OccupancyGrid, "mpc_planner/occupancy")
    ros.wait_for_subscriber("camera/image_raw")

    def image():
        msg = Image(
            height=frame.shape[0],
            width=frame.shape[1],
            encoding="rgb8",
            step=3 * frame.shape[1],
            data=frame.tobytes(),
        )
        msg.header.stamp, msg.header.frame_id = ros.now_msg(), "camera"
        return msg

    def feed_and_mapped():
        io["odom"].publish(odometry(ros, 1.8, 0.0, 0.0))
        camera.publish(image())
        return bool(grids)

    io["odom"].publish(odometry(ros, 1.8, 0.0, 0.0))
    io["goal"].publish(goal(ros, 0.5, 1.0))
    ros.wait_for(feed_and_mapped, timeout_s=40, what="an OccupancyGrid on mpc_planner/occupancy")
    grid = grids[-1]
    assert grid.header.frame_id == "odom" and grid.info.resolution == pytest.approx(0.05)
    cells = np.array(grid.data, dtype=np.int16).reshape(
        grid.info.height, grid.info.width
    )  # [y, x]
    x0, y0 = grid.info.origin.position.x, grid.info.origin.position.y

    def at(x, y):
        return int(cells[int((y - y0) / 0.05), int((x - x0) / 0.05)])

    assert at(2.4, 0.0) > 50  # a robot centred 10 cm from the wall would touch it
    assert 0 <= at(2.15, 0.0) < 50  # the floor just ahead is free
    assert at(1.0, 0.0) == -1  # behind the robot: never seen
