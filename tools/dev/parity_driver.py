"""Both sides of ``check_parity.py``: the config preparation they share, and MMAction2's side.

Imported by check_parity.py (kinetix's side uses ``prepare``, ``perturb`` and ``serve``);
run as a script by MMAction2's Python for MMAction2's side, so that both sides prepare a
config the same way. It therefore imports nothing from kinetix, and MMAction2 only inside
MMAction2's handlers.

As a script::

    ORACLE_PYTHON parity_driver.py

reads one JSON command a line on stdin and answers one JSON line each (on the stdout it was
started with; anything the libraries print goes to stderr):

* ``{"cmd": "configs"}`` -> ``{"root": the folder of MMAction2's recognition configs}``;
* ``{"cmd": "build", "config": PATH, "work": DIR, "size": S, "batch": B, "seed": N}``:
  builds the model (pretrained weights off), draws its parameters (``perturb``), draws a
  uint8 input of the config's shape, and saves ``DIR/mm.pt`` = {state, input, scores};
* ``{"cmd": "back", "work": DIR}``: loads ``DIR/kx.pt``'s state into the model just built
  (strict) and saves its scores on the same input in ``DIR/back.pt``.

Every answer has ``ok`` (and ``built`` once the model is built); a failure gives ``stage`` (load, build, forward, load_state) and
``error``, one line.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import time
import traceback
from typing import Any, Callable

SAMPLERS = ("SampleFrames", "DenseSampleFrames", "UntrimmedSampleFrames")
CROPS = ("CenterCrop", "ThreeCrop", "TenCrop")


# ---- shared by both sides: the same config dict gives the same model and input ----

# Transformers at full size are too slow to score here (a ViT-L/14 on 8 frames of 224 px
# takes minutes on two cores, and its state dict is over a gigabyte), so both sides shrink
# them the same way, keyed by the backbone's type: "model" is merged into the model config
# (depth, width, heads; the head's in_channels to match) and "input" into the sample spec
# (crop size, clip length). Every layer kind of the full model stays, so the comparison still
# covers every code path; the full-size model is built separately (on the meta device).
SMALL: dict[str, dict] = {
    # One block per stage keeps both kinds (CBlock in stages 1-2, SABlock in 3-4); head_dim 16
    # gives 2 and 4 heads; 64 px and 4 frames leave 2x4x4 tokens for stage 3's attention.
    "UniFormer": {"model": {"backbone": {"depth": [1, 1, 1, 1], "embed_dim": [16, 32, 32, 64],
                                         "head_dim": 16},
                            "cls_head": {"in_channels": 64}},
                  "input": {"crop_size": 64, "clip_len": 4}},
    # MViT: 5 blocks over the 4 scales (a plain block in scales 0 and 1, downscaling blocks
    # opening scales 1-3), 16 wide; 8 frames at 64 px make a 4 x 16 x 16 token grid, so the
    # adaptive k/v stride (1, 8, 8) and the relative-position tables keep their real roles.
    "MViT": {"model": {"backbone": {"arch": {"embed_dims": 16, "num_layers": 5, "num_heads": 1,
                                             "downscale_indices": [1, 3, 4]},
                                    "spatial_size": 64, "temporal_size": 8},
                       "cls_head": {"in_channels": 128}},
             "input": {"crop_size": 64, "clip_len": 8}},
    # Every shipped config: CLIP blocks (no local MHRA), dpe + decoder on the last blocks.
    # 32 px in 8 px patches keeps a 4x4 grid for the depthwise 3x3x3 dpe.
    "UniFormerV2": {
        "model": {"backbone": {"input_resolution": 32, "patch_size": 8, "width": 32, "layers": 3,
                               "heads": 2, "t_size": 4, "return_list": [1, 2], "n_layers": 2,
                               "n_dim": 32, "n_head": 2, "mlp_dropout": [0.5, 0.5]},
                  "cls_head": {"in_channels": 32}},
        "input": {"crop_size": 32, "clip_len": 4},
    },
    # Video Swin: four stages of two blocks (plain and shifted windows), 16 channels at first.
    # At 64 px the first two stages' maps (16x16, 8x8) exceed the 7x7 window, so the shift
    # mask and the window padding both run, in time too (16 frames of tokens against 8); the
    # last two are smaller than a window, which then shrinks to them.
    "SwinTransformer3D": {
        "model": {"backbone": {"arch": {"embed_dims": 16, "depths": [2, 2, 2, 2],
                                        "num_heads": [1, 2, 4, 8]}},
                  "cls_head": {"in_channels": 128}},
        "input": {"crop_size": 64},
    },
    # VideoMAE (V1, V2): two blocks, 2 heads of 16 channels, 4 frames (2 tubelets). img_size 48
    # against a 32 px input also runs the position embedding's bicubic resize (3x3 -> 2x2).
    "VisionTransformer": {
        "model": {"backbone": {"img_size": 48, "embed_dims": 32, "depth": 2, "num_heads": 2,
                               "num_frames": 4},
                  "cls_head": {"in_channels": 32}},
        "input": {"crop_size": 32, "clip_len": 4}},
    # TimeSformer (all three attention types): two blocks, 2 heads of 16 channels, 4 frames
    # of 2x2 patches (its position embedding has a fixed size: img_size = the input's).
    # timm's 2D Swin: four stages of two blocks, 16 channels at first. At 64 px the first two
    # maps (16x16, 8x8) exceed the 7x7 window, so the shift mask and the window padding run;
    # the last two are one window each.
    "timm.swin_base_patch4_window7_224": {
        "model": {"backbone": {"embed_dim": 16, "depths": [2, 2, 2, 2], "num_heads": [1, 2, 4, 8],
                               "img_size": 64},
                  "cls_head": {"in_channels": 128}},
        "input": {"crop_size": 64}},
    "TimeSformer": {
        "model": {"backbone": {"img_size": 32, "embed_dims": 32, "num_heads": 2,
                               "num_transformer_layers": 2, "num_frames": 4},
                  "cls_head": {"in_channels": 32}},
        "input": {"crop_size": 32, "clip_len": 4}},
}


def prepare(cfg: dict, small: bool = True) -> tuple[dict, dict]:
    """The model config with every pretrained checkpoint off and raw scores averaged
    (``average_clips='score'``: a mean of logits, more telling than softmax probabilities),
    and the input spec: format, channels, segments (2D) or clip length (3D), crop size.
    With ``small``, a backbone type listed in ``SMALL`` is shrunk as that entry says."""
    model = _no_pretrained(copy.deepcopy(cfg["model"]))
    head = model.get("cls_head")
    if isinstance(head, dict):
        head["average_clips"] = "score"
    if isinstance(model.get("test_cfg"), dict) and "average_clips" in model["test_cfg"]:
        model["test_cfg"]["average_clips"] = "score"
    spec = input_spec(cfg, model)
    rule = shrink_rule(model) if small else None
    if rule:
        model = _merge(model, rule.get("model", {}))
        spec.update(rule.get("input", {}))
    return model, spec


def shrink_rule(model: dict) -> dict | None:
    backbone = model.get("backbone")
    return SMALL.get(backbone.get("type")) if isinstance(backbone, dict) else None


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        return {**base, **{k: _merge(base.get(k), v) for k, v in override.items()}}
    return copy.deepcopy(override)


def _no_pretrained(node: Any) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "pretrained" and isinstance(value, (str, bool)):
                value = None if isinstance(value, str) else False
            elif key == "pretrained2d":
                value = False
            elif key == "init_cfg" and _loads_checkpoint(value):
                continue  # the constructor's default (MMAction2's MViT cannot take None)
            out[key] = _no_pretrained(value)
        return out
    if isinstance(node, (list, tuple)):
        return type(node)(_no_pretrained(v) for v in node)
    return node


def _loads_checkpoint(init_cfg: Any) -> bool:
    items = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    return any(isinstance(i, dict) and (i.get("type") == "Pretrained" or "checkpoint" in i)
               for i in items)


def input_spec(cfg: dict, model: dict) -> dict:
    """The shape of one sample as the config's validation pipeline makes it."""
    pipeline = _pipeline(cfg)
    sampler = next((t for t in pipeline if t.get("type") in SAMPLERS), {})
    crop = next((t for t in pipeline if t.get("type") in CROPS), {})
    pre = model.get("data_preprocessor") or {}
    fmt = pre.get("format_shape") or ("NCTHW" if "3D" in str(model.get("type")) else "NCHW")
    mean = pre.get("mean")
    channels = len(mean) if isinstance(mean, (list, tuple)) else 3
    clip_len, num_clips = int(sampler.get("clip_len", 1)), int(sampler.get("num_clips", 1))
    size = crop.get("crop_size", 224)
    size = size if isinstance(size, int) else max(size)
    return {"format": fmt, "channels": channels, "clip_len": clip_len, "num_clips": num_clips,
            "crop_size": size}


def _pipeline(cfg: dict) -> list:
    for key in ("val_pipeline", "test_pipeline"):
        if isinstance(cfg.get(key), list):
            return [t for t in cfg[key] if isinstance(t, dict)]
    dataset = (cfg.get("val_dataloader") or {}).get("dataset") or {}
    return [t for t in dataset.get("pipeline", []) if isinstance(t, dict)]


def sample_shape(spec: dict, size: int) -> tuple[int, ...]:
    """One sample's uint8 input: 2D models see every frame of the segments (flow stacks a
    clip's frames in the channels); 3D models see one view of one clip."""
    c, t = spec["channels"], spec["clip_len"]
    if spec["format"] in ("NCTHW", "MIX2d3d"):   # MIX2d3d: videos are clips, images frames
        return (1, c, t, size, size)
    segments = spec["num_clips"] * (t if c == 3 else 1)
    return (segments, c, size, size)


def seed_all(seed: int = 0) -> None:
    """Seed Python's and NumPy's generators before every forward, on both sides: TRN's
    multi-scale relation draws its frame tuples from NumPy even in eval, as MMAction2's does."""
    import random

    import numpy as np
    random.seed(seed)
    np.random.seed(seed)


def perturb(module: Any, seed: int) -> None:
    """Draw the normalisation parameters and statistics (and every 1-d bias), and every
    all-zero weight, at random: freshly built, batch norm is the identity and
    zero-initialised residual branches are invisible, so a wrong layer there would go unseen."""
    import torch
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in sorted(module.state_dict(keep_vars=True).items()):
            if not tensor.is_floating_point():
                continue
            if tensor.dim() > 1:
                # Zero-initialised projections (UniFormerV2's decoder, layer-scale-like
                # outputs) would hide whatever comes before them.
                if not tensor.any():
                    tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.02)
                continue
            if name.endswith(("running_var", "weight")):
                tensor.copy_(torch.empty(tensor.shape).uniform_(0.8, 1.25, generator=gen))
            else:
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.1)


def one_line(exc: BaseException) -> str:
    """``Type: message`` on one line, with the innermost frame of the code that raised."""
    text = " ".join(str(exc).split()) or repr(exc)
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" [{os.path.basename(frames[-1].filename)}:{frames[-1].lineno}]" if frames else ""
    return f"{type(exc).__name__}: {text[:300]}{where}"


def serve(handlers: dict[str, Callable[[dict], dict]]) -> None:
    """Answer JSON commands from stdin, one line each, on the stdout this process got."""
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)                  # libraries' prints must not corrupt the answers
    sys.stdout = sys.stderr
    for line in sys.stdin:
        request = json.loads(line)
        start, cpu = time.perf_counter(), time.process_time()
        try:
            reply = handlers[request["cmd"]](request)
        except Exception as exc:   # a failing config must never stop the table
            reply = {"ok": False, "stage": "internal", "error": one_line(exc)}
        reply["seconds"] = round(time.perf_counter() - start, 2)
        reply["cpu_seconds"] = round(time.process_time() - cpu, 2)   # the load of others aside
        replies.write(json.dumps(reply, default=str) + "\n")
        replies.flush()


# ---- MMAction2's side ----

def tin_shift_loop(x: Any, shift: Any) -> Any:
    """mmcv's ``tin_shift`` (its CUDA kernel ``tin_shift_forward``), transcribed as plain loops.

    mmcv-lite has no compiled ops, so MMAction2's TIN cannot run without a stand-in. This one
    follows the kernel line by line and is meant to be obviously right, not fast: ``x`` is
    (N, T, C, HW), ``shift`` (N, G) integers; channel ``c`` is in group ``c // (C // G)``;
    input frame ``i`` lands on output frame ``i + shift``; the output starts at zero, so
    frames shifted in from outside the clip stay zero. Forward only (the oracle only scores).
    """
    import torch
    n_size, t_size, channels, hw_size = x.shape
    group_channel = channels // shift.shape[1]
    out = torch.zeros_like(x)
    for n in range(n_size):
        for c in range(channels):
            t_shift = int(shift[n, c // group_channel])
            for i in range(t_size):
                now_t = i + t_shift
                if 0 <= now_t < t_size:
                    out[n, now_t, c, :] = x[n, i, c, :]
    return out


def install_tin_shift_stand_in() -> bool:
    """Give ``mmcv.ops`` a ``tin_shift`` (``tin_shift_loop``) when mmcv's compiled ops are
    missing (mmcv-lite), so that MMAction2's ResNetTIN can run; True if installed."""
    import types
    try:
        from mmcv.ops import tin_shift  # noqa: F401
        return False
    except ImportError:
        pass
    import mmcv
    ops = sys.modules.get("mmcv.ops")
    if ops is None:   # importing the real mmcv.ops failed (no mmcv._ext): a module of one op
        ops = types.ModuleType("mmcv.ops")
        sys.modules["mmcv.ops"] = ops
        mmcv.ops = ops
    ops.tin_shift = tin_shift_loop
    return True


def install_mmpretrain_stand_in(backbones: tuple[str, ...] = ("mobileone", "resnext")) -> bool:
    """Make mmpretrain's MobileOne and ResNeXt, under ``mmpretrain.X`` and ``mmcls.X``, buildable
    in the oracle with mmpretrain's own, unchanged backbone modules; True if done.

    mmpretrain 1.2.0's package ``__init__`` files import all of it, and parts (modelindex, its
    datasets and box utilities) need torchvision, whose PyPI builds do not load beside the CPU
    torch of the venv. The backbones need only mmcv, mmengine and small helpers of mmpretrain,
    so the packages on the way are set up bare (their ``__init__`` not run) and the
    ``backbones`` modules are imported, which registers them. mmcls, mmpretrain's former name
    that MMAction2's configs still write, gets a stand-in package and a registry scope holding
    the same classes. Call before MMAction2 is imported: its MobileOneTSM is registered only
    where ``from mmpretrain.models import MobileOne`` works.
    """
    import importlib
    import importlib.util
    import types
    if "mmcls" in sys.modules or "mmpretrain.models" in sys.modules:
        return False
    spec = importlib.util.find_spec("mmpretrain")
    if spec is None or not spec.submodule_search_locations:
        return False
    if all(importlib.util.find_spec(m) for m in ("modelindex", "torchvision")):
        return False   # the real package imports
    root = list(spec.submodule_search_locations)[0]
    for name in ("mmpretrain", "mmpretrain.models", "mmpretrain.models.backbones",
                 "mmpretrain.models.utils"):
        package = types.ModuleType(name)
        package.__path__ = [os.path.join(root, *name.split(".")[1:])]
        sys.modules[name] = package
    for backbone in backbones:
        importlib.import_module(f"mmpretrain.models.backbones.{backbone}")
    if "mobileone" in backbones:
        sys.modules["mmpretrain.models"].MobileOne = \
            sys.modules["mmpretrain.models.backbones.mobileone"].MobileOne
    from mmengine.registry import MODELS as ROOT_MODELS
    from mmengine.registry import Registry
    from mmpretrain.registry import MODELS as PRETRAIN_MODELS
    mmcls_models = Registry("model", parent=ROOT_MODELS, scope="mmcls")
    mmcls_models._imported = True   # nothing to import: the classes are added here
    for name, cls in PRETRAIN_MODELS.module_dict.items():
        mmcls_models.register_module(name=name, module=cls)
    for name in ("mmcls", "mmcls.models", "mmcls.registry"):
        sys.modules[name] = types.ModuleType(name)
    sys.modules["mmcls"].__path__ = []
    sys.modules["mmcls.registry"].MODELS = mmcls_models
    return True


# Where install_torchvision_stand_in finds torchvision's own model sources
# (``torchvision/models/densenet.py``, taken from its wheel by make_mmaction2_venv.sh).
TORCHVISION_SRC_ENV = "KINETIX_TORCHVISION_SRC"
TORCHVISION_MODELS = ("densenet",)


def torchvision_src_root() -> str:
    return os.environ.get(TORCHVISION_SRC_ENV) or os.path.join(sys.prefix, "share",
                                                               "kinetix-stand-ins")


def install_torchvision_stand_in(models: tuple[str, ...] = TORCHVISION_MODELS) -> bool:
    """Make ``torchvision.models.densenet161`` (and the other DenseNets) importable in the
    oracle from torchvision's own, unchanged ``models/densenet.py``; True if installed.

    PyPI torchvision does not load beside the venv's CPU torch, and MMAction2's
    ``torchvision.`` backbones only need ``torchvision.models.__dict__[name]``. So a bare
    ``torchvision`` package is set up holding that one module, with stand-ins for what it
    imports: ``utils._log_api_usage_once`` (a no-op), ``transforms._presets.ImageClassification``,
    ``models._meta._IMAGENET_CATEGORIES``, ``models._api`` (``register_model``, ``Weights``,
    ``WeightsEnum``) and ``models._utils`` (``handle_legacy_interface``,
    ``_ovewrite_named_param``). No weights can be fetched: asking for any (``pretrained=True``
    or ``weights=...``) raises. Call after ``register_all_modules()``, so that nothing probing
    for torchvision at import time sees the stand-in.
    """
    import enum
    import importlib.machinery
    import importlib.util
    import types
    if "torchvision" in sys.modules and not getattr(sys.modules["torchvision"], "_kinetix_stub", False):
        return False   # a real torchvision (install_timm_stand_in's empty one is replaced)
    try:
        import torchvision.models  # noqa: F401  (the real one, if it loads)
        return False
    except Exception:
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]
    root = os.path.join(torchvision_src_root(), "torchvision", "models")
    missing = [m for m in models if not os.path.isfile(os.path.join(root, f"{m}.py"))]
    if missing:   # the other configs still run; MMAction2 then says torchvision is missing
        print(f"torchvision stand-in: no {missing[0]}.py under {root} (run "
              f"tools/analysis_tools/make_mmaction2_venv.sh, or set {TORCHVISION_SRC_ENV} to a "
              f"folder holding torchvision/models/)", file=sys.stderr)
        return False

    def module(name: str, package: bool = False, **attrs: Any) -> types.ModuleType:
        mod = types.ModuleType(name)
        mod.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=package)
        if package:
            mod.__path__ = []
        mod.__dict__.update(attrs)
        sys.modules[name] = mod
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, mod)
        return mod

    class Weights:
        def __init__(self, url: str, transforms: Any, meta: dict) -> None:
            self.url, self.transforms, self.meta = url, transforms, meta

    class WeightsEnum(enum.Enum):
        @classmethod
        def verify(cls, obj: Any) -> Any:
            if obj is None:
                return None
            raise RuntimeError(f"torchvision stand-in: no weights can be loaded ({cls.__name__}"
                               f" {obj!r}); build with pretrained=False, weights=None")

    def handle_legacy_interface(**weights: Any) -> Callable:
        def decorate(builder: Callable) -> Callable:
            def build(*args: Any, **kwargs: Any) -> Any:
                for legacy in (name for name, _ in weights.values()):
                    if kwargs.pop(legacy, False):
                        raise RuntimeError(f"torchvision stand-in: {legacy}=True would download "
                                           f"weights; set it False")
                return builder(*args, **kwargs)
            return build
        return decorate

    def overwrite_named_param(kwargs: dict, param: str, new_value: Any) -> None:
        if kwargs.get(param, new_value) != new_value:
            raise ValueError(f"The parameter '{param}' expected value {new_value} "
                             f"but got {kwargs[param]} instead.")
        kwargs[param] = new_value

    module("torchvision", package=True)
    module("torchvision.utils", _log_api_usage_once=lambda obj: None)
    module("torchvision.transforms", package=True)
    module("torchvision.transforms._presets", ImageClassification=object)
    models_pkg = module("torchvision.models", package=True)
    module("torchvision.models._meta", _IMAGENET_CATEGORIES=[f"class{i}" for i in range(1000)])
    module("torchvision.models._api", register_model=lambda *a, **k: (lambda fn: fn),
           Weights=Weights, WeightsEnum=WeightsEnum)
    module("torchvision.models._utils", handle_legacy_interface=handle_legacy_interface,
           _ovewrite_named_param=overwrite_named_param)
    for name in models:
        full = f"torchvision.models.{name}"
        spec = importlib.util.spec_from_file_location(full, os.path.join(root, f"{name}.py"))
        mod = importlib.util.module_from_spec(spec)
        sys.modules[full] = mod
        spec.loader.exec_module(mod)
        setattr(models_pkg, name, mod)
        for public in getattr(mod, "__all__", ()):
            setattr(models_pkg, public, getattr(mod, public))
def install_timm_stand_in() -> bool:
    """Make ``import timm`` work in the oracle without torchvision; True if a stand-in was set.

    timm (installed with ``--no-deps``, see make_mmaction2_venv.sh) imports torchvision at
    package import for its data transforms and a FrozenBatchNorm2d, none of which its Swin
    Transformer uses; torchvision's PyPI builds do not load beside the venv's CPU torch. Empty
    torchvision modules whose every attribute is a placeholder class let timm's package import
    run unchanged, so MMAction2's own ``timm.`` branch builds the model with timm's code.
    """
    import importlib.util
    import types
    if "timm" in sys.modules or importlib.util.find_spec("timm") is None:
        return False
    if importlib.util.find_spec("torchvision") is not None:
        return False   # the real package is there

    class _Placeholder(type):
        def __getattr__(cls, name: str) -> Any:
            if name.startswith("__"):
                raise AttributeError(name)
            return _Placeholder(name, (), {})

    class _Stub(types.ModuleType):
        def __getattr__(self, name: str) -> Any:
            if name.startswith("__"):
                raise AttributeError(name)
            return _Placeholder(name, (), {})

    for name in ("torchvision", "torchvision.ops", "torchvision.ops.misc", "torchvision.transforms",
                 "torchvision.transforms.functional", "torchvision.transforms.v2",
                 "torchvision.datasets", "torchvision.io", "torchvision.utils"):
        module = _Stub(name)
        module.__path__ = []
        module._kinetix_stub = True
        sys.modules[name] = module
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, module)
    import timm  # noqa: F401  (registers its models)
    return True


class Oracle:
    def __init__(self) -> None:
        import torch
        install_mmpretrain_stand_in()   # before MMAction2 registers MobileOneTSM
        install_timm_stand_in()
        from mmaction.utils import register_all_modules
        register_all_modules()
        install_tin_shift_stand_in()
        install_torchvision_stand_in()
        torch.manual_seed(0)
        self.model = None
        self.input = None

    def configs(self, request: dict) -> dict:
        import mmaction
        return {"ok": True, "root": os.path.join(os.path.dirname(mmaction.__file__), ".mim",
                                                 "configs", "recognition")}

    def build(self, request: dict) -> dict:
        import torch
        from mmaction.registry import MODELS
        from mmengine.config import Config
        self.model = None
        try:
            cfg = Config.fromfile(request["config"]).to_dict()
            model_cfg, spec = prepare(cfg)
        except Exception as exc:
            return {"ok": False, "stage": "load", "error": one_line(exc)}
        reply = {"model": model_cfg, "spec": spec}
        try:
            model = MODELS.build(copy.deepcopy(model_cfg)).eval()
            perturb(model, request["seed"])
        except Exception as exc:
            return {**reply, "ok": False, "stage": "build", "error": one_line(exc)}
        reply["built"] = True
        reply["small"] = shrink_rule(model_cfg) is not None
        # The small size first; a model whose layers fix the size (C3D's fc6) gets its own.
        errors = []
        for size in dict.fromkeys((request["size"], spec["crop_size"])):
            gen = torch.Generator().manual_seed(request["seed"])
            shape = (request["batch"],) + sample_shape(spec, size)
            inputs = torch.randint(0, 256, shape, generator=gen, dtype=torch.uint8)
            try:
                scores = self.scores(model, inputs)
                break
            except Exception as exc:
                errors.append(one_line(exc))
        else:
            return {**reply, "ok": False, "stage": "forward", "error": errors[-1]}
        self.model, self.input = model, inputs
        # TPNHead makes `new_cls` (a copy of fc_cls) at its first fcn_test forward and
        # saves it from then on; it is derived, not a parameter of the model as built.
        state = {k: v for k, v in model.state_dict().items() if not k.startswith("cls_head.new_cls.")}
        torch.save({"state": state, "input": inputs, "scores": scores},
                   os.path.join(request["work"], "mm.pt"))
        return {**reply, "ok": True, "input_shape": list(inputs.shape),
                "keys": len(model.state_dict())}

    def back(self, request: dict) -> dict:
        import torch
        if self.model is None:
            return {"ok": False, "stage": "load_state", "error": "no MMAction2 model built"}
        state = torch.load(os.path.join(request["work"], "kx.pt"))["state"]
        if getattr(getattr(self.model, "cls_head", None), "new_cls", None) is not None:
            self.model.cls_head.new_cls = None  # remade from the loaded fc_cls at the next forward
        try:
            self.model.load_state_dict(state, strict=True)
        except Exception as exc:
            return {"ok": False, "stage": "load_state", "error": one_line(exc)}
        scores = self.scores(self.model, self.input)
        torch.save({"scores": scores}, os.path.join(request["work"], "back.pt"))
        return {"ok": True}

    @staticmethod
    def scores(model: Any, inputs: Any) -> Any:
        import torch
        from mmaction.structures import ActionDataSample
        data = {"inputs": list(inputs), "data_samples": [ActionDataSample() for _ in inputs]}
        seed_all()
        with torch.no_grad():
            samples = model.test_step(data)
        return torch.stack([s.pred_score for s in samples]).float()


def main() -> None:
    oracle = Oracle()
    serve({"configs": oracle.configs, "build": oracle.build, "back": oracle.back})


if __name__ == "__main__":
    main()
