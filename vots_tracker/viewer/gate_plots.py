"""Gate pictures from decision files: per sequence, each object's IoU against tau over time; per
workspace, the acceptance rate of every sequence for every tracker that kept decisions.

The acceptance rate is the sweep's: accepted gate decisions / decisions, where a decision is one
object with a non-empty DMAOT mask on one frame (re-detections are drawn, not counted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from ..server.decision_log import Decisions

ACCEPTED, REFUSED, REDETECTED, FAULT = "#2ca02c", "#d62728", "#1f77b4", "#ff7f0e"
ABSENT, GIVEN = "#aaaaaa", "#555555"


def _legend(tau: float):
    """Every symbol, whether or not this sequence has it (one legend for the figure)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    def mark(marker, colour, label, size=6):
        return Line2D([], [], linestyle="none", marker=marker, color=colour, markersize=size, label=label)

    return [mark("o", ACCEPTED, "accepted (IoU > tau)"), mark("x", REFUSED, "refused"),
            mark("|", ABSENT, "DMAOT mask empty", 9), mark("*", REDETECTED, "re-detected", 9),
            Line2D([], [], color=GIVEN, linestyle=":", label="mask given"),
            Patch(color=FAULT, alpha=0.25, label="refinement fault"),
            Line2D([], [], color="black", linestyle="--", label=f"tau {tau:g}")]


@dataclass
class ObjectGate:
    """One object's decisions, frame by frame (only frames the object is listed on)."""

    frames: List[int] = field(default_factory=list)
    iou: List[Optional[float]] = field(default_factory=list)
    accepted: List[bool] = field(default_factory=list)
    present: List[bool] = field(default_factory=list)
    redetected: List[bool] = field(default_factory=list)
    given: List[bool] = field(default_factory=list)

    @property
    def decided(self) -> int:
        return sum(p and not g for p, g in zip(self.present, self.given))

    @property
    def kept(self) -> int:
        return sum(a and p and not r for a, p, r in zip(self.accepted, self.present, self.redetected))

    def rate(self) -> Optional[float]:
        return self.kept / self.decided if self.decided else None


def object_gates(decisions: Decisions) -> Dict[int, ObjectGate]:
    """arrival id -> its decisions."""
    gates: Dict[int, ObjectGate] = {}
    for index, record in sorted(decisions.frames.items()):
        for n, object_id in enumerate(record["ids"]):
            gate = gates.setdefault(object_id, ObjectGate())
            gate.frames.append(index)
            for name in ("iou", "accepted", "present", "redetected", "given"):
                getattr(gate, name).append(record[name][n])
    return gates


def fault_frames(decisions: Decisions) -> List[Tuple[int, str]]:
    return [(index, record["fault"]) for index, record in sorted(decisions.frames.items()) if record.get("fault")]


def totals(decisions: Decisions) -> Tuple[int, int]:
    """(accepted, decisions) over every object and frame."""
    gates = object_gates(decisions).values()
    return sum(g.kept for g in gates), sum(g.decided for g in gates)


def _figure(width: float, height: float):
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt, plt.figure(figsize=(width, height), dpi=100)


def _save(plt, fig, path: Path, write: Callable[[Path, bytes], None]) -> None:
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    write(path, buffer.getvalue())


def _timeline(ax, gate: ObjectGate, tau: float, faults, length: int) -> None:
    xs = [f for f, i in zip(gate.frames, gate.iou) if i is not None]
    ys = [i for i in gate.iou if i is not None]
    ax.plot(xs, ys, color="#999999", linewidth=0.8, zorder=1)
    for accepted, colour, marker, label in ((True, ACCEPTED, "o", "accepted"), (False, REFUSED, "x", "refused")):
        points = [(f, i) for f, i, a in zip(gate.frames, gate.iou, gate.accepted) if i is not None and a == accepted]
        if points:
            ax.scatter(*zip(*points), s=14, color=colour, marker=marker, zorder=3, label=label)
    absent = [f for f, p, g, r in zip(gate.frames, gate.present, gate.given, gate.redetected) if not (p or g or r)]
    if absent:
        ax.scatter(absent, [0.0] * len(absent), s=40, color=ABSENT, marker="|", zorder=2)
    redetected = [f for f, r in zip(gate.frames, gate.redetected) if r]
    if redetected:
        ax.scatter(redetected, [1.0] * len(redetected), s=40, color=REDETECTED, marker="*", zorder=3)
    for frame in (f for f, g in zip(gate.frames, gate.given) if g):
        ax.axvline(frame, color=GIVEN, linestyle=":", linewidth=1)
    for frame, _kind in faults:
        ax.axvspan(frame - 0.5, frame + 0.5, color=FAULT, alpha=0.25, linewidth=0)
    ax.axhline(tau, color="black", linestyle="--", linewidth=1)
    top = max([1.0] + ys)
    ax.set_ylim(-0.05, top * 1.08)
    ax.set_xlim(-0.5, max(length, 1) - 0.5)
    ax.set_ylabel("IoU")
    ax.grid(True, alpha=0.3)


def plot_sequence_gate(decisions: Decisions, names: Dict[int, str], length: int, path: Path,
                       write: Callable[[Path, bytes], None]) -> None:
    """Per object (rows): IoU of the best proposal with DMAOT's mask on every frame, accepted or refused,
    against tau; on the right, each object's acceptance rate. ``names``: arrival id -> label."""
    gates = object_gates(decisions)
    ids = list(gates)
    head = decisions.header
    tau = float(head.get("tau", 0.0))
    faults = fault_frames(decisions)
    plt, fig = _figure(11.0, 1.0 + 1.7 * max(1, len(ids)))
    top = 1 - 0.95 / fig.get_figheight()  # room for the title and the legend
    grid = fig.add_gridspec(max(1, len(ids)), 2, width_ratios=(4.2, 1.0), hspace=0.55, wspace=0.08, top=top,
                            bottom=0.55 / fig.get_figheight(), left=0.07, right=0.94)
    rates = fig.add_subplot(grid[:, 1])
    for row, object_id in enumerate(ids):
        gate = gates[object_id]
        ax = fig.add_subplot(grid[row, 0])
        _timeline(ax, gate, tau, faults, length)
        rate = gate.rate()
        shown = f"{gate.kept}/{gate.decided} accepted ({rate:.0%})" if rate is not None else "never gated"
        ax.set_title(f"object {names.get(object_id, object_id)}: {shown}", fontsize=9, loc="left")
        if row == len(ids) - 1:
            ax.set_xlabel("frame")
    _rate_bars(rates, [names.get(i, str(i)) for i in ids], [gates[i].rate() for i in ids])
    fig.legend(handles=_legend(tau), loc="upper center", bbox_to_anchor=(0.5, 1 - 0.55 / fig.get_figheight()),
               ncol=7, fontsize=8, frameon=False)
    fault_note = f"; refinement faults on {len(faults)} frame(s)" if faults else ""
    fig.suptitle(f"{head.get('sequence')} - {head.get('tracker')}: gate {head.get('gate')}, tau {tau:g}, "
                 f"proposals {head.get('proposals')}{fault_note}", fontsize=10)
    _save(plt, fig, path, write)


def _rate_bars(ax, labels: Sequence[str], rates: Sequence[Optional[float]]) -> None:
    positions = list(range(len(labels)))[::-1]  # first object on top, as the rows on the left
    ax.barh(positions, [r or 0.0 for r in rates], color=ACCEPTED, height=0.6)
    for y, rate in zip(positions, rates):
        ax.text(0.02, y, "-" if rate is None else f"{rate:.0%}", va="center", fontsize=8)
    ax.set_yticks(positions, [f"obj {label}" for label in labels], fontsize=8)
    ax.yaxis.tick_right()
    ax.set_xlim(0, 1)
    ax.set_title("acceptance rate", fontsize=9)
    ax.grid(True, axis="x", alpha=0.3)


def plot_workspace_acceptance(rates: Dict[str, Dict[str, Tuple[int, int]]], path: Path,
                              write: Callable[[Path, bytes], None], title: str = "") -> None:
    """Grouped horizontal bars: per sequence (rows), one bar per tracker; ``rates``: tracker -> sequence ->
    (accepted, decisions). The top row is every sequence together."""
    trackers = sorted(rates)
    sequences = sorted({s for per in rates.values() for s in per})
    rows = ["all sequences"] + sequences
    plt, fig = _figure(9.0, 1.6 + 0.28 * len(rows) * max(1, len(trackers)))
    ax = fig.add_subplot(1, 1, 1)
    height = 0.8 / max(1, len(trackers))
    colours = plt.get_cmap("tab10")
    for k, tracker in enumerate(trackers):
        per = rates[tracker]
        overall = (sum(a for a, _ in per.values()), sum(d for _, d in per.values()))
        values = [overall] + [per.get(s, (0, 0)) for s in sequences]
        ys = [len(rows) - 1 - r + 0.4 - height * (k + 0.5) for r in range(len(rows))]  # first tracker on top
        fractions = [a / d if d else 0.0 for a, d in values]
        ax.barh(ys, fractions, height=height * 0.9, color=colours(k % 10), label=tracker)
        for y, (a, d), fraction in zip(ys, values, fractions):
            if d:
                ax.text(fraction + 0.01, y, f"{fraction:.0%} ({a}/{d})", va="center", fontsize=7)
    ax.set_yticks(range(len(rows))[::-1], rows, fontsize=8)
    ax.set_xlim(0, 1.15)
    ax.set_xlabel("acceptance rate (accepted / gate decisions)")
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title or "gate acceptance per sequence", fontsize=10)
    fig.tight_layout()
    _save(plt, fig, path, write)
