"""Run MMAction2's own ``tools/analysis_tools/get_flops.py`` (from its installed package),
with mmcv's missing ``tin_shift`` stood in for (``parity_driver.install_tin_shift_stand_in``)
so that TIN can be counted too, and mmpretrain's MobileOne and ResNeXt, timm's Swin and
torchvision's DenseNet loaded alone (``parity_driver.install_*_stand_in``) for the TSN
custom backbones (set their ``pretrained=True`` to False: nothing is downloaded). For
docs/model_zoo.md's last column::

    ORACLE_PYTHON tools/dev/mmaction2_get_flops.py CONFIG --shape ...

CONFIG is MMAction2's config file; ``--shape`` is kinetix's "Input shape" for the config
(MMAction2's tool adds the batch axis: a 2D model's frames ``N C H W``, a 3D model's one
clip ``1 C T H W``).
"""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import parity_driver  # noqa: E402


def main() -> None:
    parity_driver.install_mmpretrain_stand_in()
    parity_driver.install_timm_stand_in()
    import mmaction
    from mmaction.utils import register_all_modules
    register_all_modules()
    parity_driver.install_tin_shift_stand_in()
    parity_driver.install_torchvision_stand_in()
    tool = os.path.join(os.path.dirname(mmaction.__file__), ".mim", "tools", "analysis_tools",
                        "get_flops.py")
    sys.argv = [tool] + sys.argv[1:]
    runpy.run_path(tool, run_name="__main__")


if __name__ == "__main__":
    main()
