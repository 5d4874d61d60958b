"""Layer builders and ``ConvModule``, the conv -> norm -> activation unit.

MMAction2 checkpoints name parameters after mmcv's module tree, so the names
here are fixed by compatibility, not taste: a ``ConvModule`` holds ``conv``, a
norm called ``bn`` (``gn`` / ``in`` for group / instance norm) and ``activate``.
Layers are described by small dicts (``conv_cfg``, ``norm_cfg``, ``act_cfg``);
an unknown ``type`` is a user mistake and raises :class:`ConfigError` naming
the cfg.
"""

from __future__ import annotations

import difflib
from typing import Callable, Iterable

import torch
import torch.utils.checkpoint as cp
from torch import nn

from kinetix.errors import ConfigError
from kinetix.models.sync_bn import SyncBatchNorm

_CONV_TYPES: dict[str, type[nn.Module]] = {
    "Conv": nn.Conv2d,
    "Conv1d": nn.Conv1d,
    "Conv2d": nn.Conv2d,
    "Conv3d": nn.Conv3d,
}

# type name -> (module class, attribute name used in state dicts)
_NORM_TYPES: dict[str, tuple[Callable[..., nn.Module], str]] = {
    "BN": (nn.BatchNorm2d, "bn"),
    "BN1d": (nn.BatchNorm1d, "bn"),
    "BN2d": (nn.BatchNorm2d, "bn"),
    "BN3d": (nn.BatchNorm3d, "bn"),
    # Plain batch norm without a process group; synchronised on GPUs and CPUs alike.
    "SyncBN": (SyncBatchNorm, "bn"),
    "MMSyncBN": (SyncBatchNorm, "bn"),
    "GN": (nn.GroupNorm, "gn"),
    "IN": (nn.InstanceNorm2d, "in"),
    "IN1d": (nn.InstanceNorm1d, "in"),
    "IN2d": (nn.InstanceNorm2d, "in"),
    "IN3d": (nn.InstanceNorm3d, "in"),
    # Over the last axis: transformers keep channels last.
    "LN": (nn.LayerNorm, "ln"),
}

_ACT_TYPES: dict[str, type[nn.Module]] = {
    "ReLU": nn.ReLU,
    "LeakyReLU": nn.LeakyReLU,
    "PReLU": nn.PReLU,
    "ReLU6": nn.ReLU6,
    "ELU": nn.ELU,
    "GELU": nn.GELU,
    "SiLU": nn.SiLU,
    "Swish": nn.SiLU,
    "HSwish": nn.Hardswish,
    "HSigmoid": nn.Hardsigmoid,
    "Sigmoid": nn.Sigmoid,
    "Tanh": nn.Tanh,
}

# Activations whose constructor takes ``inplace``.
_INPLACE_ACTS = {"ReLU", "LeakyReLU", "ReLU6", "ELU", "SiLU", "Swish", "HSwish", "HSigmoid"}


def _unknown(kind: str, cfg_name: str, value: object, known: dict) -> ConfigError:
    close = difflib.get_close_matches(str(value), list(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(known)}"
    return ConfigError(f"{cfg_name}: unknown {kind} type {value!r}{hint}")


def _split_type(cfg: dict | None, cfg_name: str, default: str) -> tuple[str, dict]:
    if cfg is None:
        return default, {}
    if not isinstance(cfg, dict):
        raise ConfigError(f"{cfg_name}: expected a dict with a 'type' key, got {cfg!r}")
    args = dict(cfg)
    return args.pop("type", default), args


def register_conv_layer(name: str, cls: type[nn.Module]) -> None:
    """Make ``conv_cfg=dict(type=name)`` build ``cls`` (e.g. a factorised 3D conv)."""
    _CONV_TYPES[name] = cls


def build_conv_layer(conv_cfg: dict | None, *args, **kwargs) -> nn.Module:
    """Build a convolution from ``conv_cfg`` (None means ``Conv2d``)."""
    name, extra = _split_type(conv_cfg, "conv_cfg", "Conv2d")
    if name not in _CONV_TYPES:
        raise _unknown("conv", "conv_cfg", name, _CONV_TYPES)
    return _CONV_TYPES[name](*args, **extra, **kwargs)


def build_norm_layer(norm_cfg: dict, num_features: int) -> tuple[str, nn.Module]:
    """Build a norm layer; return ``(attribute name, module)``.

    ``requires_grad`` (default True) freezes the affine parameters, as mmcv does.
    """
    name, extra = _split_type(norm_cfg, "norm_cfg", "BN")
    if name not in _NORM_TYPES:
        raise _unknown("norm", "norm_cfg", name, _NORM_TYPES)
    cls, attr = _NORM_TYPES[name]
    requires_grad = bool(extra.pop("requires_grad", True))
    try:
        if name == "GN":
            if "num_groups" not in extra:
                raise ConfigError("norm_cfg: GN needs 'num_groups'")
            layer = cls(num_channels=num_features, **extra)
        else:
            layer = cls(num_features, **extra)
    except TypeError as exc:
        raise ConfigError(f"norm_cfg: cannot build {name}: {exc}") from None
    for param in layer.parameters():
        param.requires_grad = requires_grad
    return attr, layer


def build_activation_layer(act_cfg: dict) -> nn.Module:
    name, extra = _split_type(act_cfg, "act_cfg", "ReLU")
    if name not in _ACT_TYPES:
        raise _unknown("activation", "act_cfg", name, _ACT_TYPES)
    if name not in _INPLACE_ACTS:
        extra.pop("inplace", None)  # configs pass inplace=True to every activation
    try:
        return _ACT_TYPES[name](**extra)
    except TypeError as exc:
        raise ConfigError(f"act_cfg: cannot build {name}: {exc}") from None


class ConvModule(nn.Module):
    """conv -> norm -> activation, with mmcv's attribute names (``conv``, ``bn``, ``activate``).

    ``bias='auto'`` drops the conv bias when a norm follows (it would be cancelled
    by the norm's mean subtraction anyway).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple,
                 stride: int | tuple = 1, padding: int | tuple = 0, dilation: int | tuple = 1,
                 groups: int = 1, bias: bool | str = "auto", conv_cfg: dict | None = None,
                 norm_cfg: dict | None = None, act_cfg: dict | None = dict(type="ReLU"),
                 inplace: bool = True, padding_mode: str = "zeros") -> None:
        super().__init__()
        with_norm = norm_cfg is not None
        if bias == "auto":
            bias = not with_norm
        self.conv = build_conv_layer(conv_cfg, in_channels, out_channels, kernel_size,
                                     stride=stride, padding=padding, dilation=dilation,
                                     groups=groups, bias=bias, padding_mode=padding_mode)
        self.norm_name: str | None = None
        if with_norm:
            self.norm_name, norm = build_norm_layer(norm_cfg, out_channels)
            self.add_module(self.norm_name, norm)
        self.activate: nn.Module | None = None
        if act_cfg is not None:
            act_cfg = dict(act_cfg)
            act_cfg.setdefault("inplace", inplace)
            self.activate = build_activation_layer(act_cfg)
        self.init_weights()

    @property
    def norm(self) -> nn.Module | None:
        return getattr(self, self.norm_name) if self.norm_name else None

    def init_weights(self) -> None:
        conv = self.conv
        # A TemporalShift wrapper keeps the real conv in ``net``.
        conv = getattr(conv, "net", conv)
        if isinstance(conv, nn.modules.conv._ConvNd):
            kaiming_init(conv)
        if self.norm is not None:
            constant_init(self.norm, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.norm_name is not None:
            x = getattr(self, self.norm_name)(x)
        if self.activate is not None:
            x = self.activate(x)
        return x


# ---- initialisers (same defaults as mmcv's, so from-scratch runs are comparable) ----

def kaiming_init(module: nn.Module, mode: str = "fan_out", nonlinearity: str = "relu",
                 bias: float = 0.0) -> None:
    nn.init.kaiming_normal_(module.weight, mode=mode, nonlinearity=nonlinearity)
    if getattr(module, "bias", None) is not None:
        nn.init.constant_(module.bias, bias)


def constant_init(module: nn.Module, val: float, bias: float = 0.0) -> None:
    if getattr(module, "weight", None) is not None:
        nn.init.constant_(module.weight, val)
    if getattr(module, "bias", None) is not None:
        nn.init.constant_(module.bias, bias)


def normal_init(module: nn.Module, mean: float = 0.0, std: float = 1.0, bias: float = 0.0) -> None:
    nn.init.normal_(module.weight, mean, std)
    if getattr(module, "bias", None) is not None:
        nn.init.constant_(module.bias, bias)


def is_norm(module: nn.Module) -> bool:
    """Batch norms are what ``norm_eval`` / ``frozen_stages`` switch to eval mode."""
    return isinstance(module, nn.modules.batchnorm._BatchNorm)


def flatten_values(value: object) -> list:
    """Flatten nested lists/tuples (per-stage, per-block settings) to a flat list."""
    if not isinstance(value, (list, tuple)):
        return [value]
    return [leaf for item in value for leaf in flatten_values(item)]


def checkpointed(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                 with_cp: bool) -> torch.Tensor:
    """``fn(x)``; with ``with_cp`` (MMAction2's option) and gradients wanted, its activations
    are recomputed in the backward pass instead of kept, which saves memory."""
    if with_cp and x.requires_grad:
        return cp.checkpoint(fn, x, use_reentrant=False)
    return fn(x)


def run_stages(backbone: nn.Module, x: torch.Tensor, names: Iterable[str],
               out_indices: Iterable[int]) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """Run ``backbone``'s stages ``names`` in order; the outputs of those at ``out_indices``:
    one tensor when one is asked for (what the heads take), else a tuple."""
    outs = []
    for i, name in enumerate(names):
        x = getattr(backbone, name)(x)
        if i in out_indices:
            outs.append(x)
    return outs[0] if len(outs) == 1 else tuple(outs)


def freeze(modules: Iterable[nn.Module]) -> None:
    """Stop ``modules`` learning: eval mode (batch-norm statistics too) and no gradients."""
    for module in modules:
        module.eval()
        for param in module.parameters():
            param.requires_grad = False


def keep_norm_statistics(backbone: nn.Module, mode: bool, norm_eval: bool) -> None:
    """``norm_eval``: in training mode, every norm layer keeps its running statistics."""
    if mode and norm_eval:
        for m in backbone.modules():
            if is_norm(m):
                m.eval()


def freeze_stages(backbone: nn.Module, frozen_stages: int) -> None:
    """Stop ``conv1`` and ``layer1..layer{frozen_stages}`` learning (eval mode, no grads)."""
    if frozen_stages < 0:
        return
    freeze([backbone.conv1] + [getattr(backbone, f"layer{i}") for i in range(1, frozen_stages + 1)
                               if hasattr(backbone, f"layer{i}")])


def apply_train_mode(backbone: nn.Module, mode: bool, frozen_stages: int, norm_eval: bool) -> None:
    """What ``train(mode)`` adds for ResNets: frozen stages stay frozen, and with
    ``norm_eval`` every norm layer keeps its running statistics."""
    freeze_stages(backbone, frozen_stages)
    keep_norm_statistics(backbone, mode, norm_eval)


def init_linear_and_norm(module: nn.Module) -> None:
    """MMAction2's default init_cfg of its transformers: truncated-normal linear weights
    (std 0.02, cut at +-2), zero biases, unit LayerNorms; other layers keep PyTorch's."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class DropPath(nn.Module):
    """Stochastic depth: in training, zero a residual branch for a random ``drop_prob`` share
    of the samples and scale the rest by ``1 / (1 - drop_prob)`` so the expectation holds.

    The same draw as mmcv's/timm's (one uniform per sample, floored), so seeded runs match.
    """

    def __init__(self, drop_prob: float = 0.1) -> None:
        super().__init__()
        if not 0.0 <= drop_prob < 1.0:
            raise ConfigError(f"drop_path: rate {drop_prob} is not in [0, 1)")
        self.drop_prob = float(drop_prob)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        mask = (keep + torch.rand((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype,
                                  device=x.device)).floor_()
        return x.div(keep) * mask

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob}"


# ---- transformer pieces (mmcv's module trees, so checkpoints keep their names) ----

def build_dropout(cfg: dict | None, cfg_name: str = "dropout_layer") -> nn.Module:
    """``dict(type='DropPath'|'Dropout', drop_prob=p)`` as mmcv's configs write it; None is
    the identity."""
    if cfg is None:
        return nn.Identity()
    name, extra = _split_type(cfg, cfg_name, "Dropout")
    prob = float(extra.pop("drop_prob", 0.5 if name == "Dropout" else 0.1))
    if extra:
        raise ConfigError(f"{cfg_name}: unexpected keys {sorted(extra)} for {name}")
    if name == "DropPath":
        return DropPath(prob)
    if name == "Dropout":
        return nn.Dropout(prob)
    raise _unknown("dropout", cfg_name, name, {"DropPath": 0, "Dropout": 0})


class FFN(nn.Module):
    """The transformer MLP: ``num_fcs`` linear layers with an activation and dropout between
    them, then ``dropout_layer`` on the branch and (``add_identity``) the residual sum.

    The layers sit in ``layers`` as ``Sequential(Linear, act, Dropout), ..., Linear, Dropout``,
    so the weights are named ``layers.0.0.weight`` and ``layers.1.weight`` as in mmcv.
    """

    def __init__(self, embed_dims: int = 256, feedforward_channels: int = 1024, num_fcs: int = 2,
                 act_cfg: dict = dict(type="ReLU", inplace=True), ffn_drop: float = 0.0,
                 dropout_layer: dict | None = None, add_identity: bool = True) -> None:
        super().__init__()
        if num_fcs < 2:
            raise ConfigError(f"ffn_cfgs.num_fcs: must be at least 2, got {num_fcs}")
        self.embed_dims = embed_dims
        layers: list[nn.Module] = []
        width = embed_dims
        for _ in range(num_fcs - 1):
            layers.append(nn.Sequential(nn.Linear(width, feedforward_channels),
                                        build_activation_layer(act_cfg), nn.Dropout(ffn_drop)))
            width = feedforward_channels
        layers += [nn.Linear(width, embed_dims), nn.Dropout(ffn_drop)]
        self.layers = nn.Sequential(*layers)
        self.dropout_layer = build_dropout(dropout_layer)
        self.add_identity = add_identity

    def forward(self, x: torch.Tensor, identity: torch.Tensor | None = None) -> torch.Tensor:
        out = self.dropout_layer(self.layers(x))
        if not self.add_identity:
            return out
        return (x if identity is None else identity) + out
