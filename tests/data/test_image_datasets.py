"""mmcls' ImageNet list and image transforms (OmniSource's image loader): files, labels and
pixels as mmcls gives them. The pixel comparison runs mmpretrain/mmcv in MMAction2's
environment (subprocess; set ``KINETIX_MMACTION2_PYTHON``)."""

import os
import subprocess
import textwrap

import cv2
import numpy as np
import pytest

import kinetix.data  # noqa: F401  (registers the types)
from kinetix.errors import DataError
from kinetix.registry import DATASETS, build

MMACTION2_PYTHON = os.environ.get("KINETIX_MMACTION2_PYTHON", "")


@pytest.fixture
def imagenet(tmp_path):
    (tmp_path / "meta").mkdir()
    (tmp_path / "train" / "n01").mkdir(parents=True)
    gen = np.random.default_rng(0)
    for name in ("a b.JPEG", "c.JPEG"):   # mmcls splits a line at its last space
        cv2.imwrite(str(tmp_path / "train" / "n01" / name), gen.integers(0, 256, (40, 50, 3), dtype=np.uint8))
    (tmp_path / "meta" / "train.txt").write_text("n01/a b.JPEG 3\nn01/c.JPEG 5\n")
    return tmp_path


def test_split_names_the_list_and_the_folder(imagenet):
    pipeline = [dict(type="LoadRGBFromFile"), dict(type="mmcls.RandomResizedCrop", scale=(20, 24)),
                dict(type="mmcls.RandomFlip", prob=0.5), dict(type="mmcls.PackClsInputs")]
    dataset = build(dict(type="mmcls.ImageNet", data_root=str(imagenet), split="train", pipeline=pipeline),
                    DATASETS, "dataset")
    assert dataset.get_labels() == [3, 5]
    sample = dataset[0]
    assert sample["inputs"].shape == (3, 20, 24) and int(sample["label"]) == 3
    assert sample["filename"] == str(imagenet / "train" / "n01" / "a b.JPEG")
    (imagenet / "meta" / "bad.txt").write_text("n01/c.JPEG five\n")
    with pytest.raises(DataError, match=r"bad\.txt:1: expected 'path label'"):
        build(dict(type="mmcls.ImageNet", data_root=str(imagenet), ann_file="meta/bad.txt", data_prefix="train",
                   pipeline=pipeline), DATASETS, "dataset")


MMCLS_SIDE = textwrap.dedent("""
    import ast, importlib.util, math, sys
    from typing import Sequence, Tuple, Union
    import mmcv
    import numpy as np
    from mmcv.transforms import BaseTransform, RandomFlip
    from mmcv.transforms.utils import cache_randomness
    # mmpretrain's transforms module needs torchvision, which MMAction2's venv lacks: run the
    # class's own source from the file, without its registry decorator.
    path = importlib.util.find_spec("mmpretrain").submodule_search_locations[0] + "/datasets/transforms/processing.py"
    node = next(n for n in ast.parse(open(path).read()).body
                if isinstance(n, ast.ClassDef) and n.name == "RandomResizedCrop")
    node.decorator_list = []
    names = dict(math=math, np=np, mmcv=mmcv, BaseTransform=BaseTransform, cache_randomness=cache_randomness,
                 Sequence=Sequence, Tuple=Tuple, Union=Union)
    exec(compile(ast.Module([node], []), path, "exec"), names)
    RandomResizedCrop = names["RandomResizedCrop"]
    img = np.load(sys.argv[1])
    out = []
    for seed in range(20):
        np.random.seed(seed)
        results = {"img": img.copy()}
        for t in (RandomResizedCrop(scale=(20, 24), crop_ratio_range=(0.05, 1.0)),
                  RandomFlip(prob=[0.3, 0.3], direction=["horizontal", "vertical"])):
            results = t(results)
        out.append(results["img"])
    np.save(sys.argv[2], np.stack(out))
""")



@pytest.mark.skipif(not MMACTION2_PYTHON, reason="set KINETIX_MMACTION2_PYTHON to a python with mmaction2 installed")
def test_crop_and_flip_give_mmcls_pixels_for_the_same_seed(tmp_path):
    img = np.random.default_rng(1).integers(0, 256, (37, 61, 3), dtype=np.uint8)
    np.save(tmp_path / "img.npy", img)
    (tmp_path / "side.py").write_text(MMCLS_SIDE)
    proc = subprocess.run([MMACTION2_PYTHON, str(tmp_path / "side.py"), str(tmp_path / "img.npy"),
                           str(tmp_path / "out.npy")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    theirs = np.load(tmp_path / "out.npy")
    crop = build(dict(type="mmcls.RandomResizedCrop", scale=(20, 24), crop_ratio_range=(0.05, 1.0)),
                 kinetix.registry.TRANSFORMS, "t")
    flip = build(dict(type="mmcls.RandomFlip", prob=[0.3, 0.3], direction=["horizontal", "vertical"]),
                 kinetix.registry.TRANSFORMS, "t")
    ours = []
    for seed in range(20):
        np.random.seed(seed)
        ours.append(flip(crop({"img": img.copy()}))["img"])
    np.testing.assert_array_equal(np.stack(ours), theirs)
    assert len({o.tobytes() for o in ours}) == 20
