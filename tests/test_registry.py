import numpy as np
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


# ---------------------------------------------------------------- argument checks before the call
def typed_registry() -> Registry:
    from typing import Annotated, Literal, Sequence

    from kinetix.registry import Between, Positive

    reg = Registry("typed")

    @reg.register
    class Head:
        def __init__(self, num_classes: int, ratio: float = 0.5, flag: bool = False, name: str | None = None,
                     sizes: Sequence[int] = (1,), pair: tuple[int, int] = (1, 1), mode: Literal["a", "b"] = "a",
                     scale: Annotated[float, Between(0, 2)] = 1.0, count: Annotated[int, Positive] | None = None,
                     spec: dict[str, int] | None = None, **extra) -> None:
            self.num_classes, self.ratio, self.pair = num_classes, ratio, pair

    return reg


@pytest.mark.parametrize("cfg, message", [
    (dict(num_classes="ten"), "x.num_classes: expected a positive int, got 'ten'"),
    (dict(num_classes=0), "x.num_classes: expected a positive int, got 0"),
    (dict(num_classes=True), "x.num_classes: expected a positive int, got True"),
    (dict(num_classes=2, ratio="half"), "x.ratio: expected a number, got 'half'"),
    (dict(num_classes=2, flag="yes"), "x.flag: expected a bool, got 'yes'"),
    (dict(num_classes=2, name=3), "x.name: expected a string or None, got 3"),
    (dict(num_classes=2, sizes=[1, "b"]), "x.sizes.1: expected an int, got 'b'"),
    (dict(num_classes=2, sizes=3), "x.sizes: expected a list, got 3"),
    (dict(num_classes=2, pair=[1]), "x.pair: expected a list of 2 items, got [1]"),
    (dict(num_classes=2, mode="c"), "x.mode: expected one of 'a', 'b', got 'c'"),
    (dict(num_classes=2, scale=3), "x.scale: expected a number between 0 and 2, got 3"),
    (dict(num_classes=2, count=-1), "x.count: expected a positive int or None, got -1"),
    (dict(num_classes=2, spec=dict(a="b")), "x.spec.a: expected an int, got 'b'"),
])
def test_wrong_argument_type_or_range_names_key_path_and_value(cfg, message):
    reg = typed_registry()
    for check in (lambda: build(dict(type="Head", **cfg), reg, "x"),
                  lambda: check_types(dict(type="Head", **cfg), reg, "x")):
        with pytest.raises(ConfigError) as info:
            check()
        assert str(info.value) == message


def test_config_spellings_that_fit_their_annotation():
    reg = typed_registry()
    # an int for a float, a list for a tuple, 0/1 for a bool, numpy numbers, anything through **extra
    head = build(dict(type="Head", num_classes=np.int64(3), ratio=1, pair=[2, 3], flag=1, count=None,
                      sizes=(np.int32(4),), anything=object()), reg, "x")
    assert head.num_classes == 3 and head.ratio == 1 and head.pair == [2, 3]


def test_ranges_by_argument_name_cover_unannotated_and_torch_callables():
    import torch
    reg = Registry("optim")
    reg.register(torch.optim.SGD)
    reg.register(lambda lr, momentum=0.0: (lr, momentum), name="Plain")
    with pytest.raises(ConfigError, match=r"^opt\.lr: expected a non-negative number.*got -1$"):
        build(dict(type="SGD", lr=-1, params=[torch.zeros(1, requires_grad=True)]), reg, "opt")
    with pytest.raises(ConfigError, match=r"^opt\.momentum: expected a non-negative number, got -0\.5$"):
        build(dict(type="Plain", lr=0.1, momentum=-0.5), reg, "opt")
    assert build(dict(type="Plain", lr=0.1, momentum="any"), reg, "opt") == (0.1, "any")  # no annotation: no type


def test_check_types_leaves_values_that_build_turns_into_objects():
    reg = make_registry()
    # child and items are built first; check_types must not compare their dicts with annotations
    check_types(dict(type="Node", child=dict(type="Leaf", size=2), items=[dict(type="Leaf")]), reg, "m")


def test_check_types_accepts_dicts_with_non_string_keys():
    # Flip(flip_label_map={86: 87, ...}) in the Something-Something configs.
    reg = make_registry()
    check_types(dict(type="Node", child=dict(type="Leaf"), items={86: 87, 87: 86}), reg, "model")
