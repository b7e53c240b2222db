"""The loader's account of what it did with every bag: :class:`LoadReport`.

Apart from the loader (dataset.py) because each stage of loading fills it (reading messages,
bag_reader.py; resampling onto the grid, resample.py; building episodes, dataset.py) and the CLI
verbs print it; so data loss is counted by reason and never silent.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .camera import CameraSpec
from .doctor import Problem


@dataclass
class LoadReport:
    """What loading did: counts per topic and per reason, so data loss is never silent."""

    bags: int = 0
    bags_failed: int = 0
    failed: set[str] = field(default_factory=set)  # bags that could not be loaded at all
    messages_read: Counter = field(default_factory=Counter)  # topic -> messages read
    skipped: Counter = field(default_factory=Counter)  # reason -> messages or samples skipped
    gaps: int = 0  # places where a run of samples was cut (time gap or unusable sample)
    episodes: int = 0
    samples: int = 0
    short_dropped: int = 0  # runs shorter than min_steps
    stale_commands: int = 0  # samples whose command was older than command_timeout_s (zeroed)
    problems: list[str] = field(default_factory=list)  # bag-level problems, each naming the bag
    doctor: list[Problem] = field(default_factory=list)  # the data doctor's findings
    cameras: dict[str, CameraSpec] = field(default_factory=dict)  # bag -> its camera

    def bad_bags(self) -> set[str]:
        """Bags that are unusable: the data doctor found an ``error``, or the bag could not be
        loaded at all (a missing topic, an unreadable file)."""
        return {p.bag for p in self.doctor if p.severity == "error"} | self.failed

    def summary(self) -> str:
        parts = [
            f"{self.bags} bag(s), {self.episodes} episode(s), {self.samples} samples, {self.gaps} "
            "gap(s)"
        ]
        if self.bags_failed:
            parts.append(f"{self.bags_failed} bag(s) failed")
        if any(self.skipped.values()):
            parts.append(
                "skipped: " + ", ".join(f"{k}={v}" for k, v in sorted(self.skipped.items()) if v)
            )
        if self.short_dropped:
            parts.append(f"{self.short_dropped} short run(s) dropped")
        if self.stale_commands:
            parts.append(f"{self.stale_commands} stale command(s) zeroed")
        return "; ".join(parts)
