"""Feature records converted once and reused while the settings and the source are unchanged.

One cache for every fine-tuning task (SQuAD's `--use_tfrecord` / `--input_files_dir` is only
another folder). An entry is `<folder>/<name>.tf_record` and its sidecar
`<name>.tf_record.json`: {"num_features", "sha256", "settings", "source", **metadata}. The
records are written under a temporary name and renamed, the sidecar after them, so a sidecar
means complete records. An entry is reused when its settings equal the run's and its source
file (path, size, modification time) is the one given; with no source given (SQuAD's
`--use_tfrecord` without `--train_file`), whatever file it was made from. No TensorFlow here.
"""

import hashlib
import json
import os

from bert_tf import atomic, records


def source_of(path):
    """What identifies a source file's content cheaply: its path, size and mtime."""
    stat = os.stat(path)
    return {"file": os.path.abspath(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def sidecar_path(path):
    return f"{path}.json"


def _canonical(value):
    """As it reads back from JSON (tuples become lists), so comparisons are fair."""
    return json.loads(json.dumps(value, sort_keys=True))


def settings_key(settings):
    """A short stable hash of `settings`, for names that keep several settings apart."""
    text = json.dumps(_canonical(settings), sort_keys=True)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]


def write(path, serialized, metadata=None):
    """Serialized examples -> `path` (atomically), then its sidecar; returns the sidecar.

    `metadata` is a dict, or a function returning one once the records are written (for what
    is known only then, such as the number of examples a lazy conversion read)."""
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    digest = hashlib.sha256()

    def hashed(records_in):
        for record in records_in:
            digest.update(record)
            yield record

    count = records.write_all(path, hashed(serialized))
    metadata = metadata() if callable(metadata) else metadata
    info = {"num_features": count, "sha256": digest.hexdigest(), **_canonical(metadata or {})}
    atomic.write_json(sidecar_path(path), info, indent=2)
    return info


def read_metadata(path):
    """The sidecar of a cache entry, or None when the entry is absent or incomplete."""
    try:
        with open(sidecar_path(path), encoding="utf-8") as f:
            info = json.load(f)
    except (OSError, ValueError):
        return None
    return info if os.path.exists(path) and isinstance(info, dict) else None


def remove(path):
    """Drop a cache entry (the sidecar first, so the records are never taken for complete)."""
    for name in (sidecar_path(path), path):
        if os.path.exists(name):
            os.remove(name)


def reusable(path, settings, source=None):
    """The sidecar of `path` when the entry was made with `settings` from `source` (any
    source when None), else None."""
    info = read_metadata(path)
    if info is None or info.get("settings") != _canonical(settings):
        return None
    if source is not None and info.get("source") != _canonical(source):
        return None
    return info
