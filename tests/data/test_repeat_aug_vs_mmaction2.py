"""RepeatAugDataset against MMAction2's own, in MMAction2's environment.

Both sides read the same video, whose frame ``i`` is a flat grey of level ``20 + 5*i``,
so the decoded pixels say which frames each repeat holds. Under the same ``np.random``
seed both must sample the same frames for every repeat and then make the same draw in
the step after decoding (MMAction2's order: all sampler draws, then the rest of the
pipeline repeat by repeat), and a batch of B videos must hold B * num_repeats samples.
Set ``KINETIX_MMACTION2_PYTHON`` to a python with mmaction2 installed to run it.
"""

import json
import os
import random
import subprocess
import textwrap

import numpy as np
import pytest

from kinetix.data import build_dataloader, build_dataset
from kinetix.data.synthetic import write_video

MMACTION2_PYTHON = os.environ.get("KINETIX_MMACTION2_PYTHON", "")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not MMACTION2_PYTHON,
                       reason="set KINETIX_MMACTION2_PYTHON to a python with mmaction2 installed"),
]

NUM_FRAMES, REPEATS, BATCH, SEEDS = 40, 3, 2, range(6)
SAMPLER = dict(type="SampleFrames", clip_len=4, frame_interval=3, num_clips=2)

# One random draw after decoding, kept in the results: shows where each repeat's
# transforms run in the np.random stream.
MMACTION2_SIDE = textwrap.dedent("""
    import json, sys
    import numpy as np
    import torch
    from mmcv.transforms import BaseTransform
    from mmaction.datasets import RepeatAugDataset
    from mmaction.datasets.repeat_aug_dataset import repeat_pseudo_collate
    from mmaction.registry import TRANSFORMS
    from mmaction.utils import register_all_modules

    register_all_modules()

    @TRANSFORMS.register_module()
    class RecordDraw(BaseTransform):
        def transform(self, results):
            results["draw"] = int(np.random.randint(1 << 30))
            return results

    args = json.load(open(sys.argv[1]))
    head = [dict(type="DecordInit"), args["sampler"], dict(type="DecordDecode")]
    out = {}
    for once in (False, True):
        ds = RepeatAugDataset(args["ann"], head + [dict(type="RecordDraw")],
                              data_prefix=dict(video=args["root"]), num_repeats=args["repeats"],
                              sample_once=once)
        for seed in args["seeds"]:
            for idx in range(len(ds)):
                np.random.seed(seed)
                out[f"{once}/{seed}/{idx}"] = [
                    dict(inds=r["frame_inds"].tolist(), imgs=[float(np.mean(i)) for i in r["imgs"]],
                         draw=r["draw"]) for r in ds.prepare_data(idx)]
    packed = head + [dict(type="Resize", scale=(16, 16), keep_ratio=False),
                     dict(type="FormatShape", input_format="NCTHW"), dict(type="PackActionInputs")]
    ds = RepeatAugDataset(args["ann"], packed, data_prefix=dict(video=args["root"]),
                          num_repeats=args["repeats"], sample_once=True)
    loader = torch.utils.data.DataLoader(ds, batch_size=args["batch"], collate_fn=repeat_pseudo_collate)
    out["batch_sizes"] = [len(b["inputs"]) for b in loader]
    json.dump(out, open(sys.argv[2], "w"))
""")


class RecordDraw:
    def __call__(self, results):
        results["draw"] = int(np.random.randint(1 << 30))
        return results


def frame_of(level: float) -> int:
    return int(round((level - 20) / 5))


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("repeat_aug")
    frames = [np.full((32, 32, 3), 20 + 5 * i, np.uint8) for i in range(NUM_FRAMES)]
    write_video(str(root / "count.mp4"), frames)
    write_video(str(root / "short.mp4"), frames[:11])  # shorter than a clip: the sampler loops
    (root / "list.txt").write_text("count.mp4 0\nshort.mp4 1\ncount.mp4 2\n")
    return root


def ours(root, once: bool) -> dict:
    head = [dict(type="DecordInit"), SAMPLER, dict(type="DecordDecode")]
    ds = build_dataset(dict(type="RepeatAugDataset", ann_file=str(root / "list.txt"),
                            data_prefix=dict(video=str(root)), pipeline=head, num_repeats=REPEATS,
                            sample_once=once), "train_dataloader.dataset")
    ds.pipeline.append(RecordDraw())
    out = {}
    for seed in SEEDS:
        for idx in range(len(ds)):
            np.random.seed(seed)
            random.seed(seed)
            out[f"{once}/{seed}/{idx}"] = [
                dict(inds=r["frame_inds"].tolist(), imgs=[float(np.mean(i)) for i in r["imgs"]],
                     draw=r["draw"]) for r in ds[idx]]
    return out


def test_frames_draws_and_batch_size_match_mmaction2(videos, tmp_path):
    args = dict(ann=str(videos / "list.txt"), root=str(videos), sampler=SAMPLER, repeats=REPEATS,
                batch=BATCH, seeds=list(SEEDS))
    (tmp_path / "args.json").write_text(json.dumps(args))
    (tmp_path / "side.py").write_text(MMACTION2_SIDE)
    proc = subprocess.run([MMACTION2_PYTHON, str(tmp_path / "side.py"), str(tmp_path / "args.json"),
                           str(tmp_path / "theirs.json")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    theirs = json.loads((tmp_path / "theirs.json").read_text())
    mine = {**ours(videos, False), **ours(videos, True)}
    compared = 0
    for key, repeats in mine.items():
        other = theirs[key]
        assert len(repeats) == len(other) == REPEATS, key
        clip = SAMPLER["clip_len"] * SAMPLER["num_clips"]
        # MMAction2 leaves every repeat's frame_inds at the concatenation of all repeats.
        their_inds = [other[0]["inds"][r * clip:(r + 1) * clip] for r in range(REPEATS)]
        assert [r["inds"] for r in repeats] == their_inds, key
        # The pixels say which frames each repeat got, on both sides.
        assert [[frame_of(v) for v in r["imgs"]] for r in repeats] == their_inds, key
        assert [[frame_of(v) for v in r["imgs"]] for r in repeats] == \
               [[frame_of(v) for v in r["imgs"]] for r in other], key
        assert [r["draw"] for r in repeats] == [r["draw"] for r in other], key
        compared += 1
    assert compared == 2 * len(SEEDS) * 3
    # Repeats drawn separately really differ somewhere (the comparison is not of constants).
    assert any(len({tuple(r["inds"]) for r in reps}) > 1 for k, reps in mine.items() if k.startswith("False"))

    head = [dict(type="DecordInit"), SAMPLER, dict(type="DecordDecode"),
            dict(type="Resize", scale=(16, 16), keep_ratio=False),
            dict(type="FormatShape", input_format="NCTHW"), dict(type="PackActionInputs")]
    loader = build_dataloader(dict(batch_size=BATCH, num_workers=0,
                                   collate_fn=dict(type="repeat_pseudo_collate"),
                                   dataset=dict(type="RepeatAugDataset", ann_file=str(videos / "list.txt"),
                                                data_prefix=dict(video=str(videos)), pipeline=head,
                                                num_repeats=REPEATS, sample_once=True)),
                              "train_dataloader", seed=0, shuffle_default=False)
    assert [len(b["inputs"]) for b in loader] == theirs["batch_sizes"] == [BATCH * REPEATS, REPEATS]
