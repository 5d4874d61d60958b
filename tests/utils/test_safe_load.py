"""Loading never executes code from a file, and a refused or unreadable file gets one line saying why."""

from __future__ import annotations

import functools
import io
import operator
import os
import pathlib
import pickle
import subprocess
import sys
import time
import types
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch

from kinetix.engine.checkpoint import load_checkpoint
from kinetix.errors import CheckpointError
from kinetix.models.pretrained import read_state_dict
from kinetix.utils.safe_load import safe_torch_load

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


# ---- payloads: each would create `marker` if unpickled by an ordinary loader ----

class _Reduce:
    """Pickles as ``func(*args)``: the classic way a pickle runs code."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple:
        return self.func, self.args

    def __call__(self, *args: Any) -> Any:  # lets a _Reduce be the callable of another one
        raise AssertionError("never called when pickling")


def _touch_cmd(marker: Path) -> str:
    return f"touch {marker}"


def _py_touch(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').close()"


def _payloads(marker: Path) -> dict[str, tuple[Any, str]]:
    """name -> (object whose unpickling creates marker, the global our message must name)."""
    system = _Reduce(os.system, _touch_cmd(marker))
    imported_os = _Reduce(__import__, "os")
    return {
        "os_system": (system, "posix.system"),
        "builtins_eval": (_Reduce(eval, _py_touch(marker)), "builtins.eval"),
        "builtins_exec": (_Reduce(exec, _py_touch(marker)), "builtins.exec"),
        "subprocess_popen": (_Reduce(subprocess.Popen, ["touch", str(marker)]), "subprocess.Popen"),
        "io_open": (_Reduce(open, str(marker), "w"), "io.open"),
        "getattr_import_chain": (_Reduce(_Reduce(getattr, imported_os, "system"), _touch_cmd(marker)),
                                 "builtins.__import__"),  # getattr alone is stood in
        "methodcaller_pathlib": (_Reduce(operator.methodcaller("touch"), pathlib.Path(marker)),
                                 "operator.methodcaller"),
        "functools_partial": (_Reduce(functools.partial(os.system, _touch_cmd(marker))), "functools.partial"),
    }


def _save(obj: Any, path: Path, **kwargs: Any) -> Path:
    torch.save(obj, path, **kwargs)
    return path


def _raw_protocol0(marker: Path) -> bytes:
    return f"cos\nsystem\n(S'{_touch_cmd(marker)}'\ntR.".encode()


def _raw_stack_global_via_memo(marker: Path) -> bytes:
    """Protocol 4: the names reach STACK_GLOBAL through the memo, after decoy pops."""
    def text(s: str) -> bytes:
        b = s.encode()
        return b"\x8c" + bytes([len(b)]) + b

    return (b"\x80\x04" + text("os") + b"\x94" + text("system") + b"\x94" + b"0" + b"0"  # MEMOIZE, POP
            + b"h\x00" + b"h\x01" + b"\x93" + text(_touch_cmd(marker)) + b"\x85" + b"R" + b".")


def _legacy_with_evil_sys_info(payload: Any) -> bytes:
    """A non-zip torch file whose third pickle (sys_info) is the payload."""
    return b"".join(pickle.dumps(part, protocol=2) for part in (_LEGACY_MAGIC, 1001, payload, {}, []))


def _malicious_files(folder: Path, marker: Path) -> list[tuple[Path, str | None, Callable[[Path], Any]]]:
    """(file, global the refusal names or None, how an ordinary loader would open it)."""
    unsafe_torch = functools.partial(torch.load, weights_only=False)
    unsafe_pickle = lambda p: pickle.loads(p.read_bytes())  # noqa: E731
    payloads = _payloads(marker)
    files = []
    for name, (payload, blocked) in payloads.items():  # zip format, payload at the top level
        files.append((_save({"state_dict": {}, "x": payload}, folder / f"zip_{name}.pth"), blocked, unsafe_torch))
    system, _ = payloads["os_system"]
    evil_inner = _save({"x": system}, folder / "inner.pth")
    nested_load = _Reduce(functools.partial(torch.load, weights_only=False), str(evil_inner))
    files += [
        (_save({"state_dict": {"w": torch.ones(2), "bad": system}}, folder / "nested_state_dict.pth"),
         "posix.system", unsafe_torch),
        (_save({"meta": {"epoch": 1, "hook": payloads["builtins_eval"][0]}, "state_dict": {}},
               folder / "in_meta.pth"), "builtins.eval", unsafe_torch),
        (_save({"x": nested_load}, folder / "nested_torch_load.pth"), "functools.partial", unsafe_torch),
        (_save({"state_dict": {"w": torch.ones(2)}, "x": system}, folder / "legacy.pth",
               _use_new_zipfile_serialization=False), "posix.system", unsafe_torch),
    ]
    for protocol in range(6):
        files.append((_save({"x": system}, folder / f"zip_protocol{protocol}.pth", pickle_protocol=protocol),
                      "posix.system", unsafe_torch))
    legacy_sys_info = folder / "legacy_sys_info.pth"
    legacy_sys_info.write_bytes(_legacy_with_evil_sys_info(system))
    raw0, raw5, memo = folder / "raw_protocol0.pkl", folder / "raw_protocol5.pkl", folder / "raw_memo.pkl"
    raw0.write_bytes(_raw_protocol0(marker))
    raw5.write_bytes(pickle.dumps(system, protocol=5))
    memo.write_bytes(_raw_stack_global_via_memo(marker))
    files += [(legacy_sys_info, "posix.system", unsafe_torch), (raw0, "os.system", unsafe_pickle),
              (raw5, "posix.system", unsafe_pickle), (memo, "os.system", unsafe_pickle)]
    return files


def _wait_for(path: Path, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.02)
    return path.exists()


def test_malicious_files_are_refused_and_nothing_runs(tmp_path, capsys) -> None:
    marker = tmp_path / "marker"
    files = _malicious_files(tmp_path, marker)
    assert len(files) >= 14
    tried = executed = 0
    for path, blocked, _ in files:
        for load in (load_checkpoint, read_state_dict):
            tried += 1
            with pytest.raises(CheckpointError) as info:
                load(str(path))
            message = str(info.value)
            assert "\n" not in message and str(path) in message, message
            assert "weights_only" not in message, message
            assert f"refused to load: it would import {blocked} " in message, message
            time.sleep(0.01)  # let a spawned process (Popen) show itself
            executed += marker.exists()
    print(f"\nmalicious files: {len(files)} files, {tried} loads tried, {executed} executed")
    assert executed == 0
    # The payloads are live: an ordinary loader does run them.
    for path, _, unsafe_load in files:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                result = unsafe_load(path)
            except Exception:  # some payloads break the rest of the file once they have run
                result = None
        if hasattr(result, "close"):
            result.close()
        assert _wait_for(marker), f"{path.name} is not a working exploit"
        marker.unlink()


def test_class_with_code_in_setstate_is_kept_as_inert_data(tmp_path, monkeypatch) -> None:
    """A class is never imported: even an importable one whose __setstate__ would run code."""
    marker = tmp_path / "marker"
    module_dir = tmp_path / "mods"
    module_dir.mkdir()
    (module_dir / "sneaky_mod.py").write_text(
        "class Sneaky:\n"
        "    def __setstate__(self, state):\n"
        f"        open({str(marker)!r}, 'w').close()\n")
    monkeypatch.syspath_prepend(str(module_dir))
    import sneaky_mod
    sneaky = sneaky_mod.Sneaky()
    sneaky.x = 1  # some state, so that unpickling calls __setstate__
    path = _save({"state_dict": {"w": torch.ones(2)}, "extra": sneaky}, tmp_path / "s.pth")
    monkeypatch.delitem(sys.modules, "sneaky_mod")
    loaded = load_checkpoint(path)
    assert "sneaky_mod" not in sys.modules and not marker.exists()
    assert repr(loaded["extra"]) == "<opaque sneaky_mod.Sneaky>"
    assert torch.equal(loaded["state_dict"]["w"], torch.ones(2))
    torch.load(path, weights_only=False)  # the ordinary loader runs it
    assert marker.exists()


def test_legacy_format_loads(tmp_path) -> None:
    state = {"state_dict": {"w": torch.arange(6.0).reshape(2, 3)}, "meta": {"epoch": 4, "seed": np.int64(7)}}
    path = _save(state, tmp_path / "old.pth", _use_new_zipfile_serialization=False)
    assert not zipfile.is_zipfile(path)
    loaded = load_checkpoint(path)
    assert torch.equal(loaded["state_dict"]["w"], state["state_dict"]["w"])
    assert loaded["meta"] == {"epoch": 4, "seed": 7} and isinstance(loaded["meta"]["seed"], np.int64)


def test_numpy_values_load_as_numpy(tmp_path) -> None:
    rng_state = np.random.RandomState(3).get_state()
    path = _save({"rng": rng_state, "arr": np.arange(5, dtype=np.float32), "d": np.dtype("i2")},
                 tmp_path / "np.pth")
    loaded = safe_torch_load(path)
    assert loaded["rng"][0] == "MT19937" and np.array_equal(loaded["rng"][1], rng_state[1])
    assert loaded["arr"].dtype == np.float32 and np.array_equal(loaded["arr"], np.arange(5))
    assert loaded["d"] == np.dtype("i2")


@pytest.mark.parametrize("content, says", [
    (b"", "not a torch checkpoint (the file is empty)"),
    (b"epoch 3, top1 0.71\n", "not a torch checkpoint (neither a zip archive nor a pickle)"),
    (bytes(range(256)) * 4, "not a torch checkpoint"),
    (pickle.dumps({"a": 1}), "not a torch checkpoint (a pickle not written by torch.save)"),
])
def test_not_a_checkpoint(tmp_path, content, says) -> None:
    path = tmp_path / "x.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert str(info.value).startswith(f"checkpoint {path}: {says}")


def test_truncated_and_foreign_zip_files(tmp_path) -> None:
    good = _save({"state_dict": {"w": torch.ones(100)}}, tmp_path / "good.pth").read_bytes()
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match=r"truncated\.pth: truncated or corrupted"):
        load_checkpoint(truncated)
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(CheckpointError, match=r"other\.zip: not a torch checkpoint \(a zip archive without"):
        load_checkpoint(other)
    scripted = tmp_path / "scripted.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit's notice
        torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), scripted)
    with pytest.raises(CheckpointError, match=r"scripted\.pt: not a torch checkpoint \(a TorchScript archive"):
        load_checkpoint(scripted)


def test_foreign_zip_checkpoint_with_a_flipped_tensor_byte_fails_its_crc(tmp_path) -> None:
    """Files without our checksum (MMAction2's) still get the zip's CRC-32 checked."""
    path = _save({"state_dict": {"w": torch.zeros(1000)}}, tmp_path / "mm.pth")
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith("/data/0"))
    offset = data.find(b"\x00" * 4000, info.header_offset)  # inside the tensor's bytes
    data[offset + 10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"mm\.pth: corrupted: .*data/0 fails its CRC-32 check"):
        load_checkpoint(path)


def test_unreadable_file(tmp_path) -> None:
    path = _save({"state_dict": {}}, tmp_path / "locked.pth")
    path.chmod(0)
    if os.access(path, os.R_OK):  # root reads anything
        pytest.skip("running as root")
    with pytest.raises(CheckpointError, match=r"locked\.pth: cannot read it: \[Errno 13\]"):
        load_checkpoint(path)


def test_module_stays_unimported(tmp_path) -> None:
    fake = types.ModuleType("fake_mm.hub")

    class Hub:
        pass

    Hub.__module__, Hub.__qualname__ = "fake_mm.hub", "Hub"
    fake.Hub = Hub
    sys.modules.update({"fake_mm": types.ModuleType("fake_mm"), "fake_mm.hub": fake})
    try:
        path = _save({"message_hub": Hub(), "state_dict": {"w": torch.ones(1)}}, tmp_path / "mm.pth")
    finally:
        del sys.modules["fake_mm.hub"], sys.modules["fake_mm"]
    assert repr(load_checkpoint(path)["message_hub"]) == "<opaque fake_mm.hub.Hub>"
    assert "fake_mm" not in sys.modules


def test_record_marked_as_a_folder_is_corrupt(tmp_path) -> None:
    """torch's zip reader reads a record whose entry has the DOS folder bit as empty: stale weights."""
    path = _save({"state_dict": {"w": torch.ones(1000)}}, tmp_path / "mm.pth")
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        entry = archive.start_dir
    while not data[entry + 46:].startswith(b"mm/data/0"):  # walk the central directory entries
        name_len, extra_len, comment_len = (int.from_bytes(data[entry + k:entry + k + 2], "little")
                                            for k in (28, 30, 32))
        entry += 46 + name_len + extra_len + comment_len
    data[entry + 38] |= 0x10  # external attributes: MS-DOS directory
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"mm\.pth: corrupted: mm/data/0 is marked as a folder"):
        load_checkpoint(path)


class HistoryBuffer:  # pickled under this module's name; the loader never imports it back
    pass


def test_mmengine_history_buffer_getattr_is_an_inert_stand_in(tmp_path) -> None:
    """MMAction2's message_hub pickles getattr(HistoryBuffer, 'min'): it loads, inert."""
    method = _Reduce(getattr, HistoryBuffer, "mro")
    path = _save({"state_dict": {"w": torch.ones(1)},
                  "message_hub": {"statistics_methods": {"mro": method}}}, tmp_path / "mm.pth")
    loaded = load_checkpoint(path)
    stood_in = loaded["message_hub"]["statistics_methods"]["mro"]
    assert repr(stood_in) == "<opaque builtins.getattr>"
    assert not callable(stood_in)
    assert torch.equal(loaded["state_dict"]["w"], torch.ones(1))
