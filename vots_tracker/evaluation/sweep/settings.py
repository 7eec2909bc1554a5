"""What a sweep varies: tau SPEC parsing, gate settings, and their derived trackers.ini entries.

A setting is one (tau, proposal set). Each becomes a *derived tracker*: the base
entry's section with a new name, a label, and a ``command`` that runs ``serve``
with the base arguments plus ``--tau T`` (and ``--proposals P``). Flags override
the preset, so ``vot evaluate <derived>`` runs exactly the configuration the sweep
scored. Tau values keep the text the user wrote (normalised), and the gate uses
``float`` of that same text, so the command and the sweep compare against the
same number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from itertools import product
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from ...config import PROPOSAL_MODES
from ...errors import UserError
from ...media.staging import write_text_atomic
from ...workspace.trackers_ini import parse_command, serve_command

# Keys of the base section that the derived sections replace; everything else is copied.
_DERIVED_KEYS = ("label", "command", "env_vots_tracker_name")


class SweepError(UserError):
    """A sweep cannot run as asked; the message names the problem."""


def parse_tau_spec(spec: str) -> List[str]:
    """'0.5,0.59,0.65' or 'START:STOP:STEP' (both ends included) -> normalised tau texts, in order."""
    text = str(spec).strip()
    if not text:
        raise SweepError("--tau is empty: give a list (0.5,0.59,0.65) or a range (0.50:0.70:0.02)")
    if ":" in text:
        values = _tau_range(text)
    else:
        values = [_tau_number(part, text) for part in text.split(",")]
    for value in values:
        if not Decimal(0) <= value <= Decimal(1):
            raise SweepError(f"--tau {text}: {_text(value)} lies outside [0, 1]")
    return list(dict.fromkeys(_text(v) for v in values))


def _tau_range(text: str) -> List[Decimal]:
    parts = text.split(":")
    if len(parts) != 3:
        raise SweepError(f"--tau {text}: a range is START:STOP:STEP, e.g. 0.50:0.70:0.02")
    start, stop, step = (_tau_number(part, text) for part in parts)
    if step <= 0:
        raise SweepError(f"--tau {text}: the step must be positive, got {_text(step)}")
    if stop < start:
        raise SweepError(f"--tau {text}: the range runs backwards ({_text(start)} > {_text(stop)})")
    count = (stop - start) / step
    if count != count.to_integral_value():
        raise SweepError(f"--tau {text}: the step {_text(step)} does not reach {_text(stop)} from {_text(start)} "
                         "(both ends are included)")
    return [start + step * i for i in range(int(count) + 1)]


def _tau_number(part: str, spec: str) -> Decimal:
    try:
        value = Decimal(part.strip())
    except InvalidOperation:
        raise SweepError(f"--tau {spec}: {part.strip()!r} is not a number") from None
    if not value.is_finite():
        raise SweepError(f"--tau {spec}: {part.strip()!r} is not a number")
    return value


def _text(value: Decimal) -> str:
    """Shortest plain decimal text: 0.50 -> '0.5', 1.0 -> '1', 0 -> '0'."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def parse_proposals(text: Optional[str]) -> List[Optional[str]]:
    """--proposals LIST -> proposal modes (None: keep the base tracker's)."""
    if text is None:
        return [None]
    modes = [part.strip() for part in str(text).split(",") if part.strip()]
    unknown = [mode for mode in modes if mode not in PROPOSAL_MODES]
    if not modes or unknown:
        raise SweepError(f"--proposals {text}: each item must be one of {', '.join(PROPOSAL_MODES)}")
    return list(dict.fromkeys(modes))


@dataclass(frozen=True)
class GateSetting:
    """One point of the sweep: the gate's tau and the proposal set (None: the base tracker's)."""

    tau_text: str
    proposals: Optional[str] = None

    @property
    def tau(self) -> float:
        return float(self.tau_text)  # what argparse makes of `--tau <tau_text>` in the derived command

    def tracker_name(self, base: str) -> str:
        """A valid toolkit identifier (letters, digits, - and _) naming the setting."""
        name = f"{base}_tau{self.tau_text.replace('.', 'p')}"
        return name + (f"_p{self.proposals}" if self.proposals else "")

    def serve_args(self, base_args: Sequence[str]) -> List[str]:
        extra = ["--tau", self.tau_text] + (["--proposals", self.proposals] if self.proposals else [])
        return list(base_args) + extra

    def describe(self) -> str:
        return f"tau {self.tau_text}" + (f", proposals {self.proposals}" if self.proposals else "")


def settings_from(tau_spec: str, proposals: Optional[str]) -> List[GateSetting]:
    """Every (proposal set, tau) pair, proposal sets outermost (one plot line each)."""
    return [GateSetting(tau, mode) for mode, tau in product(parse_proposals(proposals), parse_tau_spec(tau_spec))]


# --------------------------------------------------------------------------------------
# the workspace's trackers.ini
# --------------------------------------------------------------------------------------


@dataclass
class BaseEntry:
    """The swept trackers.ini section: its serve arguments and every key as written."""

    name: str
    args: List[str]
    keys: Dict[str, str]


def read_base_entry(workspace: Path, name: str) -> BaseEntry:
    """The swept section of the workspace's trackers.ini."""
    from ..entries import workspace_entries

    entries = workspace_entries(workspace)
    if name not in entries:
        raise SweepError(f"tracker {name!r} is not in {workspace / 'trackers.ini'} (has: {', '.join(entries) or 'none'})")
    keys = entries[name]
    args = parse_command(keys.get("command", ""))
    if args is None:
        raise SweepError(f"{workspace / 'trackers.ini'} [{name}] does not run vots_tracker: nothing to sweep")
    return BaseEntry(name, args, keys)


def render_derived(base: BaseEntry, setting: GateSetting) -> str:
    """The derived tracker's trackers.ini section: the base section with its own label and command."""
    keys = {k: v for k, v in base.keys.items() if k.lower() not in _DERIVED_KEYS}
    label = f"{base.keys.get('label', base.name)} [sweep: {setting.describe()}]"
    lines = [f"[{setting.tracker_name(base.name)}]",
             f"; written by `vots-tracker sweep --tracker {base.name}`: {setting.describe()}",
             f"label = {label}",
             f"command = {serve_command(setting.serve_args(base.args))}"]
    lines += [f"{key} = {value}" for key, value in keys.items()]
    lines.append(f"env_VOTS_TRACKER_NAME = {setting.tracker_name(base.name)}")  # its own gate-decision folder
    return "\n".join(lines) + "\n"


_SECTION = re.compile(r"^\s*\[([^\]]+)\]")


def register_derived(ini_path: Path, base: BaseEntry, settings: Sequence[GateSetting]) -> List[str]:
    """Add (or replace) one section per setting in trackers.ini; returns the derived names.

    Other sections are kept byte for byte; the file is replaced atomically.
    """
    sections = {setting.tracker_name(base.name): render_derived(base, setting) for setting in settings}
    if base.name in sections:
        raise SweepError(f"a derived tracker would be named like its base {base.name!r}")
    kept: List[str] = []
    skipping = False
    for line in ini_path.read_text(encoding="utf-8").splitlines(keepends=True):
        match = _SECTION.match(line)
        if match:
            skipping = match.group(1).strip() in sections
        if not skipping:
            kept.append(line)
    text = "".join(kept).rstrip("\n") + "\n"
    text += "".join("\n" + body for body in sections.values())
    write_text_atomic(ini_path, text)
    return list(sections)
