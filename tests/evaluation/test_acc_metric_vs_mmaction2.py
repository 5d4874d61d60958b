"""kinetix's AccMetric against MMAction2's metric functions on small random cases.

MMAction2 runs in its own environment (subprocess): set ``KINETIX_MMACTION2_PYTHON``.
"""

import json
import os
import subprocess
import textwrap

import numpy as np
import pytest

from kinetix.evaluation import AccMetric

MMACTION2_PYTHON = os.environ.get("KINETIX_MMACTION2_PYTHON", "")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not MMACTION2_PYTHON,
                       reason="set KINETIX_MMACTION2_PYTHON to a python with mmaction2 installed"),
]

MMACTION2_SIDE = textwrap.dedent("""
    import json, sys
    import numpy as np
    from mmaction.evaluation.functional import mean_class_accuracy, top_k_accuracy

    out = []
    for case in json.load(open(sys.argv[1])):
        scores = [np.array(s) for s in case["scores"]]
        labels = case["labels"]
        top = top_k_accuracy(scores, labels, (1, 2))
        out.append(dict(mean1=float(mean_class_accuracy(scores, labels)),
                        top1=float(top[0]), top2=float(top[1])))
    print(json.dumps(out))
""")


def _cases() -> list[dict]:
    rng = np.random.default_rng(0)
    cases = []
    for n, classes in [(4, 3), (5, 6), (8, 4), (12, 10), (3, 7), (20, 5)]:
        for _ in range(4):
            # labels drawn from a subset so some classes are predicted but never labels
            labels = rng.integers(0, max(1, classes // 2), n)
            # continuous scores: no ties, so the argmax/argsort tie rules do not matter
            cases.append(dict(scores=rng.random((n, classes)).tolist(), labels=labels.tolist()))
    return cases


def test_acc_metric_matches_mmaction2(tmp_path):
    cases = _cases()
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    (tmp_path / "side.py").write_text(MMACTION2_SIDE)
    proc = subprocess.run([MMACTION2_PYTHON, str(tmp_path / "side.py"), str(tmp_path / "cases.json")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    expected = json.loads(proc.stdout.strip().splitlines()[-1])
    metric = AccMetric(metric_options=dict(top_k_accuracy=dict(topk=(1, 2))))
    differing_mean1 = 0
    for case, want in zip(cases, expected):
        got = metric.compute(np.array(case["scores"]), np.array(case["labels"]))
        assert got["acc/top1"] == pytest.approx(want["top1"], abs=1e-12)
        assert got["acc/top2"] == pytest.approx(want["top2"], abs=1e-12)
        assert got["acc/mean1"] == pytest.approx(want["mean1"], abs=1e-12)
        labelled = np.unique(case["labels"])
        differing_mean1 += not np.isin(np.argmax(case["scores"], 1), labelled).all()
    # the cases do exercise predicted-only classes
    assert differing_mean1 > 5
