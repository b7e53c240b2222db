"""Model-predictive control on any predictor of the model contract: MPPI sampling (``mppi``),
the critics that score rollouts (``costs``), what the planner remembers of obstacles out of view
(``occupancy_map``, ``contact_memory``, ``past_view``), the escape from local minima
(``detour``), and the goal logic (tolerance, staleness, timeout) around them."""
