import contextlib
import errno
import os
import shutil
import subprocess
import sys
import types

import numpy as np
import pytest
import torch

from kinetix.engine import checkpoint as checkpoint_module
from kinetix.engine.checkpoint import (extract_state_dict, load_checkpoint, load_model_weights,
                                       remove_stale_temp_files, save_checkpoint, write_atomic)
from kinetix.errors import CheckpointError
from kinetix.utils.files import current_umask
from kinetix.utils.integrity import CHECKSUM_KEY, content_sha256


@pytest.fixture(autouse=True)
def _download_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KINETIX_HOME", str(tmp_path / "kinetix_home"))


def _fake_mmengine_checkpoint(path):
    """A checkpoint like MMAction2's: mmengine objects (with numpy inside) in message_hub."""
    module = types.ModuleType("mmengine_fake.logging")

    class HistoryBuffer:
        def __init__(self):
            self._log_history = np.arange(5.0)

    class MessageHub:
        def __init__(self):
            self.log_scalars = {"train/loss": HistoryBuffer()}
            self.runtime_info = {"epoch": 3}

    for cls in (HistoryBuffer, MessageHub):
        cls.__module__ = module.__name__
        cls.__qualname__ = cls.__name__
        setattr(module, cls.__name__, cls)
    parent = types.ModuleType("mmengine_fake")
    parent.logging = module
    sys.modules.update({"mmengine_fake": parent, module.__name__: module})
    try:
        torch.save({"meta": {"epoch": 3}, "state_dict": {"module.fc.weight": torch.ones(2, 3)},
                    "message_hub": MessageHub()}, path)
    finally:
        del sys.modules[module.__name__], sys.modules["mmengine_fake"]  # the loader must not need them


def test_loads_mmaction_style_checkpoint_without_its_classes(tmp_path):
    path = tmp_path / "mm.pth"
    _fake_mmengine_checkpoint(path)
    ckpt = load_checkpoint(path)
    assert "mmengine_fake.logging" not in sys.modules
    state = extract_state_dict(ckpt)
    assert list(state) == ["fc.weight"]  # module. prefix stripped
    assert torch.equal(state["fc.weight"], torch.ones(2, 3))


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_refuses_to_run_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {}, "x": _Evil()}, path)
    with pytest.raises(CheckpointError, match="evil.pth"):
        load_checkpoint(path)
    assert not (tmp_path / "pwned").exists()


def test_save_is_atomic_and_round_trips(tmp_path):
    path = tmp_path / "sub" / "epoch_1.pth"
    save_checkpoint({"state_dict": {"w": torch.arange(3)}, "meta": {"epoch": 1}}, path)
    assert [p.name for p in path.parent.iterdir()] == ["epoch_1.pth"]  # no temp file left
    assert load_checkpoint(path)["meta"]["epoch"] == 1


def test_failed_save_leaves_nothing(tmp_path):
    path = tmp_path / "epoch_2.pth"
    with pytest.raises(Exception):
        save_checkpoint({"bad": lambda: None}, path)  # lambdas cannot be pickled
    assert list(tmp_path.iterdir()) == []


def test_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match=r"checkpoint http://127.0.0.1:9/x.pth: download failed: "):
        load_checkpoint("http://127.0.0.1:9/x.pth")  # nothing listens on port 9
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(garbage)
    assert str(info.value) == f"checkpoint {garbage}: not a torch checkpoint (neither a zip archive nor a pickle)"
    with pytest.raises(CheckpointError, match="not a file"):
        load_checkpoint(tmp_path)


def test_load_model_weights_checks_shapes_and_overlap():
    model = torch.nn.Linear(3, 2)
    with pytest.raises(CheckpointError, match="none of its"):
        load_model_weights(model, {"state_dict": {"other.weight": torch.zeros(1)}}, "x.pth")
    with pytest.raises(CheckpointError, match=r"weight has shape \(3, 3\)"):
        load_model_weights(model, {"state_dict": {"weight": torch.zeros(3, 3)}}, "x.pth")
    missing, unexpected = load_model_weights(model, {"state_dict": {"weight": torch.ones(2, 3)}}, "x.pth")
    assert missing == ["bias"] and unexpected == []
    assert torch.equal(model.weight.data, torch.ones(2, 3))


# ---- checksums and corruption ----

def _training_checkpoint():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(),
                                torch.nn.Linear(4 * 6 * 6, 5))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(2, 3, 8, 8)).sum().backward()
    optimizer.step()
    return {"meta": {"epoch": 3, "iter": 30, "best": {"score": 0.5, "path": "x"}},
            "state_dict": model.state_dict(), "optimizer": optimizer.state_dict()}


def _equal(a, b) -> bool:
    """Deep equality, tensors by dtype, shape and value (independent of the checksum code)."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def test_checksum_is_written_verified_and_removed(tmp_path):
    ckpt = _training_checkpoint()
    save_checkpoint(ckpt, tmp_path / "a.pth")
    assert CHECKSUM_KEY not in ckpt  # the caller's dict is left alone
    raw = torch.load(tmp_path / "a.pth", weights_only=True)
    assert len(raw[CHECKSUM_KEY]) == 64
    loaded = load_checkpoint(tmp_path / "a.pth")
    assert CHECKSUM_KEY not in loaded and _equal(loaded, ckpt)
    # A checkpoint without one (MMAction2's) loads as before.
    torch.save(ckpt, tmp_path / "plain.pth")
    assert _equal(load_checkpoint(tmp_path / "plain.pth"), ckpt)


@pytest.mark.parametrize("kind", ["kinetix", "legacy", "foreign"])
def test_flipped_bytes_never_load_silently(tmp_path, kind, capsys):
    ckpt = _training_checkpoint()
    path = tmp_path / "epoch_3.pth"
    if kind == "kinetix":
        save_checkpoint(ckpt, path)
    elif kind == "legacy":  # kinetix writes zip files; the checksum protects the older format as well
        torch.save({**ckpt, CHECKSUM_KEY: content_sha256(ckpt)}, path, _use_new_zipfile_serialization=False)
    else:  # no checksum (an MMAction2 file): the zip's CRC-32s catch it
        torch.save(ckpt, path)
    data = path.read_bytes()
    assert _equal(load_checkpoint(path), ckpt)
    outcomes = {"refused": 0, "equal": 0, "silently different": 0}
    for position in np.linspace(0, len(data) - 1, 20).astype(int):
        flipped = bytearray(data)
        flipped[position] ^= 0xFF
        bad = tmp_path / "flipped.pth"
        bad.write_bytes(bytes(flipped))
        try:
            loaded = load_checkpoint(bad)
        except CheckpointError as exc:
            assert "\n" not in str(exc) and str(exc).startswith(f"checkpoint {bad}: ")
            outcomes["refused"] += 1
        else:
            outcomes["equal" if _equal(loaded, ckpt) else "silently different"] += 1
    with capsys.disabled():
        print(f"\n{kind} file, 20 byte flips ({len(data)} bytes): {outcomes}")
    assert outcomes["silently different"] == 0
    assert outcomes["refused"] >= 10  # most of the file is tensor data


# ---- writing ----

def test_files_get_the_users_umask(tmp_path):
    old = os.umask(0o027)
    try:
        save_checkpoint({"state_dict": {}}, tmp_path / "a.pth")
        write_atomic(tmp_path / "last_checkpoint", "a.pth")
    finally:
        os.umask(old)
    assert (tmp_path / "a.pth").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "last_checkpoint").stat().st_mode & 0o777 == 0o640
    assert current_umask() == old


def test_remove_stale_temp_files(tmp_path):
    leftovers = [tmp_path / ".epoch_3.pth.k2j4h1.tmp", tmp_path / ".last_checkpoint.a8c1z0.tmp"]
    for path in leftovers:
        path.write_bytes(b"half a checkpoint")
    kept = [tmp_path / "epoch_2.pth", tmp_path / "notes.tmp", tmp_path / ".hidden"]
    for path in kept:
        path.write_bytes(b"keep")
    (tmp_path / ".dir.x.tmp").mkdir()
    assert remove_stale_temp_files(tmp_path) == sorted(leftovers)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([".dir.x.tmp"] + [p.name for p in kept])
    assert remove_stale_temp_files(tmp_path) == []


def test_killed_save_leaves_a_temp_file_that_start_up_removes(tmp_path):
    """A real save killed half-way (SIGKILL) leaves only a temp file; the next start removes it."""
    script = ("import os, sys, torch\n"
              "from kinetix.engine.checkpoint import save_checkpoint\n"
              "real = os.fsync\n"
              "os.fsync = lambda fd: os.kill(os.getpid(), 9)  # die between writing and renaming\n"
              "save_checkpoint({'state_dict': {'w': torch.ones(1000)}}, sys.argv[1])\n")
    env = {**os.environ, "PYTHONPATH": str(checkpoint_module.__file__).rsplit("/kinetix/", 1)[0]}
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "epoch_1.pth")], env=env,
                          capture_output=True, timeout=120)
    assert proc.returncode == -9
    leftovers = list(tmp_path.iterdir())
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".epoch_1.pth.")
    assert remove_stale_temp_files(tmp_path) == leftovers
    assert list(tmp_path.iterdir()) == []


def _save_epochs_then_fail(folder, failing):
    """Save epoch 1 and last_checkpoint, then epoch 2 inside the ``failing`` context."""
    save_checkpoint({"state_dict": {"w": torch.ones(10)}, "meta": {"epoch": 1}}, folder / "epoch_1.pth")
    write_atomic(folder / "last_checkpoint", str(folder / "epoch_1.pth"))
    with failing, pytest.raises(CheckpointError) as info:
        save_checkpoint({"state_dict": {"w": torch.ones(100_000)}, "meta": {"epoch": 2}}, folder / "epoch_2.pth")
    # The previous checkpoint and last_checkpoint are intact; no temp file is left.
    assert sorted(p.name for p in folder.iterdir()) == ["epoch_1.pth", "last_checkpoint"]
    assert (folder / "last_checkpoint").read_text() == str(folder / "epoch_1.pth")
    assert load_checkpoint(folder / "epoch_1.pth")["meta"]["epoch"] == 1
    return str(info.value)


@contextlib.contextmanager
def _fsync_says_disk_full(monkeypatch):
    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as patch:
        patch.setattr(checkpoint_module.os, "fsync", no_space)
        yield


def test_full_disk_is_one_line_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    message = _save_epochs_then_fail(tmp_path, _fsync_says_disk_full(monkeypatch))
    assert message == f"cannot write checkpoint {tmp_path / 'epoch_2.pth'}: [Errno 28] No space left on device"


def test_full_disk_on_a_real_tiny_filesystem(tmp_path):
    """The same on a 64 KiB tmpfs, where torch's own writes fail (needs root and mount)."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("needs root and mount(8)")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
                          capture_output=True, timeout=30)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")
    try:
        message = _save_epochs_then_fail(mount_point, contextlib.nullcontext())
    finally:
        subprocess.run(["umount", str(mount_point)], check=True, timeout=30)
    assert message == f"cannot write checkpoint {mount_point / 'epoch_2.pth'}: [Errno 28] No space left on device"
