"""Annotation parsing and checks, skipped undecodable videos, and build_dataloader."""

import os
import time
import warnings

import numpy as np
import pytest
import torch

from kinetix.data import (RawframeDataset, VideoDataset, build_dataloader, build_dataset,
                          generate_synthetic)
from kinetix.errors import ConfigError, DataError

NUM_CLASSES = 8


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("synth"))
    generate_synthetic(out, seed=1, num_train=2, num_val=1, num_test=0, size=32, frames=(10, 12))
    return out


def video_pipeline(test_mode=False):
    return [dict(type="DecordInit"),
            dict(type="SampleFrames", clip_len=1, frame_interval=1, num_clips=4, test_mode=test_mode),
            dict(type="DecordDecode"), dict(type="Resize", scale=(-1, 32)),
            dict(type="RandomResizedCrop"), dict(type="Resize", scale=(24, 24), keep_ratio=False),
            dict(type="Flip", flip_ratio=0.5), dict(type="FormatShape", input_format="NCHW"),
            dict(type="PackActionInputs")]


def video_cfg(synth, split="train", **extra):
    return dict(type="VideoDataset", ann_file=os.path.join(synth, f"{split}_list_videos.txt"),
                data_prefix=dict(video=os.path.join(synth, "videos")), pipeline=video_pipeline(), **extra)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return str(path)


def test_video_dataset_end_to_end(synth):
    ds = build_dataset(video_cfg(synth), "train_dataloader.dataset")
    assert len(ds) == 16
    out = ds[5]
    assert out["inputs"].shape == (4, 3, 24, 24) and out["inputs"].dtype == torch.uint8
    assert int(out["label"]) == 2 and out["index"] == 5 and out["filename"].endswith(".mp4")


def test_rawframe_dataset_end_to_end(synth):
    pipeline = [dict(type="SampleFrames", clip_len=4, frame_interval=2, num_clips=1),
                dict(type="RawFrameDecode"), dict(type="CenterCrop", crop_size=24),
                dict(type="FormatShape", input_format="NCTHW"), dict(type="PackActionInputs")]
    ds = build_dataset(dict(type="RawframeDataset", ann_file=os.path.join(synth, "val_list_rawframes.txt"),
                            data_prefix=dict(img=os.path.join(synth, "rawframes")), pipeline=pipeline),
                       "val_dataloader.dataset")
    assert len(ds) == 8 and ds.data_list[0]["total_frames"] >= 10
    out = ds[7]
    assert out["inputs"].shape == (1, 3, 4, 24, 24) and int(out["label"]) == 7


def test_rawframe_offsets_and_multi_class(tmp_path):
    (tmp_path / "a").mkdir()
    ann = write(tmp_path / "list.txt", "a 5 20 1 3\n")
    ds = RawframeDataset(ann, [], data_prefix=dict(img=str(tmp_path)), with_offset=True,
                         multi_class=True, num_classes=4)
    info = ds.get_data_info(0)
    assert info["offset"] == 5 and info["total_frames"] == 20 and info["start_index"] == 1
    np.testing.assert_array_equal(info["label"], [0, 1, 0, 1])
    with pytest.raises(ConfigError, match="num_classes"):
        RawframeDataset(ann, [], multi_class=True)


def test_data_root_is_joined(tmp_path):
    (tmp_path / "vids").mkdir()
    (tmp_path / "vids" / "x.mp4").write_bytes(b"")
    write(tmp_path / "ann.txt", "x.mp4 0\n")
    ds = VideoDataset("ann.txt", [], data_prefix=dict(video="vids"), data_root=str(tmp_path))
    assert ds.data_list[0]["filename"] == os.path.join(str(tmp_path), "vids", "x.mp4")


def test_annotation_errors_are_one_line(tmp_path):
    with pytest.raises(DataError, match="ann_file not found: .*nope.txt"):
        VideoDataset(str(tmp_path / "nope.txt"), [])
    (tmp_path / "a.mp4").write_bytes(b"")
    prefix = dict(video=str(tmp_path))
    cases = [("a.mp4 0\njust_a_path.mp4\n", r"list.txt:2: expected 'path label'", {}),
             ("a.mp4 zero\n", r"list.txt:1: bad label", {}),
             ("a.mp4 0 1\n", r"list.txt:1: 2 labels", {}),
             ("\na.mp4 9\n", r"list.txt:2: label 9 out of range \(num_classes=8\)", dict(num_classes=8))]
    for text, pattern, kwargs in cases:
        ann = write(tmp_path / "list.txt", text)
        with pytest.raises(DataError, match=pattern) as info:
            VideoDataset(ann, [], data_prefix=prefix, **kwargs)
        assert "\n" not in str(info.value)
    ann = write(tmp_path / "raw.txt", "a 12\n")
    with pytest.raises(DataError, match=r"raw.txt:1: expected 'frame_dir total_frames label'"):
        RawframeDataset(ann, [], data_prefix=dict(img=str(tmp_path)))


def test_missing_videos_are_left_out_and_kept_or_fatal_on_request(tmp_path):
    (tmp_path / "ok.mp4").write_bytes(b"")
    (tmp_path / "ok2.mp4").write_bytes(b"")
    ann = write(tmp_path / "list.txt", "ok.mp4 0\nmissing1.mp4 1\nok2.mp4 2\nmissing2.mp4 1\n")
    ds = VideoDataset(ann, [], data_prefix=dict(video=str(tmp_path)))  # on_missing='skip' by default
    assert [os.path.basename(info["filename"]) for info in ds.data_list] == ["ok.mp4", "ok2.mp4"]
    assert ds.missing == [(str(tmp_path / "missing1.mp4"), f"{ann}:2"), (str(tmp_path / "missing2.mp4"), f"{ann}:4")]
    assert ds.get_data_info(1)["label"] == 2  # positions close up
    with pytest.raises(DataError) as info:
        VideoDataset(ann, [], data_prefix=dict(video=str(tmp_path)), on_missing="error")
    message = str(info.value)
    assert "2 of 4 videos" in message and "list.txt:2" in message and "missing1.mp4" in message
    assert "\n" not in message
    # Nothing at all to load is always an error, whatever on_missing says.
    ann = write(tmp_path / "raw.txt", "nodir 10 0\nnodir2 10 0\n")
    with pytest.raises(DataError, match="none of the 2 frame folders listed in .*raw.txt exists .*raw.txt:1: .*nodir"):
        RawframeDataset(ann, [], data_prefix=dict(img=str(tmp_path)))
    (tmp_path / "nodir2").mkdir()
    raw = RawframeDataset(ann, [], data_prefix=dict(img=str(tmp_path)))
    assert len(raw) == 1 and raw.missing == [(str(tmp_path / "nodir"), f"{ann}:1")]
    with pytest.raises(DataError, match="1 of 2 frame folders .*on_missing='error'.*raw.txt:1: .*nodir"):
        RawframeDataset(ann, [], data_prefix=dict(img=str(tmp_path)), on_missing="error")


def test_missing_videos_of_wrapped_datasets_and_option_checks(tmp_path):
    (tmp_path / "ok.mp4").write_bytes(b"")
    ann = write(tmp_path / "list.txt", "ok.mp4 0\ngone.mp4 1\n")
    inner = dict(type="VideoDataset", ann_file=ann, data_prefix=dict(video=str(tmp_path)), pipeline=[])
    concat = build_dataset(dict(type="ConcatDataset", datasets=[inner, dict(type="RepeatDataset", times=2,
                                                                             dataset=inner)]), "d")
    assert [path for path, _ in concat.missing] == [str(tmp_path / "gone.mp4")] * 2
    for key, value, expected in (("on_missing", "ignore", "one of 'skip', 'error'"),
                                 ("decode_timeout", 0, "a positive number or None"),
                                 ("decode_timeout", "60", "a positive number or None")):
        with pytest.raises(ConfigError, match=f"^test_dataloader.dataset.{key}: expected {expected}"):
            build_dataset({**inner, key: value}, "test_dataloader.dataset")
    with pytest.raises(ConfigError, match="decode_timeout"):  # built in code: checked there too
        VideoDataset(ann, [], data_prefix=dict(video=str(tmp_path)), decode_timeout=float("inf"))


def test_undecodable_video_is_reported_not_warned(tmp_path, synth):
    good = os.path.join(synth, "videos", "train", "move_left_0000.mp4")
    (tmp_path / "good.mp4").write_bytes(open(good, "rb").read())
    (tmp_path / "garbage.mp4").write_bytes(os.urandom(3000))
    (tmp_path / "cut.mp4").write_bytes(open(good, "rb").read()[:1500])
    ann = write(tmp_path / "list.txt", "good.mp4 0\ngarbage.mp4 1\ncut.mp4 2\n")
    ds = build_dataset(dict(type="VideoDataset", ann_file=ann, data_prefix=dict(video=str(tmp_path)),
                            pipeline=video_pipeline()), "test_dataloader.dataset")
    for index, name in ((1, "garbage.mp4"), (2, "cut.mp4")):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the dataset reports; the engine warns, once per rank
            out = ds[index]
        assert out["skipped"] == os.path.join(str(tmp_path), name) and out["index"] == index
        assert out["reason"]  # why it could not be decoded, for the engine's warning
    cfg = dict(batch_size=3, num_workers=0, dataset=dict(type="VideoDataset", ann_file=ann,
               data_prefix=dict(video=str(tmp_path)), pipeline=video_pipeline()))
    batch = next(iter(build_dataloader(cfg, "test_dataloader", seed=0, shuffle_default=False)))
    assert batch["inputs"].shape[0] == 1 and batch["indices"].tolist() == [0]
    assert sorted(os.path.basename(s) for s in batch["skipped"]) == ["cut.mp4", "garbage.mp4"]
    assert len(batch["skip_reasons"]) == 2 and all(batch["skip_reasons"])


def test_build_dataloader_config_errors_and_options(synth):
    with pytest.raises(ConfigError, match="train_dataloader.batch_size"):
        build_dataloader(dict(dataset=video_cfg(synth)), "train_dataloader", seed=0, shuffle_default=True)
    with pytest.raises(ConfigError, match="val_dataloader.dataset"):
        build_dataloader(dict(batch_size=2), "val_dataloader", seed=0, shuffle_default=False)
    with pytest.raises(ConfigError, match="train_dataloader.dataset.type"):
        build_dataloader(dict(batch_size=2, dataset=dict(type="VidoeDataset")), "train_dataloader", 0, True)
    cfg = dict(batch_size=4, num_workers=0, persistent_workers=True, drop_last=True,
               collate_fn=dict(type="default_collate"), sampler=dict(type="DefaultSampler", shuffle=False),
               dataset=video_cfg(synth))
    with pytest.warns(UserWarning, match="collate_fn"):
        loader = build_dataloader(cfg, "train_dataloader", seed=0, shuffle_default=True)
    assert len(loader) == 4 and loader.sampler.shuffle is False and not loader.persistent_workers
    batch = next(iter(loader))
    assert batch["inputs"].shape == (4, 4, 3, 24, 24) and batch["labels"].tolist() == [0, 0, 1, 1]


def test_worker_seeding_is_reproducible(synth):
    cfg = dict(batch_size=4, num_workers=2, persistent_workers=True, dataset=video_cfg(synth))

    def first_batches(seed):
        loader = build_dataloader(cfg, "train_dataloader", seed=seed, shuffle_default=True)
        return [b["inputs"] for b, _ in zip(loader, range(2))]

    a, b, c = first_batches(3), first_batches(3), first_batches(4)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))


def test_evaluation_loaders_do_not_pad(synth):
    cfg = dict(batch_size=2, num_workers=0, dataset=video_cfg(synth))
    assert build_dataloader(cfg, "train_dataloader", 0, True).sampler.round_up
    assert not build_dataloader(cfg, "val_dataloader", 0, False, for_eval=True).sampler.round_up
    padded = dict(cfg, sampler=dict(type="DefaultSampler", round_up=True))
    with pytest.warns(UserWarning, match=r"test_dataloader\.sampler\.round_up: True is ignored"):
        loader = build_dataloader(padded, "test_dataloader", 0, False, for_eval=True)
    assert not loader.sampler.round_up


def test_annotation_file_that_is_not_utf8_names_byte_and_line(tmp_path):
    ann = tmp_path / "list.txt"
    ann.write_bytes(b"a.mp4 0\r\nb.mp4 1\r\n\xff.mp4 2\r\n")
    with pytest.raises(DataError) as info:
        VideoDataset(str(ann), [], data_prefix=dict(video=str(tmp_path)))
    assert str(info.value) == f"annotation file {ann}: not UTF-8 text (byte 0xff at line 3)"


def test_line_numbers_count_every_line_ending(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"")
    ann = write(tmp_path / "list.txt", "a.mp4 0\r\na.mp4 1\ra.mp4 x\n")
    with pytest.raises(DataError, match=r"list\.txt:3: bad label 'x'"):
        VideoDataset(ann, [], data_prefix=dict(video=str(tmp_path)))


def test_an_empty_annotation_list_is_an_error(tmp_path):
    ann = write(tmp_path / "list.txt", "\n  \n")
    with pytest.raises(DataError, match=r"^annotation file .*list\.txt: lists no samples$"):
        VideoDataset(ann, [])


def test_a_path_with_spaces_is_not_called_a_bad_label(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"")
    ann = write(tmp_path / "list.txt", "a.mp4 0\nmy video.mp4 3\n")
    with pytest.raises(DataError) as info:
        VideoDataset(ann, [], data_prefix=dict(video=str(tmp_path)))
    message = str(info.value)
    assert "list.txt:2: 3 fields where 'path label' has 2" in message and "spaces" in message
    assert "bad label" not in message
    # with multi_class, extra fields are labels: a word among them is a bad label, with the same hint
    with pytest.raises(DataError, match=r"list\.txt:2: bad label 'video\.mp4 3'.*spaces"):
        VideoDataset(ann, [], data_prefix=dict(video=str(tmp_path)), multi_class=True, num_classes=8)


def test_another_delimiter_allows_spaces_in_paths(tmp_path):
    (tmp_path / "my video.mp4").write_bytes(b"")
    ann = write(tmp_path / "list.txt", "my video.mp4,3\n")
    ds = VideoDataset(ann, [], data_prefix=dict(video=str(tmp_path)), delimiter=",")
    assert ds.data_list[0]["filename"] == str(tmp_path / "my video.mp4") and ds.data_list[0]["label"] == 3
    ann = write(tmp_path / "spaced.txt", "my video.mp4 3\n")
    with pytest.raises(DataError, match=r"spaced\.txt:1: expected 'path label' separated by ','"):
        VideoDataset(ann, [], data_prefix=dict(video=str(tmp_path)), delimiter=",")


def test_labels_checked_against_the_model_through_wrappers(tmp_path):
    for name in ("a.mp4", "b.mp4"):
        (tmp_path / name).write_bytes(b"")
    good = dict(type="VideoDataset", ann_file=write(tmp_path / "good.txt", "a.mp4 0\nb.mp4 4\n"),
                data_prefix=dict(video=str(tmp_path)), pipeline=[])
    bad = dict(good, ann_file=write(tmp_path / "bad.txt", "a.mp4 1\n\nb.mp4 5\n"))
    ds = build_dataset(dict(type="ConcatDataset", datasets=[good, dict(type="RepeatDataset", dataset=bad, times=2)]),
                       "train_dataloader.dataset")
    ds.check_label_range(6, "model.cls_head.num_classes")
    with pytest.raises(DataError) as info:
        ds.check_label_range(5, "model.cls_head.num_classes")
    assert str(info.value) == f"{tmp_path / 'bad.txt'}:3: label 5 out of range (model.cls_head.num_classes=5)"


def test_repeat_times_is_a_positive_int(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"")
    inner = dict(type="VideoDataset", ann_file=write(tmp_path / "l.txt", "a.mp4 0\n"),
                 data_prefix=dict(video=str(tmp_path)), pipeline=[])
    with pytest.raises(ConfigError, match=r"^train_dataloader\.dataset\.times: expected a positive int, got 0$"):
        build_dataset(dict(type="RepeatDataset", dataset=inner, times=0), "train_dataloader.dataset")


class SleepOn:
    """A pipeline step that stalls on one file, as a decoder stuck on a bad video would."""

    def __init__(self, name, seconds):
        self.name, self.seconds = name, seconds

    def __call__(self, results):
        if os.path.basename(results["filename"]) == self.name:
            time.sleep(self.seconds)
        return results


@pytest.mark.parametrize("num_workers", [0, 1])
def test_a_sample_over_the_decode_timeout_is_skipped(tmp_path, synth, num_workers):
    names = sorted(os.listdir(os.path.join(synth, "videos", "train")))[:3]
    ann = write(tmp_path / "list.txt", "".join(f"train/{n} {i}\n" for i, n in enumerate(names)))
    pipeline = [SleepOn(names[1], 30), *video_pipeline(test_mode=True)]
    cfg = dict(batch_size=3, num_workers=num_workers, dataset=dict(
        type="VideoDataset", ann_file=ann, data_prefix=dict(video=os.path.join(synth, "videos")),
        pipeline=pipeline, decode_timeout=0.3))
    started = time.monotonic()
    batch = next(iter(build_dataloader(cfg, "test_dataloader", seed=0, shuffle_default=False)))
    assert time.monotonic() - started < 10  # not the 30 s the step wanted
    assert batch["indices"].tolist() == [0, 2] and batch["skipped_indices"].tolist() == [1]
    assert [os.path.basename(s) for s in batch["skipped"]] == [names[1]]
    assert batch["skip_reasons"] == ["decode timed out after 0.3 s"]
    assert batch["skipped_labels"] == [1]
