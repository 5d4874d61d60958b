"""load_config: _base_ inheritance, merge rules, {{ }} substitution and error messages."""

import os
import textwrap
from pathlib import Path

import pytest

from kinetix.config import load_config, merge_config
from kinetix.errors import ConfigError


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def load_error(path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message, message
    return message


# ---------------------------------------------------------------- inheritance

def test_three_levels_in_different_folders(tmp_path):
    write(tmp_path, "_base_/models/root.py", """
        model = dict(type='Recognizer2D', backbone=dict(type='ResNet', depth=50, pretrained='a'),
                     cls_head=dict(type='TSNHead', num_classes=400))
        max_epochs = 100
        """)
    write(tmp_path, "mid/sub/mid.py", """
        _base_ = '../../_base_/models/root.py'
        model = dict(backbone=dict(depth=101))
        max_epochs = 50
        """)
    top = write(tmp_path, "recognition/tsn/top.py", """
        _base_ = ['../../mid/sub/mid.py']
        model = dict(cls_head=dict(num_classes=10))
        work_dir = 'w'
        """)
    cfg = load_config(top)
    assert cfg == {
        "model": dict(type="Recognizer2D", backbone=dict(type="ResNet", depth=101, pretrained="a"),
                      cls_head=dict(type="TSNHead", num_classes=10)),
        "max_epochs": 50,
        "work_dir": "w",
    }
    assert "_base_" not in cfg


def test_accepts_pathlike_and_relative_path(tmp_path, monkeypatch):
    write(tmp_path, "b.py", "x = 1\n")
    write(tmp_path, "c/a.py", "_base_ = '../b.py'\ny = 2\n")
    monkeypatch.chdir(tmp_path)
    assert load_config(Path("c/a.py")) == {"x": 1, "y": 2}
    assert load_config("c/a.py") == {"x": 1, "y": 2}


def test_several_bases_merge_in_order(tmp_path):
    write(tmp_path, "b/model.py", "model = dict(type='M', depth=50)\n")
    write(tmp_path, "b/data.py", "train_dataloader = dict(batch_size=8, num_workers=2)\n")
    write(tmp_path, "b/runtime.py", "default_scope = 'mmaction'\n")
    top = write(tmp_path, "top.py", """
        _base_ = ['b/model.py', 'b/data.py', 'b/runtime.py']
        train_dataloader = dict(batch_size=2)
        """)
    cfg = load_config(top)
    assert cfg == {"model": {"type": "M", "depth": 50},
                   "train_dataloader": {"batch_size": 2, "num_workers": 2},
                   "default_scope": "mmaction"}
    assert list(cfg) == ["model", "train_dataloader", "default_scope"]


def test_sibling_bases_defining_the_same_key_is_an_error(tmp_path):
    write(tmp_path, "b/one.py", "model = dict(a=1)\n")
    write(tmp_path, "b/two.py", "model = dict(b=2)\n")
    top = write(tmp_path, "top.py", "_base_ = ['b/one.py', 'b/two.py']\n")
    message = load_error(top)
    assert "'model'" in message
    assert "one.py" in message and "two.py" in message
    assert message.startswith(str(top))


def test_lists_and_scalars_replace(tmp_path):
    write(tmp_path, "base.py", """
        pipeline = [dict(type='A'), dict(type='B')]
        opt = dict(lr=0.1, betas=(0.9, 0.99), milestones=[10, 20])
        """)
    top = write(tmp_path, "top.py", """
        _base_ = 'base.py'
        pipeline = [dict(type='C')]
        opt = dict(lr=0.5, milestones=[5])
        """)
    cfg = load_config(top)
    assert cfg["pipeline"] == [{"type": "C"}]
    assert cfg["opt"] == {"lr": 0.5, "betas": (0.9, 0.99), "milestones": [5]}


def test_delete_replaces_the_base_dict(tmp_path):
    write(tmp_path, "base.py", "optim = dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9), clip=1)\n")
    top = write(tmp_path, "top.py", """
        _base_ = 'base.py'
        optim = dict(optimizer=dict(_delete_=True, type='AdamW', lr=1e-3))
        extra = dict(_delete_=True, a=dict(_delete_=True, b=1))
        """)
    cfg = load_config(top)
    assert cfg["optim"] == {"optimizer": {"type": "AdamW", "lr": 1e-3}, "clip": 1}
    # _delete_ in a dict with nothing to replace is dropped too.
    assert cfg["extra"] == {"a": {"b": 1}}


def test_delete_false_still_merges(tmp_path):
    write(tmp_path, "base.py", "d = dict(a=1)\n")
    top = write(tmp_path, "top.py", "_base_ = 'base.py'\nd = dict(_delete_=False, b=2)\n")
    assert load_config(top) == {"d": {"a": 1, "b": 2}}


@pytest.mark.parametrize("base_value, kind", [("[1, 2]", "list"), ("None", "NoneType"), ("3", "int")])
def test_dict_over_non_dict_is_an_error(tmp_path, base_value, kind):
    write(tmp_path, "base.py", f"model = dict(neck={base_value})\n")
    top = write(tmp_path, "top.py", "_base_ = 'base.py'\nmodel = dict(neck=dict(type='N'))\n")
    message = load_error(top)
    assert str(top) in message
    assert "model.neck" in message
    assert kind in message
    assert "_delete_=True" in message


def test_dict_over_list_with_delete_is_fine(tmp_path):
    write(tmp_path, "base.py", "model = dict(neck=[1, 2])\n")
    top = write(tmp_path, "top.py", "_base_ = 'base.py'\nmodel = dict(neck=dict(_delete_=True, type='N'))\n")
    assert load_config(top) == {"model": {"neck": {"type": "N"}}}


def test_merge_config_does_not_modify_its_inputs():
    base = {"a": {"b": 1, "c": 2}}
    child = {"a": {"_delete_": True, "d": 3}}
    out = merge_config(base, child)
    assert out == {"a": {"d": 3}}
    assert base == {"a": {"b": 1, "c": 2}}
    assert child == {"a": {"_delete_": True, "d": 3}}


def test_drops_modules_functions_classes_and_dunders(tmp_path):
    top = write(tmp_path, "top.py", """
        import os
        from math import pi, sqrt
        def helper(x):
            return x * 2
        class Thing:
            pass
        __private = 1
        _single = helper(2)
        radius = pi
        """)
    # Imported plain values (pi) stay, like any variable; sqrt is a builtin function.
    assert load_config(top) == {"pi": pytest.approx(3.14159, abs=1e-4), "_single": 4,
                                "radius": pytest.approx(3.14159, abs=1e-4)}


# ---------------------------------------------------------------- {{ }} substitution

def test_base_reference_substitutes_any_value(tmp_path):
    write(tmp_path, "b/base.py", """
        train_pipeline = [dict(type='SampleFrames', clip_len=1), dict(type='Resize', scale=(-1, 256))]
        model = dict(backbone=dict(depth=50), cls_head=dict(num_classes=400))
        """)
    top = write(tmp_path, "top.py", """
        _base_ = ['b/base.py']
        val_pipeline = {{_base_.train_pipeline}}
        depth = {{ _base_.model.backbone.depth }}
        classes = {{_base_.model.cls_head.num_classes}} // 4
        quoted = '{{_base_.model.backbone}}'
        first = {{_base_.train_pipeline.1.scale}}
        val_pipeline[0]['clip_len'] = 8
        """)
    cfg = load_config(top)
    assert cfg["val_pipeline"] == [dict(type="SampleFrames", clip_len=8), dict(type="Resize", scale=(-1, 256))]
    # A copy: changing it in the child leaves the base's list alone.
    assert cfg["train_pipeline"][0]["clip_len"] == 1
    assert cfg["depth"] == 50
    assert cfg["classes"] == 100
    assert cfg["quoted"] == {"depth": 50}
    assert cfg["first"] == (-1, 256)


def test_base_reference_to_a_grandparent_value(tmp_path):
    write(tmp_path, "a.py", "lr = 0.1\n")
    write(tmp_path, "b.py", "_base_ = 'a.py'\nmomentum = 0.9\n")
    top = write(tmp_path, "c.py", "_base_ = 'b.py'\nopt = dict(lr={{_base_.lr}}, m={{_base_.momentum}})\n")
    assert load_config(top)["opt"] == {"lr": 0.1, "m": 0.9}


def test_bad_base_reference_names_file_line_and_key(tmp_path):
    write(tmp_path, "base.py", "model = dict(backbone=dict(depth=50))\n")
    top = write(tmp_path, "top.py", "_base_ = 'base.py'\n\nx = {{_base_.model.bakbone.depth}}\n")
    message = load_error(top)
    assert message.startswith(f"{top}:3:")
    assert "model.bakbone" in message
    assert "did you mean 'backbone'?" in message


def test_base_reference_without_base(tmp_path):
    top = write(tmp_path, "top.py", "x = {{_base_.y}}\n")
    message = load_error(top)
    assert message.startswith(f"{top}:1:")
    assert "_base_" in message


def test_env_variable_set(tmp_path, monkeypatch):
    monkeypatch.setenv("KINETIX_TEST_ROOT", "/mnt/k400")
    top = write(tmp_path, "top.py", """
        a = {{'$KINETIX_TEST_ROOT:data/k400'}}
        b = {{"$KINETIX_TEST_ROOT:data/k400"}}
        c = '{{$KINETIX_TEST_ROOT:data}}/videos'
        d = '{{'$KINETIX_TEST_ROOT:data'}}'
        """)
    assert load_config(top) == {"a": "/mnt/k400", "b": "/mnt/k400", "c": "/mnt/k400/videos", "d": "/mnt/k400"}


def test_env_variable_unset_uses_default_as_string(tmp_path, monkeypatch):
    monkeypatch.delenv("KINETIX_TEST_UNSET", raising=False)
    top = write(tmp_path, "top.py", """
        a = {{'$KINETIX_TEST_UNSET:data/k400'}}
        n = {{ "$KINETIX_TEST_UNSET:8" }}
        e = {{'$KINETIX_TEST_UNSET:'}}
        """)
    assert load_config(top) == {"a": "data/k400", "n": "8", "e": ""}


def test_env_variable_unset_without_default(tmp_path, monkeypatch):
    monkeypatch.delenv("KINETIX_TEST_UNSET", raising=False)
    top = write(tmp_path, "top.py", "x = 1\ny = {{'$KINETIX_TEST_UNSET'}}\n")
    message = load_error(top)
    assert message.startswith(f"{top}:2:")
    assert "KINETIX_TEST_UNSET" in message


def test_env_value_with_quotes_stays_a_string(tmp_path, monkeypatch):
    monkeypatch.setenv("KINETIX_TEST_ROOT", "it's \\here")
    top = write(tmp_path, "top.py", "a = {{'$KINETIX_TEST_ROOT:x'}}\nb = 'p/{{$KINETIX_TEST_ROOT:x}}'\n")
    assert load_config(top) == {"a": "it's \\here", "b": "p/it's \\here"}


# ---------------------------------------------------------------- errors

def test_missing_file(tmp_path):
    message = load_error(tmp_path / "nope.py")
    assert message == f"config file not found: {tmp_path / 'nope.py'}"


def test_missing_base_names_the_referring_file(tmp_path):
    top = write(tmp_path, "cfg/top.py", "_base_ = ['../_base_/gone.py']\n")
    message = load_error(top)
    assert message.startswith("config file not found: ")
    assert os.path.join(str(tmp_path), "_base_", "gone.py") in message
    assert str(top) in message


def test_not_a_python_file(tmp_path):
    path = write(tmp_path, "cfg.yaml", "a: 1\n")
    message = load_error(path)
    assert str(path) in message and ".py" in message


def test_syntax_error_names_file_and_line(tmp_path):
    top = write(tmp_path, "top.py", "a = 1\nb = dict(x=1,, y=2)\n")
    message = load_error(top)
    assert message.startswith(f"{top}:2: invalid syntax")


def test_unclosed_bracket_is_a_syntax_error(tmp_path):
    top = write(tmp_path, "top.py", "a = 1\nb = dict(x=1,\n")
    message = load_error(top)
    assert message.startswith(f"{top}:2: invalid syntax")


def test_syntax_error_in_a_base_names_the_base(tmp_path):
    base = write(tmp_path, "b/base.py", "x = = 1\n")
    top = write(tmp_path, "top.py", "_base_ = 'b/base.py'\n")
    assert load_error(top).startswith(f"{base}:1: invalid syntax")


def test_exception_while_running_names_file_line_and_type(tmp_path):
    top = write(tmp_path, "top.py", "a = 1\nb = 2\nc = undefined_name + 1\n")
    message = load_error(top)
    assert message.startswith(f"{top}:3: NameError:")
    assert "undefined_name" in message


def test_exception_in_a_helper_function_points_into_the_config(tmp_path):
    top = write(tmp_path, "top.py", "def f():\n    return 1 / 0\n\nx = f()\n")
    assert load_error(top).startswith(f"{top}:2: ZeroDivisionError:")


def test_multiline_exception_message_becomes_one_line(tmp_path):
    top = write(tmp_path, "top.py", "raise ValueError('first\\nsecond')\n")
    assert load_error(top) == f"{top}:1: ValueError: first second"


def test_circular_bases(tmp_path):
    write(tmp_path, "a.py", "_base_ = 'b.py'\n")
    write(tmp_path, "b.py", "_base_ = 'a.py'\n")
    message = load_error(tmp_path / "a.py")
    assert "circular" in message


@pytest.mark.parametrize("value", ["3", "some_name", "['a.py', 1]"])
def test_bad_base_value(tmp_path, value):
    top = write(tmp_path, "top.py", f"x = 1\n_base_ = {value}\n")
    message = load_error(top)
    assert message.startswith(f"{top}:2:")
    assert "_base_" in message


def test_config_that_is_not_utf8_names_file_byte_and_line(tmp_path):
    base = tmp_path / "base.py"
    base.write_bytes(b"a = 1\n# caf\xe9\n")
    (tmp_path / "top.py").write_text("_base_ = 'base.py'\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "top.py")
    assert str(info.value) == f"config file {base}: not UTF-8 text (byte 0xe9 at line 2)"


def test_config_that_is_a_folder(tmp_path):
    (tmp_path / "cfg.py").mkdir()
    with pytest.raises(ConfigError, match=r"cfg\.py: is a folder, not a file$"):
        load_config(tmp_path / "cfg.py")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads unreadable files")
def test_unreadable_config_names_file_and_reason(tmp_path):
    path = tmp_path / "cfg.py"
    path.write_text("a = 1\n")
    path.chmod(0)
    with pytest.raises(ConfigError, match=r"config file .*cfg\.py: cannot read it: Permission denied"):
        load_config(path)


# ------------------------------------------------------- _base_ as an expression

def test_base_as_string_concatenation_like_i3d_nl_gaussian(tmp_path):
    # MMAction2's i3d nl-gaussian configs: _base_ = ['a_' + 'b.py']
    write(tmp_path, "nl-dot-product_32x2x1.py", "model = dict(mode='dot_product', depth=50)\n")
    path = write(tmp_path, "nl-gaussian.py", """\
        _base_ = [
            'nl-dot-product_' +
            '32x2x1.py'
        ]
        model = dict(mode='gaussian')
        """)
    assert load_config(path) == {"model": {"mode": "gaussian", "depth": 50}}


def test_base_from_earlier_names_and_list_addition(tmp_path):
    write(tmp_path, "bases/a.py", "x = 1\n")
    write(tmp_path, "bases/b.py", "y = 2\n")
    path = write(tmp_path, "child.py", """\
        folder = 'bases/'
        first = [folder + 'a.py']
        _base_ = first + [folder + 'b.py']
        z = 3
        """)
    assert load_config(path) == {"folder": "bases/", "first": ["bases/a.py"], "x": 1, "y": 2, "z": 3}


@pytest.mark.parametrize("expression, says", [
    ("__import__('os').system('true')", "only literals, + and earlier names"),
    ("open('/etc/passwd').read()", "only literals, + and earlier names"),
    ("later + '.py'", "name 'later' is not a literal assigned earlier"),
    ("'a' + ['b.py']", "cannot add str and list"),
    ("f'{1}.py'", "only literals, + and earlier names"),
    ("3", "must be a path or a list of paths"),
])
def test_base_expression_that_is_not_allowed_is_one_line(tmp_path, expression, says):
    path = write(tmp_path, "bad.py", f"_base_ = {expression}\nlater = 'x'\n")
    message = load_error(path)
    assert message.startswith(f"{path}:1: _base_") and says in message, message
