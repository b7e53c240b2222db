"""world_model_node against Gazebo: ros_gz_bridge (config/gz_bridge.yaml) beside the node.

Start your Gazebo world first (a diff-drive model named "robot" with a camera), then
    ros2 launch world_model_ros gazebo_bridge.launch.py [bridge_config:=/path/to/your_bridge.yaml]
    ros2 launch world_model_ros gazebo_bridge.launch.py bridge:=false  # bridge started elsewhere
Everything follows Gazebo's /clock unless use_sim_time:=false. The topic arguments remap the
bridge's ROS side and the node alike.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
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
            "bridge", default_value="true", description="start ros_gz_bridge (needs it)"
        ),
        DeclareLaunchArgument(
            "bridge_config",
            default_value=share_file("config", "gz_bridge.yaml"),
            description="ros_gz_bridge topic map",
        ),
        DeclareLaunchArgument(
            "world_model_params",
            default_value=share_file("config", "world_model.yaml"),
            description="parameter file of world_model_node",
        ),
        *common_arguments("true", "follow Gazebo's /clock"),
        *topics,
    ]
    namespace = LaunchConfiguration("namespace")
    use_sim_time = {
        "use_sim_time": ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool)
    }
    log_level = ["--log-level", LaunchConfiguration("log_level")]
    tf = [("/tf", "tf"), ("/tf_static", "tf_static")]
    return LaunchDescription(
        [
            *arguments,
            refuse_missing([("bridge", "ros_gz_bridge"), ("rviz", "rviz2")]),
            Node(
                package="ros_gz_bridge",
                executable="parameter_bridge",
                name="gz_bridge",
                namespace=namespace,
                parameters=[{"config_file": LaunchConfiguration("bridge_config")}, use_sim_time],
                remappings=[*tf, *remappings],
                ros_arguments=log_level,
                condition=IfCondition(LaunchConfiguration("bridge")),
                output=OUTPUT,
            ),
            Node(
                package="world_model_ros",
                executable="world_model_node",
                name="world_model_node",
                namespace=namespace,
                parameters=[LaunchConfiguration("world_model_params"), use_sim_time],
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
        ]
    )
