"""--input_file -> the inputs, each known as a MediaWiki dump or a plain text file.

A file is a dump when it is bz2-compressed or its name ends in .xml or .bz2; a folder stands
for the .txt files in it; anything else is plain text (UTF-8), refused when it holds NUL bytes.
Every input is checked before any work starts (see dump.DumpReader.check).
"""

import dataclasses
import glob
import os

from bert_tf.corpus import dump
from bert_tf.errors import DataError

DUMP_SUFFIXES = (".xml", ".bz2")


@dataclasses.dataclass(frozen=True)
class Source:
    path: str
    kind: str  # "dump" or "text"
    size: int


def _expand_one(pattern):
    if os.path.isdir(pattern):
        files = sorted(os.path.join(pattern, f) for f in os.listdir(pattern) if f.endswith(".txt"))
        if not files:
            raise DataError(f"--input_file: the folder {pattern} holds no .txt files")
        return files
    matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
    matches = [m for m in matches if os.path.isfile(m)]
    if not matches:
        raise DataError(f"--input_file: nothing matches {pattern!r}")
    return matches


def kind_of(path):
    if path.endswith(DUMP_SUFFIXES) or dump.is_bz2(path):
        return "dump"
    with open(path, "rb") as f:
        head = f.read(65536)
    if b"\x00" in head:
        raise DataError(f"--input_file {path}: neither a MediaWiki dump (.xml, .xml.bz2) nor a "
                        "text file (it contains NUL bytes)")
    return "text"


def expand(patterns):
    """Comma-separated files, globs and folders -> checked Sources, in the order given."""
    paths = []
    for pattern in [p.strip() for p in (patterns or "").split(",") if p.strip()]:
        paths.extend(_expand_one(pattern))
    if not paths:
        raise DataError("--input_file is empty: give dumps (.xml, .xml.bz2), text files or folders")
    sources = []
    for path in paths:
        try:
            kind = kind_of(path)
        except OSError as e:
            raise DataError(f"--input_file {path}: cannot read it ({e.strerror})") from e
        if kind == "dump":
            dump.DumpReader(path).check()
        sources.append(Source(os.path.abspath(path), kind, os.path.getsize(path)))
    return sources
