"""Process-group helpers that also work in a single, non-distributed process.

Everything here degrades to the obvious single-process answer when
torch.distributed is not initialised, so the rest of the code can call
``get_rank()`` or ``all_gather_object()`` unconditionally.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as torch_dist


def is_distributed() -> bool:
    return torch_dist.is_available() and torch_dist.is_initialized()


def get_rank() -> int:
    return torch_dist.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    return torch_dist.get_world_size() if is_distributed() else 1


def get_local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", 0))


def is_main_process() -> bool:
    return get_rank() == 0


def barrier() -> None:
    if is_distributed():
        torch_dist.barrier()


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Return ``obj`` as held by rank ``src`` on every rank."""
    if not is_distributed():
        return obj
    holder = [obj]
    torch_dist.broadcast_object_list(holder, src=src)
    return holder[0]


def all_gather_object(obj: Any) -> list[Any]:
    """Gather one picklable object from every rank, in rank order."""
    if not is_distributed():
        return [obj]
    out: list[Any] = [None] * get_world_size()
    torch_dist.all_gather_object(out, obj)
    return out


_HOST_GROUP: Any = None


def make_host_group() -> None:
    """A gloo group beside an NCCL one, for flags the host must read (``all_ranks_agree``).

    Reading the result of an NCCL all-reduce on the host waits for everything queued on
    the GPU before it, which stalls the training loop once per step; a gloo all-reduce of
    a CPU tensor involves the host only. Every rank must call this, in the same order
    relative to other group creations (``init_distributed`` does, right after init).
    """
    global _HOST_GROUP
    if is_distributed() and torch_dist.get_backend() != "gloo":
        _HOST_GROUP = torch_dist.new_group(backend="gloo")


def all_ranks_agree(flag: bool) -> bool:
    """True when ``flag`` is true on every rank: one small all-reduce on the host, no
    pickling, and no wait for the GPU (see ``make_host_group``)."""
    if not is_distributed():
        return flag
    value = torch.tensor([1 if flag else 0], dtype=torch.int32)
    torch_dist.all_reduce(value, op=torch_dist.ReduceOp.MIN, group=_HOST_GROUP)
    return bool(value.item())


def all_reduce_mean_(tensors: list[torch.Tensor]) -> None:
    """Average ``tensors`` over ranks in place, one all-reduce per dtype."""
    if not is_distributed() or not tensors:
        return
    by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
    for tensor in tensors:
        by_dtype.setdefault(tensor.dtype, []).append(tensor)
    for group in by_dtype.values():
        flat = torch.cat([t.detach().reshape(-1) for t in group])
        torch_dist.all_reduce(flat)
        flat /= get_world_size()
        for tensor, part in zip(group, flat.split([t.numel() for t in group])):
            tensor.data.copy_(part.view_as(tensor))
