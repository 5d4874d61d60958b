"""URLs and torchvision:// names are downloaded once into the cache, verified, never half-written."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from http_files import serve

from kinetix.engine.checkpoint import load_checkpoint
from kinetix.errors import CheckpointError
from kinetix.utils import download as dl
from kinetix.utils.files import current_umask

REPO = Path(__file__).resolve().parents[2]


def _checkpoint_bytes(value: float = 1.5) -> bytes:
    buf = io.BytesIO()
    torch.save({"state_dict": {"fc.weight": torch.full((3, 2), value)}, "meta": {"epoch": 2}}, buf)
    return buf.getvalue()


def _hashed_name(stem: str, data: bytes) -> str:
    """A torch-hub style name: the first 8 hex digits of the sha256 after the last '-'."""
    return f"{stem}-{hashlib.sha256(data).hexdigest()[:8]}.pth"


def _one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message and "weights_only" not in message
    return message


def _cache_listing(home: Path) -> list[str]:
    folder = home / "checkpoints"  # one sub-folder per URL
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_url_is_downloaded_once_then_read_offline(kinetix_home) -> None:
    data = _checkpoint_bytes()
    name = _hashed_name("tsn", data)
    with serve({name: data}) as server:
        url = server.url(name)
        first = load_checkpoint(url)
        assert torch.equal(first["state_dict"]["fc.weight"], torch.full((3, 2), 1.5))
        assert load_checkpoint(url)["meta"] == {"epoch": 2}
        assert server.count(name) == 1
    # The server is gone: the cached copy is all there is.
    assert load_checkpoint(url)["meta"] == {"epoch": 2}
    cached = dl.cached_path(url)
    assert cached.parent.parent == kinetix_home / "checkpoints"
    assert cached.read_bytes() == data
    assert cached.stat().st_mode & 0o777 == 0o666 & ~current_umask()
    assert _cache_listing(kinetix_home) == [name, f"{name}.lock"]  # no temp file left


def test_hash_in_the_name_is_verified(kinetix_home) -> None:
    data = _checkpoint_bytes()
    wrong = "0" * 8 if not hashlib.sha256(data).hexdigest().startswith("0" * 8) else "1" * 8
    name = f"tsn-{wrong}.pth"
    with serve({name: data}) as server:
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(server.url(name))
    message = _one_line(info)
    assert server.url(name) in message and "sha256" in message and wrong in message
    assert _cache_listing(kinetix_home) == [f"{name}.lock"]  # the bad file was deleted


def test_http_error_is_one_line(kinetix_home) -> None:
    with serve({}) as server:
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(server.url("missing.pth"))
    message = _one_line(info)
    assert message.startswith(f"checkpoint {server.url('missing.pth')}: download failed: HTTP 404")
    assert _cache_listing(kinetix_home) == ["missing.pth.lock"]


def test_connection_dropped_mid_download_leaves_nothing(kinetix_home) -> None:
    data = _checkpoint_bytes()
    with serve({"cut.pth": data}, drop={"cut.pth"}) as server:
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(server.url("cut.pth"))
        message = _one_line(info)
        assert server.url("cut.pth") in message
        assert f"closed after {len(data)} of {2 * len(data)} bytes" in message
        assert _cache_listing(kinetix_home) == ["cut.pth.lock"]  # no partial file
        # A later try starts afresh (and fails the same way, not on a leftover).
        with pytest.raises(CheckpointError, match="closed after"):
            load_checkpoint(server.url("cut.pth"))
        assert server.count("cut.pth") == 2


def test_stalled_server_times_out(kinetix_home) -> None:
    with serve({"slow.pth": b"x"}, stall={"slow.pth"}, stall_s=3.0) as server:
        start = time.monotonic()
        with pytest.raises(CheckpointError) as info:
            dl.download(server.url("slow.pth"), timeout=0.5)
        assert time.monotonic() - start < 2.5
    assert "timed out" in _one_line(info) and server.url("slow.pth") in str(info.value)
    assert _cache_listing(kinetix_home) == ["slow.pth.lock"]


def test_unreachable_host_is_one_line(kinetix_home) -> None:
    with serve({}) as server:
        url = server.url("gone.pth")
    with pytest.raises(CheckpointError) as info:  # the port is closed now
        load_checkpoint(url)
    assert _one_line(info).startswith(f"checkpoint {url}: download failed: ")


def test_torchvision_names_map_to_mmcv_urls(monkeypatch) -> None:
    # mmcv/mmengine's torchvision_0.12.json (checked by mmcv's own tests for resnet50).
    assert dl.torchvision_url("resnet50") == "https://download.pytorch.org/models/resnet50-0676ba61.pth"
    assert dl.torchvision_url("resnet50.imagenet1k_v1") == dl.torchvision_url("resnet50")
    for depth in (18, 34, 50, 101, 152):
        assert dl.torchvision_url(f"resnet{depth}").startswith(f"https://download.pytorch.org/models/resnet{depth}-")
    monkeypatch.setenv("KINETIX_TORCHVISION_URL", "http://mirror.local/tv/")
    assert dl.torchvision_url("resnet18") == "http://mirror.local/tv/" + dl.TORCHVISION_FILES["resnet18"]
    with pytest.raises(CheckpointError, match=r"torchvision://resnet51: unknown torchvision model; known: resnet18"):
        dl.resolve("torchvision://resnet51")


def test_real_torchvision_names_are_hash_checked(monkeypatch, kinetix_home) -> None:
    fake = _checkpoint_bytes()  # not torchvision's resnet18: its sha256 does not start f37072fd...
    name = dl.TORCHVISION_FILES["resnet18"]
    with serve({name: fake}) as server:
        monkeypatch.setenv("KINETIX_TORCHVISION_URL", server.base)
        with pytest.raises(CheckpointError) as info:
            load_checkpoint("torchvision://resnet18")
    assert f"{server.base}/{name}" in _one_line(info) and "sha256" in str(info.value)
    assert _cache_listing(kinetix_home) == [f"{name}.lock"]


def test_local_paths_are_not_touched(kinetix_home) -> None:
    assert dl.resolve("some/local.pth") == Path("some/local.pth")
    assert not kinetix_home.exists()


def test_cache_that_cannot_be_created(tmp_path, monkeypatch) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("KINETIX_HOME", str(blocker))
    with pytest.raises(CheckpointError) as info:
        dl.download("http://127.0.0.1:9/x.pth")
    assert "cannot create the cache folder" in _one_line(info) and str(blocker) in str(info.value)


_CHILD = """
import sys, time
from kinetix.utils.download import download
start = time.time()
path = download(sys.argv[1])
print(start, time.time(), path)
"""


@pytest.mark.slow
def test_two_processes_download_the_same_url_once(kinetix_home) -> None:
    data = _checkpoint_bytes() * 20
    name = _hashed_name("big", data)
    env = {**os.environ, "PYTHONPATH": str(REPO), "KINETIX_HOME": str(kinetix_home)}
    with serve({name: data}, slow={name}, slow_s=2.5) as server:
        children = [subprocess.Popen([sys.executable, "-c", _CHILD, server.url(name)], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                    for _ in range(2)]
        results = [child.communicate(timeout=60) for child in children]
        assert [child.returncode for child in children] == [0, 0], results
        requests = server.count(name)
    spans = [tuple(out.split()) for out, _ in results]
    starts, ends = [float(s[0]) for s in spans], [float(s[1]) for s in spans]
    assert max(starts) < min(ends), "the two downloads did not overlap; the test proves nothing"
    assert len({s[2] for s in spans}) == 1 and spans[0][2].startswith(str(kinetix_home / "checkpoints"))
    assert requests == 1
    assert Path(spans[0][2]).read_bytes() == data


def test_two_urls_of_the_same_file_name_are_two_cache_entries(kinetix_home) -> None:
    # Every run folder has an epoch_20.pth: a second server's must not be served from the first's.
    one, two = _checkpoint_bytes(1.0), _checkpoint_bytes(2.0)
    with serve({"a/epoch_20.pth": one, "b/epoch_20.pth": two}) as server:
        first = load_checkpoint(server.url("a/epoch_20.pth"))
        second = load_checkpoint(server.url("b/epoch_20.pth"))
    assert float(first["state_dict"]["fc.weight"][0, 0]) == 1.0
    assert float(second["state_dict"]["fc.weight"][0, 0]) == 2.0
