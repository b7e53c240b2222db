"""Judging predictors on held-out windows against the kinematic baseline (``evaluate``), the
metrics it uses (``metrics``: displacement errors, calibration, AUROC, interpenetration) and the
closed-loop demo's figures (``demo_metrics``)."""
