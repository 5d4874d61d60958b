"""Checkpoints and weights from anywhere: a path, an http(s) URL or ``torchvision://NAME``.

``resolve(source)`` gives a local file for what users write in ``load_from``,
test.py's CHECKPOINT, ``--resume PATH`` or a backbone's ``pretrained``:
- a path is returned as it is (the caller says if it is missing);
- a URL is downloaded once into ``<home>/checkpoints/<file name>``, where home
  is ``$KINETIX_HOME`` or ``~/.cache/kinetix``; later runs, offline ones too,
  read the cached file;
- ``torchvision://NAME`` is the URL of torchvision's ImageNet weights that
  mmcv and mmengine map NAME to (``$KINETIX_TORCHVISION_URL`` replaces the
  base URL, for mirrors and tests).

A download goes to a temporary file beside its target and is renamed onto it
only when complete and, where the file name carries a torch-hub style hash
(``name-<sha256 prefix>.pth``), verified: no partial or wrong file is ever
cached. Several processes wanting the same file (the ranks of a distributed
run, or separate jobs sharing a cache) take turns on a file lock beside it:
the first downloads, the others wait and then find it. A lock, not a torch
collective, because a slow download would trip the collectives' timeout.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import http.client
import logging
import os
import posixpath
import re
import socket
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import BinaryIO, Iterator

from tqdm import tqdm

from kinetix.errors import CheckpointError
from kinetix.utils.files import current_umask, os_reason

TIMEOUT_S = 60.0  # per connect and per read: a stalled server fails instead of hanging the run
_CHUNK = 1 << 20
_DEFAULT_TORCHVISION_URL = "https://download.pytorch.org/models"

# torchvision's ImageNet-1k weights as mmcv (mmcv/model_zoo/torchvision_0.12.json, the table of
# its get_torchvision_models) and mmengine (mmengine/hub/torchvision_0.12.json) map
# `torchvision://NAME`; mmcv's own test (open-mmlab/mmcv PR #1867) checks that
# torchvision://resnet50 gives .../resnet50-0676ba61.pth. Older mmcv read torchvision's table of
# the day instead, which before torchvision 0.10 named an older upload of the same V1 weights
# (resnet50-19c8e357.pth). The hex after the last '-' is the start of the file's sha256.
TORCHVISION_FILES = {
    "resnet18": "resnet18-f37072fd.pth",
    "resnet34": "resnet34-b627a593.pth",
    "resnet50": "resnet50-0676ba61.pth",
    "resnet101": "resnet101-63fe2227.pth",
    "resnet152": "resnet152-394f9c45.pth",
    "resnext50_32x4d": "resnext50_32x4d-7cdf4587.pth",
    "resnext101_32x8d": "resnext101_32x8d-8ba56ff5.pth",
    "wide_resnet50_2": "wide_resnet50_2-95faca4d.pth",
    "wide_resnet101_2": "wide_resnet101_2-32ee1156.pth",
    "densenet121": "densenet121-a639ec97.pth",
    "densenet161": "densenet161-8d451a50.pth",
    "densenet169": "densenet169-b2777c0a.pth",
    "densenet201": "densenet201-c1103571.pth",
}

_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})$")


def is_remote(source: str | os.PathLike) -> bool:
    return str(source).startswith(("http://", "https://", "torchvision://"))


def cache_dir() -> Path:
    """Where downloads are kept: ``$KINETIX_HOME/checkpoints``, else ``~/.cache/kinetix/checkpoints``."""
    home = os.environ.get("KINETIX_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "kinetix")
    return Path(home) / "checkpoints"


def torchvision_url(name: str, what: str = "checkpoint") -> str:
    """The URL ``torchvision://name`` stands for (``resnet50`` or mmcv's ``resnet50.imagenet1k_v1``)."""
    base_name = name[: -len(".imagenet1k_v1")] if name.endswith(".imagenet1k_v1") else name
    if base_name not in TORCHVISION_FILES:
        raise CheckpointError(f"{what} torchvision://{name}: unknown torchvision model; known: "
                              f"{', '.join(TORCHVISION_FILES)}")
    base = os.environ.get("KINETIX_TORCHVISION_URL") or _DEFAULT_TORCHVISION_URL
    return f"{base.rstrip('/')}/{TORCHVISION_FILES[base_name]}"


def resolve(source: str | os.PathLike, what: str = "checkpoint", timeout: float = TIMEOUT_S) -> Path:
    """A local file for ``source``: the path itself, or the cached download of a URL."""
    text = str(source)
    if text.startswith("torchvision://"):
        text = torchvision_url(text[len("torchvision://"):], what)
    if text.startswith(("http://", "https://")):
        return download(text, what, timeout)
    return Path(source)


def cached_path(url: str, what: str = "checkpoint") -> Path:
    """Where ``url`` is (or will be) cached.

    Each URL has its own folder (a hash of the URL): two servers' ``epoch_20.pth``
    are different files, and one must never be mistaken for the other.
    """
    return cache_dir() / hashlib.sha256(url.encode()).hexdigest()[:16] / _file_name(url, what)


def download(url: str, what: str = "checkpoint", timeout: float = TIMEOUT_S) -> Path:
    """The cached copy of ``url``, downloading it first if no process has yet."""
    target = cached_path(url, what)
    if target.is_file():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CheckpointError(f"{what} {url}: cannot create the cache folder {target.parent}: "
                              f"{os_reason(exc)}") from None
    with _file_lock(target.with_name(target.name + ".lock"), what, url):
        if target.is_file():  # another process downloaded it while this one waited
            return target
        _remove_partial_downloads(target)  # of killed processes: nobody else holds the lock
        _fetch(url, target, what, timeout)
    return target


def _file_name(url: str, what: str) -> str:
    name = posixpath.basename(urllib.parse.unquote(urllib.parse.urlsplit(url).path))
    if name in ("", ".", "..") or name.endswith(".lock"):
        raise CheckpointError(f"{what} {url}: the URL names no file to download")
    return name


@contextlib.contextmanager
def _file_lock(path: Path, what: str, url: str) -> Iterator[None]:
    """Hold an exclusive flock on ``path``; closing the descriptor (even by dying) releases it."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise CheckpointError(f"{what} {url}: cannot create the lock file {path}: {os_reason(exc)}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _remove_partial_downloads(target: Path) -> None:
    for stale in target.parent.glob(f".{glob.escape(target.name)}.*.part"):
        stale.unlink(missing_ok=True)


def _fetch(url: str, target: Path, what: str, timeout: float) -> None:
    """Download ``url`` into a temp file beside ``target``, verify it, then rename it onto ``target``."""
    logging.getLogger("kinetix").info(f"Downloading {url} to {target}")
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        with os.fdopen(fd, "wb") as out:
            digest = _copy(url, out, target, what, timeout)
            out.flush()
            os.fsync(out.fileno())
        match = _HASH_IN_NAME.search(Path(target.name).stem)
        if match and not digest.startswith(match.group(1)):
            raise CheckpointError(f"{what} {url}: downloaded file has sha256 {digest[:len(match.group(1))]}..., "
                                  f"not {match.group(1)}... as its name says; deleted it")
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes it 0600; a shared cache wants the usual mode
        os.replace(tmp, target)
    except OSError as exc:
        raise CheckpointError(f"{what} {url}: cannot write {target}: {os_reason(exc)}") from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)  # already gone when the rename happened


def _copy(url: str, out: BinaryIO, target: Path, what: str, timeout: float) -> str:
    """Stream the body of ``url`` into ``out`` with a progress bar; return its sha256 hex digest."""
    request = urllib.request.Request(url, headers={"User-Agent": "kinetix"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise CheckpointError(f"{what} {url}: download failed: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise CheckpointError(f"{what} {url}: download failed: {_net_reason(exc.reason, timeout)}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise CheckpointError(f"{what} {url}: download failed: {_net_reason(exc, timeout)}") from None
    total = _content_length(response)  # None when the server streams without one (chunked)
    sha, received = hashlib.sha256(), 0
    with response, tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                        desc=target.name, disable=None, leave=False) as bar:
        while True:
            try:
                chunk = response.read(_CHUNK)
            except (OSError, http.client.HTTPException) as exc:
                raise CheckpointError(f"{what} {url}: download failed after {received} bytes: "
                                      f"{_net_reason(exc, timeout)}") from None
            if not chunk:
                break
            out.write(chunk)  # an OSError here (a full disk) is reported by _fetch
            sha.update(chunk)
            received += len(chunk)
            bar.update(len(chunk))
    # http.client returns b"" when the server closes early: only the count tells.
    if total is not None and received != total:
        raise CheckpointError(f"{what} {url}: download failed: the connection closed after {received} "
                              f"of {total} bytes")
    return sha.hexdigest()


def _content_length(response: http.client.HTTPResponse) -> int | None:
    value = response.headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _net_reason(reason: object, timeout: float) -> str:
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return f"timed out (no data for {timeout:g} s)"
    if isinstance(reason, http.client.IncompleteRead):
        return f"the connection closed early ({len(reason.partial)} bytes of the last part)"
    if isinstance(reason, OSError):
        return os_reason(reason)
    return str(reason) or type(reason).__name__
