"""Files that appear whole or not at all.

Everything the toolkit writes (records, vocabularies, configs, checkpoints' side files,
predictions, results) goes to a temporary name beside its target and is renamed into place
only when complete: os.replace is atomic within a file system, so a crash, a SIGKILL or a
bad record never leaves a half-written file that a later run would trust.
"""
import contextlib
import json
import os


def temporary_name(path):
    """The name `path` is written under until it is complete (unique per process)."""
    return f"{path}.tmp{os.getpid()}"


@contextlib.contextmanager
def replacing(path):
    """Yields a temporary name for `path`: renamed to `path` if the block succeeds, removed if not."""
    tmp = temporary_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@contextlib.contextmanager
def open_text(path):
    """A UTF-8 text file open for writing that becomes `path` when the block succeeds."""
    with replacing(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        yield f


def write_text(path, text):
    with open_text(path) as f:
        f.write(text)


def write_json(path, value, **dumps_options):
    """`json.dumps(value, **dumps_options)` and a newline (Google's layout for its JSON files)."""
    write_text(path, json.dumps(value, **dumps_options) + "\n")
