"""--cfg-options: value grammar, dotted keys, list indexing and unknown-path errors."""

import copy

import pytest

from kinetix.config import apply_cfg_options, format_key_path, parse_cfg_options
from kinetix.errors import ConfigError


def parse_one(value: str):
    return parse_cfg_options([f"k={value}"])["k"]


def error_of(fn, *args) -> str:
    with pytest.raises(ConfigError) as info:
        fn(*args)
    message = str(info.value)
    assert "\n" not in message, message
    return message


# ---------------------------------------------------------------- value grammar

def test_spec_example():
    assert parse_one("[(1,2,3),[a,b],c]") == [(1, 2, 3), ["a", "b"], "c"]


@pytest.mark.parametrize("text, expected", [
    ("1", 1), ("-2", -2), ("1.5", 1.5), ("1e-3", 1e-3), ("0.", 0.0),
    ("true", True), ("False", False), ("TRUE", True),
    ("None", None), ("none", "none"),
    ("abc", "abc"), ("SGD", "SGD"), ("a/b.pth", "a/b.pth"), ("", ""),
])
def test_scalars(text, expected):
    value = parse_one(text)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize("text, expected", [
    ("'abc'", "abc"), ('"abc"', "abc"), ("'1'", 1),     # quotes stripped, then parsed
    (" 1 ", 1), ("'a b'", "ab"), ("[1, 2]", [1, 2]),   # spaces dropped
])
def test_quotes_and_spaces(text, expected):
    assert parse_one(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("[1,2]", [1, 2]),
    ("(1,2)", (1, 2)),
    ("a,b", ["a", "b"]),
    ("1,", [1]),
    ("(1,)", (1,)),
    ("(1)", (1,)),
    ("[]", []),
    ("()", ()),
    ("[[]]", [[]]),
    ("[[1,2],[3]]", [[1, 2], [3]]),
    ("(1,2),(3,4)", [(1, 2), (3, 4)]),
    ("[1],[2]", [[1], [2]]),
    ("['a','b']", ["a", "b"]),
    ("[0.5,true,None,x]", [0.5, True, None, "x"]),
])
def test_containers(text, expected):
    value = parse_one(text)
    assert value == expected
    assert type(value) is type(expected)


def test_key_is_stripped_and_value_may_hold_equals():
    assert parse_cfg_options([" a.b =x=y"]) == {"a.b": "x=y"}


def test_later_pair_wins():
    assert parse_cfg_options(["a=1", "b=2", "a=3"]) == {"a": 3, "b": 2}


@pytest.mark.parametrize("pair", ["lr", "=1", " =1"])
def test_pair_without_key_or_equals(pair):
    message = error_of(parse_cfg_options, [pair])
    assert message.startswith(f"--cfg-options {pair!r}")
    assert "key=value" in message


@pytest.mark.parametrize("pair", ["x=[1,2", "x=(1,2]", "x=1,2)", "x=[(1,2],3)"])
def test_unbalanced_brackets(pair):
    assert error_of(parse_cfg_options, [pair]) == f"--cfg-options {pair!r}: unbalanced brackets"


# ---------------------------------------------------------------- applying

@pytest.fixture
def cfg():
    return {
        "model": {"type": "Recognizer2D", "backbone": {"type": "ResNet", "depth": 50}},
        "optim_wrapper": {"optimizer": {"type": "SGD", "lr": 0.01}, "clip_grad": None},
        "train_pipeline": [{"type": "SampleFrames", "clip_len": 1}, {"type": "Resize"}],
        "train_dataloader": {
            "batch_size": 8,
            "dataset": {"type": "VideoDataset", "pipeline": [{"type": "A"}, {"type": "SampleFrames", "clip_len": 1}]},
        },
        "scales": (224, 256),
        "max_epochs": 100,
    }


def test_dotted_keys_nest(cfg):
    apply_cfg_options(cfg, {"optim_wrapper.optimizer.lr": 0.1, "max_epochs": 5})
    assert cfg["optim_wrapper"]["optimizer"] == {"type": "SGD", "lr": 0.1}
    assert cfg["max_epochs"] == 5


def test_numeric_part_indexes_a_list(cfg):
    apply_cfg_options(cfg, {"train_pipeline.0.type": "DenseSampleFrames",
                            "train_dataloader.dataset.pipeline.1.clip_len": 4,
                            "train_pipeline.-1.scale": (-1, 256)})
    assert cfg["train_pipeline"][0] == {"type": "DenseSampleFrames", "clip_len": 1}
    assert cfg["train_dataloader"]["dataset"]["pipeline"][1]["clip_len"] == 4
    assert cfg["train_pipeline"][1] == {"type": "Resize", "scale": (-1, 256)}


def test_replace_a_whole_list_item_and_a_whole_value(cfg):
    apply_cfg_options(cfg, parse_cfg_options(["train_pipeline.1=x", "train_dataloader.dataset.pipeline=[]"]))
    assert cfg["train_pipeline"][1] == "x"
    assert cfg["train_dataloader"]["dataset"]["pipeline"] == []


def test_new_top_level_keys_are_allowed(cfg):
    apply_cfg_options(cfg, {"work_dir": "w", "load_from": None, "randomness.seed": 0})
    assert cfg["work_dir"] == "w"
    assert cfg["load_from"] is None
    assert cfg["randomness"] == {"seed": 0}


def test_new_leaf_in_a_typed_dict_is_allowed(cfg):
    apply_cfg_options(cfg, {"model.backbone.frozen_stages": 2, "train_dataloader.dataset.pipeline.0.n": 1})
    assert cfg["model"]["backbone"]["frozen_stages"] == 2
    assert cfg["train_dataloader"]["dataset"]["pipeline"][0] == {"type": "A", "n": 1}


def test_missing_leaf_in_untyped_dict_suggests_the_closest_key(cfg):
    before = copy.deepcopy(cfg)
    message = error_of(apply_cfg_options, cfg, {"train_dataloader.batch_sise": 2})
    assert message.startswith("--cfg-options train_dataloader.batch_sise:")
    assert "did you mean 'train_dataloader.batch_size'?" in message
    assert cfg == before


def test_missing_intermediate_key_suggests_the_closest_key(cfg):
    message = error_of(apply_cfg_options, cfg, {"model.bakbone.depth": 101})
    assert "model.bakbone.depth" in message
    assert "did you mean 'model.backbone'?" in message
    assert "bakbone" not in cfg["model"]


def test_missing_intermediate_in_a_typed_dict_is_an_error(cfg):
    message = error_of(apply_cfg_options, cfg, {"model.backbone.norm_cfg.requires_grad": False})
    assert "model.backbone" in message and "'norm_cfg'" in message


def test_missing_key_without_a_close_match_has_no_suggestion(cfg):
    message = error_of(apply_cfg_options, cfg, {"optim_wrapper.zzzzzz": 1})
    assert "optim_wrapper" in message and "did you mean" not in message


@pytest.mark.parametrize("key", ["train_pipeline.2.type", "train_pipeline.-3", "train_pipeline.5"])
def test_index_out_of_range(cfg, key):
    message = error_of(apply_cfg_options, cfg, {key: "x"})
    assert message.startswith(f"--cfg-options {key}:")
    assert "out of range" in message and "2 items" in message


def test_non_numeric_part_on_a_list(cfg):
    message = error_of(apply_cfg_options, cfg, {"train_pipeline.type": "x"})
    assert "train_pipeline is a list" in message


@pytest.mark.parametrize("key, parent", [
    ("max_epochs.x", "max_epochs"),
    ("optim_wrapper.optimizer.lr.value", "optim_wrapper.optimizer.lr"),
    ("optim_wrapper.clip_grad.max_norm", "optim_wrapper.clip_grad"),
    ("model.type.x.y", "model.type"),
])
def test_descending_into_a_scalar(cfg, key, parent):
    message = error_of(apply_cfg_options, cfg, {key: 1})
    assert message.startswith(f"--cfg-options {key}: {parent} = ")
    assert "not a dict or list" in message


def test_item_of_a_tuple_cannot_be_set(cfg):
    message = error_of(apply_cfg_options, cfg, {"scales.0": 1})
    assert "scales is a tuple" in message
    assert cfg["scales"] == (224, 256)


def test_empty_key_part(cfg):
    assert "empty part" in error_of(apply_cfg_options, cfg, {"model..type": "x"})


def test_format_key_path():
    assert format_key_path(["train_pipeline", 0, "type"]) == "train_pipeline.0.type"
    assert format_key_path([]) == ""


def test_a_lone_comma_is_a_string():
    # delimiter=, for annotation lists separated by commas
    assert parse_cfg_options(["d=,", "e=','"]) == {"d": ",", "e": ","}
    assert parse_one("1,") == [1]


def test_unknown_first_key_part_suggests_a_section(cfg):
    before = copy.deepcopy(cfg)
    message = error_of(apply_cfg_options, cfg, {"optim_wraper.optimizer.lr": 0.5})
    assert message.startswith("--cfg-options optim_wraper.optimizer.lr: the config has no key 'optim_wraper'")
    assert message.endswith("did you mean 'optim_wrapper'?")
    assert "did you mean 'work_dir'?" in error_of(apply_cfg_options, cfg, {"wrok_dir": "w"})
    assert cfg == before


def test_one_key_cannot_start_a_section_that_needs_its_structure(cfg):
    message = error_of(apply_cfg_options, cfg, {"val_dataloader.num_workers": 0})
    assert message.startswith("--cfg-options val_dataloader.num_workers: the config has no val_dataloader section")
    assert "val_dataloader" not in cfg


def test_setting_a_variable_of_the_file_names_the_copies_to_set(cfg):
    cfg["train_dataloader"]["dataset"]["pipeline"] = copy.deepcopy(cfg["train_pipeline"])
    with pytest.warns(UserWarning) as record:
        apply_cfg_options(cfg, {"train_pipeline.0.clip_len": 4})
    assert len(record) == 1
    assert "set train_dataloader.dataset.pipeline.0.clip_len instead" in str(record[0].message)
    assert cfg["train_pipeline"][0]["clip_len"] == 4  # set, though nothing reads it
    assert cfg["train_dataloader"]["dataset"]["pipeline"][0]["clip_len"] == 1


def test_keys_kinetix_reads_do_not_warn(cfg, recwarn):
    apply_cfg_options(cfg, {"optim_wrapper.optimizer.lr": 0.1, "work_dir": "w", "randomness.seed": 0})
    assert not recwarn.list
