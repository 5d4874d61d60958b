"""Build every MMAction2 recognition config in kinetix and in MMAction2 and compare the two.

    python tools/dev/check_parity.py [--mmaction2-python PY] [--out docs/parity.md]
                                     [--only SUBSTRING ...] [--timeout S] [--json FILE]

For each config under MMAction2's ``.mim/configs/recognition`` (MMAction2's own files, with
their own ``_base_``), with pretrained weights off:

1. MMAction2 (``parity_driver.py`` in MMAction2's Python, ``--mmaction2-python`` or
   ``$KINETIX_MMACTION2_PYTHON``) builds the model, draws its parameters and an input of the
   config's shape (batch 1, ``--size`` pixels square where the model allows), and scores it;
2. kinetix loads the same file with its own loader and builds the model; the state-dict
   keys and shapes must be equal; MMAction2's state loads into it (strict) and must give
   the same scores;
3. kinetix's own (drawn) state loads into MMAction2's model (strict) and must give the
   scores kinetix gives.

Each side runs in a worker process that is restarted when a step outlasts ``--timeout``, so
one config never stops the table. Transformers are compared shrunk (``parity_driver.SMALL``)
and built at full size on the meta device.
The table goes to stdout and to ``--out``; ``--json`` keeps the rows for tests.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import parity_driver  # noqa: E402  (stdlib and torch only; MMAction2 stays in its process)

ROOT = HERE.parent.parent
TOLERANCE = 1e-4

# ---- kinetix's side (``--kinetix-worker``) ----

class KinetixSide:
    def __init__(self) -> None:
        import torch
        import kinetix.models  # noqa: F401  (registers the model types)
        torch.manual_seed(0)

    def check(self, request: dict) -> dict:
        import torch
        from kinetix.config.loader import load_config
        from kinetix.registry import MODELS, build
        try:
            model_cfg, spec = parity_driver.prepare(load_config(request["config"]))
        except Exception as exc:
            return {"ok": False, "stage": "load", "error": parity_driver.one_line(exc)}
        reply: dict[str, Any] = {"model": model_cfg, "spec": spec}
        try:
            model = build(model_cfg, MODELS, "model").eval()
            parity_driver.perturb(model, request["seed"] + 1)
        except Exception as exc:
            return {**reply, "ok": False, "stage": "build", "error": parity_driver.one_line(exc)}
        reply["ok"] = reply["built"] = True
        if parity_driver.shrink_rule(model_cfg) is not None:
            reply["full_size"] = self.build_full_size(request["config"])
        mm_file = os.path.join(request["work"], "mm.pt")
        if not os.path.exists(mm_file):
            return reply
        mm = torch.load(mm_file)
        own = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        theirs = {k: tuple(v.shape) for k, v in mm["state"].items()}
        reply["keys_equal"] = own == theirs
        if own != theirs:
            reply["keys_error"] = _key_difference(own, theirs)
        # kinetix's own state first, for MMAction2 to load the other way.
        parity_driver.seed_all()
        with torch.no_grad():
            kx_scores = model({"inputs": mm["input"]}, mode="predict").float()
        torch.save({"state": model.state_dict(), "scores": kx_scores},
                   os.path.join(request["work"], "kx.pt"))
        try:
            model.load_state_dict(mm["state"], strict=True)
        except Exception as exc:
            return {**reply, "stage": "load_state", "error": parity_driver.one_line(exc)}
        parity_driver.seed_all()
        with torch.no_grad():
            scores = model({"inputs": mm["input"]}, mode="predict").float()
        reply["diff_mm_to_kx"] = _max_diff(scores, mm["scores"])
        reply["max_score"] = float(mm["scores"].abs().max())
        return reply


    @staticmethod
    def build_full_size(path: str) -> str:
        """'' when the config's model builds at its real size, else the error. It is built
        on the meta device: no memory, no time in initialisers, the same constructors."""
        import torch
        from kinetix.config.loader import load_config
        from kinetix.registry import MODELS, build
        try:
            model_cfg, _ = parity_driver.prepare(load_config(path), small=False)
            with torch.device("meta"):
                build(model_cfg, MODELS, "model")
        except Exception as exc:
            return parity_driver.one_line(exc)
        return ""


def _key_difference(own: dict, theirs: dict) -> str:
    only_kx, only_mm = sorted(set(own) - set(theirs)), sorted(set(theirs) - set(own))
    parts = []
    if only_kx:
        parts.append(f"{len(only_kx)} keys only in kinetix ({only_kx[0]}, ...)")
    if only_mm:
        parts.append(f"{len(only_mm)} keys only in MMAction2 ({only_mm[0]}, ...)")
    shapes = [k for k in own if k in theirs and own[k] != theirs[k]]
    if shapes:
        parts.append(f"{len(shapes)} shapes differ ({shapes[0]}: kinetix {own[shapes[0]]}, "
                     f"MMAction2 {theirs[shapes[0]]})")
    return "; ".join(parts)


def _max_diff(a: Any, b: Any) -> float:
    """Largest difference over the finite scores. Random statistics can overflow a deep
    network (dot-product non-local blocks reach 1e20 and beyond); then both sides must
    overflow at the same places, to the same inf or nan, or the difference is inf."""
    import torch
    if tuple(a.shape) != tuple(b.shape):
        return float("inf")
    finite_a, finite_b = torch.isfinite(a), torch.isfinite(b)
    if not torch.equal(finite_a, finite_b) or not torch.equal(
            torch.nan_to_num(a[~finite_a], nan=0.0), torch.nan_to_num(b[~finite_b], nan=0.0)):
        return float("inf")
    return float((a[finite_a] - b[finite_b]).abs().max()) if finite_a.any() else 0.0


# ---- the table ----

class Worker:
    """A process answering JSON lines; ask() gives None (and restarts it) past the timeout."""

    def __init__(self, argv: list[str], name: str) -> None:
        self.argv, self.name, self.proc = argv, name, None
        self.log = tempfile.TemporaryFile()

    def ask(self, request: dict, timeout: float) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=self.log, text=True, env=env, cwd=ROOT)
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        ready = sel.select(timeout)
        sel.close()
        line = self.proc.stdout.readline() if ready else ""
        if line:
            return json.loads(line)
        why = (f"timed out after {timeout:.0f} s" if not ready else
               f"{self.name} process died (exit {self.proc.wait()}): {self._last_log_line()}")
        self.stop()
        return {"ok": False, "stage": "worker", "error": why}

    def _last_log_line(self) -> str:
        self.log.seek(0)
        lines = [l for l in self.log.read().decode(errors="replace").splitlines() if l.strip()]
        return lines[-1][:200] if lines else "no output"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def check_config(path: Path, root: Path, mm: Worker, kx: Worker, work: str, args) -> dict:
    rel = str(path.relative_to(root))
    row: dict[str, Any] = {"config": rel, "family": rel.split("/")[0]}
    for name in ("mm.pt", "kx.pt", "back.pt"):
        Path(work, name).unlink(missing_ok=True)
    start = time.perf_counter()
    m = mm.ask({"cmd": "build", "config": str(path), "work": work, "size": args.size,
                "batch": args.batch, "seed": args.seed}, args.timeout)
    k = kx.ask({"cmd": "check", "config": str(path), "work": work, "seed": args.seed},
               args.timeout)
    row["mm_builds"], row["kx_builds"] = bool(m.get("built")), bool(k.get("built"))
    row["mm_runs"] = bool(m["ok"])   # built and scored: MMAction2 cannot run TIN without mmcv's ops
    row["small"] = bool(m.get("small"))
    errors, b = [], None
    if "full_size" in k:
        row["kx_full_builds"] = not k["full_size"]
        if k["full_size"]:
            errors.append(f"kinetix full-size build: {k['full_size']}")
    if not m["ok"]:
        errors.append(f"MMAction2 {m['stage']}: {m['error']}")
    if not k["ok"]:
        errors.append(f"kinetix {k['stage']}: {k['error']}")
    if m.get("model") is not None and k.get("model") is not None:
        where = _first_difference(m["model"], k["model"])
        if where:
            errors.append(f"model configs differ at model.{where}")
    if m["ok"] and k["ok"]:
        row["input_shape"] = m.get("input_shape")
        row["keys_equal"] = k.get("keys_equal")
        if k.get("keys_error"):
            errors.append(f"keys: {k['keys_error']}")
        if k.get("error"):
            errors.append(f"kinetix {k['stage']}: {k['error']}")
        row["diff_mm_to_kx"] = k.get("diff_mm_to_kx")
        row["max_score"] = k.get("max_score")
        if os.path.exists(os.path.join(work, "kx.pt")):
            b = mm.ask({"cmd": "back", "work": work}, args.timeout)
            if b["ok"]:
                import torch
                back = torch.load(os.path.join(work, "back.pt"))["scores"]
                row["diff_kx_to_mm"] = _max_diff(back, torch.load(os.path.join(work, "kx.pt"))["scores"])
            else:
                errors.append(f"MMAction2 {b['stage']} of kinetix's state: {b['error']}")
        diffs = [row.get("diff_mm_to_kx"), row.get("diff_kx_to_mm")]
        bound = TOLERANCE * max(1.0, row["max_score"] or 0.0)
        row["match"] = bool(row["keys_equal"] and all(d is not None and d <= bound for d in diffs))
        if not row["match"] and not errors:
            errors.append("scores differ")
    row["error"] = " | ".join(errors)
    steps = [m, k] + ([b] if b else [])
    row["cpu_seconds"] = round(sum(s.get("cpu_seconds", 0) for s in steps), 1)
    row["step_seconds"] = [s.get("seconds") for s in steps]
    row["seconds"] = round(time.perf_counter() - start, 1)
    return row


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    """Where two JSON-like values first differ (tuples and lists are the same thing)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            where = _first_difference(a.get(key), b.get(key), f"{path}.{key}" if path else str(key))
            if where:
                return where
        return ""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return path or "<root>"
        for i, (x, y) in enumerate(zip(a, b)):
            where = _first_difference(x, y, f"{path}.{i}")
            if where:
                return where
        return ""
    return "" if a == b else (path or "<root>")


def _mark(value: Any) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _diff(row: dict) -> str:
    diffs = [d for d in (row.get("diff_mm_to_kx"), row.get("diff_kx_to_mm")) if d is not None]
    return f"{max(diffs):.1e}" if diffs else "-"


def _scale(row: dict) -> str:
    return "-" if row.get("max_score") is None else f"{row['max_score']:.1e}"


def render(rows: list[dict], seconds: float, args) -> str:
    kx = sum(bool(r.get("kx_builds")) for r in rows)
    mm = sum(bool(r.get("mm_builds")) for r in rows)
    both = [r for r in rows if r.get("kx_builds") and r.get("mm_builds")]
    match = sum(bool(r.get("match")) for r in rows)
    small = sum(bool(r.get("small")) for r in rows)
    small_full = sum(bool(r.get("kx_full_builds")) for r in rows if r.get("small"))
    lines = [
        "# Parity with MMAction2 1.2.0",
        "",
        "Written by `python tools/dev/check_parity.py` (MMAction2's side runs in MMAction2's own",
        "venv: `tools/analysis_tools/make_mmaction2_venv.sh`). Each of MMAction2's recognition",
        "configs is loaded by each project from MMAction2's own file and built with pretrained",
        "weights off; batch norm statistics and affine parameters are drawn at random. Keys: the",
        "state-dict keys and shapes are equal. Diff: the largest absolute difference in the",
        f"fp32 eval scores (`average_clips='score'`, batch {args.batch}, {args.size} px square",
        "where the model allows) with MMAction2's state loaded strictly into kinetix and kinetix's",
        f"into MMAction2; a match needs both at most {TOLERANCE:g} times the largest score (at",
        "least 1): with random statistics the scores of deep networks reach 1e4, where fp32",
        "rounding alone exceeds an absolute 1e-4. Scale: that largest score. Small: the",
        "transformers are compared shrunk the same way on both sides (`parity_driver.SMALL`:",
        "fewer blocks, narrower, smaller input); kinetix also builds each at its full size, on",
        "the meta device, and an error there is listed. TIN: mmcv-lite (MMAction2's venv) has",
        "no compiled `mmcv.ops.tin_shift`, so MMAction2's side runs with a stand-in,",
        "`parity_driver.tin_shift_loop`: mmcv's CUDA kernel `tin_shift_forward` transcribed as",
        "plain Python loops (input frame t of each sample's channel group lands on frame",
        "t + shift, zeros elsewhere); kinetix's vectorised `tin_shift` is unit-tested against",
        "its own loop reference (tests/models/test_tin.py). MobileOne: MMAction2's MobileOneTSM",
        "and the TSN configs' `mmpretrain.MobileOne` are mmpretrain 1.2.0's own MobileOne, loaded",
        "alone (`parity_driver.install_mmpretrain_stand_in`: the rest of mmpretrain needs",
        "torchvision).",
        "",
        f"**Summary:** of {len(rows)} configs, "
        f"**{kx}** load and build in kinetix, **{mm}** in MMAction2, {len(both)} in both, "
        f"and **{match}** match. Transformer configs compared small: {small}, of which "
        f"{small_full} build at full size in kinetix. Run time {seconds / 60:.1f} min.",
        "",
        "| config | family | kinetix builds | MMAction2 builds | small | keys equal | max diff | scale | s | error |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        error = r.get("error", "").replace("|", "\\|")
        lines.append(f"| {r['config']} | {r['family']} | {_mark(r.get('kx_builds'))} | "
                     f"{_mark(r.get('mm_builds'))} | {'yes' if r.get('small') else ''} | {_mark(r.get('keys_equal'))} | {_diff(r)} | "
                     f"{_scale(r)} | {r.get('seconds', '')} | {error} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    if argv and argv[0] == "--kinetix-worker":
        parity_driver.serve({"check": KinetixSide().check})
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mmaction2-python", default=os.environ.get("KINETIX_MMACTION2_PYTHON"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "parity.md"),
                        help="where the table goes ('' for stdout only)")
    parser.add_argument("--json", help="also write the rows here")
    parser.add_argument("--only", nargs="*", default=[], help="configs whose path contains one of these")
    parser.add_argument("--timeout", type=float, default=180, help="seconds per step of one config")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not args.mmaction2_python:
        parser.error("give --mmaction2-python or set KINETIX_MMACTION2_PYTHON")
    mm = Worker([args.mmaction2_python, str(HERE / "parity_driver.py")], "MMAction2")
    kx = Worker([sys.executable, str(HERE / "check_parity.py"), "--kinetix-worker"], "kinetix")
    start = time.perf_counter()
    try:
        answer = mm.ask({"cmd": "configs"}, 300)
        if not answer["ok"]:
            print(f"error: MMAction2's python cannot start: {answer['error']}", file=sys.stderr)
            return 2
        root = Path(answer["root"])
        paths = sorted(p for p in root.rglob("*.py") if "_base_" not in p.parts
                       and (not args.only or any(s in str(p.relative_to(root)) for s in args.only)))
        rows = []
        shm = "/dev/shm" if os.path.isdir("/dev/shm") else None   # state dicts pass through here
        with tempfile.TemporaryDirectory(dir=shm) as work:
            for path in paths:
                rows.append(check_config(path, root, mm, kx, work, args))
                r = rows[-1]
                print(f"{r['config']}: kx={_mark(r.get('kx_builds'))} mm={_mark(r.get('mm_builds'))} "
                      f"diff={_diff(r)} {r.get('seconds', '')}s {r.get('error', '')}",
                      file=sys.stderr, flush=True)
    finally:
        mm.stop()
        kx.stop()
    table = render(rows, time.perf_counter() - start, args)
    print(table)
    if args.out:
        Path(args.out).write_text(table)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
