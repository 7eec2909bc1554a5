"""After the pass: one ``vot analysis`` over every derived tracker, the table, the Q-vs-tau plot."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from .. import outputs, toolkit
from .settings import GateSetting

logger = logging.getLogger(__name__)


@dataclass
class SettingResult:
    setting: GateSetting
    tracker: str
    proposals: str  # the setting's proposal set, or the base entry's
    quality: float
    decisions: int
    accepted: int

    @property
    def acceptance(self) -> Optional[float]:
        return self.accepted / self.decisions if self.decisions else None


def analyse(workspace: Path, trackers: Sequence[str], name: str) -> Tuple[Dict[str, float], Path]:
    """Q of every tracker from one ``vot analysis`` run, and the analysis JSON's path."""
    toolkit.clear_cache(workspace)  # the toolkit caches by tracker name, not by result content
    toolkit.run_vot(["analysis", "--workspace", str(workspace), "--format", "json", "--name", name, *trackers],
                    workspace, name)
    path = outputs.analysis_json(workspace, name)
    return {tracker: outputs.read_quality(path, tracker) for tracker in trackers}, path


def table(results: Sequence[SettingResult]) -> str:
    """One row per setting: tracker, tau, proposals, Q, acceptance rate (accepted / decisions)."""
    rows = [("setting", "tau", "proposals", "Q", "acceptance", "accepted/decisions")]
    for result in results:
        rate = "-" if result.acceptance is None else f"{result.acceptance:.4f}"
        rows.append((result.tracker, result.setting.tau_text, result.proposals,
                     f"{result.quality:.4f}", rate, f"{result.accepted}/{result.decisions}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def plot(results: Sequence[SettingResult], path: Path, title: str) -> Path:
    """Q against tau, one line per proposal set, the best setting marked; a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    lines: Dict[str, List[SettingResult]] = {}
    for result in results:
        lines.setdefault(result.proposals, []).append(result)
    best = max(results, key=lambda r: r.quality)
    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=100)
    try:
        for label, points in lines.items():
            points = sorted(points, key=lambda r: r.setting.tau)
            axes.plot([p.setting.tau for p in points], [p.quality for p in points], marker="o",
                      label=f"proposals {label}")
        axes.scatter([best.setting.tau], [best.quality], s=220, marker="*", color="crimson", zorder=5,
                     label=f"best: {best.setting.describe()}, Q {best.quality:.4f}")
        axes.set_xlabel("tau (IoU gate)")
        axes.set_ylabel("Q (average accuracy)")
        axes.set_title(title)
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize="small")
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, format="png")
    finally:
        plt.close(figure)
    return path
