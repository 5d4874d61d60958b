"""Choosing a video backend: the Init transforms' ``backend``, the top-level ``video_backend``,
fallback and warnings, and each backend's reader interface and errors."""

import os
import sys
import threading
import warnings

import numpy as np
import pytest

from kinetix.config import apply_cfg_options
from kinetix.data import video_backends
from kinetix.data.builder import build_dataset, with_video_backend
from kinetix.data.decoding import UndecodableVideoError, VideoReader
from kinetix.data.tricky_videos import decode_numbers, read_frame_number, write_tricky_video
from kinetix.data.video_backends import BACKENDS, open_video, resolve_backend, unusable_reason
from kinetix.errors import ConfigError
from kinetix.registry import TRANSFORMS, build

INSTALLED = [b for b in BACKENDS if unusable_reason(b) is None]
OTHERS = [pytest.param(b, marks=pytest.mark.skipif(unusable_reason(b) is not None,
                                                   reason=f"{b} is not installed"))
          for b in BACKENDS if b != "pyav"]


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_tricky_video("kinetics", str(tmp_path_factory.mktemp("backends")))


@pytest.fixture
def fresh_warnings(monkeypatch):
    """Each test sees the process's first choice of a backend (warnings are once per process)."""
    monkeypatch.setattr(video_backends, "_warned", set())


def test_config_type_names_do_not_pick_the_decoder(video):
    """MMAction2 configs all say DecordInit: that still decodes with PyAV unless backend says otherwise."""
    for name in ("DecordInit", "PyAVInit", "OpenCVInit"):
        init = build(dict(type=name), TRANSFORMS, "pipeline.0")
        assert init.backend == "pyav"
        reader = init(dict(filename=video))["video_reader"]
        assert type(reader) is VideoReader
        reader.close()


def test_unknown_backend_is_a_one_line_config_error():
    with pytest.raises(ConfigError) as info:
        build(dict(type="DecordInit", backend="ffmpeg"), TRANSFORMS, "pipeline.0")
    assert str(info.value) == ("DecordInit.backend: unknown video backend 'ffmpeg' "
                               "(use one of pyav, torchcodec, decord)")


def test_a_missing_backend_falls_back_to_pyav_with_one_warning(monkeypatch, fresh_warnings, video):
    monkeypatch.setitem(sys.modules, "torchcodec", None)  # `import torchcodec` now raises ImportError
    unusable_reason.cache_clear()
    try:
        with pytest.warns(UserWarning) as record:
            inits = [build(dict(type="PyAVInit", backend="torchcodec"), TRANSFORMS, "pipeline.0") for _ in range(3)]
        assert [init.backend for init in inits] == ["pyav"] * 3
        assert len(record) == 1
        assert "'torchcodec' is not usable" in str(record[0].message)
        assert "pip install torchcodec==0.13.0" in str(record[0].message)
        out = inits[0](dict(filename=video))
        assert type(out["video_reader"]) is VideoReader
        out["video_reader"].close()
    finally:
        unusable_reason.cache_clear()


@pytest.mark.skipif("decord" not in INSTALLED, reason="decord is not installed")
def test_decord_warns_once_that_it_returns_wrong_frames(fresh_warnings):
    with pytest.warns(UserWarning) as record:
        assert resolve_backend("decord") == "decord"
        assert resolve_backend("decord") == "decord"
    assert len(record) == 1 and "wrong frames" in str(record[0].message)
    assert "pyav" in str(record[0].message)


@pytest.mark.parametrize("backend", INSTALLED)
def test_pipeline_with_each_backend(backend, video):
    """Init + Decode with any backend: frames in the order asked, repeats kept, threads switchable."""
    truth = decode_numbers(video)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        init = build(dict(type="DecordInit", backend=backend), TRANSFORMS, "pipeline.0")
    decode = build(dict(type="DecordDecode"), TRANSFORMS, "pipeline.1")
    threaded = build(dict(type="PyAVDecode", multi_thread=True), TRANSFORMS, "pipeline.1")
    assert init.backend == backend
    inds = np.array([40, 3, 3, 89, 0, 61])
    for step in (decode, threaded):
        out = step(init(dict(filename=video, frame_inds=inds)))
        assert out["total_frames"] == len(truth) and out["avg_fps"] == 30
        assert [read_frame_number(img) for img in out["imgs"]] == [truth[i] for i in inds]
        assert out["imgs"][0].dtype == np.uint8 and out["img_shape"] == (64, 96)
        assert "video_reader" not in out


@pytest.mark.parametrize("backend", OTHERS)
def test_backend_errors_become_undecodable_video_errors(backend, tmp_path, video):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(os.urandom(5000))
    for path in (garbage, tmp_path / "missing.mp4"):
        with pytest.raises(UndecodableVideoError) as info:
            open_video(str(path), backend=backend)
        message = str(info.value)
        assert message.startswith(f"cannot decode {path}: ") and "\n" not in message and len(message) < 500
    reader = open_video(video, backend=backend)
    assert reader.frames_decoded is None  # the backend cannot tell
    for bad, match in (([90], "frame index 90 out of range"), ([-1], "out of range"), ([], "no frame indices")):
        with pytest.raises(UndecodableVideoError, match=match):
            reader.get_frames(bad)
    reader.close()


@pytest.mark.parametrize("backend", OTHERS)
def test_a_fifo_is_refused_before_the_backend_opens_it(backend, tmp_path):
    fifo = str(tmp_path / "clip.mp4")
    os.mkfifo(fifo)

    def unblock() -> None:  # if a backend ever opens the FIFO, end its wait (EOF) instead of hanging
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:  # nobody reading: nothing to unblock
            pass

    timer = threading.Timer(5, unblock)
    timer.start()
    try:
        with pytest.raises(UndecodableVideoError) as info:
            open_video(fifo, backend=backend)
        assert info.value.reason == "not a regular file"
    finally:
        timer.cancel()


# ------------------------------------------------------------- the config switch
def _dataset_cfg(tmp_path, video, init: dict) -> dict:
    ann = tmp_path / "list.txt"
    ann.write_text(f"{os.path.basename(video)} 0\n")
    return dict(type="VideoDataset", ann_file=str(ann), data_prefix=dict(video=os.path.dirname(video)),
                pipeline=[init, dict(type="SampleFrames", clip_len=1, num_clips=3, test_mode=True),
                          dict(type="DecordDecode")])


def test_top_level_video_backend_reaches_inits_without_a_backend(tmp_path, video):
    backend = INSTALLED[-1]  # the last installed one: decord, torchcodec, or pyav alone
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        chosen = build_dataset(_dataset_cfg(tmp_path, video, dict(type="DecordInit")), "test_dataloader.dataset",
                               video_backend=backend)
        explicit = build_dataset(_dataset_cfg(tmp_path, video, dict(type="DecordInit", backend="pyav")),
                                 "test_dataloader.dataset", video_backend=backend)
    assert chosen.pipeline[0].backend == backend
    assert explicit.pipeline[0].backend == "pyav"
    sample = chosen[0]
    truth = decode_numbers(video)
    assert sample["imgs"] and all(read_frame_number(img) == truth[i]
                                  for img, i in zip(sample["imgs"], sample["frame_inds"]))


def test_with_video_backend_walks_wrapped_datasets_and_leaves_the_config_alone():
    inner = dict(type="VideoDataset", pipeline=[dict(type="PyAVInit"), dict(type="PyAVDecode")])
    cfg = dict(type="ConcatDataset", datasets=[dict(type="RepeatDataset", times=2, dataset=inner)])
    out = with_video_backend(cfg, "decord")
    assert out["datasets"][0]["dataset"]["pipeline"] == [dict(type="PyAVInit", backend="decord"),
                                                         dict(type="PyAVDecode")]
    assert inner["pipeline"][0] == dict(type="PyAVInit")  # a copy: the config itself is unchanged


def test_video_backend_is_a_config_key_with_a_checked_value(tmp_path, video):
    cfg = dict(test_dataloader=dict(batch_size=1, dataset=dict(type="VideoDataset")))
    apply_cfg_options(cfg, {"video_backend": "torchcodec"})  # --cfg-options video_backend=torchcodec
    assert cfg["video_backend"] == "torchcodec"
    with pytest.raises(ConfigError, match=r"^video_backend: unknown video backend 'torchcodc' \(use one of"):
        build_dataset(_dataset_cfg(tmp_path, video, dict(type="DecordInit")), "test_dataloader.dataset",
                      video_backend="torchcodc")
