"""Fuse a checkpoint's multi-branch blocks (MobileOne) into their deploy form, as MMAction2's
``tools/convert/reparameterize_model.py`` does::

    python tools/convert/reparameterize_model.py CONFIG CHECKPOINT SAVE_PATH

CONFIG is the training (non-deploy) config the checkpoint was trained with; SAVE_PATH
(``.pth`` or ``.tar``) gets ``state_dict`` in the names of the ``_deploy_`` config, for it or
for MMAction2. kinetix's deploy configs also load the unconverted checkpoint (fusing it as it
loads); converting once saves that work and gives a file MMAction2 can use. Errors are one line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import torch

from kinetix.apis import init_recognizer
from kinetix.engine.checkpoint import save_checkpoint
from kinetix.errors import ConfigError, KinetixError


def convert(config: str, checkpoint: str, save_path: str) -> dict[str, torch.Tensor]:
    """Load, fuse the backbone's branches, save; returns the saved state dict."""
    if Path(save_path).suffix not in (".pth", ".tar"):
        raise ConfigError(f"{save_path}: the converted checkpoint must be a .pth or .tar file")
    model = init_recognizer(config, checkpoint, device="cpu")
    switch = getattr(model.backbone, "switch_to_deploy", None)
    if switch is None:
        raise ConfigError(f"{config}: model.backbone ({type(model.backbone).__name__}) has no "
                          f"multi-branch form to fuse (no switch_to_deploy)")
    switch()
    state = model.state_dict()
    Path(save_path).parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint({"state_dict": state}, save_path)
    return state


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config_path", help="the (training-form) config of the checkpoint")
    parser.add_argument("checkpoint_path", help="the checkpoint to convert (a path or URL)")
    parser.add_argument("save_path", help="where the converted checkpoint goes (.pth or .tar)")
    args = parser.parse_args(argv)
    try:
        state = convert(args.config_path, args.checkpoint_path, args.save_path)
    except KinetixError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Saved {len(state)} tensors in the deploy form to {args.save_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
