"""Launch world_model_node (and optionally rviz) with the package's parameters.

    ros2 launch world_model_ros world_model.launch.py
    ros2 launch world_model_ros world_model.launch.py namespace:=robot1 use_sim_time:=true
    rviz:=true ros2 launch world_model_ros world_model.launch.py camera_topic:=/front/image_raw
    odom_topic:=/wheel/odom

    ros2 launch world_model_ros world_model.launch.py managed:=true   # lifecycle node (starts
    unconfigured)

Arguments: config file, namespace, topic remappings, use_sim_time, rviz, log level, managed. To
change the model or any other parameter, pass your own copy of config/world_model.yaml as
config:=... (its key ``/**/world_model_node`` applies in any namespace).
"""

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition, UnlessCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node
from launch_ros.parameter_descriptions import ParameterValue

from launch import LaunchDescription

# (argument, default, description); each remaps the node's topic of the same default name.
TOPICS = [
    (
        "camera_topic",
        "camera/image_raw",
        "sensor_msgs/Image input (relative names follow the namespace)",
    ),
    (
        "compressed_camera_topic",
        "camera/image_raw/compressed",
        "sensor_msgs/CompressedImage input (use_compressed)",
    ),
    ("odom_topic", "odom", "nav_msgs/Odometry input"),
    ("cmd_vel_topic", "cmd_vel", "geometry_msgs/Twist or TwistStamped input"),
    ("plan_topic", "mpc_planner/plan", "the MPC planner's plan (WorldModelPrediction)"),
    ("prediction_topic", "world_model/prediction", "WorldModelPrediction output"),
    ("path_topic", "world_model/predicted_path", "nav_msgs/Path output"),
    ("markers_topic", "world_model/markers", "visualization_msgs/MarkerArray output"),
    ("diagnostics_topic", "diagnostics", "diagnostic_msgs/DiagnosticArray output"),
    (
        "live_error_topic",
        "world_model/live_error",
        "LiveError output (the primary model's live error)",
    ),
    (
        "contact_topic",
        "ground_truth/contact",
        "std_msgs/Bool contact ground truth (optional input)",
    ),
]


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory("world_model_ros")
    arguments = [
        DeclareLaunchArgument(
            "config",
            default_value=PathJoinSubstitution([share, "config", "world_model.yaml"]),
            description="parameter file for world_model_node",
        ),
        DeclareLaunchArgument(
            "namespace", default_value="", description="namespace of the node and its topics"
        ),
        DeclareLaunchArgument(
            "use_sim_time", default_value="false", description="use the /clock topic (simulation)"
        ),
        DeclareLaunchArgument(
            "rviz",
            default_value="false",
            description="also start rviz2 with config/world_model.rviz",
        ),
        DeclareLaunchArgument(
            "rviz_config",
            default_value=PathJoinSubstitution([share, "config", "world_model.rviz"]),
            description="rviz2 configuration",
        ),
        DeclareLaunchArgument("log_level", default_value="info", description="node log level"),
        DeclareLaunchArgument(
            "managed",
            default_value="false",
            description="start the lifecycle (managed) node world_model_lifecycle_node instead; "
            "it waits unconfigured for `ros2 lifecycle set` (or a lifecycle manager)",
        ),
    ]
    arguments += [
        DeclareLaunchArgument(name, default_value=default, description=text)
        for name, default, text in TOPICS
    ]
    use_sim_time = ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool)
    remappings = [(default, LaunchConfiguration(name)) for name, default, _ in TOPICS]

    common = dict(
        package="world_model_ros",
        name="world_model_node",
        namespace=LaunchConfiguration("namespace"),
        parameters=[LaunchConfiguration("config"), {"use_sim_time": use_sim_time}],
        remappings=remappings,
        arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
        output="screen",
        emulate_tty=True,
    )
    node = Node(
        executable="world_model_node",
        condition=UnlessCondition(LaunchConfiguration("managed")),
        **common,
    )
    managed = LifecycleNode(
        executable="world_model_lifecycle_node",
        condition=IfCondition(LaunchConfiguration("managed")),
        **common,
    )
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        namespace=LaunchConfiguration("namespace"),
        arguments=["-d", LaunchConfiguration("rviz_config")],
        parameters=[{"use_sim_time": use_sim_time}],
        remappings=[("/tf", "tf"), ("/tf_static", "tf_static")],
        condition=IfCondition(LaunchConfiguration("rviz")),
        output="screen",
    )
    return LaunchDescription([*arguments, node, managed, rviz])
