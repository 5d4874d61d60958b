"""Class names: label files, and where a config keeps them."""

import pytest

from kinetix.engine.labels import check_class_count, class_names, name_of, read_label_file
from kinetix.errors import ConfigError, DataError


def test_read_label_file_plain_and_numbered(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("abseiling\nair drumming\n\n")
    assert read_label_file(plain) == ["abseiling", "air drumming"]
    numbered = tmp_path / "numbered.txt"
    numbered.write_text("0 abseiling\n1 air drumming\n")
    assert read_label_file(numbered) == ["abseiling", "air drumming"]
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(DataError, match="empty.txt: is empty"):
        read_label_file(tmp_path / "empty.txt")
    with pytest.raises(DataError, match="nope.txt: no such file"):
        read_label_file(tmp_path / "nope.txt")


def test_class_names_in_order_of_precedence(tmp_path):
    ann = tmp_path / "test_list.txt"
    ann.write_text("a.mp4 0\n")
    cfg = {"test_dataloader": {"dataset": {"ann_file": str(ann)}}}
    names, where = class_names(cfg)
    assert names is None and "class indices" in where
    (tmp_path / "classes.txt").write_text("x\ny\n")
    assert class_names(cfg) == (["x", "y"], str(tmp_path / "classes.txt"))
    cfg["label_map"] = ["p", "q"]
    assert class_names(cfg) == (["p", "q"], "label_map")
    cfg["test_dataloader"]["dataset"]["metainfo"] = {"classes": ("m", "n")}
    assert class_names(cfg) == (["m", "n"], "test_dataloader.dataset.metainfo.classes")
    cfg["test_dataloader"]["dataset"]["metainfo"] = {"classes": 3}
    with pytest.raises(ConfigError, match="metainfo.classes"):
        class_names(cfg)


def test_class_count_and_names():
    check_class_count(["a", "b"], 2, "f")
    with pytest.raises(DataError, match="f: has 1 class names but the model predicts 2"):
        check_class_count(["a"], 2, "f")
    assert name_of(["a"], 0) == "a" and name_of(["a"], 5) == "5" and name_of(None, 1) == "1"
