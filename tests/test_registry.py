import pytest

from kinetix.errors import ConfigError
from kinetix.registry import Registry, build, check_types


def make_registry() -> Registry:
    reg = Registry("thing")

    @reg.register
    class Leaf:
        def __init__(self, size: int = 1) -> None:
            self.size = size

    @reg.register(aliases=["Tree"])
    class Node:
        def __init__(self, child, norm_cfg=None, items=()) -> None:
            self.child, self.norm_cfg, self.items = child, norm_cfg, items

    return reg


def test_duplicate_name_is_an_error():
    reg = make_registry()
    with pytest.raises(KeyError, match="already registered"):
        reg.register(lambda: None, name="Leaf")


def test_build_builds_children_first_and_keeps_cfg_dicts():
    reg = make_registry()
    node = build(dict(type="Tree", child=dict(type="Leaf", size=3),
                      norm_cfg=dict(type="BN3d"), items=[dict(type="Leaf"), 5]), reg, "model")
    assert node.child.size == 3
    assert node.norm_cfg == {"type": "BN3d"}  # a spec, left as a dict
    assert node.items[0].size == 1 and node.items[1] == 5


def test_unknown_type_names_key_path_and_close_match():
    reg = make_registry()
    with pytest.raises(ConfigError) as info:
        build(dict(type="Node", child=dict(type="Lef")), reg, "model")
    assert str(info.value).startswith("model.child.type: unknown thing type 'Lef'")
    assert "'Leaf'" in str(info.value)


def test_unknown_argument_names_key_path():
    reg = make_registry()
    with pytest.raises(ConfigError, match=r"model\.child\.sise: .*did you mean 'size'"):
        build(dict(type="Node", child=dict(type="Leaf", sise=2)), reg, "model")


def test_type_error_inside_constructor_is_not_a_config_error():
    reg = Registry("broken")

    @reg.register
    class Broken:
        def __init__(self) -> None:
            raise TypeError("bug")

    with pytest.raises(TypeError, match="bug"):
        build(dict(type="Broken"), reg, "x")


def test_check_types_walks_without_building():
    reg = make_registry()
    check_types(dict(type="Node", child=dict(type="Leaf")), reg, "model")
    with pytest.raises(ConfigError, match=r"^model\.items\.1\.type"):
        check_types(dict(type="Node", items=[dict(type="Leaf"), dict(type="Nope")]), reg, "model")


def test_register_module_spellings_of_mmengine():
    reg = Registry("thing")

    @reg.register_module()
    class Plain:
        pass

    @reg.register_module(name=["Named", "AlsoNamed"])
    class Other:
        pass

    reg.register_module(module=dict, name="Mapping")
    assert reg.get("Plain") is Plain and reg.get("Named") is Other and reg.get("AlsoNamed") is Other
    assert reg.get("Mapping") is dict
    with pytest.raises(KeyError, match="'Plain' is already registered.*force=True"):
        reg.register_module(name="Plain", module=Other)
    reg.register_module(name="Plain", force=True, module=Other)  # a deliberate override
    assert reg.get("Plain") is Other
    reg.register(Other)  # the same object again (a module imported twice) is harmless
    with pytest.raises(TypeError, match="name must be a str or a list of str"):
        reg.register_module(name=3)


def test_mmaction2_registry_names_are_the_same_registries():
    from kinetix.registry import DATA_SAMPLERS, PARAM_SCHEDULERS, SAMPLERS, SCHEDULERS
    assert DATA_SAMPLERS is SAMPLERS and PARAM_SCHEDULERS is SCHEDULERS
