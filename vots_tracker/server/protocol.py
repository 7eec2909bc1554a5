"""TraX server: turns the toolkit's requests into :class:`TrackingSession` calls.

The toolkit identifies objects only by arrival order, so object *i* (0-based,
counting across INITIALIZE and later FRAME requests) is session object id
*i + 1*, and every reply lists all objects added so far in that order.
stdout belongs to libtrax: Python's ``sys.stdout`` is pointed at stderr for the
whole run so that a stray ``print`` cannot corrupt the protocol.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import UserError
from ..runtime.stop_signals import Stopped
from .watchdog import ClientWatchdog

logger = logging.getLogger(__name__)


class ProtocolError(UserError):
    """A request the tracker cannot serve; the message is sent to the toolkit as the quit reason."""


def read_frame(images: Dict) -> Tuple[np.ndarray, str]:
    """Load the colour image of a request as HxWx3 uint8 RGB."""
    import cv2
    import trax

    from ..media.frame_source import decode_image

    image = images.get(trax.ImageChannel.COLOR) if images else None
    if image is None:
        raise ProtocolError("request carries no colour image")
    if image.type() != trax.Image.PATH:
        raise ProtocolError(f"expected an image path, got image type {image.type()}")
    path = image.path()
    if os.path.isdir(path):
        raise ProtocolError(f"frame path is a folder, not a file: {path}")
    if not os.path.isfile(path):
        raise ProtocolError(f"frame file not found: {path}")
    with open(path, "rb") as handle:
        frame = decode_image(handle.read(), path)
    if frame is None:
        raise ProtocolError(f"cannot decode frame image: {path}")
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), path


def region_to_mask(region, frame_shape: Sequence[int], index: int) -> np.ndarray:
    """Place a TraX mask region (cropped, with an offset) on a frame-sized canvas.

    A region that extends past the frame is accepted only if everything outside
    the frame is background; foreground outside the frame is an error.
    """
    import trax

    if region.type != trax.Region.MASK:
        raise ProtocolError(f"object {index + 1}: expected a mask region, got region type {region.type}")
    height, width = int(frame_shape[0]), int(frame_shape[1])
    data = np.asarray(region.array(False), dtype=np.uint8)
    x, y = region.offset()
    mask = np.zeros((height, width), dtype=bool)
    if data.size == 0:
        return mask
    if x < 0 or y < 0:
        raise ProtocolError(f"object {index + 1}: mask has a negative offset ({x}, {y})")
    inside = data[: max(0, height - y), : max(0, width - x)]
    if np.count_nonzero(inside) != np.count_nonzero(data):
        raise ProtocolError(
            f"object {index + 1}: mask ({data.shape[1]}x{data.shape[0]} at offset {x},{y}) "
            f"has foreground outside the {width}x{height} frame"
        )
    mask[y : y + inside.shape[0], x : x + inside.shape[1]] = inside > 0
    return mask


def mask_to_region(mask: np.ndarray):
    """A C-contiguous uint8 mask cropped to its bounding box (a plain 1x1 zero mask when empty).

    A mask one column wide keeps one empty column on its left: the toolkit (0.9.0,
    ``Mask(..., optimize=True)`` on every TraX reply) takes a crop whose last foreground
    column is its first as empty and stores nothing. At the frame's left edge there is no
    such column and the toolkit still drops the mask.
    """
    import trax

    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return trax.Mask.create(np.zeros((1, 1), dtype=np.uint8), 0, 0)
    cols = np.flatnonzero(mask.any(axis=0))
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    if x1 - x0 == 1 and x0 > 0:
        x0 -= 1
    crop = np.ascontiguousarray(mask[y0:y1, x0:x1], dtype=np.uint8)
    return trax.Mask.create(crop, int(x0), int(y0))


class TraxLoop:
    """The request loop; knows the session interface, nothing about models."""

    def __init__(self, tracker):
        self.tracker = tracker
        self.session = None
        self.frames = 0

    def _new_objects(self, objects, frame_shape) -> Dict[int, np.ndarray]:
        first_id = len(self.session.object_ids) + 1
        return {
            first_id + i: region_to_mask(region, frame_shape, first_id - 1 + i)
            for i, (region, _properties) in enumerate(objects or [])
        }

    def initialize(self, images, objects) -> List:
        if self.session is not None:
            self.session.close()
        self.session = self.tracker.new_session()
        self.frames = 0
        frame, path = read_frame(images)
        if not objects:
            raise ProtocolError("INITIALIZE request carries no objects")
        self._keep_decisions(path)
        masks = self.session.step(frame, self._new_objects(objects, frame.shape))
        logger.info("initialized %d object(s) on %s (%dx%d)", len(self.session.object_ids), path,
                    frame.shape[1], frame.shape[0])
        return self._reply(masks)

    def frame(self, images, objects) -> List:
        if self.session is None:
            raise ProtocolError("FRAME request before INITIALIZE")
        frame, _path = read_frame(images)
        new = self._new_objects(objects, frame.shape)
        if new:
            logger.info("frame %d: %d new object(s)", self.frames + 1, len(new))
        masks = self.session.step(frame, new)
        self.frames += 1
        return self._reply(masks)

    def _keep_decisions(self, frame_path: str) -> None:
        """Keep the sequence's gate decisions in its workspace (see decision_log), when it refines."""
        if getattr(self.session, "refinement", None) is None:
            return
        from .decision_log import ENV_TRACKER_NAME, workspace_decision_file

        target = workspace_decision_file(frame_path)
        if target is not None:
            self.session.keep_decisions(target, os.environ[ENV_TRACKER_NAME].strip(), target.stem)

    @staticmethod
    def _reply(masks: Dict[int, np.ndarray]) -> List:
        return [(mask_to_region(mask), {}) for mask in masks.values()]

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None


EXIT_TRACKING_FAILED = 1
EXIT_BAD_CONFIGURATION = 2


@contextlib.contextmanager
def _stdout_for_protocol_only():
    """Point Python's stdout at stderr: the real stdout (fd 1) carries nothing but libtrax's messages."""
    saved = sys.stdout
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        sys.stdout = saved


def _handshake():
    import trax

    return trax.Server([trax.Region.MASK], [trax.Image.PATH], multiobject=True,
                       tracker_name="vots_tracker", tracker_family="DMAOT+HQ-SAM")


def ascii_text(text: str) -> str:
    """``text`` with non-ASCII characters escaped (\\xe9): libtrax drops a quit reason that holds any."""
    return text.encode("ascii", "backslashreplace").decode("ascii")


def _quit(server, reason: str) -> None:
    try:
        server.quit(reason=ascii_text(reason))
    except Exception:  # the client may already be gone; the log has the cause
        logger.warning("could not send the quit message")


def refuse(reason: str, exit_code: int = EXIT_BAD_CONFIGURATION) -> int:
    """Handshake, then quit with ``reason``: how a server that cannot start tells the toolkit why.

    Without the handshake the toolkit reports only "Unable to connect to tracker".
    """
    reason = ascii_text(reason)
    logger.error("%s", reason)
    with _stdout_for_protocol_only():
        try:
            server = _handshake()
        except Exception as error:  # no TraX client on the other end (e.g. run by hand)
            logger.warning("could not reach a TraX client: %s", error)
            return exit_code
        _quit(server, reason)
    return exit_code


def serve(config) -> int:
    """Run the TraX server until the client quits. Returns the process exit code.

    A stop signal (SIGTERM, SIGHUP, SIGINT; routed by ``runtime.stop_signals.install``, which
    ``vots-tracker serve`` calls first) ends the run cleanly: the session is closed, the client
    gets a quit message if the handshake was done, one line goes to stderr, and the exit status
    is 128 + the signal number (143 for SIGTERM).
    """
    watchdog = ClientWatchdog.for_environment().start()  # also while the models load
    state = _ServeState()
    try:
        with _stdout_for_protocol_only():
            return _load_and_serve(config, watchdog, state)
    except Stopped as stop:
        return _stopped(stop, state)
    finally:
        watchdog.stop()


class _ServeState:
    """What a stop signal's handler needs to know: the TraX server, once there, and the loop."""

    server = None
    loop: Optional[TraxLoop] = None


def _load_and_serve(config, watchdog: ClientWatchdog, state: _ServeState) -> int:
    from .session import Tracker

    try:
        tracker = Tracker.from_config(config)  # before the handshake: not under the toolkit's timeout
    except Exception as error:  # reported through the protocol, so the toolkit shows it
        if not isinstance(error, UserError):
            logger.exception("could not load the tracker")
        return refuse(f"vots-tracker could not start: {error}", EXIT_TRACKING_FAILED)
    state.server = _handshake()
    state.loop = TraxLoop(tracker)
    try:
        return _serve_requests(state.server, state.loop, watchdog)
    finally:
        state.loop.close()


def _stopped(stop: Stopped, state: _ServeState) -> int:
    """One stderr line, and the quit message to a connected client (it may be gone: then nothing is said)."""
    frames = state.loop.frames if state.loop is not None else 0
    where = "while loading the models" if state.server is None else f"after {frames} frame(s)"
    logger.warning("interrupted by %s %s; exiting with status %d", stop, where, stop.exit_code)
    if state.server is not None:
        try:
            with _stdout_for_protocol_only():
                state.server.quit(reason=f"vots-tracker stopped by {stop}")
        except Exception:  # noqa: BLE001 - the client that sent the signal may have closed the pipe
            pass
    return stop.exit_code


def _serve_requests(server, loop: TraxLoop, watchdog: ClientWatchdog) -> int:
    import trax

    try:
        while True:
            try:
                with watchdog.waiting():
                    request = server.wait()
            except trax.TraxException as error:
                raise ProtocolError(protocol_error_reason(error, watchdog.input_closed())) from error
            if request.type == trax.TraxStatus.QUIT:
                logger.info("client quit after %d frame(s)", loop.frames)
                break
            if request.type == trax.TraxStatus.INITIALIZE:
                reply = loop.initialize(request.image, request.objects)
            elif request.type == trax.TraxStatus.FRAME:
                reply = loop.frame(request.image, request.objects)
            else:
                raise ProtocolError(f"unexpected request type {request.type}")
            server.status(reply)
    except Exception as error:
        if isinstance(error, UserError):
            reason = ascii_text(str(error))
            logger.error("tracking failed: %s", reason)
        else:
            logger.exception("tracking failed")
            reason = f"{type(error).__name__}: {error}"
        _quit(server, reason)
        return EXIT_TRACKING_FAILED
    server.quit()
    return 0


def protocol_error_reason(error: Exception, input_closed: bool = False) -> str:
    """The quit reason for a request libtrax could not read, with the likely cause when it can be named.

    libtrax reports a closed input as a protocol error too, so that case is told apart first.
    Otherwise the likely cause is a frame path holding non-ASCII characters, which libtrax's
    parser rejects ("illegal argument number"). The server never sees the path; the toolkit
    that started it does: its working directory or arguments name the workspace.
    """
    message = str(error).replace("Exception when waiting for command: ", "")
    if input_closed or "Protocol error" not in message:
        return f"TraX connection lost: the client closed the connection ({message})"
    reason = f"TraX protocol error: {message}"
    path = non_ascii_client_path()
    if path:
        return (f"{reason}; the toolkit's path {ascii_text(path)} holds non-ASCII characters, which libtrax cannot pass "
                f"as frame paths: move the workspace to an ASCII-only path or reach it through an ASCII-only "
                f"symlink (or run `vots-tracker evaluate`, which does that itself)")
    return f"{reason} (libtrax rejects frame paths with non-ASCII characters: use an ASCII-only workspace path)"


def non_ascii_client_path(pid: Optional[int] = None) -> Optional[str]:
    """The first non-ASCII path among the client's (parent process's) working directory and arguments."""
    pid = os.getppid() if pid is None else pid
    candidates: List[str] = []
    try:
        candidates.append(os.readlink(f"/proc/{pid}/cwd"))
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            candidates += [arg.decode("utf-8", "replace") for arg in handle.read().split(b"\0") if arg]
    except OSError:  # not Linux, or the parent is gone
        pass
    return next((text for text in candidates if not text.isascii()), None)
