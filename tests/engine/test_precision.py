"""The mixed-precision policy: what --amp / AmpOptimWrapper runs on each device, and its loss scalers."""

import warnings

import pytest
import torch
from torch import nn

from kinetix.engine import precision
from kinetix.engine.inference import predict
from kinetix.engine.logs import ScalarWriter
from kinetix.engine.optim import build_optimizer
from kinetix.engine.precision import (FixedGradScaler, Precision, autocast, choose_precision, make_grad_scaler,
                                      parse_amp_options, training_precision)
from kinetix.engine.schedulers import LRSchedule
from kinetix.engine.trainer import Trainer
from kinetix.errors import ConfigError

CPU, CUDA = torch.device("cpu"), torch.device("cuda")
SGD = dict(type="SGD", lr=0.1)


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch):
    """Each test starts as a new process would: nothing warned yet."""
    monkeypatch.setattr(precision, "_warned", set())


def native_cpu_bf16(monkeypatch, native: bool) -> None:
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)


def gpu_bf16(monkeypatch, native: bool) -> None:
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: native)


def amp_warnings(record) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, UserWarning)]


def test_amp_off_is_fp32_without_warnings(monkeypatch):
    native_cpu_bf16(monkeypatch, False)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for device in (CPU, CUDA):
            assert choose_precision(device, enabled=False) == Precision()
    assert amp_warnings(record) == []


def test_cpu_with_native_bf16_autocasts_to_bf16(monkeypatch):
    native_cpu_bf16(monkeypatch, True)
    chosen = choose_precision(CPU, enabled=True)
    assert chosen.dtype == torch.bfloat16 and chosen.loss_scale is None
    assert not make_grad_scaler(CPU, chosen).is_enabled()


def test_cpu_without_native_bf16_runs_fp32_and_warns_once(monkeypatch):
    native_cpu_bf16(monkeypatch, False)
    with pytest.warns(UserWarning, match="no native bf16.*uses fp32") as record:
        first = choose_precision(CPU, enabled=True)
    assert first.dtype is None and "fp32" in first.note
    with warnings.catch_warnings(record=True) as again:
        warnings.simplefilter("always")
        second = choose_precision(CPU, enabled=True)
        explicit_bf16 = choose_precision(CPU, enabled=True, dtype=torch.bfloat16)
    assert second == first and explicit_bf16.dtype is None
    assert len(amp_warnings(record)) == 1 and amp_warnings(again) == []


@pytest.mark.parametrize("native", [True, False])
def test_cpu_fp16_is_downgraded_with_a_warning(monkeypatch, native):
    native_cpu_bf16(monkeypatch, native)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        chosen = choose_precision(CPU, enabled=True, dtype=torch.float16, loss_scale=128.0)
    assert any("dtype='float16' on the CPU" in m for m in amp_warnings(record))
    assert chosen.dtype == (torch.bfloat16 if native else None)
    assert chosen.loss_scale is None  # no scaler without fp16


def test_cuda_auto_dtype_bf16_where_native_else_fp16_with_scaler(monkeypatch):
    gpu_bf16(monkeypatch, True)
    chosen = choose_precision(CUDA, enabled=True)
    assert chosen.dtype == torch.bfloat16 and chosen.loss_scale is None
    gpu_bf16(monkeypatch, False)
    chosen = choose_precision(CUDA, enabled=True)
    assert chosen.dtype == torch.float16 and chosen.loss_scale == {} and "dynamic" in chosen.note


def test_cuda_explicit_dtypes(monkeypatch):
    gpu_bf16(monkeypatch, True)
    fp16 = choose_precision(CUDA, enabled=True, dtype=torch.float16, loss_scale=512.0)
    assert fp16.dtype == torch.float16 and fp16.loss_scale == 512.0 and "fixed loss scale 512" in fp16.note
    gpu_bf16(monkeypatch, False)
    with pytest.warns(UserWarning, match="no native bf16"):
        chosen = choose_precision(CUDA, enabled=True, dtype=torch.bfloat16)
    assert chosen.dtype == torch.float16 and chosen.loss_scale == {}


def test_unknown_device_runs_fp32_with_a_warning():
    with pytest.warns(UserWarning, match="no mixed-precision policy for mps"):
        assert choose_precision(torch.device("mps"), enabled=True).dtype is None


def test_native_bf16_detection(monkeypatch):
    flags = {"avx2", "avx512f", "avx512_bf16"}
    monkeypatch.setattr(precision, "_cpu_flags", lambda: frozenset(flags))
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    for var in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
        monkeypatch.delenv(var, raising=False)
    assert precision.cpu_has_native_bf16()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "avx2")  # oneDNN capped below bf16
    assert not precision.cpu_has_native_bf16()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_AMX")
    assert precision.cpu_has_native_bf16()
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    assert not precision.cpu_has_native_bf16()
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    flags.discard("avx512_bf16")
    assert not precision.cpu_has_native_bf16()
    flags.add("amx_bf16")
    assert precision.cpu_has_native_bf16()


def test_parse_amp_options():
    assert parse_amp_options(dict(type="AmpOptimWrapper")) == (None, {})
    assert parse_amp_options(dict(dtype="float16", loss_scale="dynamic")) == (torch.float16, {})
    assert parse_amp_options(dict(dtype="bfloat16", loss_scale=512)) == (torch.bfloat16, 512.0)
    kwargs = dict(init_scale=1024.0, growth_factor=1.5, backoff_factor=0.25, growth_interval=10)
    assert parse_amp_options(dict(dtype=None, loss_scale=kwargs)) == (None, kwargs)


@pytest.mark.parametrize("cfg, key", [
    (dict(dtype="fp8"), "optim_wrapper.dtype"),
    (dict(dtype="float32"), "optim_wrapper.dtype"),
    (dict(loss_scale="static"), "optim_wrapper.loss_scale"),
    (dict(loss_scale=0), "optim_wrapper.loss_scale"),
    (dict(loss_scale=True), "optim_wrapper.loss_scale"),
    (dict(loss_scale=dict(init_scal=2.0)), "optim_wrapper.loss_scale.init_scal"),
    (dict(loss_scale=dict(growth_factor=0.5)), "optim_wrapper.loss_scale.growth_factor"),
    (dict(loss_scale=dict(backoff_factor=1.0)), "optim_wrapper.loss_scale.backoff_factor"),
    (dict(loss_scale=dict(growth_interval=2.5)), "optim_wrapper.loss_scale.growth_interval"),
])
def test_bad_amp_options_are_one_line_config_errors(cfg, key):
    wrapper = dict(type="AmpOptimWrapper", optimizer=SGD, **cfg)
    with pytest.raises(ConfigError) as err:
        build_optimizer(wrapper, nn.Linear(2, 2))  # checked with the other optim_wrapper keys
    message = str(err.value)
    assert message.startswith(f"{key}:") and "\n" not in message


def test_amp_keys_need_amp(monkeypatch):
    native_cpu_bf16(monkeypatch, True)
    with pytest.raises(ConfigError, match=r"^optim_wrapper\.dtype: only AmpOptimWrapper uses it"):
        training_precision(dict(type="OptimWrapper", optimizer=SGD, dtype="bfloat16"), False, CPU)
    # --amp turns a plain OptimWrapper into an AMP one, as in MMAction2's train.py
    assert training_precision(dict(optimizer=SGD, dtype="bfloat16"), True, CPU).dtype == torch.bfloat16
    assert training_precision(dict(type="AmpOptimWrapper", optimizer=SGD), False, CPU).dtype == torch.bfloat16
    assert training_precision(dict(optimizer=SGD), False, CPU) == Precision()


def overflowing_step(scaler: torch.amp.GradScaler) -> torch.Tensor:
    """One step whose gradient is inf: the scaler must skip it."""
    model = nn.Linear(2, 1)
    before = model.weight.detach().clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = model(torch.ones(1, 2)).sum() * float("inf")
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return torch.equal(model.weight.detach(), before)


def test_grad_scalers():
    fp16 = dict(dtype=torch.float16)
    assert not make_grad_scaler(CPU, Precision()).is_enabled()
    assert not make_grad_scaler(CPU, Precision(torch.bfloat16)).is_enabled()
    dynamic = make_grad_scaler(CPU, Precision(**fp16, loss_scale=dict(init_scale=64.0, backoff_factor=0.25)))
    assert dynamic.is_enabled() and overflowing_step(dynamic) and dynamic.get_scale() == 16.0
    fixed = make_grad_scaler(CPU, Precision(**fp16, loss_scale=32.0))
    assert isinstance(fixed, FixedGradScaler)
    assert overflowing_step(fixed) and fixed.get_scale() == 32.0  # skipped, scale kept


def test_autocast_helper():
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with autocast(CPU, None):
        assert (a @ b).dtype == torch.float32
    with autocast(CPU, torch.bfloat16):
        assert (a @ b).dtype == torch.bfloat16


class LinearRecognizer(nn.Module):
    """Just enough of a recognizer for the trainer and predict; remembers its compute dtype."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 2)
        self.seen: list[torch.dtype] = []

    def forward(self, batch: dict, mode: str):
        scores = self.fc(batch["inputs"])
        self.seen.append(scores.dtype)
        if mode == "predict":
            return scores
        return {"loss": nn.functional.cross_entropy(scores.float(), batch["labels"])}


def batches(n: int) -> list[dict]:
    gen = torch.Generator().manual_seed(0)
    return [{"inputs": torch.randn(4, 3, generator=gen), "labels": torch.randint(0, 2, (4,), generator=gen),
             "indices": torch.arange(4 * i, 4 * i + 4), "filenames": [], "skipped": []} for i in range(n)]


@pytest.mark.parametrize("native, dtype", [(False, torch.float32), (True, torch.bfloat16)])
def test_predict_amp_follows_the_policy(monkeypatch, native, dtype):
    native_cpu_bf16(monkeypatch, native)
    model = LinearRecognizer()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the fp32 fallback's warning, tested above
        preds = predict(model, batches(2), CPU, amp=True)
    assert len(preds) == 8 and set(model.seen) == {dtype}


def make_trainer(tmp_path, amp: Precision | bool) -> Trainer:
    model = LinearRecognizer()
    return Trainer(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), train_loader=batches(2),
                   max_epochs=1, lr_schedule=LRSchedule([], iters_per_epoch=2), hooks=[], device=CPU,
                   work_dir=tmp_path, scalars=ScalarWriter(None), amp=amp)


def test_trainer_saves_and_restores_the_scaler_state(tmp_path):
    # fp16 on the CPU bypasses the policy here, only to get a real, enabled scaler.
    fp16 = Precision(torch.float16, dict(init_scale=8.0, growth_interval=1))
    trainer = make_trainer(tmp_path, fp16)
    trainer.train()
    assert set(trainer.model.seen) == {torch.float16}
    grown = trainer.scaler.get_scale()
    assert grown == 8.0 * 2 ** 2  # doubled after each of the 2 finite steps
    ckpt = trainer.checkpoint()
    fresh = make_trainer(tmp_path, fp16)
    assert fresh.scaler.get_scale() == 8.0
    fresh.resume_from(ckpt)
    assert fresh.scaler.get_scale() == grown
    assert fresh.scaler.state_dict() == trainer.scaler.state_dict()


def test_trainer_without_fp16_saves_no_scaler(tmp_path, monkeypatch):
    native_cpu_bf16(monkeypatch, False)
    with pytest.warns(UserWarning, match="no native bf16"):
        trainer = make_trainer(tmp_path, True)
    trainer.train()
    assert trainer.amp is None and set(trainer.model.seen) == {torch.float32}
    assert not trainer.scaler.is_enabled() and "grad_scaler" not in trainer.checkpoint()
