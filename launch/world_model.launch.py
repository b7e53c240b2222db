"""world_model_node (or its managed twin) with the package's parameters, rviz on request.

    ros2 launch world_model_ros world_model.launch.py
    ros2 launch world_model_ros world_model.launch.py namespace:=robot1 use_sim_time:=true
    ros2 launch world_model_ros world_model.launch.py camera_topic:=/front/image_raw \\
        odom_topic:=/wheel/odom rviz:=true
    ros2 launch world_model_ros world_model.launch.py managed:=true   # starts unconfigured

To change the model or any other parameter, pass your own copy of config/world_model.yaml as
config:=... (its key ``/**/world_model_node`` applies in any namespace).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition, UnlessCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node
from launch_ros.parameter_descriptions import ParameterValue

from world_model_ros.nodes.launch_common import (
    OUTPUT,
    WORLD_MODEL_TOPICS,
    common_arguments,
    refuse_missing,
    share_file,
    topic_arguments,
)


def generate_launch_description() -> LaunchDescription:
    topics, remappings = topic_arguments(WORLD_MODEL_TOPICS)
    arguments = [
        DeclareLaunchArgument(
            "config",
            default_value=share_file("config", "world_model.yaml"),
            description="parameter file of world_model_node",
        ),
        *common_arguments("false", "follow /clock (simulation)"),
        DeclareLaunchArgument(
            "managed",
            default_value="false",
            description="start the lifecycle (managed) node world_model_lifecycle_node instead; "
            "it waits unconfigured for `ros2 lifecycle set` (or a lifecycle manager)",
        ),
        *topics,
    ]
    namespace = LaunchConfiguration("namespace")
    use_sim_time = ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool)
    log_level = ["--log-level", LaunchConfiguration("log_level")]
    world_model = dict(
        package="world_model_ros",
        name="world_model_node",
        namespace=namespace,
        parameters=[LaunchConfiguration("config"), {"use_sim_time": use_sim_time}],
        remappings=remappings,
        ros_arguments=log_level,
        output=OUTPUT,
    )
    return LaunchDescription(
        [
            *arguments,
            refuse_missing([("rviz", "rviz2")]),
            Node(
                executable="world_model_node",
                condition=UnlessCondition(LaunchConfiguration("managed")),
                **world_model,
            ),
            LifecycleNode(
                executable="world_model_lifecycle_node",
                condition=IfCondition(LaunchConfiguration("managed")),
                **world_model,
            ),
            Node(
                package="rviz2",
                executable="rviz2",
                name="rviz2",
                namespace=namespace,
                arguments=["-d", LaunchConfiguration("rviz_config")],
                parameters=[{"use_sim_time": use_sim_time}],
                remappings=[("/tf", "tf"), ("/tf_static", "tf_static"), *remappings],
                ros_arguments=log_level,
                condition=IfCondition(LaunchConfiguration("rviz")),
                output=OUTPUT,
            ),
        ]
    )
