"""What every entry-point script shares: run an absl main, turning our errors into messages.

A user's mistake is reported as one clear line on stderr, not as a traceback:

- bad input (`UserError`), a usage error from absl (an unknown flag, a bad value, a missing
  required flag, `app.UsageError`) and an operating-system error about a file (not found,
  permission denied, a directory where a file is wanted, a full disk, ...): exit status 2;
- Ctrl-C outside training: `interrupted`, exit status 130 (128 + SIGINT, what a shell
  reports for a command stopped by Ctrl-C); our writers remove their unfinished files as
  the interrupt unwinds through them;
- SIGTERM or Ctrl-C during training: the loop finishes, a checkpoint is written, one line
  says where (`Stopped`, see `estimator/preemption.py`), exit status 143 or 130.

`--help` (and `--helpshort`, `--helpfull`) print the usage and exit 0.
"""

import errno
import os
import re
import sys

from absl import app, flags

from bert_tf import atomic
from bert_tf.errors import Stopped, UserError

USAGE_EXIT = 2
INTERRUPT_EXIT = 130

# What to do about an operating-system error, by errno.
_ADVICE = {
    errno.EACCES: "permission denied: choose a location you can write to, or fix its permissions",
    errno.EPERM: "operation not permitted: choose a location you can write to",
    errno.EROFS: "the file system is read-only: choose another location",
    errno.EISDIR: "it is a directory: give a file name",
    errno.ENOTDIR: "a part of the path is a file, not a folder: check the path",
    errno.ENOENT: "no such file or directory: check the path",
    errno.ENOSPC: "no space left on the device: free some space or choose another location, "
                  "then rerun (unfinished files were removed)",
    errno.EDQUOT: "disk quota exceeded: free some space or choose another location, then rerun",
    errno.EFBIG: "the file is too large for this file system: choose another location",
    errno.ENAMETOOLONG: "the file name is too long: choose a shorter path",
}
# Without a file name, only these are worth one line (write() and close() give no name).
_NAMELESS = (errno.ENOSPC, errno.EDQUOT)


def os_error_message(error):
    """One line for an OSError about a file, naming the user's path; None when it is not
    one a user can act on (no file named: a bug to show as a traceback)."""
    path = error.filename
    if path is None and error.errno not in _NAMELESS:
        return None
    if path is not None:
        path = os.fsdecode(path) if isinstance(path, (str, bytes, os.PathLike)) else str(path)
        target = atomic.temporary_target(path)  # name the user's file, not our temporary one
        path = target[0] if target else path
    if error.errno == errno.EEXIST:
        advice = ("it is a file where a folder is needed: give a folder path, or move the "
                  "file away" if path and os.path.isfile(path) else
                  "it already exists: choose another path, or move it away")
    else:
        advice = _ADVICE.get(error.errno) or f"{error.strerror or error}: check the path"
    return f"{path}: {advice}" if path is not None else advice


def _flag_error_message(error):
    """absl's flag error -> one line (it may span several: one per failing validator)."""
    text = str(error)
    required = re.findall(r"Flag --(\w+) must have a value other than None", text)
    if required:
        names = ", ".join(f"--{name}" for name in dict.fromkeys(required))
        return f"missing required flag{'s' if len(required) > 1 else ''}: {names}"
    boolean = re.match(r"flag --(\w+)=(.*?): \('Non-boolean argument to boolean flag'", text)
    if boolean:
        name, value = boolean.groups()
        return (f"--{name}={value}: not a boolean; use --{name}=true or --{name}=false "
                f"(or --{name} / --no{name})")
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def parse_flags(argv):
    """absl's flag parsing, with a usage error as one line and exit status 2 (absl exits 1)
    and --help as exit status 0 (absl's help flags exit 1 after printing the usage)."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        print(f"error: {_flag_error_message(e)} (--helpshort lists the flags)", file=sys.stderr)
        sys.exit(USAGE_EXIT)
    except SystemExit as e:
        # Only absl's help flags exit while the flags are parsed, with status 1.
        if e.code == 1:
            sys.exit(0)
        raise


def _guarded(main):
    def guarded(argv):
        try:
            return main(argv)
        except (UserError, app.UsageError) as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(USAGE_EXIT)
        except OSError as e:
            message = os_error_message(e)
            if message is None:
                raise
            print(f"error: {message}", file=sys.stderr)
            sys.exit(USAGE_EXIT)
        except KeyboardInterrupt:
            print("error: interrupted (Ctrl-C)", file=sys.stderr)
            sys.exit(INTERRUPT_EXIT)
        except Stopped as e:
            print(str(e), file=sys.stderr)
            sys.exit(e.exit_code)
    return guarded


def run_main(main):
    """An absl script: flags parsed by absl (usage errors exit 2), then `main(argv)`."""
    app.run(_guarded(main), flags_parser=parse_flags)


def run_argv(main):
    """A module command line that parses its own arguments (argparse): `main(sys.argv)`."""
    sys.exit(_guarded(main)(sys.argv))


def _interrupt_hook(previous):
    """Ctrl-C before main runs (while TensorFlow is imported, say): one line, no traceback.
    Python still exits as killed by SIGINT, which a shell reports as 130."""
    def hook(kind, value, traceback):
        if issubclass(kind, KeyboardInterrupt):
            print("error: interrupted (Ctrl-C)", file=sys.stderr)
        else:
            previous(kind, value, traceback)
    hook.bert_tf_interrupt_hook = True
    return hook


# Installed on import: scripts import this module before TensorFlow, whose import is long.
if not getattr(sys.excepthook, "bert_tf_interrupt_hook", False):
    sys.excepthook = _interrupt_hook(sys.excepthook)
