"""What a running twin needs around the model, without ROS: pairing frames with odometry and
aligning plans in time (``sync``), typed input rejection and throttled warnings
(``input_checks``), latency statistics per stage (``latency``) and scoring predictions against
the odometry that arrives later (``live_error``)."""
