"""Build datasets and DataLoaders from MMAction2 ``*_dataloader`` config dicts."""

from __future__ import annotations

import ctypes
import functools
import random
import signal
import sys
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from kinetix import dist
from kinetix.data.collate import collate
from kinetix.data.decoding import VideoInit
from kinetix.data.seeding import SeededDataset, SeededSampler
from kinetix.data.video_backends import check_backend
from kinetix.errors import ConfigError, warn_config
from kinetix.registry import DATASETS, SAMPLERS, TRANSFORMS, build
from kinetix.utils.imports import import_custom_modules

# MMAction2 collate functions whose batches kinetix.data.collate forms too (it flattens
# RepeatAugDataset's lists as repeat_pseudo_collate does): no warning for these.
_SAME_AS_COLLATE = ("pseudo_collate", "repeat_pseudo_collate")
# DataLoader arguments passed through as they are (when workers exist).
_PASSED = ("prefetch_factor", "timeout", "multiprocessing_context")
_HANDLED = {"batch_size", "num_workers", "persistent_workers", "pin_memory", "drop_last",
            "sampler", "dataset", "collate_fn", "batch_sampler", *_PASSED}


def build_dataset(cfg: dict, key_path: str, video_backend: str | None = None) -> Any:
    """Build a dataset (and its pipeline) from ``cfg``; errors name ``key_path``.

    ``video_backend`` (the config's top-level ``video_backend``) is given to
    every video Init transform of the pipeline that names no ``backend`` itself.
    """
    if not isinstance(cfg, dict):
        raise ConfigError(f"{key_path}: expected a dict with a 'type' key, got {type(cfg).__name__}")
    if video_backend is not None:
        cfg = with_video_backend(cfg, check_backend(video_backend, "video_backend"))
    return build(cfg, DATASETS, key_path)


def with_video_backend(cfg: Any, backend: str) -> Any:
    """A copy of ``cfg`` in which each video Init transform without a ``backend`` has ``backend``.

    Walks the whole dataset config, so wrapped datasets (RepeatDataset's
    ``dataset``, ConcatDataset's ``datasets``) get it too.
    """
    if isinstance(cfg, (list, tuple)):
        return type(cfg)(with_video_backend(item, backend) for item in cfg)
    if not isinstance(cfg, dict):
        return cfg
    out = {key: with_video_backend(value, backend) for key, value in cfg.items()}
    kind = out.get("type")
    target = TRANSFORMS.get(kind) if isinstance(kind, str) and kind in TRANSFORMS else kind
    if isinstance(target, type) and issubclass(target, VideoInit) and "backend" not in out:
        out["backend"] = backend
    return out


def seed_worker(worker_id: int, num_workers: int, rank: int, seed: int | None,
                custom_imports: dict | None = None) -> None:
    """Set up a DataLoader worker: import the config's ``custom_imports`` (a worker
    started with spawn/forkserver has not), then seed numpy, random and torch with
    ``num_workers*rank + worker_id + seed``."""
    _die_with_parent()
    import_custom_modules(custom_imports)
    if seed is None:
        return
    worker_seed = (num_workers * rank + worker_id + seed) % 2 ** 32
    np.random.seed(worker_seed)
    random.seed(worker_seed)
    torch.manual_seed(worker_seed)


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when the process that trains dies.

    Otherwise a worker of a rank that crashed or was killed lives on until its
    own watchdog notices (about 5 s), holding the job's output pipes open, so
    a failed job looks as if it were still running.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not glibc/musl: the watchdog still ends it
        pass


def build_dataloader(cfg: dict, key_path: str, seed: int | None, shuffle_default: bool,
                     for_eval: bool = False, custom_imports: dict | None = None,
                     video_backend: str | None = None, stream: int = 0) -> DataLoader:
    """A DataLoader from an MMAction2 dataloader dict such as ``train_dataloader``.

    ``seed`` is the run seed: it seeds the sampler's permutation and the
    workers. ``shuffle_default`` applies when the config has no sampler or
    its sampler sets no ``shuffle`` (True for training, False otherwise).
    ``for_eval``: every sample is seen exactly once over all ranks (no padding
    repeats to even out the shards). ``custom_imports`` are imported in workers.
    ``video_backend``: the decoder of videos whose Init transform names none (see build_dataset).
    ``stream``: which per-sample random stream training samples draw from (see seeding.py); a
    second loader trained beside the first takes another one.
    """
    if not isinstance(cfg, dict):
        raise ConfigError(f"{key_path}: expected a dict, got {type(cfg).__name__}")
    for key in ("batch_size", "dataset"):
        if key not in cfg:
            raise ConfigError(f"{key_path}.{key}: missing (a dataloader needs batch_size and dataset)")
    batch_size = cfg["batch_size"]
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"{key_path}.batch_size: must be a positive integer, got {batch_size!r}")
    num_workers = cfg.get("num_workers", 0)
    if not isinstance(num_workers, int) or num_workers < 0:
        raise ConfigError(f"{key_path}.num_workers: must be a non-negative integer, got {num_workers!r}")
    collate_type = cfg["collate_fn"].get("type") if isinstance(cfg.get("collate_fn"), dict) else None
    if cfg.get("collate_fn") is not None and collate_type not in _SAME_AS_COLLATE:
        warn_config(f"{key_path}.collate_fn", "ignored: kinetix always batches with kinetix.data.collate "
                    "(uint8 inputs, drops undecodable videos)")
    if cfg.get("batch_sampler") is not None:
        warn_config(f"{key_path}.batch_sampler", "ignored: batches are formed from batch_size and drop_last")
    for key in sorted(set(cfg) - _HANDLED):
        warn_config(f"{key_path}.{key}", "not a DataLoader setting kinetix knows; ignored")

    dataset = build_dataset(cfg["dataset"], f"{key_path}.dataset", video_backend=video_backend)
    sampler_cfg = dict(cfg.get("sampler") or dict(type="DefaultSampler"))
    sampler_cfg.setdefault("shuffle", shuffle_default)
    if for_eval and sampler_cfg.get("type") == "DefaultSampler":
        # Evaluation needs no collective per batch, so ranks may hold shards that
        # differ by one; padding would only compute repeats to throw away.
        if sampler_cfg.get("round_up"):
            warn_config(f"{key_path}.sampler.round_up", "True is ignored: evaluation sees every sample "
                        "exactly once")
        sampler_cfg["round_up"] = False
    sampler = build(sampler_cfg, SAMPLERS, f"{key_path}.sampler", dataset=dataset, seed=seed)

    # With seed=None the sampler has drawn (and shared) one: use it for the rest too.
    base_seed = seed if seed is not None else getattr(sampler, "seed", None)
    if base_seed is None:
        base_seed = int(torch.randint(2**31, ()).item())
    if not for_eval:
        # Each training sample's augmentation depends only on (seed, epoch, index): see seeding.py.
        sampler, dataset = SeededSampler(sampler, base_seed, stream), SeededDataset(dataset)
    extra: dict[str, Any] = {}
    if num_workers > 0:
        extra["persistent_workers"] = bool(cfg.get("persistent_workers", False))
        extra.update({k: cfg[k] for k in _PASSED if cfg.get(k) is not None})
        extra["worker_init_fn"] = functools.partial(
            seed_worker, num_workers=num_workers, rank=dist.get_rank(), seed=int(base_seed),
            custom_imports=custom_imports)
    # Its own generator: creating an iterator then draws nothing from the global
    # torch stream that checkpoints record, so a resumed run draws what the first did.
    generator = torch.Generator().manual_seed(int(base_seed))
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                      # Pinned host memory lets the copy to a GPU overlap compute (non_blocking).
                      collate_fn=collate, pin_memory=bool(cfg.get("pin_memory", torch.cuda.is_available())),
                      drop_last=bool(cfg.get("drop_last", False)), generator=generator, **extra)
