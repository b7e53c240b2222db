"""The demo as separate ROS 2 nodes: simulator, world model and MPPI planner (+ rviz2), on sim
time.

    ros2 launch world_model_ros demo.launch.py                         # latent model, layout 10000
    ros2 launch world_model_ros demo.launch.py rviz:=true              # then click "2D Goal Pose"
    ros2 launch world_model_ros demo.launch.py model:=kinematic goal_x:=1.5 goal_y:=-1.0 \\
        send_goal:=true
    ros2 launch world_model_ros demo.launch.py robot:=large checkpoint:=runs/large  # adapted

Goals go to ``goal_pose`` in the ``odom`` frame (rviz's Fixed Frame must be ``odom``: the
planner has no tf2 and rejects goals in other frames). The planner plans from the world-model
node's state (``state_source: twin``) and sends its plan back on ``mpc_planner/plan``, so the
predictions are under the plan being executed. Without a ROS 2 install, ``world-model-ros
demo`` runs the same loop in one process.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction, TimerAction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from world_model_ros.nodes.launch_common import (
    OUTPUT,
    WORLD_MODEL_TOPICS,
    checkpoint_of_parameter_files,
    command_type_of_robot,
    common_arguments,
    refuse_missing,
    robot_arguments,
    share_file,
    topic_arguments,
)

DEMO_TOPICS = [name for name in WORLD_MODEL_TOPICS if name != "compressed_camera_topic"] + [
    "state_topic",
    "goal_topic",
    "planner_markers_topic",
    "occupancy_topic",
    "status_topic",
]


def send_goal(context) -> list:
    """`ros2 topic pub --once` of the goal, to the goal topic as the planner resolves it."""
    config = context.launch_configurations
    topic, namespace = config["goal_topic"], config["namespace"].strip("/")
    if not topic.startswith("/"):
        topic = f"/{namespace}/{topic}" if namespace else f"/{topic}"
    goal = (
        "{header: {frame_id: odom}, pose: {position: "
        f"{{x: {float(config['goal_x'])}, y: {float(config['goal_y'])}}}, "
        "orientation: {w: 1.0}}}"
    )
    command = ["ros2", "topic", "pub", "--once", topic, "geometry_msgs/msg/PoseStamped", goal]
    return [ExecuteProcess(cmd=command, output=OUTPUT)]


def generate_launch_description() -> LaunchDescription:
    topics, remappings = topic_arguments(DEMO_TOPICS)
    arguments = [
        DeclareLaunchArgument(
            "model",
            default_value="latent",
            description="predictor of the world model and the planner: latent | kinematic",
        ),
        DeclareLaunchArgument(
            "layout_seed",
            default_value="10000",
            description="arena layout (>= 10000: layouts not used in training)",
        ),
        *robot_arguments(),
        DeclareLaunchArgument(
            "real_time_factor",
            default_value="1.0",
            description="simulator speed; 0 = as fast as possible",
        ),
        DeclareLaunchArgument(
            "sim_params",
            default_value=share_file("config", "sim.yaml"),
            description="parameter file of sim_node",
        ),
        DeclareLaunchArgument(
            "world_model_params",
            default_value=share_file("config", "world_model.yaml"),
            description="parameter file of world_model_node",
        ),
        DeclareLaunchArgument(
            "planner_params",
            default_value=share_file("config", "mpc_planner.yaml"),
            description="parameter file of mpc_planner_node",
        ),
        DeclareLaunchArgument(
            "send_goal",
            default_value="false",
            description="publish goal_x/goal_y (odom frame) once, 5 s after start (needs the "
            "ros2 command line)",
        ),
        DeclareLaunchArgument("goal_x", default_value="1.5", description="goal x (m, odom frame)"),
        DeclareLaunchArgument("goal_y", default_value="1.0", description="goal y (m, odom frame)"),
        *common_arguments(
            "true", "the world model, planner and rviz follow the simulator's /clock"
        ),
        *topics,
    ]
    namespace = LaunchConfiguration("namespace")
    model = LaunchConfiguration("model")
    checkpoint = LaunchConfiguration("checkpoint")
    # the simulated base's command type (the robot file's), so the nodes' cmd_vel types agree
    stamped = {
        "cmd_vel_stamped": ParameterValue(LaunchConfiguration("cmd_vel_stamped"), value_type=bool)
    }
    use_sim_time = {
        "use_sim_time": ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool)
    }
    log_level = ["--log-level", LaunchConfiguration("log_level")]
    tf = [("/tf", "tf"), ("/tf_static", "tf_static")]
    return LaunchDescription(
        [
            *arguments,
            refuse_missing([("rviz", "rviz2"), ("send_goal", "ros2topic")]),
            command_type_of_robot(),
            checkpoint_of_parameter_files(),
            Node(
                package="world_model_ros",
                executable="sim_node",
                name="sim_node",
                namespace=namespace,
                parameters=[
                    LaunchConfiguration("sim_params"),
                    {
                        "layout_seed": ParameterValue(
                            LaunchConfiguration("layout_seed"), value_type=int
                        ),
                        "real_time_factor": ParameterValue(
                            LaunchConfiguration("real_time_factor"), value_type=float
                        ),
                        "robot": LaunchConfiguration("robot"),
                    },
                ],
                remappings=[*tf, *remappings],
                ros_arguments=log_level,
                output=OUTPUT,
            ),
            Node(
                package="world_model_ros",
                executable="world_model_node",
                name="world_model_node",
                namespace=namespace,
                parameters=[
                    LaunchConfiguration("world_model_params"),
                    {"model": model, "checkpoint": checkpoint, **stamped},
                    use_sim_time,
                ],
                remappings=remappings,
                ros_arguments=log_level,
                output=OUTPUT,
            ),
            Node(
                package="world_model_ros",
                executable="mpc_planner_node",
                name="mpc_planner_node",
                namespace=namespace,
                parameters=[
                    LaunchConfiguration("planner_params"),
                    {"model": model, "checkpoint": checkpoint, "state_source": "twin", **stamped},
                    use_sim_time,
                ],
                remappings=remappings,
                ros_arguments=log_level,
                output=OUTPUT,
            ),
            Node(
                package="rviz2",
                executable="rviz2",
                name="rviz2",
                namespace=namespace,
                arguments=["-d", LaunchConfiguration("rviz_config")],
                parameters=[use_sim_time],
                remappings=[*tf, *remappings],
                ros_arguments=log_level,
                condition=IfCondition(LaunchConfiguration("rviz")),
                output=OUTPUT,
            ),
            TimerAction(
                period=5.0,
                condition=IfCondition(LaunchConfiguration("send_goal")),
                actions=[OpaqueFunction(function=send_goal)],
            ),
        ]
    )
