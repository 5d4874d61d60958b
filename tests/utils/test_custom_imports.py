"""custom_imports: the user's modules imported before anything is built, on every rank and in
DataLoader workers; a module that fails to import is one line naming it."""

import sys
import textwrap
from pathlib import Path

import pytest

from kinetix import cli
from kinetix.data import seed_worker
from kinetix.errors import ConfigError
from kinetix.registry import TRANSFORMS
from kinetix.utils.imports import import_custom_modules

TSM = str(Path(__file__).resolve().parents[2] / "configs/recognition/tsm/tsm_r18-tiny_1x1x8-synthetic-rgb.py")
PORTED = '''
from kinetix.registry import TRANSFORMS


@TRANSFORMS.register_module()
class {name}:
    """A transform as ported from MMAction2: only the import line changed."""

    def __init__(self, times: int = 1) -> None:
        self.times = times

    def __call__(self, results):
        results["times"] = self.times
        return results
'''


@pytest.fixture
def user_package(tmp_path, monkeypatch, request):
    """A package ``userpkg_<test>`` on sys.path; its modules are forgotten afterwards."""
    name = f"userpkg_{request.node.name.replace('[', '_').replace(']', '_').replace('-', '_')}"
    pkg = tmp_path / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield pkg
    for module in [m for m in sys.modules if m.startswith(name)]:
        del sys.modules[module]


def test_imports_register_the_users_classes(user_package):
    transform = f"Ported{user_package.name}"
    (user_package / "transforms.py").write_text(PORTED.format(name=transform))
    assert transform not in TRANSFORMS
    assert import_custom_modules({"imports": [f"{user_package.name}.transforms"]}) == [f"{user_package.name}.transforms"]
    assert TRANSFORMS.get(transform)(times=3)({})["times"] == 3


def test_a_missing_module_is_one_line_naming_it():
    with pytest.raises(ConfigError) as info:
        import_custom_modules({"imports": ["os", "no_such_module_xyz"]})
    assert str(info.value) == ("custom_imports.imports.1: cannot import 'no_such_module_xyz': "
                               "ModuleNotFoundError: No module named 'no_such_module_xyz'")


def test_an_error_inside_the_module_names_file_and_line(user_package):
    (user_package / "broken.py").write_text("x = 1\nraise RuntimeError('half-written plugin')\n")
    with pytest.raises(ConfigError, match=rf"cannot import '{user_package.name}\.broken': RuntimeError: "
                                          rf"half-written plugin \(.*broken\.py:2\)"):
        import_custom_modules({"imports": [f"{user_package.name}.broken"]})
    (user_package / "syntax.py").write_text("def f(:\n")
    with pytest.raises(ConfigError, match=r"SyntaxError at .*syntax\.py:1"):
        import_custom_modules({"imports": [f"{user_package.name}.syntax"]})


def test_allow_failed_imports_warns_and_goes_on():
    with pytest.warns(UserWarning, match="cannot import 'no_such_module_xyz'.*allow_failed_imports=True"):
        assert import_custom_modules({"imports": ["no_such_module_xyz", "json"],
                                      "allow_failed_imports": True}) == ["json"]


@pytest.mark.parametrize("spec, key", [(["a"], "custom_imports: expected dict"),
                                       ({"imports": [3]}, "custom_imports.imports: expected a list"),
                                       ({"import": ["a"]}, "custom_imports.import: unknown key")])
def test_malformed_specs_name_the_key(spec, key):
    with pytest.raises(ConfigError, match=key):
        import_custom_modules(spec)


def test_dataloader_workers_import_them_too(user_package):
    # A worker started with spawn/forkserver is a fresh interpreter: seed_worker (its init
    # function) imports the modules before the first sample.
    module = f"{user_package.name}.worker_side"
    (user_package / "worker_side.py").write_text("IMPORTED = True\n")
    seed_worker(0, num_workers=2, rank=1, seed=7, custom_imports={"imports": [module]})
    assert sys.modules[module].IMPORTED


def test_a_config_with_a_user_transform_trains(user_package, tmp_path, synthetic_options, monkeypatch):
    transform = f"Ported{user_package.name}"
    (user_package / "transforms.py").write_text(PORTED.format(name=transform))
    config = tmp_path / "cfg.py"
    config.write_text(textwrap.dedent(f"""
        _base_ = [{TSM!r}]
        custom_imports = dict(imports=['{user_package.name}.transforms'], allow_failed_imports=False)
        train_dataloader = dict(dataset=dict(pipeline=[dict(type='{transform}', times=2)] + {{{{_base_.train_pipeline}}}}))
    """))
    assert cli.train_main([str(config), "--work-dir", str(tmp_path / "work"), "--no-validate",
                           "--cfg-options", *synthetic_options(epochs=1, batch_size=8)]) == 0


def test_a_missing_custom_import_stops_the_command_in_one_line(tmp_path, capsys):
    config = tmp_path / "cfg.py"
    config.write_text("custom_imports = dict(imports=['my_missing_plugin'])\n")
    assert cli.train_main([str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("error: custom_imports.imports.0: cannot import 'my_missing_plugin': "
                   "ModuleNotFoundError: No module named 'my_missing_plugin'")
