"""Resumable checkpoint downloads (HTTP Range), Google Drive confirmation pages, verification.

A file is written to ``<name>.part`` next to its final place; a later run resumes
it with an HTTP Range request. Only a complete file whose size (and sha256,
where the registry knows it) checks out is moved to ``<name>``.
"""

from __future__ import annotations

import html
import http.client
import http.cookiejar
import logging
import os
import re
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from .. import __version__
from ..errors import UserError
from . import pins
from .registry import (
    PART_SUFFIX,
    REGISTRY,
    CheckpointEntry,
    CheckpointError,
    CheckpointVerificationError,
    download_hint,
    forget_random,
    is_random,
    names_for,
    record_sha256,
    sha256_file,
    verify_file,
)

logger = logging.getLogger(__name__)

CHUNK = 1 << 20
MAX_HTML = 2 << 20
USER_AGENT = f"vots-tracker/{__version__} (+python urllib)"
ENV_MIRROR = "VOTS_TRACKER_WEIGHTS_MIRROR"


class DownloadError(UserError):
    """A download failed; the message names the file, its URL and where to put it by hand."""


class _Retry(Exception):
    """Transient failure: retry (resuming from what is on disk)."""


class _Fatal(Exception):
    """Failure that retrying the same URL will not fix."""


def _open(opener, url: str, headers: Dict[str, str], timeout: float):
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **headers})
    return opener.open(request, timeout=timeout)


def _is_html(response) -> bool:
    ctype = (response.headers.get("Content-Type") or "").lower()
    return "text/html" in ctype


_FORM_RE = re.compile(r"<form\b[^>]*>.*?</form>", re.S | re.I)
_ATTR_RE = re.compile(r'(\w[\w-]*)\s*=\s*"([^"]*)"|(\w[\w-]*)\s*=\s*\'([^\']*)\'', re.S)
_INPUT_RE = re.compile(r"<input\b[^>]*>", re.S | re.I)
_CONFIRM_HREF_RE = re.compile(r'href="([^"]*confirm=[^"]*)"', re.I)


def _attrs(tag: str) -> Dict[str, str]:
    out = {}
    for m in _ATTR_RE.finditer(tag):
        key = (m.group(1) or m.group(3)).lower()
        out[key] = html.unescape(m.group(2) if m.group(1) else m.group(4))
    return out


def confirmation_url(page: str, base_url: str, cookies: Iterable[http.cookiejar.Cookie] = ()) -> Optional[str]:
    """The URL that confirms a Google Drive 'file too large to scan' page, or None.

    Handles the drive.usercontent.google.com form (hidden inputs id/export/confirm/uuid),
    the older ``download_warning*`` cookie, and a ``confirm=`` link in the page.
    """
    for form_match in _FORM_RE.finditer(page):
        form = form_match.group(0)
        head = form[: form.find(">") + 1]
        attrs = _attrs(head)
        action = attrs.get("action")
        if not action:
            continue
        params: List[Tuple[str, str]] = []
        for tag in _INPUT_RE.findall(form):
            a = _attrs(tag)
            if a.get("name") and a.get("type", "hidden").lower() == "hidden":
                params.append((a["name"], a.get("value", "")))
        if any(k == "confirm" for k, _ in params) or "download" in action:
            url = urllib.parse.urljoin(base_url, action)
            if params:
                url += ("&" if "?" in url else "?") + urllib.parse.urlencode(params)
            return url
    for cookie in cookies:
        if cookie.name.startswith("download_warning"):
            parts = urllib.parse.urlsplit(base_url)
            query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k != "confirm"]
            query.append(("confirm", cookie.value))
            return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))
    match = _CONFIRM_HREF_RE.search(page)
    if match:
        return urllib.parse.urljoin(base_url, html.unescape(match.group(1)))
    return None


def _html_reason(page: str) -> str:
    low = page.lower()
    if "quota" in low or "too many users" in low:
        return "Google Drive refuses the download for now (download quota exceeded)"
    if "sign in" in low or "accounts.google.com" in low:
        return "the server asks for a login"
    return "the server returned an HTML page instead of the file"


def _parse_content_range(value: str) -> Tuple[Optional[int], Optional[int]]:
    m = re.match(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)", value or "")
    if not m:
        return None, None
    total = None if m.group(3) == "*" else int(m.group(3))
    return int(m.group(1)), total


class _PartComplete(Exception):
    """The server has nothing more to send: the part file already holds the whole file."""


def _open_following_confirmations(opener, url: str, part: Path, entry: CheckpointEntry, have: int, timeout: float):
    """Open ``url`` (resuming at byte ``have``), following up to three confirmation pages; returns the response."""
    headers = {"Range": f"bytes={have}-"} if have else {}
    current = url
    for _hop in range(4):
        try:
            response = _open(opener, current, headers, timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:
                # nothing left to send: the part may already be complete
                total = _parse_content_range(exc.headers.get("Content-Range", ""))[1]
                if total is not None and total == have or entry.size == have:
                    raise _PartComplete() from None
                logger.warning("server rejected resuming %s: starting over", part.name)
                part.unlink()
                raise _Retry("range not satisfiable") from None
            if exc.code in (408, 425, 429) or exc.code >= 500:
                raise _Retry(f"HTTP {exc.code} {exc.reason}") from None
            raise _Fatal(f"HTTP {exc.code} {exc.reason}") from None
        if not _is_html(response):
            return response
        page = response.read(MAX_HTML).decode("utf-8", "replace")
        response.close()
        cookies = [c for c in getattr(opener, "cookiejar", [])]
        nxt = confirmation_url(page, current, cookies)
        if nxt is None or nxt == current:
            raise _Fatal(_html_reason(page))
        logger.info("following the download confirmation page for %s", entry.filename)
        current = nxt
    raise _Fatal("too many confirmation pages")


def _resume_plan(response, part: Path, entry: CheckpointEntry, have: int) -> Tuple[str, int, Optional[int]]:
    """File mode ("ab" to resume, "wb" to start over), bytes already there, and the expected total."""
    status = getattr(response, "status", 200)
    length = response.headers.get("Content-Length")
    if status == 206:
        start, total = _parse_content_range(response.headers.get("Content-Range", ""))
        if start != have:
            logger.warning("server resumed %s at byte %s instead of %d: starting over", part.name, start, have)
            part.unlink()
            raise _Retry("bad Content-Range")
        mode = "ab"
    else:
        if have:
            logger.info("server does not support resuming %s: starting over", part.name)
        have = 0
        total = int(length) if length and length.isdigit() else None
        mode = "wb"
    if total is None and entry.size is not None:
        total = entry.size
    if total is not None and entry.size is not None and total != entry.size:
        raise _Fatal(f"the server offers {total} bytes, expected {entry.size}")
    return mode, have, total


def _receive(response, part: Path, entry: CheckpointEntry, have: int, progress: bool) -> None:
    """Write the response body to the part file (appending when resuming), with a progress bar."""
    from tqdm import tqdm

    mode, have, total = _resume_plan(response, part, entry, have)
    part.parent.mkdir(parents=True, exist_ok=True)
    with open(part, mode) as out, tqdm(
        total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
        desc=entry.filename, file=sys.stderr, disable=not progress, mininterval=0.5, leave=True,
    ) as bar:
        while True:
            block = response.read(CHUNK)
            if not block:
                break
            out.write(block)
            bar.update(len(block))
    got = part.stat().st_size
    if total is not None and got < total:
        raise _Retry(f"connection closed after {got} of {total} bytes")
    if got == 0:
        raise _Retry("empty response")


def _transfer(opener, url: str, part: Path, entry: CheckpointEntry, timeout: float, progress: bool) -> None:
    """One attempt: request (with Range when a part exists), follow a confirmation page, append bytes."""
    have = part.stat().st_size if part.exists() else 0
    if entry.size is not None and have > entry.size:
        logger.warning("%s is larger than the expected %d bytes: starting over", part, entry.size)
        part.unlink()
        have = 0
    if entry.size is not None and have == entry.size:
        return
    response = None
    try:
        response = _open_following_confirmations(opener, url, part, entry, have, timeout)
        _receive(response, part, entry, have, progress)
    except _PartComplete:
        return
    except (http.client.IncompleteRead, ConnectionError, socket.timeout, TimeoutError) as exc:
        raise _Retry(f"{type(exc).__name__}: {exc}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, (ConnectionRefusedError, socket.gaierror)):
            raise _Fatal(f"cannot reach the server ({reason})") from None
        raise _Retry(f"{reason}") from None
    except http.client.HTTPException as exc:
        raise _Retry(f"{type(exc).__name__}: {exc}") from None
    except OSError as exc:  # local problems (disk full, permissions): retrying will not help
        raise _Fatal(f"{exc.strerror or exc} ({getattr(exc, 'filename', '') or part})") from None
    finally:
        if response is not None:
            response.close()


def _looks_like_html_file(path: Path) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(512).lstrip().lower()
    return head.startswith(b"<!doctype html") or head.startswith(b"<html")



def mirror_urls(entry: CheckpointEntry, mirror: Optional[str]) -> Tuple[str, ...]:
    if not mirror:
        return entry.urls
    return (mirror.rstrip("/") + "/" + urllib.parse.quote(entry.filename),)


def download(entry: CheckpointEntry, weights_dir: Path, *, urls: Optional[Sequence[str]] = None,
             retries: int = 5, timeout: float = 60.0, progress: bool = True, backoff: float = 1.0) -> Path:
    """Download one registry file into ``weights_dir`` (resuming a ``.part``), verify it, move it in place."""
    weights_dir = Path(weights_dir)
    final = weights_dir / entry.filename
    part = weights_dir / (entry.filename + PART_SUFFIX)
    try:
        weights_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create weights folder {weights_dir}: {exc.strerror or exc}") from None

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.cookiejar = jar  # type: ignore[attr-defined]

    failures: List[str] = []
    if not any(_transfer_with_retries(opener, url, part, entry, timeout, progress, retries, backoff, failures)
               for url in list(urls or entry.urls)):
        kept = f"; the partial file {part.name} is kept for resuming" if part.exists() else ""
        raise DownloadError(
            f"could not download {entry.filename} ({'; '.join(failures)}){kept}: "
            f"{download_hint(entry, final).split(' (or run')[0]}"
        )
    size, sha = _verify_part(entry, part, final)
    os.replace(part, final)
    record_sha256(final, sha)
    if entry.pin_sha256 and pins.read_pin(final) is None:
        pins.write_pin(final, sha, "download")
    forget_random(final)
    logger.info("downloaded %s (%d bytes, sha256 %s)", final, size, sha)
    return final


def _transfer_with_retries(opener, url: str, part: Path, entry: CheckpointEntry, timeout: float, progress: bool,
                           retries: int, backoff: float, failures: List[str]) -> bool:
    """Try one URL, resuming after interruptions with exponential backoff; False (reason in failures) if it failed."""
    attempt = 0
    while True:
        try:
            _transfer(opener, url, part, entry, timeout, progress)
            return True
        except _Fatal as exc:
            failures.append(f"{url}: {exc}")
            return False
        except _Retry as exc:
            attempt += 1
            if attempt > retries:
                failures.append(f"{url}: {exc} (gave up after {retries} retries)")
                return False
            delay = min(backoff * (2 ** (attempt - 1)), 30.0)
            logger.warning("download of %s interrupted (%s); resuming in %.1f s (retry %d/%d)",
                           entry.filename, exc, delay, attempt, retries)
            time.sleep(delay)


def _verify_part(entry: CheckpointEntry, part: Path, final: Path) -> Tuple[int, str]:
    """Size and sha256 of a complete part file; a bad one is removed with a one-line error."""
    if _looks_like_html_file(part):
        part.unlink()
        raise DownloadError(
            f"the server sent an HTML page instead of {entry.filename}: {download_hint(entry, final).split(' (or run')[0]}"
        )
    size = part.stat().st_size
    if entry.size is not None and size != entry.size:
        part.unlink()
        raise CheckpointVerificationError(
            f"downloaded {entry.filename} has {size} bytes, expected {entry.size}; the partial file was removed, "
            f"run the download again"
        )
    sha = sha256_file(part)
    problem = pins.mismatch(final, sha) if entry.pin_sha256 else None
    if problem:
        part.unlink()
        raise CheckpointVerificationError(f"downloaded {problem}; the download was removed")
    if entry.sha256 is not None and sha != entry.sha256:
        part.unlink()
        raise CheckpointVerificationError(
            f"downloaded {entry.filename} has sha256 {sha}, expected {entry.sha256}; the file was removed, "
            f"run the download again"
        )
    return size, sha


def ensure_checkpoints(names: Iterable[str], folder: Path, *, mirror: Optional[str] = None, force: bool = False,
                       retries: int = 5, timeout: float = 60.0, progress: bool = True) -> List[Path]:
    """Official files present and verified in ``folder``: downloaded if missing, RANDOM or ``force``d.

    ``names``: file names, DMAOT model names, HQ-SAM sizes, or paths of existing files (used as
    they are, but never RANDOM ones). ``mirror`` defaults to ``$VOTS_TRACKER_WEIGHTS_MIRROR``.
    Stops at the first failure with a one-line error naming the file and the fix.
    """
    mirror = mirror or os.environ.get(ENV_MIRROR)
    folder = Path(folder)
    paths: List[Path] = []
    for name in names:
        given = Path(name).expanduser()
        if name not in REGISTRY and given.is_file():  # an explicit checkpoint path
            if is_random(given):
                raise UserError(f"checkpoint {given} holds RANDOM weights (init-random); real ones are needed")
            paths.append(given.resolve())
            continue
        entry = REGISTRY[names_for(name)]
        path = folder / entry.filename
        if path.is_file() and not is_random(path) and not force:
            try:
                verify_file(path, entry)
            except CheckpointError as exc:
                raise CheckpointError(f"{exc} (or: vots-tracker weights download --force {entry.filename} "
                                      f"--weights-dir {folder})") from None
            logger.info("%s is already present and verified", path)
        else:
            if path.is_file() and is_random(path):
                logger.info("replacing RANDOM %s with the official file", path)
            path = download(entry, folder, urls=mirror_urls(entry, mirror) if mirror else None,
                            retries=retries, timeout=timeout, progress=progress)
        paths.append(path)
    return paths
