"""Turn a config and command-line options into a training or test run.

This is the one place that knows every config section; the pieces it builds
(model, dataloaders, optimiser, hooks, trainer) know nothing about configs.
"""

from __future__ import annotations

import datetime
import inspect
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from kinetix import __version__
from kinetix.config import apply_cfg_options, config_text, dump_config, load_config
from kinetix.data import build_dataloader
from kinetix.dist import barrier, broadcast_object, get_rank, get_world_size, is_distributed
from kinetix.engine.checkpoint import load_checkpoint, load_model_weights, write_atomic
from kinetix.engine.config_check import check_config, check_output_dir, check_output_file, train_loop_cfg
from kinetix.engine.env import init_distributed, resolve_seed, select_device, set_random_seed
from kinetix.engine.hooks import PRIORITIES, ValidationHook
from kinetix.engine.inference import Predictions, predict
from kinetix.engine.labels import class_names
from kinetix.engine.logs import format_line, get_logger, setup_logger
from kinetix.engine.optim import build_optimizer
from kinetix.engine.precision import training_precision
from kinetix.engine.progress import training_progress
from kinetix.engine.results import DUMP_SUFFIXES, dump_records, encode
from kinetix.engine.schedulers import LRSchedule
from kinetix.engine.skips import LIST_NAMES, SkipLog, report_missing
from kinetix.engine.speed import compile_model, compile_options, to_channels_last, use_channels_last
from kinetix.engine.trainer import Hook, Trainer
from kinetix.engine.vis_backends import build_visualizer
from kinetix.engine.visualize import ValidationPictures, pipeline_rows
from kinetix.errors import ConfigError, ConfigWarning, DataError
from kinetix.registry import HOOKS, LOOPS, METRICS, MODELS, SCHEDULERS, build, unknown_type_message
from kinetix.utils.imports import import_custom_modules

# Methods of mmengine's Hook that the kinetix trainer never calls: a ported hook
# that defines them would silently do nothing.
_MMENGINE_HOOK_METHODS = ("before_train_epoch", "after_train_epoch", "before_train_iter",
                          "after_train_iter", "before_val_epoch", "after_val_epoch", "after_val_iter",
                          "before_run", "after_run")


@dataclass
class RunOptions:
    """What the command line adds to a config."""
    config: str
    work_dir: str | None = None
    cfg_options: dict[str, Any] = field(default_factory=dict)
    launcher: str = "none"
    # train
    resume: str | None = None        # None: no; 'auto': newest in work dir; else a path
    amp: bool = False
    no_validate: bool = False
    auto_scale_lr: bool = False
    seed: int | None = None
    diff_rank_seed: bool = False
    deterministic: bool = False
    # test
    checkpoint: str | None = None
    dump: str | None = None
    show_dir: str | None = None
    show: bool = False
    interval: int = 1
    wait_time: float = 2.0


@dataclass
class Run:
    cfg: dict
    work_dir: Path
    run_dir: Path
    timestamp: str
    device: torch.device


def prepare(opts: RunOptions, mode: str) -> Run:
    """Load and check the config, join the process group, set up the work dir and logs."""
    # Warnings about the config come before the run folder exists: print them as log
    # lines now, and copy them into the log file once it is opened.
    setup_logger(None, keep_early=True)
    cfg = load_config(opts.config)
    apply_cfg_options(cfg, opts.cfg_options)
    # The user's modules register their types; the check below looks those up.
    import_custom_modules(cfg.get("custom_imports"))
    check_config(cfg, mode)
    notes = init_distributed(opts.launcher, (cfg.get("env_cfg") or {}).get("dist_cfg"))
    device = select_device()
    if (cfg.get("env_cfg") or {}).get("cudnn_benchmark"):
        torch.backends.cudnn.benchmark = True
    work_dir = Path(opts.work_dir or cfg.get("work_dir") or Path("work_dirs") / Path(opts.config).stem)
    cfg["work_dir"] = str(work_dir)
    # One timestamp for all ranks, so they agree on the run folder.
    timestamp = broadcast_object(datetime.datetime.now().strftime("%Y%m%d_%H%M%S"))
    run_dir = work_dir / timestamp
    if get_rank() == 0:
        check_output_dir(work_dir, "--work-dir" if opts.work_dir else "work_dir" if cfg.get("work_dir")
                         else "work dir")
        run_dir.mkdir(parents=True, exist_ok=True)
        # The run's own copy; the work dir's copy belongs to the last successful training run.
        dump_config(cfg, run_dir / Path(opts.config).name)
    barrier()
    logger = setup_logger(run_dir / f"{timestamp}.log")
    logger.info(f"kinetix {__version__}, torch {torch.__version__}, device {device}, "
                f"world size {get_world_size()}, config {opts.config}")
    for note in notes:
        logger.info(note)
    if mode == "train" and not opts.resume and cfg.get("resume") is not True and get_rank() == 0:
        _warn_other_checkpoints(work_dir)
    return Run(cfg, work_dir, run_dir, timestamp, device)


def _warn_other_checkpoints(work_dir: Path) -> None:
    """A fresh run overwrites another run's epoch_N.pth as it reaches N and leaves the rest."""
    by_number = lambda p: (len(p.name), p.name)  # noqa: E731  (epoch_2 before epoch_10)
    found = [*sorted(work_dir.glob("epoch_*.pth"), key=by_number), *sorted(work_dir.glob("iter_*.pth"), key=by_number),
             *sorted(work_dir.glob("best_*.pth"))]
    if found:
        names = ", ".join(p.name for p in found[:8]) + (", ..." if len(found) > 8 else "")
        get_logger().warning(f"work dir {work_dir} holds checkpoints of another run ({names}); this fresh "
                             f"run overwrites the ones of the epochs it reaches and leaves the others. "
                             f"Use --resume to continue that run, or another --work-dir")


def _checkpoint_meta(cfg: dict, opts: RunOptions, seed: int | None) -> dict[str, Any]:
    """What every checkpoint's ``meta`` carries. The merged config goes in as text, the way
    mmengine keeps it (``cfg``) and reads it back on resume (``config``), so that MMAction2
    can resume from a kinetix checkpoint."""
    text = config_text(cfg)
    return {"seed": seed, "kinetix_version": __version__, "cfg": text, "config": text,
            "config_file": str(opts.config)}


def keep_config(run: Run, opts: RunOptions) -> None:
    """Put the merged config of a successful training run beside its checkpoints."""
    if get_rank() == 0:
        dump_config(run.cfg, run.work_dir / Path(opts.config).name)


def check_labels(model: torch.nn.Module, loader: Any) -> None:
    """Labels must be classes of the model's head: fail at the annotation's file:line, not mid-epoch."""
    num_classes = getattr(getattr(model, "cls_head", None), "num_classes", None)
    check = getattr(loader.dataset, "check_label_range", None)
    if isinstance(num_classes, int) and check is not None:
        check(num_classes, "model.cls_head.num_classes")


def build_model(cfg: dict, device: torch.device) -> torch.nn.Module:
    return build(cfg["model"], MODELS, "model").to(device)


def speed_up(model: torch.nn.Module, cfg: dict, device: torch.device) -> None:
    """channels_last and compile (kinetix.engine.speed), before DDP wraps the model."""
    logger = get_logger()
    if use_channels_last(cfg, device):
        logger.info(f"channels_last: {to_channels_last(model)} convolution weights in channels-last order")
    options = compile_options(cfg)
    if options is not None:
        parts = compile_model(model, options)
        logger.info(f"compile: {', '.join(parts)} compiled with torch.compile({options or ''})")


def wrap_distributed(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    if not is_distributed():
        return model
    # BatchNorm stays per-process, as in MMAction2 (SyncBN only where norm_cfg asks for it),
    # and so do its running statistics: no broadcast from rank 0 before every forward
    # (mmengine's broadcast_buffers=False). SyncBuffersHook averages them after each epoch.
    device_ids = [device.index] if device.type == "cuda" else None
    ddp = torch.nn.parallel.DistributedDataParallel
    # torch 2.13 renamed the option; older releases only know the old name.
    renamed = "forward_sync_buffers" in inspect.signature(ddp).parameters
    no_buffer_sync = {"forward_sync_buffers": False} if renamed else {"broadcast_buffers": False}
    return ddp(model, device_ids=device_ids, **no_buffer_sync)


def build_metrics(cfg: Any, key_path: str) -> list[Any]:
    items = cfg if isinstance(cfg, (list, tuple)) else [cfg]
    return [build(c, METRICS, f"{key_path}.{i}" if len(items) > 1 else key_path) for i, c in enumerate(items)]


def compute_metrics(metrics: list[Any], preds: Predictions) -> dict[str, float]:
    results: dict[str, float] = {}
    for metric in metrics:
        results.update(metric.compute(preds.scores, preds.labels))
    return results


def find_resume_checkpoint(work_dir: Path) -> Path | None:
    """The checkpoint named in ``last_checkpoint``, else the newest ``epoch_N.pth`` / ``iter_N.pth``."""
    pointer = work_dir / "last_checkpoint"
    if pointer.is_file():
        path = Path(pointer.read_text().strip())
        if path.is_file():
            return path
    found = sorted([*work_dir.glob("epoch_*.pth"), *work_dir.glob("iter_*.pth")], key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def _randomness(cfg: dict, opts: RunOptions, resumed_seed: int | None = None) -> tuple[int, int, bool]:
    # The command line wins over the config's `randomness` (MMAction2 lets the config win);
    # a resumed run keeps its checkpoint's seed unless --seed says otherwise.
    rnd = cfg.get("randomness") or {}
    seed = next((s for s in (opts.seed, resumed_seed, rnd.get("seed")) if s is not None), None)
    diff = opts.diff_rank_seed or bool(rnd.get("diff_rank_seed", False))
    deterministic = opts.deterministic or bool(rnd.get("deterministic", False))
    seed, rank_seed = resolve_seed(seed, diff)
    set_random_seed(rank_seed, deterministic)
    return seed, rank_seed, deterministic


def _lr_scale(cfg: dict, opts: RunOptions, batch_size: int) -> float:
    auto = cfg.get("auto_scale_lr") or {}
    if not (opts.auto_scale_lr or auto.get("enable", False)):
        return 1.0
    if "base_batch_size" not in auto:
        raise ConfigError("auto_scale_lr.base_batch_size: needed by --auto-scale-lr")
    scale = get_world_size() * batch_size / auto["base_batch_size"]
    get_logger().info(f"--auto-scale-lr: lr x {scale:g} ({get_world_size()} process(es) x batch "
                      f"{batch_size} / base_batch_size {auto['base_batch_size']})")
    return scale


def _schedulers(cfg: dict) -> list[Any]:
    items = cfg.get("param_scheduler") or []
    items = items if isinstance(items, (list, tuple)) else [items]
    return [build(s, SCHEDULERS, f"param_scheduler.{i}") for i, s in enumerate(items)]


def _hooks(cfg: dict, validation: ValidationHook | None) -> list[Hook]:
    """default_hooks, custom_hooks and validation, in priority order (ties: as listed).

    Validation runs after the NORMAL hooks (SyncBuffersHook) and before
    CheckpointHook, which needs its scores to keep the best checkpoint.
    """
    hooks_cfg = {"default_hooks.logger": {"type": "LoggerHook"},
                 "default_hooks.checkpoint": {"type": "CheckpointHook"}}
    for name, hook_cfg in (cfg.get("default_hooks") or {}).items():
        if hook_cfg is not None:
            hooks_cfg[f"default_hooks.{name}"] = hook_cfg
    custom = cfg.get("custom_hooks") or []
    if not isinstance(custom, (list, tuple)):
        raise ConfigError(f"custom_hooks: expected a list of hook dicts, got {type(custom).__name__}")
    hooks_cfg.update({f"custom_hooks.{i}": c for i, c in enumerate(custom)})
    hooks = [h for key, c in hooks_cfg.items() if (h := _build_hook(c, key)) is not None]
    if validation is not None:
        hooks.append(validation)
    return sorted(hooks, key=lambda h: h.priority)  # a stable sort keeps ties in order


def _build_hook(cfg: Any, key_path: str) -> Hook | None:
    """Build one hook; None for mmengine hooks whose work the trainer does itself.

    A custom hook that kinetix cannot run (an unknown type, or an mmengine hook
    whose methods the trainer never calls) is skipped with a warning, as other
    mmengine-only settings are.
    """
    if not isinstance(cfg, dict):
        raise ConfigError(f"{key_path}: expected a dict with a 'type' key, got {cfg!r}")
    cfg = dict(cfg)
    priority = cfg.pop("priority", None)
    custom = key_path.startswith("custom_hooks")
    if custom and isinstance(cfg.get("type"), str) and cfg["type"] not in HOOKS:
        warnings.warn(f"{unknown_type_message(cfg['type'], f'{key_path}.type', HOOKS)}; this hook is "
                      f"skipped", ConfigWarning, stacklevel=2)
        return None
    hook = build(cfg, HOOKS, key_path)
    if hook is None:
        return None
    mmengine_methods = [m for m in _MMENGINE_HOOK_METHODS if callable(getattr(hook, m, None))]
    if not isinstance(hook, Hook) or mmengine_methods:
        found = f" (it defines mmengine's {', '.join(mmengine_methods)})" if mmengine_methods else ""
        message = (f"{key_path}: {type(hook).__name__} is not a kinetix hook{found}; subclass "
                   f"kinetix.engine.Hook and use before_train/before_epoch/after_step/after_epoch/after_train")
        if not custom:
            raise ConfigError(message)
        warnings.warn(f"{message}; this hook is skipped", ConfigWarning, stacklevel=2)
        return None
    if priority is not None:
        if isinstance(priority, str) and priority.upper() in PRIORITIES:
            priority = PRIORITIES[priority.upper()]
        if not isinstance(priority, int) or isinstance(priority, bool) or not 0 <= priority <= 100:
            raise ConfigError(f"{key_path}.priority: expected 0-100 or one of {', '.join(PRIORITIES)}, "
                              f"got {priority!r}")
        hook.priority = priority
    return hook


def train(opts: RunOptions) -> None:
    run = prepare(opts, "train")
    cfg, logger = run.cfg, get_logger()
    # Read the checkpoint to resume from first: its seed is the run's seed.
    resume_path, resume_ckpt = _resume_checkpoint(opts, cfg, run.work_dir)
    seed, rank_seed, deterministic = _randomness(cfg, opts, (resume_ckpt or {}).get("meta", {}).get("seed"))
    logger.info(f"seed {seed} (this rank {rank_seed}), deterministic {deterministic}")
    loop = build(train_loop_cfg(cfg), LOOPS, "train_cfg")

    model = build_model(cfg, run.device)
    if hasattr(model, "init_weights"):
        model.init_weights()  # loads backbone `pretrained` weights; resume/load_from override them
    if cfg.get("load_from") and resume_ckpt is None:
        load_model_weights(model, load_checkpoint(cfg["load_from"]), cfg["load_from"])
        logger.info(f"Loaded weights from {cfg['load_from']}")
    # The run seed, not the rank's: every rank must shuffle the same way for the
    # shards to partition the data; worker seeds add the rank themselves.
    custom_imports = cfg.get("custom_imports")
    if compile_options(cfg) is not None and not cfg["train_dataloader"].get("drop_last"):
        # A short last batch is a new shape, and a new shape a new compilation.
        cfg["train_dataloader"]["drop_last"] = True
        logger.info("compile: train_dataloader.drop_last=True, so that every step has the same shape")
    train_loader = build_dataloader(cfg["train_dataloader"], "train_dataloader", seed=seed,
                                    shuffle_default=True, custom_imports=custom_imports,
                                    video_backend=cfg.get("video_backend"))
    check_labels(model, train_loader)
    other_loaders = _other_loaders(cfg, loop, model, seed, len(train_loader))
    validation, datasets = None, [train_loader.dataset, *(loader.dataset for loader in other_loaders)]
    if not opts.no_validate and cfg.get("val_dataloader") and cfg.get("val_evaluator"):
        val_loader = build_dataloader(cfg["val_dataloader"], "val_dataloader", seed=seed, shuffle_default=False,
                                      for_eval=True, custom_imports=custom_imports,
                                      video_backend=cfg.get("video_backend"))
        check_labels(model, val_loader)
        datasets.append(val_loader.dataset)
        metrics = build_metrics(cfg["val_evaluator"], "val_evaluator")
        validation = ValidationHook(lambda trainer: _validate(model, val_loader, metrics, run, trainer),
                                    begin=loop["val_begin"], interval=loop["val_interval"],
                                    by_epoch=loop["by_epoch"])
    bad_list, missing_list = (run.work_dir / name for name in LIST_NAMES["train"])
    report_missing(datasets, missing_list)
    batch_size = cfg["train_dataloader"]["batch_size"]
    optimizer = build_optimizer(cfg["optim_wrapper"], model, _lr_scale(cfg, opts, batch_size))
    schedule = LRSchedule(_schedulers(cfg), iters_per_epoch=min(map(len, [train_loader, *other_loaders])))
    amp = training_precision(cfg["optim_wrapper"], opts.amp, run.device)
    logger.info(f"Precision: {amp.note}")
    speed_up(model, cfg, run.device)
    visualizer = build_visualizer(cfg.get("visualizer"), run.run_dir)
    visualizer.add_config(config_text(run.cfg))
    hooks = _hooks(cfg, validation)
    for hook in hooks:
        if isinstance(hook, ValidationPictures) and validation is not None:
            hook.setup(run.run_dir, class_names(cfg, "val")[0],
                       pipeline_rows((cfg["val_dataloader"].get("dataset") or {}).get("pipeline")))
    trainer = Trainer(model=wrap_distributed(model, run.device), optimizer=optimizer,
                      train_loader=train_loader, max_epochs=loop.get("max_epochs"), max_iters=loop.get("max_iters"),
                      lr_schedule=schedule, hooks=hooks, device=run.device,
                      work_dir=run.work_dir, scalars=visualizer,
                      meta=_checkpoint_meta(run.cfg, opts, seed),
                      clip_grad=cfg["optim_wrapper"].get("clip_grad"), amp=amp,
                      accumulative_counts=cfg["optim_wrapper"].get("accumulative_counts", 1),
                      skip_log=SkipLog(bad_list, resume=resume_ckpt is not None), other_loaders=other_loaders)
    if resume_ckpt is not None:
        load_model_weights(model, resume_ckpt, resume_path, strict=True)
        trainer.resume_from(resume_ckpt)
        logger.info(f"Resumed from {resume_path} at epoch {trainer.epoch}, iteration {trainer.iter}"
                    + (f" ({trainer.batches_done} batches into epoch {trainer.epoch + 1})"
                       if trainer.batches_done else ""))
    try:
        with training_progress(trainer.hooks) as hooks:  # a bar when stderr is a terminal
            trainer.hooks = hooks
            trainer.train()
    finally:
        visualizer.close()
    logger.info(f"Training done: {trainer.epoch} epochs, {trainer.iter} iterations, work dir {run.work_dir}")
    keep_config(run, opts)


def _other_loaders(cfg: dict, loop: dict, model: torch.nn.Module, seed: int, main_length: int) -> list[Any]:
    """MultiLoaderEpochBasedTrainLoop's ``other_loaders``, built as train_dataloader is."""
    configs = loop.get("other_loaders") or []
    if configs and not getattr(model, "multi_source", False):
        raise ConfigError(f"train_cfg.other_loaders: {type(model).__name__} takes one batch per step; "
                          f"training on several loaders needs a model that takes a list of batches "
                          f"(RecognizerOmni)")
    loaders = []
    for i, loader_cfg in enumerate(configs):
        if compile_options(cfg) is not None and not loader_cfg.get("drop_last"):
            loader_cfg["drop_last"] = True  # as train_dataloader: one shape, one compilation
        # Stream i + 1: the per-sample random draws differ from the main loader's.
        loader = build_dataloader(loader_cfg, f"train_cfg.other_loaders.{i}", seed=seed, shuffle_default=True,
                                  custom_imports=cfg.get("custom_imports"), video_backend=cfg.get("video_backend"),
                                  stream=i + 1)
        check_labels(model, loader)
        loaders.append(loader)
    if loaders:
        lengths = ", ".join(f"train_cfg.other_loaders.{i} {len(loader)}" for i, loader in enumerate(loaders))
        shortest = min(main_length, *map(len, loaders))
        get_logger().info(f"MultiLoaderEpochBasedTrainLoop: an epoch is {shortest} iterations, the shortest loader's"
                          f" (batches: train_dataloader {main_length}, {lengths})")
    return loaders


def _resume_checkpoint(opts: RunOptions, cfg: dict, work_dir: Path) -> tuple[str | None, dict | None]:
    """(path, loaded checkpoint) to resume from, or (None, None) for a fresh run."""
    resume = opts.resume or ("auto" if cfg.get("resume") is True else None)
    if resume is None:
        return None, None
    if resume == "auto":
        found = cfg.get("load_from") if cfg.get("resume") and cfg.get("load_from") else find_resume_checkpoint(work_dir)
        if found is None:
            get_logger().warning(f"--resume: no checkpoint found in {work_dir} (no last_checkpoint, no "
                                 "epoch_*.pth or iter_*.pth); STARTING FROM SCRATCH")
            return None, None
        resume = str(found)
    return resume, load_checkpoint(resume)


def _validate(model: torch.nn.Module, loader: Any, metrics: list[Any], run: Run, trainer: Trainer) -> dict[str, float]:
    # The trainer's skip log: a video is warned about once per run, in training or validation.
    pictures = next((h for h in trainer.hooks if isinstance(h, ValidationPictures)), None)
    preds = predict(model, loader, run.device, skip_log=trainer.skip_log,
                    on_batch=pictures.on_batch(trainer) if pictures is not None else None,
                    fixed_batch=compile_options(run.cfg) is not None)
    results = compute_metrics(metrics, preds)
    n = len(loader)
    where = f"Epoch(val) [{trainer.epoch}]" if trainer.by_epoch else f"Iter(val) [{trainer.iter}]"
    get_logger().info(format_line(f"{where}[{n}/{n}]", results))
    if preds.skips:  # named in warnings when first met; here only counted
        get_logger().info(f"{where}: {len(preds.skips)} of {len(loader.dataset)} video(s) skipped"
                          f"{_listed_in(trainer.skip_log)}")
    return results


def _listed_in(skip_log: SkipLog) -> str:
    return f"; skipped videos are listed in {skip_log.path}" if skip_log.path is not None else ""


def test(opts: RunOptions) -> dict[str, float]:
    if opts.dump and not opts.dump.endswith(DUMP_SUFFIXES):
        raise ConfigError(f"--dump {opts.dump}: the file must end in .pkl or .pickle (MMAction2's), or .json")
    run = prepare(opts, "test")
    if opts.dump and get_rank() == 0:
        check_output_file(opts.dump, "--dump")
    if opts.show_dir:
        check_output_dir(opts.show_dir, "--show-dir")
    cfg, logger = run.cfg, get_logger()
    model = build_model(cfg, run.device)
    ckpt = load_checkpoint(opts.checkpoint)
    missing, unexpected = load_model_weights(model, ckpt, opts.checkpoint)
    if missing or unexpected:
        logger.warning(f"checkpoint {opts.checkpoint}: {len(missing)} missing keys "
                       f"{missing[:3]}, {len(unexpected)} unexpected keys {unexpected[:3]}")
    logger.info(f"Loaded checkpoint {opts.checkpoint}")
    speed_up(model, cfg, run.device)
    loader = build_dataloader(cfg["test_dataloader"], "test_dataloader", seed=0, shuffle_default=False,
                              for_eval=True, custom_imports=cfg.get("custom_imports"),
                              video_backend=cfg.get("video_backend"))
    check_labels(model, loader)
    bad_list, missing_list = (run.work_dir / name for name in LIST_NAMES["test"])
    num_missing = report_missing([loader.dataset], missing_list)
    skip_log = SkipLog(bad_list)
    metrics = build_metrics(cfg["test_evaluator"], "test_evaluator")
    on_batch = None
    if opts.show_dir or opts.show:
        on_batch = _test_visualizer(cfg, opts)
    preds = predict(model, loader, run.device, amp=opts.amp, on_batch=on_batch, progress=True,
                    skip_log=skip_log, fixed_batch=compile_options(cfg) is not None)
    total = len(loader.dataset)
    if len(preds) == 0:
        raise DataError(f"test: none of the {total} video(s) of {cfg['test_dataloader']['dataset'].get('ann_file')} "
                        f"could be decoded (first: {preds.skipped[0] if preds.skipped else '?'}); no metric")
    results = compute_metrics(metrics, preds)
    n = len(loader)
    logger.info(format_line(f"Epoch(test) [{n}/{n}]", results))
    # Over how many samples the metrics were computed: skipped videos are not in them
    # (named in warnings when first met, and listed in the work dir).
    missing_note = f"; {num_missing} more listed but missing" if num_missing else ""
    logger.info(f"Tested {len(preds)} of {total} videos, {len(preds.skips)} skipped{missing_note} "
                f"({preds.evaluated} predictions on {get_world_size()} process(es))"
                f"{_listed_in(skip_log) if preds.skips else ''}")
    if get_rank() == 0:
        text = json.dumps({**results, "checkpoint": str(opts.checkpoint), "num_samples": len(preds),
                           "num_videos": total, "num_skipped": len(preds.skips), "num_missing": num_missing,
                           "num_evaluated": preds.evaluated, "skipped": preds.skipped}, indent=2)
        for path in (run.run_dir / f"{run.timestamp}.json", run.work_dir / "test_metrics.json"):
            write_atomic(path, text)
        logger.info(f"Metrics written to {run.work_dir / 'test_metrics.json'}")
        if opts.dump:
            write_atomic(opts.dump, encode(dump_records(preds), opts.dump))
            logger.info(f"Dumped {len(preds)} predictions and {len(preds.skips)} skipped samples to {opts.dump}")
    barrier()
    return results


def _test_visualizer(cfg: dict, opts: RunOptions) -> Any:
    from kinetix.engine.visualize import Visualizer
    classes, source = class_names(cfg, "test")
    get_logger().info(f"--show-dir/--show: class names from {source}" if classes else f"--show-dir/--show: {source}")
    dataset = cfg["test_dataloader"].get("dataset") or {}
    return Visualizer(opts.show_dir, opts.show, opts.interval, opts.wait_time, classes,
                      rows=pipeline_rows(dataset.get("pipeline")))
