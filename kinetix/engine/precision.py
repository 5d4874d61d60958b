"""Mixed precision that is never slower than fp32: which autocast dtype, which loss scaler.

``--amp`` (or ``optim_wrapper=dict(type='AmpOptimWrapper', dtype=..., loss_scale=...)``)
asks for mixed precision; :func:`choose_precision` decides what this device can do fast:

- CUDA: bf16 where the GPU computes it natively, else fp16 with a GradScaler.
- CPU: bf16 only with native bf16 (AMX or AVX512-BF16). Elsewhere oneDNN emulates bf16
  and a step runs many times slower than in fp32 (15.6 s against 0.53 s measured on an
  AVX2 machine), so we warn once and run fp32.
- Anything else: fp32, with a warning.
"""

from __future__ import annotations

import contextlib
import functools
import os
import warnings
from dataclasses import dataclass
from typing import Any

import torch

from kinetix.errors import ConfigError

_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}
_SCALER_KEYS = ("init_scale", "growth_factor", "backoff_factor", "growth_interval")
# CPU flags of native bf16 arithmetic (Linux /proc/cpuinfo names).
_NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")
# oneDNN ISA caps below bf16: with one of these oneDNN emulates bf16 again.
_ONEDNN_NO_BF16 = {"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI"}
_warned: set[str] = set()


@dataclass(frozen=True)
class Precision:
    """What a run computes in. ``dtype`` None: plain fp32, no autocast."""
    dtype: torch.dtype | None = None
    # fp16 only: a fixed scale (float) or GradScaler keyword arguments ({} = dynamic defaults).
    loss_scale: float | dict[str, Any] | None = None
    note: str = "fp32"  # one line for the log


def warn_once(message: str) -> None:
    """A warning per process, however many runs or loaders ask again."""
    if message not in _warned:
        _warned.add(message)
        warnings.warn(message, stacklevel=3)


def cpu_has_native_bf16() -> bool:
    """True where the CPU has AMX or AVX512-BF16 and torch may use it.

    A capped torch (``ATEN_CPU_CAPABILITY=avx2``) or oneDNN (``ONEDNN_MAX_CPU_ISA=AVX2``)
    counts as no: the user asked for the slower instructions. Non-x86 CPUs count as no
    too, conservatively: we have measured none of them.
    """
    capability = torch.backends.cpu.get_cpu_capability()
    if not (capability.startswith("AVX512") or "AMX" in capability):
        return False
    for var in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
        if os.environ.get(var, "").upper() in _ONEDNN_NO_BF16:
            return False
    return any(flag in _cpu_flags() for flag in _NATIVE_BF16_FLAGS)


@functools.lru_cache(maxsize=1)
def _cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:  # not Linux: no flags, so no bf16 (the safe side)
        pass
    return frozenset()


def cuda_has_native_bf16() -> bool:
    try:
        # Since torch 2.4 the default also counts GPUs that only emulate bf16 (slowly).
        return torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:
        return torch.cuda.is_bf16_supported()


def parse_amp_options(optim_wrapper: dict) -> tuple[torch.dtype | None, float | dict[str, Any]]:
    """``optim_wrapper.dtype`` and ``optim_wrapper.loss_scale``, checked.

    dtype: 'float16', 'bfloat16' or None (the device decides). loss_scale: 'dynamic'
    (GradScaler's defaults), a positive number (a fixed scale), or a dict of GradScaler
    arguments (init_scale, growth_factor, backoff_factor, growth_interval).
    """
    dtype = optim_wrapper.get("dtype")
    if dtype is not None and dtype not in _DTYPES:
        raise ConfigError(f"optim_wrapper.dtype: expected 'float16', 'bfloat16' or None, got {dtype!r}")
    loss_scale = optim_wrapper.get("loss_scale", "dynamic")
    if loss_scale == "dynamic":
        scale: float | dict[str, Any] = {}
    elif _is_number(loss_scale):
        if not loss_scale > 0:
            raise ConfigError(f"optim_wrapper.loss_scale: a fixed scale must be > 0, got {loss_scale!r}")
        scale = float(loss_scale)
    elif isinstance(loss_scale, dict):
        scale = _scaler_kwargs(loss_scale)
    else:
        raise ConfigError(f"optim_wrapper.loss_scale: expected 'dynamic', a positive number or a dict "
                          f"of {', '.join(_SCALER_KEYS)}; got {loss_scale!r}")
    return (None if dtype is None else _DTYPES[dtype]), scale


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _scaler_kwargs(cfg: dict) -> dict[str, Any]:
    for key in cfg:
        if key not in _SCALER_KEYS:
            raise ConfigError(f"optim_wrapper.loss_scale.{key}: unknown key; known: {', '.join(_SCALER_KEYS)}")
    # GradScaler's own asserts, as one-line errors that name the key.
    rules = {"init_scale": (lambda v: _is_number(v) and v > 0, "a number > 0"),
             "growth_factor": (lambda v: _is_number(v) and v > 1, "a number > 1"),
             "backoff_factor": (lambda v: _is_number(v) and 0 < v < 1, "a number between 0 and 1"),
             "growth_interval": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0,
                                 "an integer > 0")}
    for key, value in cfg.items():
        ok, expected = rules[key]
        if not ok(value):
            raise ConfigError(f"optim_wrapper.loss_scale.{key}: expected {expected}, got {value!r}")
    return dict(cfg)


def training_precision(optim_wrapper: dict, amp: bool, device: torch.device) -> Precision:
    """The precision of a training run: ``--amp`` or an AmpOptimWrapper turns it on."""
    if not (amp or optim_wrapper.get("type") == "AmpOptimWrapper"):
        for key in ("dtype", "loss_scale"):
            if key in optim_wrapper:
                # mmengine's OptimWrapper rejects these too; ignoring them would hide a typo.
                raise ConfigError(f"optim_wrapper.{key}: only AmpOptimWrapper uses it; set "
                                  f"optim_wrapper.type='AmpOptimWrapper', pass --amp, or remove the key")
        return Precision()
    dtype, loss_scale = parse_amp_options(optim_wrapper)
    return choose_precision(device, enabled=True, dtype=dtype, loss_scale=loss_scale)


def choose_precision(device: torch.device, enabled: bool, dtype: torch.dtype | None = None,
                     loss_scale: float | dict[str, Any] | None = None) -> Precision:
    """The policy. ``dtype`` None lets the device choose; ``loss_scale`` None means dynamic."""
    if not enabled:
        return Precision()
    if device.type == "cuda":
        return _cuda_precision(dtype, {} if loss_scale is None else loss_scale)
    if device.type == "cpu":
        return _cpu_precision(dtype)
    warn_once(f"--amp: kinetix has no mixed-precision policy for {device.type} devices; running fp32")
    return Precision(note=f"fp32 (--amp: no mixed-precision policy for {device.type})")


def _cuda_precision(dtype: torch.dtype | None, loss_scale: float | dict[str, Any]) -> Precision:
    native_bf16 = cuda_has_native_bf16()
    if dtype is None:
        dtype = torch.bfloat16 if native_bf16 else torch.float16
    elif dtype == torch.bfloat16 and not native_bf16:
        warn_once("optim_wrapper.dtype='bfloat16': this GPU has no native bf16 (it would be emulated, "
                  "slowly); using float16 with loss scaling")
        dtype = torch.float16
    if dtype == torch.bfloat16:
        # bf16 has fp32's exponent range: gradients do not underflow, no scaler needed.
        return Precision(torch.bfloat16, note="bf16 autocast (GPU with native bf16), no loss scaling")
    kind = f"fixed loss scale {loss_scale:g}" if isinstance(loss_scale, float) else "dynamic loss scaling"
    return Precision(torch.float16, loss_scale, note=f"fp16 autocast, {kind}")


def _cpu_precision(dtype: torch.dtype | None) -> Precision:
    if dtype == torch.float16:
        # CPUs compute fp16 convolutions and matmuls by converting to fp32 and back
        # (only AMX-FP16 parts do better): slower than fp32, and fp16's narrow range
        # would need loss scaling on top. bf16 is the CPU's mixed precision.
        warn_once("optim_wrapper.dtype='float16' on the CPU: fp16 is emulated there; "
                  "using bf16 where the CPU has it natively, else fp32")
    if cpu_has_native_bf16():
        return Precision(torch.bfloat16, note="bf16 autocast (CPU with native bf16: AMX or AVX512-BF16)")
    warn_once("--amp: this CPU has no native bf16 (AMX or AVX512-BF16); emulated bf16 is many times "
              "slower than fp32, so this run uses fp32")
    return Precision(note="fp32 (--amp ignored: this CPU has no native bf16)")


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Autocast to ``dtype``; None runs fp32 as written."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


class FixedGradScaler(torch.amp.GradScaler):
    """A constant loss scale (mmengine's numeric ``loss_scale``): steps with inf/NaN
    gradients are still skipped, but the scale never moves."""

    def update(self, new_scale: float | torch.Tensor | None = None) -> None:
        super().update(self.fixed_scale)

    @property
    def fixed_scale(self) -> float:
        return self._init_scale


def make_grad_scaler(device: torch.device, precision: Precision) -> torch.amp.GradScaler:
    """Enabled for fp16 only; disabled (a pass-through) otherwise."""
    if precision.dtype != torch.float16:
        return torch.amp.GradScaler(device.type, enabled=False)
    if isinstance(precision.loss_scale, float):
        return FixedGradScaler(device.type, init_scale=precision.loss_scale)
    return torch.amp.GradScaler(device.type, **(precision.loss_scale or {}))
