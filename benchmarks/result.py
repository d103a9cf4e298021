"""The outcome of one benchmark check: figures, a same-run baseline, a ratio, a target, a verdict."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

MET, MISSED, INFO = "MET", "MISSED", "INFO"


@dataclass
class Result:
    """One line of the verdict table.

    ``value`` is the figure the target is judged on (``unit`` names it), ``baseline`` the same
    kind of figure for the baseline measured in the same run, ``ratio`` value/baseline. ``met``
    is None when the issue sets no target (the verdict is then INFO). ``details`` carries every
    other measured figure for the JSON output.
    """

    benchmark: str
    check: str
    value: float
    unit: str
    baseline_name: str
    baseline: float | None
    target: str
    met: bool | None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        """value / baseline, or None without a usable baseline."""
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline

    @property
    def verdict(self) -> str:
        """MET, MISSED, or INFO when there is no target."""
        if self.met is None:
            return INFO
        return MET if self.met else MISSED

    def as_dict(self) -> dict:
        """Plain JSON data, ratio and verdict included."""
        ratio = self.ratio
        return {**asdict(self), "ratio": None if ratio is None else round(ratio, 4), "verdict": self.verdict}
