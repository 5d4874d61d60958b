"""Is a checkpoint file what was written? A sha256 of its content, and the zip's CRC-32s.

Kinetix checkpoints carry ``CHECKSUM_KEY``: a sha256 over everything in them,
tensors and arrays by dtype, shape and bytes, plain data by value. It is
computed from the objects, not the file, so it survives any way of writing
them and catches corruption wherever it lands: torch itself checks nothing
when it reads tensor data. Files written elsewhere (MMAction2's) have no such
key; for zip archives their records' CRC-32s are checked instead.
"""

from __future__ import annotations

import hashlib
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

CHECKSUM_KEY = "kinetix_sha256"
_DOS_FOLDER = 0x10  # the MS-DOS "directory" bit of a zip entry's external attributes


def content_sha256(obj: Any) -> str:
    """sha256 of ``obj``'s content: tensors and arrays by dtype, shape and bytes, plain data by value."""
    digest = hashlib.sha256()
    _feed(digest, obj)
    return digest.hexdigest()


def _feed(digest: Any, obj: Any) -> None:
    update = digest.update
    if isinstance(obj, torch.Tensor):
        t = obj.detach()
        t = t.int_repr() if t.is_quantized else t
        t = t.to_dense() if t.layout != torch.strided else t
        t = t.resolve_conj().resolve_neg().cpu().contiguous()
        update(f"T{t.dtype}{tuple(t.shape)};".encode())
        if t.device.type != "meta" and t.numel():
            update(memoryview(t.reshape(-1).view(torch.uint8).numpy()))
    elif isinstance(obj, np.ndarray) and not obj.dtype.hasobject:
        update(f"A{obj.dtype.str}{obj.shape};".encode())
        update(np.ascontiguousarray(obj).tobytes())
    elif isinstance(obj, np.generic):  # before float/int: np.float64 is a float
        update(f"S{obj.dtype.str};".encode() + obj.tobytes())
    elif isinstance(obj, bool) or obj is None:
        update(f"B{obj};".encode())
    elif isinstance(obj, int):
        update(f"I{int(obj)};".encode())
    elif isinstance(obj, float):
        update(b"F" + struct.pack("<d", obj))
    elif isinstance(obj, complex):
        update(b"C" + struct.pack("<dd", obj.real, obj.imag))
    elif isinstance(obj, str):
        text = obj.encode("utf-8", "surrogatepass")
        update(f"U{len(text)};".encode() + text)
    elif isinstance(obj, (bytes, bytearray)):
        update(f"Y{len(obj)};".encode() + bytes(obj))
    elif isinstance(obj, dict):
        update(f"D{len(obj)};".encode())
        for key, value in obj.items():
            _feed(digest, key)
            _feed(digest, value)
    elif isinstance(obj, np.ndarray):  # of Python objects: element by element
        update(f"O{obj.shape};".encode())
        for item in obj.ravel():
            _feed(digest, item)
    elif isinstance(obj, (list, tuple)):
        update(f"L{type(obj) is list}{len(obj)};".encode())
        for item in obj:
            _feed(digest, item)
    elif isinstance(obj, (set, frozenset)):
        update(f"E{len(obj)};".encode())
        for item_digest in sorted(content_sha256(item) for item in obj):
            update(item_digest.encode())
    elif isinstance(obj, (torch.dtype, torch.device)):
        update(f"P{obj};".encode())
    else:
        update(b"?;")  # an object only its own class can read: loaded as an inert stand-in


class Corrupt(Exception):
    """A zip record that is not what the archive's directory says."""


def read_record(f: BinaryIO, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """A small record's bytes, its CRC-32 checked unless the writer left them out (torch can)."""
    if info.compress_type != zipfile.ZIP_STORED:
        return archive.read(info)
    f.seek(_data_offset(f, info))
    data = f.read(info.compress_size)
    if len(data) != info.compress_size:
        raise Corrupt(f"{info.filename} is truncated")
    if info.CRC and zlib.crc32(data) != info.CRC:
        raise Corrupt(f"{info.filename} fails its CRC-32 check")
    return data


def _check_record(f: BinaryIO, info: zipfile.ZipInfo) -> None:
    """Stream a stored record (a tensor's bytes: maybe gigabytes) through its CRC-32 check."""
    f.seek(_data_offset(f, info))
    crc, left = 0, info.compress_size
    while left:
        chunk = f.read(min(left, 1 << 22))
        if not chunk:
            raise Corrupt(f"{info.filename} is truncated")
        crc, left = zlib.crc32(chunk, crc), left - len(chunk)
    if crc != info.CRC:
        raise Corrupt(f"{info.filename} fails its CRC-32 check")


def _data_offset(f: BinaryIO, info: zipfile.ZipInfo) -> int:
    f.seek(info.header_offset)
    header = f.read(30)
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        raise Corrupt(f"no local header for {info.filename}")
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    return info.header_offset + 30 + name_len + extra_len


def first_bad_record(path: Path) -> str | None:
    """What fails in a zip archive's CRC-32 checks, if it has any (a writer may leave them out)."""
    with open(path, "rb") as f, zipfile.ZipFile(f) as archive:
        infos = archive.infolist()
        for info in infos:
            if info.external_attr & _DOS_FOLDER:  # torch's reader would read such a record as empty
                return f"{info.filename} is marked as a folder"
        if not any(i.CRC for i in infos if i.file_size):
            return None
        for info in infos:
            try:
                if info.compress_type == zipfile.ZIP_STORED:
                    _check_record(f, info)
                else:
                    archive.read(info)
            except Corrupt as exc:
                return str(exc)
            except Exception as exc:  # zipfile's own complaints about a damaged entry
                lines = str(exc).strip().splitlines()
                return f"{info.filename}: {lines[0] if lines else type(exc).__name__}"
    return None
