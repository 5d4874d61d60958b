"""SyncBN on the CPU: two gloo processes, each with half a batch, compute what one process
computes on the whole batch (outputs, input gradients, summed parameter gradients, running stats)."""

import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp

from kinetix.models.layers import build_norm_layer
from kinetix.models.sync_bn import SyncBatchNorm


def batch():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(6, 3, 4, 5, generator=gen) * 3 + 1  # uneven halves below: 4 + 2 samples
    upstream = torch.randn(6, 3, 4, 5, generator=gen)   # a fixed gradient from the layers above
    return x, upstream


def run_bn(bn, x, upstream):
    x = x.clone().requires_grad_(True)
    y = bn(x)
    (y * upstream).sum().backward()
    return y.detach(), x.grad, bn.weight.grad, bn.bias.grad


def _worker(rank: int, init_file: str, out_dir: str) -> None:
    torch_dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    x, upstream = batch()
    part = slice(0, 4) if rank == 0 else slice(4, 6)
    bn = SyncBatchNorm(3)
    torch.manual_seed(1)
    torch.nn.init.uniform_(bn.weight)
    results = run_bn(bn, x[part], upstream[part])
    torch.save({"results": results, "state": bn.state_dict()}, f"{out_dir}/rank{rank}.pt")
    torch_dist.barrier()
    torch_dist.destroy_process_group()


@pytest.mark.slow
def test_two_process_syncbn_equals_one_process_batchnorm(tmp_path):
    mp.spawn(_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    x, upstream = batch()
    ref = torch.nn.BatchNorm2d(3)
    torch.manual_seed(1)
    torch.nn.init.uniform_(ref.weight)
    y, x_grad, w_grad, b_grad = run_bn(ref, x, upstream)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    (y0, xg0, wg0, bg0), (y1, xg1, wg1, bg1) = (r["results"] for r in ranks)
    torch.testing.assert_close(torch.cat([y0, y1]), y, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(torch.cat([xg0, xg1]), x_grad, atol=1e-5, rtol=1e-5)
    # DDP sums (then averages) parameter gradients over ranks; the sum is the whole batch's.
    torch.testing.assert_close(wg0 + wg1, w_grad, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(bg0 + bg1, b_grad, atol=1e-4, rtol=1e-5)
    for rank in ranks:
        for key in ("running_mean", "running_var", "num_batches_tracked"):
            torch.testing.assert_close(rank["state"][key], ref.state_dict()[key], atol=1e-5, rtol=1e-5)


def test_syncbn_without_a_process_group_is_batchnorm_with_the_same_keys():
    _, layer = build_norm_layer(dict(type="SyncBN"), 3)
    assert isinstance(layer, SyncBatchNorm)
    ref = torch.nn.BatchNorm2d(3)
    x, upstream = batch()
    for a, b in zip(run_bn(layer, x, upstream), run_bn(ref, x, upstream)):
        torch.testing.assert_close(a, b)
    assert layer.state_dict().keys() == ref.state_dict().keys()
    layer.eval()
    torch.testing.assert_close(layer(x), ref.eval()(x))
