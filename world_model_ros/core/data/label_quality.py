"""How good derived contact labels are: precision and recall against the truth, per step, per
contact event and per window of the collision head's horizon.

Apart from the derivation (labels.py) because it is a measurement of it, run where a bag has
both (simulator bags, ``doctor --compare-labels``): a robot that needs derived labels has no
truth to compare with. Pure NumPy on bool arrays.
"""

from __future__ import annotations

import numpy as np


def compare_labels(
    derived_t: list[np.ndarray], truth_t: list[np.ndarray], horizon_steps: int = 20
) -> dict[str, float]:
    """Precision and recall of derived labels against the truth: per step, per contact event
    (an event is found when any derived step falls within it, or within 2 steps of it), and per
    window of ``horizon_steps`` (the collision head's label: a contact within the horizon)."""
    derived = np.concatenate([np.asarray(d, bool) for d in derived_t])
    truth = np.concatenate([np.asarray(t, bool) for t in truth_t])
    tp = int(np.sum(derived & truth))
    found, events, true_hits, derived_events = 0, 0, 0, 0
    win_tp = win_fp = win_fn = 0
    for d, t in zip(derived_t, truth_t, strict=True):
        d, t = np.asarray(d, bool), np.asarray(t, bool)
        near_d = _dilate(d, 2)
        near_t = _dilate(t, 2)
        for start, stop in _runs(t):
            events += 1
            found += bool(near_d[start:stop].any())
        for start, stop in _runs(d):
            derived_events += 1
            true_hits += bool(near_t[start:stop].any())
        if len(d) > horizon_steps:
            wd = np.array(
                [d[i + 1 : i + 1 + horizon_steps].any() for i in range(len(d) - horizon_steps)]
            )
            wt = np.array(
                [t[i + 1 : i + 1 + horizon_steps].any() for i in range(len(t) - horizon_steps)]
            )
            win_tp += int(np.sum(wd & wt))
            win_fp += int(np.sum(wd & ~wt))
            win_fn += int(np.sum(~wd & wt))
    return {
        "steps": int(len(truth)),
        "true_contact_steps": int(truth.sum()),
        "derived_contact_steps": int(derived.sum()),
        "step_precision": tp / max(1, int(derived.sum())),
        "step_recall": tp / max(1, int(truth.sum())),
        "true_events": events,
        "derived_events": derived_events,
        "event_recall": found / max(1, events),
        "event_precision": true_hits / max(1, derived_events),
        "window_precision": win_tp / max(1, win_tp + win_fp),
        "window_recall": win_tp / max(1, win_tp + win_fn),
    }


def _dilate(flags: np.ndarray, steps: int) -> np.ndarray:
    out = flags.copy()
    for k in range(1, steps + 1):
        out[k:] |= flags[:-k]
        out[:-k] |= flags[k:]
    return out


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))
