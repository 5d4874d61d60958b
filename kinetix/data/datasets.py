"""VideoDataset and RawframeDataset: MMAction2 annotation lists, checked up front.

Annotations are parsed and every listed file is checked at construction.
Copies of web-scraped sets (Kinetics) usually lack a few percent of their
videos, so by default (``on_missing='skip'``) missing files are left out and
kept in ``dataset.missing`` for the engine to report once (the dataset knows
no work dir, and DataLoader workers each hold a copy of it);
``on_missing='error'`` makes one missing file fatal, with its ``file:line``.
A list none of whose files exists is always an error.

A video that exists but cannot be decoded, or whose pipeline runs longer than
``decode_timeout`` seconds, becomes a ``{'skipped': filename, 'reason': why,
'index': i, 'label': ...}`` sample, which the collate function drops and
lists; the engine warns about it once per run and lists it in the work dir.
"""

from __future__ import annotations

import copy
import os
from typing import Annotated, Any, Callable, Literal, Sequence, Sized

import numpy as np

from kinetix.config import read_text
from kinetix.data.deadline import DeadlineExceeded, time_limit
from kinetix.data.decoding import UndecodableVideoError
from kinetix.errors import ConfigError, DataError
from kinetix.registry import DATASETS, Positive


# Seconds one sample's pipeline may take (None: no limit); decoding a Kinetics clip
# takes well under one, so only a stalled decoder meets this.
DEFAULT_DECODE_TIMEOUT = 60.0
Timeout = Annotated[float, Positive] | None
OnMissing = Literal["skip", "error"]  # what a listed file that does not exist does


class BaseActionDataset:
    """Shared parsing, checking and ``__getitem__``; subclasses define the line format."""

    path_key = "filename"  # the info key that names the file on disk
    prefix_key = "video"   # the data_prefix entry it is relative to

    def __init__(self, ann_file: str, pipeline: Sequence[Callable[[dict], dict]],
                 data_prefix: dict | None = None, multi_class: bool = False,
                 num_classes: int | None = None, start_index: int = 0, modality: str = "RGB",
                 test_mode: bool = False, data_root: str | None = None,
                 metainfo: dict | None = None, lazy_init: bool = False,
                 serialize_data: bool = True, max_refetch: int = 10,
                 filter_cfg: dict | None = None, indices: int | Sequence[int] | None = None,
                 delimiter: str | None = None, on_missing: OnMissing = "skip",
                 decode_timeout: Timeout = DEFAULT_DECODE_TIMEOUT) -> None:
        name = type(self).__name__
        if multi_class and not num_classes:
            raise ConfigError(f"{name}: multi_class=True needs num_classes")
        # The registry checks these against the subclasses' annotations with the config's
        # key path; this is for datasets built in code.
        if on_missing not in ("skip", "error"):
            raise ConfigError(f"{name}.on_missing: expected 'skip' or 'error', got {on_missing!r}")
        if decode_timeout is not None and (isinstance(decode_timeout, bool) or
                                           not isinstance(decode_timeout, (int, float)) or
                                           not 0 < decode_timeout < float("inf")):
            raise ConfigError(f"{name}.decode_timeout: expected a positive number of seconds or None, "
                              f"got {decode_timeout!r}")
        self.on_missing = on_missing
        self.decode_timeout = decode_timeout
        self.missing: list[tuple[str, str]] = []  # (path, ann_file:line) of listed files that do not exist
        for i, step in enumerate(pipeline):
            if not callable(step):
                raise ConfigError(f"{name}.pipeline.{i}: {step!r} is not a transform")
        # mmengine semantics: relative ann_file and prefixes live under data_root.
        root = data_root or ""
        self.ann_file = os.path.join(root, ann_file) if root and not os.path.isabs(ann_file) else ann_file
        prefix = dict(data_prefix or {})
        self.prefix = os.path.join(root, prefix.get(self.prefix_key, "") or "") if root else \
            (prefix.get(self.prefix_key, "") or "")
        self.pipeline = list(pipeline)
        self.multi_class = multi_class
        self.num_classes = num_classes
        self.start_index = start_index
        self.modality = modality
        self.test_mode = test_mode
        self.metainfo = dict(metainfo or {})
        # ' ' (MMAction2's default) means any run of whitespace, like str.split().
        self.delimiter = None if delimiter in (None, " ") else delimiter
        self.data_list = self._load()
        if indices is not None:  # mmengine: keep the first N, or these positions
            keep = range(indices) if isinstance(indices, int) else indices
            self.data_list = [self.data_list[i] for i in keep]

    # ---------------------------------------------------------------- parsing
    def _load(self) -> list[dict]:
        if not os.path.exists(self.ann_file):
            raise DataError(f"{type(self).__name__}: ann_file not found: {self.ann_file}")
        text = read_text(self.ann_file, "annotation file", DataError)
        infos: list[dict] = []
        # Line numbers as an editor counts them: \n, \r\n or \r end a line.
        for lineno, line in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), 1):
            if not line.strip():
                continue
            info = self._parse_line(line.strip(), f"{self.ann_file}:{lineno}")
            info["_where"] = f"{self.ann_file}:{lineno}"
            infos.append(info)
        if not infos:
            # Testing on nothing would "succeed" with no result at all.
            raise DataError(f"annotation file {self.ann_file}: lists no samples")
        return self._check_exist(infos)

    def _parse_line(self, line: str, where: str) -> dict:
        raise NotImplementedError

    def _split(self, line: str, n_fields: int, where: str, expected: str) -> tuple[list[str], list[str]]:
        """Return (leading fields, label fields)."""
        parts = line.split(self.delimiter)
        fields, labels = parts[:n_fields], parts[n_fields:]
        separated = f" separated by {self.delimiter!r}" if self.delimiter is not None else ""
        if len(fields) < n_fields or not labels:
            raise DataError(f"{where}: expected {expected}{separated}, got {line!r}")
        if not self.multi_class and len(labels) > 1 and not all(_is_int(v) for v in labels):
            # More fields than the line format has, and not a list of labels.
            raise DataError(f"{where}: {len(parts)} fields where {expected} has {n_fields + 1}"
                            f"{self._spaces_hint()}, got {line!r}")
        return fields, labels

    def _spaces_hint(self) -> str:
        if self.delimiter is not None:
            return ""
        return (" (does a path contain spaces? then separate the fields with another character "
                "and set the dataset's delimiter)")

    def _parse_labels(self, labels: list[str], where: str) -> int | list[int]:
        if not all(_is_int(v) for v in labels):
            hint = self._spaces_hint() if len(labels) > 1 else ""
            raise DataError(f"{where}: bad label {' '.join(labels)!r} (expected integer class ids){hint}")
        values = [int(v) for v in labels]
        if not self.multi_class and len(values) != 1:
            raise DataError(f"{where}: {len(values)} labels on one line; set multi_class=True "
                            f"and num_classes for multi-label annotations")
        _check_range(values, self.num_classes, "num_classes", where)
        return values if self.multi_class else values[0]

    def check_label_range(self, num_classes: int, owner: str) -> None:
        """Every label must be a class the model has: below ``num_classes``, named by ``owner``
        (``model.cls_head.num_classes``). Checked once the model is known, before any work."""
        for info in self.data_list:
            labels = info["label"] if isinstance(info["label"], list) else [info["label"]]
            _check_range(labels, num_classes, owner, info["_where"])

    def _check_exist(self, infos: list[dict]) -> list[dict]:
        """The infos whose file exists; the others go to ``self.missing`` (or raise)."""
        exists = os.path.isdir if self.path_key == "frame_dir" else os.path.exists
        missing = [info for info in infos if not exists(info[self.path_key])]
        if missing and (self.on_missing == "error" or len(missing) == len(infos)):
            what = "frame folders" if self.path_key == "frame_dir" else "videos"
            first = f"first: {missing[0]['_where']}: {missing[0][self.path_key]}"
            if len(missing) == len(infos):  # nothing to train on: most likely a wrong data_prefix
                raise DataError(f"none of the {len(infos)} {what} listed in {self.ann_file} exists (is "
                                f"data_prefix right?); {first}")
            raise DataError(f"{len(missing)} of {len(infos)} {what} listed in {self.ann_file} do not exist "
                            f"(on_missing='error'); {first}")
        self.missing = [(info[self.path_key], info["_where"]) for info in missing]
        gone = {id(info) for info in missing}
        return [info for info in infos if id(info) not in gone]

    # ---------------------------------------------------------------- access
    def __len__(self) -> int:
        return len(self.data_list)

    def get_data_info(self, index: int) -> dict:
        info = copy.deepcopy(self.data_list[index])
        info.pop("_where", None)
        info["index"] = index
        if self.multi_class:
            onehot = np.zeros(self.num_classes, dtype=np.float32)
            onehot[info["label"]] = 1.0
            info["label"] = onehot
        return info

    def __getitem__(self, index: int) -> dict | list[dict]:
        info = self.get_data_info(index)
        name, label = info[self.path_key], info["label"]
        try:
            with time_limit(self.decode_timeout):
                return self.run_pipeline(info)
        except UndecodableVideoError as exc:
            reason = exc.reason
        except DeadlineExceeded:
            reason = f"decode timed out after {self.decode_timeout:g} s"
        # The Init transforms add their reader to the dict they are given; a step that
        # failed before the Decode step closed it leaves it there.
        reader = info.get("video_reader")
        if reader is not None:
            reader.close()
        return {"skipped": name, "reason": reason, "index": index, "label": label}

    def run_pipeline(self, results: dict) -> dict | list[dict]:
        """One sample from its info dict (subclasses may return several, see RepeatAugDataset)."""
        for step in self.pipeline:
            results = step(results)
        return results

    def get_labels(self) -> list[Any]:
        return [info["label"] for info in self.data_list]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.ann_file!r}, {len(self)} samples)"


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _check_range(labels: list[int], num_classes: int | None, owner: str, where: str) -> None:
    for v in labels:
        if v < 0 or (num_classes is not None and v >= num_classes):
            limit = f" ({owner}={num_classes})" if num_classes is not None else ""
            raise DataError(f"{where}: label {v} out of range{limit}")


@DATASETS.register
class VideoDataset(BaseActionDataset):
    """Lines ``rel/path.mp4 LABEL [LABEL ...]``, relative to ``data_prefix['video']``."""

    def __init__(self, ann_file: str, pipeline: Sequence[Callable[[dict], dict]],
                 data_prefix: dict | None = None, multi_class: bool = False,
                 num_classes: int | None = None, start_index: int = 0, modality: str = "RGB",
                 test_mode: bool = False, on_missing: OnMissing = "skip",
                 decode_timeout: Timeout = DEFAULT_DECODE_TIMEOUT, **kwargs: Any) -> None:
        super().__init__(ann_file, pipeline, data_prefix if data_prefix is not None else dict(video=""),
                         multi_class, num_classes, start_index, modality, test_mode,
                         on_missing=on_missing, decode_timeout=decode_timeout, **kwargs)

    def _parse_line(self, line: str, where: str) -> dict:
        (path,), labels = self._split(line, 1, where, "'path label'")
        return dict(filename=os.path.join(self.prefix, path),
                    label=self._parse_labels(labels, where),
                    start_index=self.start_index, modality=self.modality)


@DATASETS.register
class RawframeDataset(BaseActionDataset):
    """Lines ``frame_dir total_frames LABEL...`` (``frame_dir offset total_frames LABEL...`` with_offset)."""

    path_key = "frame_dir"
    prefix_key = "img"

    def __init__(self, ann_file: str, pipeline: Sequence[Callable[[dict], dict]],
                 data_prefix: dict | None = None, filename_tmpl: str = "img_{:05}.jpg",
                 with_offset: bool = False, multi_class: bool = False,
                 num_classes: int | None = None, start_index: int = 1, modality: str = "RGB",
                 test_mode: bool = False, on_missing: OnMissing = "skip",
                 decode_timeout: Timeout = DEFAULT_DECODE_TIMEOUT, **kwargs: Any) -> None:
        self.filename_tmpl = filename_tmpl
        self.with_offset = with_offset
        super().__init__(ann_file, pipeline, data_prefix if data_prefix is not None else dict(img=""),
                         multi_class, num_classes, start_index, modality, test_mode,
                         on_missing=on_missing, decode_timeout=decode_timeout, **kwargs)

    def _parse_line(self, line: str, where: str) -> dict:
        n = 3 if self.with_offset else 2
        expected = "'frame_dir offset total_frames label'" if self.with_offset else \
            "'frame_dir total_frames label'"
        fields, labels = self._split(line, n, where, expected)
        try:
            numbers = [int(v) for v in fields[1:]]
        except ValueError:
            raise DataError(f"{where}: expected {expected}, got {line!r}") from None
        if numbers[-1] < 1:
            raise DataError(f"{where}: total_frames must be >= 1, got {numbers[-1]}")
        info = dict(frame_dir=os.path.join(self.prefix, fields[0]), total_frames=numbers[-1],
                    label=self._parse_labels(labels, where), filename_tmpl=self.filename_tmpl,
                    start_index=self.start_index, modality=self.modality)
        if self.with_offset:
            info["offset"] = numbers[0]
        return info


@DATASETS.register
class RepeatDataset:
    """mmengine's RepeatDataset: ``dataset`` seen ``times`` times per epoch (cheap short epochs)."""

    def __init__(self, dataset: Sized, times: Annotated[int, Positive], lazy_init: bool = False) -> None:
        self.dataset = dataset
        self.times = times

    def __len__(self) -> int:
        return self.times * len(self.dataset)

    def check_label_range(self, num_classes: int, owner: str) -> None:
        self.dataset.check_label_range(num_classes, owner)

    @property
    def missing(self) -> list[tuple[str, str]]:
        return list(getattr(self.dataset, "missing", []))

    def __getitem__(self, index: int) -> dict | list[dict]:
        # positions refer to this dataset, not the inner one
        return _with_index(self.dataset[index % len(self.dataset)], index)


@DATASETS.register
class ConcatDataset:
    """mmengine's ConcatDataset: ``datasets`` one after the other."""

    def __init__(self, datasets: Sequence[Sized], lazy_init: bool = False,
                 ignore_keys: Any = None) -> None:
        if not datasets:
            raise ConfigError("ConcatDataset.datasets must not be empty")
        self.datasets = list(datasets)
        self.offsets = np.cumsum([0] + [len(d) for d in self.datasets])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def check_label_range(self, num_classes: int, owner: str) -> None:
        for dataset in self.datasets:
            dataset.check_label_range(num_classes, owner)

    @property
    def missing(self) -> list[tuple[str, str]]:
        return [entry for dataset in self.datasets for entry in getattr(dataset, "missing", [])]

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(index)
        part = int(np.searchsorted(self.offsets, index, side="right")) - 1
        return _with_index(self.datasets[part][index - int(self.offsets[part])], index)


def _with_index(out: dict | list[dict], index: int) -> dict | list[dict]:
    """Set ``index`` on a sample, or on each of the samples a RepeatAugDataset returns."""
    for sample in out if isinstance(out, list) else [out]:
        sample["index"] = index
    return out
