"""dump_config: the written file reads back to an equal config, is readable and atomic."""

import math
import textwrap

import pytest

from kinetix.config import dump_config, load_config
from kinetix.errors import ConfigError

CFG = {
    "model": {
        "type": "Recognizer2D",
        "backbone": {"type": "ResNet", "depth": 50, "norm_cfg": {"type": "BN", "requires_grad": True}},
        "cls_head": {"type": "TSNHead", "num_classes": 400, "dropout_ratio": 0.4, "init_std": 1e-05},
        "data_preprocessor": {"mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375]},
    },
    "train_pipeline": [
        {"type": "SampleFrames", "clip_len": 1, "frame_interval": 1, "num_clips": 3},
        {"type": "MultiScaleCrop", "input_size": 224, "scales": (1, 0.875, 0.75, 0.66)},
        {"type": "Resize", "scale": (224, 224), "keep_ratio": False},
    ],
    "one": (1,),
    "empty": {"list": [], "tuple": (), "dict": {}},
    "odd_keys": {"a-b": 1, 3: "three", "class": None, (1, 2): [True, False]},
    "text": "it's \"quoted\"\nand two lines",
    "big": 10 ** 20,
    "neg": -0.5,
    "inf": math.inf,
    "nested_tuples": [((1, 2), (3,)), ([4], {"k": (5,)})],
    "load_from": None,
}


def test_round_trip(tmp_path):
    path = tmp_path / "out.py"
    dump_config(CFG, path)
    back = load_config(path)
    assert back == CFG
    assert list(back) == list(CFG)
    assert type(back["one"]) is tuple
    assert type(back["train_pipeline"][1]["scales"]) is tuple
    assert type(back["nested_tuples"][0][1]) is tuple


def test_one_top_level_assignment_per_key(tmp_path):
    path = tmp_path / "out.py"
    dump_config(CFG, path)
    text = path.read_text()
    top_level = [line.split(" = ")[0] for line in text.splitlines()
                 if line and not line[0].isspace() and not line.startswith(("#", ")", "]", "}"))]
    assert top_level == list(CFG)
    assert max(len(line) for line in text.splitlines()) <= 100


def test_readable_dict_style(tmp_path):
    path = tmp_path / "out.py"
    dump_config({"model": {"type": "ResNet", "depth": 50}, "long": list(range(40))}, path)
    text = path.read_text()
    assert "model = dict(type='ResNet', depth=50)\n" in text
    # Too long for one line: one item per line, indented.
    assert "long = [\n    0,\n    1,\n" in text


def test_round_trip_of_a_loaded_config_with_bases(tmp_path):
    (tmp_path / "base.py").write_text("model = dict(type='M', layers=(1, 2))\nlr = 0.1\n")
    (tmp_path / "top.py").write_text(textwrap.dedent("""
        _base_ = 'base.py'
        model = dict(extra=[dict(type='X', size=(3,))])
        """))
    cfg = load_config(tmp_path / "top.py")
    dump_config(cfg, tmp_path / "work" / "merged.py")
    text = (tmp_path / "work" / "merged.py").read_text()
    assert "_base_" not in text
    assert load_config(tmp_path / "work" / "merged.py") == cfg


def test_overwrites_atomically_without_leftovers(tmp_path):
    path = tmp_path / "out.py"
    path.write_text("old = 1\n")
    dump_config({"new": 2}, path)
    assert load_config(path) == {"new": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["out.py"]


def test_failed_dump_leaves_the_old_file(tmp_path):
    path = tmp_path / "out.py"
    path.write_text("old = 1\n")
    with pytest.raises(ConfigError):
        dump_config({"new": object()}, path)
    assert path.read_text() == "old = 1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.py"]


def test_unsupported_value_names_the_key_path(tmp_path):
    with pytest.raises(ConfigError) as info:
        dump_config({"model": {"layers": [1, {"fn": len}]}}, tmp_path / "out.py")
    assert "model.layers.1.fn" in str(info.value)
    assert "builtin_function_or_method" in str(info.value)


@pytest.mark.parametrize("key", ["a-b", "class", "__x", "_base_", "dict", 3])
def test_top_level_key_must_be_a_variable_name(tmp_path, key):
    with pytest.raises(ConfigError) as info:
        dump_config({key: 1}, tmp_path / "out.py")
    assert repr(key) in str(info.value)
