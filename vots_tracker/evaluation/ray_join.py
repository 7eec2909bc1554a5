"""Joining an existing Ray cluster (``--ray-address``) and checking its nodes, with one line when it fails.

:func:`check_nodes`: every node must see the workspace and the checkpoints (a shared filesystem).

``ray.init(address=HOST:PORT)`` waits without end for a head that does not answer, so the
head's port is tried first with a time limit. Ray 2.60 turns token authentication on by
default: a driver must run with ``RAY_AUTH_MODE=token`` (else it sends no token, whatever it
holds) and hold the token the cluster was started with, which Ray reads from ``RAY_AUTH_TOKEN``,
else from the file named by ``RAY_AUTH_TOKEN_PATH``, else from ``~/.ray/auth_token``. Without
them ``ray.init`` fails after a while with "Failed to connect", the cause (InvalidAuthToken)
buried in a chained traceback.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any, Dict, Sequence

from ..errors import UserError

logger = logging.getLogger("vots_tracker.evaluation.distributed")

TOKEN_HELP = ("run the driver with RAY_AUTH_MODE=token and the token the cluster was started with: "
              "RAY_AUTH_TOKEN=<token>, or RAY_AUTH_TOKEN_PATH=<file holding it> (Ray's default file: "
              "~/.ray/auth_token); do not turn authentication off")


def resolve(address: str) -> str:
    """HOST:PORT of ``address`` (``auto``: RAY_ADDRESS, else the cluster ``ray start`` last recorded on this machine)."""
    if address != "auto":
        return address
    from ray._private import services

    try:
        found = services.canonicalize_bootstrap_address(address)
    except (ConnectionError, ValueError) as exc:
        raise UserError(f"--ray-address auto: no Ray cluster found on this machine ({exc}); "
                        "give the head's HOST:PORT") from exc
    if not found:
        raise UserError("--ray-address auto: no Ray cluster found on this machine; give the head's HOST:PORT")
    return found


def check_answers(address: str, timeout: float) -> None:
    """Raise a UserError unless something accepts connections at the head's address within ``timeout`` seconds."""
    target = resolve(address)
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--ray-address {address!r} is not HOST:PORT (nor auto)")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as exc:
        reason = "no answer" if isinstance(exc, socket.timeout) else (exc.strerror or type(exc).__name__)
        via = f" ({target})" if target != address else ""
        raise UserError(f"the Ray cluster at {address!r}{via} does not answer ({reason}, waited up to {timeout:.0f} s): "
                        f"is its head running there? (`ray status --address {target}`)") from exc


def token_source() -> str:
    """Where this driver's Ray token comes from, in Ray's order (what a refused driver should check)."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return "a token from RAY_AUTH_TOKEN"
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if path:
        return f"a token from RAY_AUTH_TOKEN_PATH={path}" if os.path.isfile(path) else \
            f"no token (RAY_AUTH_TOKEN_PATH={path} does not exist)"
    default = os.path.expanduser("~/.ray/auth_token")
    return f"a token from {default}" if os.path.isfile(default) else "no token"


def explain_join_error(address: str, exc: BaseException) -> str:
    """One line for a failed ``ray.init(address)`` to a head that answers (see :func:`check_answers`).

    A refused token shows only in the chain of causes (an AuthenticationError under a ConnectionError).
    """
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    if _refused_token(exc):
        mode = os.environ.get("RAY_AUTH_MODE", "unset")
        return (f"the Ray cluster at {address!r} refused this driver's authentication token (this driver has "
                f"{token_source()}, RAY_AUTH_MODE {mode}): {TOKEN_HELP}")
    return f"cannot join the Ray cluster at {address!r}: {type(exc).__name__}: {first}"


def _refused_token(exc: BaseException) -> bool:
    """Whether Ray's error, or one it was raised from, is an authentication refusal."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if type(exc).__name__ == "AuthenticationError" or "InvalidAuthToken" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _node_sees(paths: Sequence[str]) -> Dict[str, Any]:
    return {"host": socket.gethostname(), "missing": [p for p in paths if not os.path.exists(p)]}


def check_nodes(paths: Sequence[os.PathLike]) -> None:
    """Every alive Ray node must see ``paths`` (shared filesystem); a UserError names the nodes that do not."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    paths = [str(p) for p in paths]
    probe = ray.remote(num_cpus=0, max_retries=0)(_node_sees)
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    refs = [
        probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote(paths)
        for n in nodes
    ]
    problems = []
    for node, ref in zip(nodes, refs):
        where = f"{node.get('NodeManagerAddress', '?')}, node {node['NodeID'][:8]}"  # hosts may share an address
        try:
            seen = ray.get(ref, timeout=300)
        except Exception as exc:  # e.g. vots_tracker not importable there
            problems.append(f"node {where}: cannot run the check ({type(exc).__name__}: {str(exc).splitlines()[0]})")
            continue
        if seen["missing"]:
            problems.append(f"node {seen['host']} ({where}) does not see {', '.join(seen['missing'])}")
    if problems:
        raise UserError(
            "; ".join(problems) + ": the workspace and the checkpoints must be on a filesystem every Ray node "
            "mounts at the same path"
        )
    logger.info("all %d Ray node(s) see the workspace and the checkpoints", len(nodes))
