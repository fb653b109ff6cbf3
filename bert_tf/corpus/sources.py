"""--input_file -> the inputs, each known as a MediaWiki dump or a plain text file.

A file is a dump when it is bz2-compressed or its name ends in .xml or .bz2; a folder stands
for the .txt files in it; anything else is plain text (UTF-8), refused when it holds NUL bytes.
Every input is checked before any work starts (see dump.DumpReader.check).
"""

import dataclasses
import os

from bert_tf import files
from bert_tf.corpus import dump
from bert_tf.errors import DataError

DUMP_SUFFIXES = (".xml", ".bz2")


@dataclasses.dataclass(frozen=True)
class Source:
    path: str
    kind: str  # "dump" or "text"
    size: int


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
    if not (patterns or "").strip(","):
        raise DataError("--input_file is empty: give dumps (.xml, .xml.bz2), text files or folders")
    paths = files.expand(patterns, folder_suffix=".txt")
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
