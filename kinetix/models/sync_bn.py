"""SyncBN that also works on the CPU.

``norm_cfg=dict(type='SyncBN')`` computes batch statistics over the whole
global batch instead of each rank's slice. torch's ``nn.SyncBatchNorm`` does
this with CUDA kernels only: on the CPU (gloo) it raises. This subclass keeps
torch's path on GPUs and, on the CPU, computes the same statistics with one
differentiable all-reduce, so a 2-process CPU run with SyncBN trains like one
process on the concatenated batch. Parameters and buffers are torch's, so
state-dict keys do not change.
"""

from __future__ import annotations

import torch
import torch.distributed as torch_dist
import torch.distributed.nn.functional as dist_nn
from torch import nn


class SyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """``nn.SyncBatchNorm`` with a CPU path for gloo process groups.

    Not a subclass of ``nn.SyncBatchNorm``: DistributedDataParallel refuses
    those outright on the CPU. On GPUs, torch's own forward does the work.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 process_group: torch_dist.ProcessGroup | None = None) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats)
        self.process_group = process_group

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"SyncBatchNorm: expected at least 2D input, got {x.dim()}D")

    def _check_non_zero_input_channels(self, x: torch.Tensor) -> None:
        if x.size(1) == 0:
            raise ValueError("SyncBatchNorm: the input has no channels")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        syncing = self.training and torch_dist.is_available() and torch_dist.is_initialized()
        if x.device.type != "cpu":
            # torch's CUDA kernels (its forward only reads attributes this class also has).
            return nn.SyncBatchNorm.forward(self, x)
        if not syncing:
            return super().forward(x)  # plain batch norm
        self._check_input_dim(x)
        group = self.process_group or torch_dist.group.WORLD
        mean, var, count = _global_moments(x, group)
        if self.track_running_stats:
            self._update_running_stats(mean.detach(), var.detach(), count)
        shape = [1, -1] + [1] * (x.dim() - 2)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y

    @torch.no_grad()
    def _update_running_stats(self, mean: torch.Tensor, var: torch.Tensor, count: float) -> None:
        # As nn.BatchNorm: momentum None means a cumulative average; the running
        # variance is the unbiased estimate.
        self.num_batches_tracked.add_(1)
        momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
        unbiased = var * (count / max(count - 1.0, 1.0))
        self.running_mean.mul_(1 - momentum).add_(mean, alpha=momentum)
        self.running_var.mul_(1 - momentum).add_(unbiased, alpha=momentum)


def _global_moments(x: torch.Tensor, group: torch_dist.ProcessGroup) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Mean and (biased) variance per channel over every rank's batch, differentiably.

    Each rank contributes its row (count, count*mean, count*var) to a
    world-sized table summed with one all-reduce; the rows are then combined
    with the parallel-variance formula, which is exact and avoids the
    cancellation of E[x^2] - E[x]^2. The all-reduce's backward sums the
    gradients from every rank, which is what the global statistics need.
    """
    channels = x.shape[1]
    dims = [0, *range(2, x.dim())]
    count = x.numel() // channels
    if count:
        local_mean = x.mean(dims)
        local_var = x.var(dims, unbiased=False)
    else:  # an empty slice still takes part in the collective
        local_mean = local_var = x.new_zeros(channels)
    world, rank = torch_dist.get_world_size(group), torch_dist.get_rank(group)
    row = torch.cat([local_mean * count, local_var * count, x.new_tensor([float(count)])])
    rows = [row if r == rank else torch.zeros_like(row) for r in range(world)]
    table = dist_nn.all_reduce(torch.stack(rows), group=group)
    counts = table[:, 2 * channels]
    total = counts.sum()
    if float(total) == 0:
        raise ValueError("SyncBatchNorm: every rank's batch is empty")
    means = table[:, :channels] / counts.clamp(min=1).unsqueeze(1)
    mean = table[:, :channels].sum(0) / total
    var = (table[:, channels:2 * channels] + counts.unsqueeze(1) * (means - mean) ** 2).sum(0) / total
    return mean, var, float(total)
