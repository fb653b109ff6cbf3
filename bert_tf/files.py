"""Input files as the command line names them: comma-separated files and globs, or a folder.

One expander for every script (create_pretraining_data.py, learn_vocab.py, run_pretraining.py,
prepare_corpus.py), free of TensorFlow so the data scripts never load it. Files our writers
have not finished (`atomic.is_temporary`: `name.tmp<PID>`) are never taken.
"""

import glob
import os

from bert_tf import atomic
from bert_tf.errors import DataError


def expand(patterns=None, directory=None, flag="--input_file", folder_suffix=None):
    """Comma-separated files and globs (in the order given, each glob sorted) and every file
    of `directory` (sorted; sidecar `.json` and hidden files skipped) -> the files. With
    `folder_suffix`, a folder in the comma list stands for its files with that suffix."""
    files = []
    for pattern in [p.strip() for p in (patterns or "").split(",") if p.strip()]:
        if folder_suffix and os.path.isdir(pattern):
            matches = sorted(os.path.join(pattern, n) for n in os.listdir(pattern) if n.endswith(folder_suffix))
            if not matches:
                raise DataError(f"{flag}: the folder {pattern} holds no {folder_suffix} files")
        else:
            matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        matches = [m for m in matches if os.path.isfile(m) and not atomic.is_temporary(m)]
        if not matches:
            raise DataError(f"{flag}: nothing matches {pattern!r}")
        files.extend(matches)
    if directory:
        if not os.path.isdir(directory):
            raise DataError(f"{flag}: {directory} is not a directory")
        names = sorted(n for n in os.listdir(directory) if not n.endswith(".json") and not n.startswith("."))
        files.extend(p for p in (os.path.join(directory, n) for n in names)
                     if os.path.isfile(p) and not atomic.is_temporary(p))
    if not files:
        raise DataError(f"{flag}: no input files given or found")
    return files
