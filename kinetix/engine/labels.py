"""Class names for pictures, confusion matrices and the demo.

MMAction2 keeps them in several places: a label file given to the demo (one
name per line, line i = class i, e.g. ``label_map_k400.txt``), a dataset's
``metainfo=dict(classes=...)`` (what its visualiser reads), and some configs
carry a ``label_map``/``classes`` key. None of the shipped configs names its
classes, so the folder of the annotation file is searched too: the synthetic
generator (and many dataset scripts) write ``classes.txt`` there.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

from kinetix.errors import ConfigError, DataError

# Files searched beside the annotation file, in this order.
LABEL_FILE_NAMES = ("classes.txt", "label_map.txt")


def read_label_file(path: str | os.PathLike, what: str = "label file") -> list[str]:
    """One class name per line; blank lines at the end are ignored.

    Lines of ``index name`` (some label maps number their lines) keep only the name.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"{what} {path}: no such file")
    try:
        with open(path, encoding="utf-8") as f:
            lines = [line.strip() for line in f.read().splitlines()]
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{what} {path}: cannot read it as text: {exc}") from None
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise DataError(f"{what} {path}: is empty (expected one class name per line)")
    numbered = all(len(p := line.split(None, 1)) == 2 and p[0].isdigit() for line in lines)
    if numbered and [int(line.split(None, 1)[0]) for line in lines] in (list(range(len(lines))),
                                                                           list(range(1, len(lines) + 1))):
        lines = [line.split(None, 1)[1] for line in lines]
    return lines


def _names(value: Any, key_path: str, base: str | None = None) -> list[str] | None:
    """A list of names, or a label file path (relative to ``base`` if not found as given)."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    if isinstance(value, dict):  # {index: name}
        try:
            return [str(value[k]) for k in sorted(value, key=int)]
        except (TypeError, ValueError):
            raise ConfigError(f"{key_path}: expected a list of class names, a label file or "
                              f"{{index: name}}, got keys {sorted(value)[:3]}") from None
    if isinstance(value, (str, os.PathLike)):
        path = os.fspath(value)
        if not os.path.isfile(path) and base and os.path.isfile(os.path.join(base, path)):
            path = os.path.join(base, path)
        return read_label_file(path, key_path)
    raise ConfigError(f"{key_path}: expected a list of class names or a label file, got {value!r}")


def class_names(cfg: dict, split: str = "test") -> tuple[list[str] | None, str]:
    """``(names, where they came from)`` for ``{split}_dataloader``; ``(None, reason)`` if none.

    Looked up in: the dataset's ``metainfo.classes``, the dataset's ``classes``/``label_map``,
    the config's top-level ``label_map``/``classes``, then a label file beside the
    annotation file.
    """
    dataset = ((cfg.get(f"{split}_dataloader") or {}).get("dataset") or {})
    while isinstance(dataset.get("dataset"), dict):  # RepeatDataset and other wrappers
        dataset = dataset["dataset"]
    key = f"{split}_dataloader.dataset"
    candidates = [((dataset.get("metainfo") or {}).get("classes"), f"{key}.metainfo.classes"),
                  (dataset.get("classes"), f"{key}.classes"), (dataset.get("label_map"), f"{key}.label_map"),
                  (cfg.get("label_map"), "label_map"), (cfg.get("classes"), "classes")]
    base = os.path.dirname(os.fspath(cfg.get("filename", ""))) or None
    for value, key_path in candidates:
        names = _names(value, key_path, base)
        if names:
            return names, key_path
    ann_file = dataset.get("ann_file")
    if isinstance(ann_file, str):
        if dataset.get("data_root") and not os.path.isabs(ann_file):
            ann_file = os.path.join(dataset["data_root"], ann_file)
        for name in LABEL_FILE_NAMES:
            path = os.path.join(os.path.dirname(ann_file), name)
            if os.path.isfile(path):
                return read_label_file(path), path
    return None, (f"no class names ({key}.metainfo.classes, label_map or a {LABEL_FILE_NAMES[0]} "
                  f"beside the annotation file); showing class indices")


def check_class_count(names: Sequence[str] | None, num_classes: int, where: str) -> None:
    """Fewer names than classes is a wrong label file; say so instead of indexing past its end."""
    if names is not None and len(names) < num_classes:
        raise DataError(f"{where}: has {len(names)} class names but the model predicts {num_classes} classes")


def name_of(names: Sequence[str] | None, label: int) -> str:
    return names[label] if names is not None and 0 <= label < len(names) else str(label)
