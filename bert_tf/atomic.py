"""Files that appear whole or not at all.

Everything the toolkit writes (records, vocabularies, configs, checkpoints' side files,
predictions, results) goes to a temporary name beside its target and is renamed into place
only when complete: os.replace is atomic within a file system, so a crash, a SIGKILL or a
bad record never leaves a half-written file that a later run would trust.

A failure of any kind (the temporary file cannot be opened, the disk fills mid-write, a
directory sits at the target path) removes the temporary file, and the error names the
user's path, not the temporary one. What a SIGKILL leaves behind, `<path>.tmp<PID>`, is
recognized by `temporary_target`, so that readers can skip such files and
`remove_stale_temporaries` can delete those whose writer is gone.
"""
import contextlib
import errno
import json
import os
import re
import time

from bert_tf.errors import UserError

# Errors of a write that carry no file name (write() and close() report none).
_WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS)

# <target>.tmp<PID>, and the two files of a TF1 checkpoint written under such a prefix
# (checkpoints.write_tf1: <prefix>.tmp<PID>.index, <prefix>.tmp<PID>.data-00000-of-00001).
_TEMPORARY = re.compile(r"^(?P<target>.+)\.tmp(?P<pid>\d+)(?P<suffix>\.index|\.data-\d+-of-\d+)?$")

# A temporary file is stale only when its writer is not alive on this host AND it has not
# been written for this long: on a file system shared by several hosts, a PID alive on
# another host is not visible here, but a live writer keeps its file's mtime recent.
STALE_AFTER_SECONDS = 600


def temporary_name(path):
    """The name `path` is written under until it is complete (unique per process)."""
    return f"{path}.tmp{os.getpid()}"


def naming_target(error, tmp, path):
    """Make an OSError about `tmp` (or about no file: ENOSPC on write) name `path` instead."""
    if isinstance(error, OSError):
        if error.filename == tmp:
            error.filename = path
        elif error.filename is None and error.errno in _WRITE_ERRNOS:
            error.filename = path
        if error.filename2 == path:  # os.replace(tmp, path): one name is enough
            error.filename2 = None
    return error


def refuse_directory(path):
    """A directory where a file is to be written: refused before any work is done."""
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)


def check_output_file(path, label=None):
    """Up-front check of a file to be written, before any work is done: `path` is not a
    directory, its folder exists (created if missing) and a file can be created there (tried
    with the temporary name, which is removed: permission checks alone miss a read-only file
    system, and say yes to root). Raises UserError naming `label` (default: the path)."""
    label = label or path
    if os.path.isdir(path):
        raise UserError(f"{label} is a directory; give a file name (e.g. "
                        f"{os.path.join(path, 'out')})")
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as e:
        raise UserError(f"{label}: {folder} (or a folder above it) is a file, not a folder; "
                        "choose another location") from e
    except OSError as e:
        raise UserError(f"{label}: its folder {folder} cannot be created ({e.strerror}); "
                        "choose another location") from e
    probe = temporary_name(path)
    try:
        open(probe, "ab").close()
    except OSError as e:
        raise UserError(f"{label}: cannot write in {folder} ({e.strerror}); choose another "
                        "location or fix its permissions") from e
    finally:
        remove_quietly(probe)


def remove_quietly(path):
    """Remove a file on a failure path: a second error must not hide the first one."""
    try:
        os.remove(path)
    except OSError:
        pass


@contextlib.contextmanager
def replacing(path):
    """Yields a temporary name for `path`: renamed to `path` if the block succeeds, removed if not."""
    refuse_directory(path)
    tmp = temporary_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as e:
        naming_target(e, tmp, path)
        raise
    finally:
        if os.path.lexists(tmp):
            remove_quietly(tmp)


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


# ---------------------------------------------------------------------- leftovers of a kill
def temporary_target(path):
    """`(target, pid)` when `path` is one of our temporary names (see temporary_name and
    checkpoints.write_tf1), else None. The target keeps the folder of `path`."""
    folder, name = os.path.split(path)
    match = _TEMPORARY.match(name)
    if not match:
        return None
    return os.path.join(folder, match["target"] + (match["suffix"] or "")), int(match["pid"])


def is_temporary(path):
    """True for a file one of our writers has not finished (readers must skip it)."""
    return temporary_target(path) is not None


def pid_alive(pid):
    """Whether a process with this id exists on this host (a PID we may not signal counts)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(path, now=None, min_age_seconds=STALE_AFTER_SECONDS):
    """True for one of our temporary files whose writer is gone: its PID is not alive here
    and the file has not been written for `min_age_seconds`. Our own PID is never stale."""
    found = temporary_target(path)
    if found is None or found[1] == os.getpid() or pid_alive(found[1]):
        return False
    try:
        age = (time.time() if now is None else now) - os.lstat(path).st_mtime
    except FileNotFoundError:
        return False
    return age >= min_age_seconds


def remove_stale_temporaries(folder, min_age_seconds=STALE_AFTER_SECONDS, targets=None):
    """Delete the stale temporary files (see is_stale) directly in `folder`, only those of
    `targets` (final paths) when given; returns the paths removed. Only files are removed."""
    removed = []
    try:
        names = sorted(os.listdir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    wanted = None if targets is None else {os.path.abspath(t) for t in targets}
    now = time.time()
    for name in names:
        path = os.path.join(folder, name)
        found = temporary_target(path)
        if found is None or (wanted is not None and os.path.abspath(found[0]) not in wanted):
            continue
        if os.path.isfile(path) and not os.path.islink(path) and is_stale(path, now, min_age_seconds):
            try:
                os.remove(path)
            except FileNotFoundError:
                continue  # another cleaner got there first
            removed.append(path)
    return removed
