#!/usr/bin/env bash
# Create a venv with MMAction2 1.2.0 + decord, the baseline bench_data.py compares against.
#
#   bash tools/analysis_tools/make_mmaction2_venv.sh [VENV_DIR]     # default: .venv-mmaction2
#   python tools/analysis_tools/bench_data.py CONFIG --against-mmaction2 VENV_DIR/bin/python
#
# MMAction2 1.2.0 imports its DRN localizer at package import, and DRN needs
# compiled mmcv ops that mmcv-lite lacks; nothing in the data pipeline needs DRN,
# so that one import is made optional. Running the script again is harmless.
set -euo pipefail

VENV_DIR="${1:-$(cd "$(dirname "$0")/../.." && pwd)/.venv-mmaction2}"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV_DIR/bin/python" ]; then
    "$PYTHON" -m venv "$VENV_DIR"
fi
"$VENV_DIR/bin/pip" install --quiet torch==2.13.0 mmaction2==1.2.0 mmengine==0.10.7 mmcv-lite==2.1.0 \
    importlib_metadata decord
# mmpretrain, for MMAction2's MobileOne configs (MobileOneTSM subclasses mmpretrain's
# MobileOne). Without its dependencies: they pull in matplotlib and a wrong 'modelindex', and
# the package as a whole needs torchvision; tools/dev/parity_driver.py loads just its MobileOne
# module (install_mmpretrain_stand_in), which needs only mmcv and mmengine.
"$VENV_DIR/bin/pip" install --quiet --no-deps mmpretrain==1.2.0
# timm, for MMAction2's timm.swin_* configs (timm 0.9.x: the Swin layout MMAction2 1.2.0's
# feature_shape='NHWC' config expects). Without dependencies: timm imports torchvision at
# package import, which does not load beside the CPU torch; tools/dev/parity_driver.py stands
# in empty torchvision modules (install_timm_stand_in), which timm's Swin does not use.
"$VENV_DIR/bin/pip" install --quiet --no-deps timm==0.9.16

# torchvision's own DenseNet source, for MMAction2's `torchvision.densenet161` configs. PyPI
# torchvision does not load beside the venv's CPU torch, so its wheel is only unpacked:
# tools/dev/parity_driver.py (install_torchvision_stand_in) runs models/densenet.py from
# VENV_DIR/share/kinetix-stand-ins with stand-ins for the few torchvision helpers it imports.
STAND_INS="$VENV_DIR/share/kinetix-stand-ins"
if [ ! -f "$STAND_INS/torchvision/models/densenet.py" ]; then
    WHEEL_DIR="$(mktemp -d)"
    "$VENV_DIR/bin/pip" download --quiet --no-deps --only-binary=:all: torchvision==0.20.0 \
        -d "$WHEEL_DIR"
    "$VENV_DIR/bin/python" - "$WHEEL_DIR" "$STAND_INS" <<'PY'
import pathlib, sys, zipfile

wheel = next(pathlib.Path(sys.argv[1]).glob("torchvision-*.whl"))
target = pathlib.Path(sys.argv[2])
with zipfile.ZipFile(wheel) as archive:
    archive.extract("torchvision/models/densenet.py", target)
PY
    rm -rf "$WHEEL_DIR"
fi

"$VENV_DIR/bin/python" - <<'PY'
import pathlib, site

for root in site.getsitepackages():
    path = pathlib.Path(root) / "mmaction" / "models" / "localizers" / "__init__.py"
    if path.exists():
        break
else:
    raise SystemExit("error: mmaction/models/localizers/__init__.py not found in the venv")
line = "from .drn.drn import DRN\n"
text = path.read_text()
if line in text and "except ImportError:  # DRN needs compiled mmcv ops" not in text:
    text = text.replace(line, "try:\n    " + line
                        + "except ImportError:  # DRN needs compiled mmcv ops that mmcv-lite lacks\n"
                        + "    DRN = None\n")
    path.write_text(text)
PY

"$VENV_DIR/bin/python" -c "from mmaction.datasets.transforms import DecordInit, Resize" \
    && echo "MMAction2 venv ready: $VENV_DIR/bin/python"
