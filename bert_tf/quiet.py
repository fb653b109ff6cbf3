"""TensorFlow's C++ start-up noise, hidden by default.

Loading TensorFlow prints lines a user can do nothing about before its logging is set up:
"All log messages before absl::InitializeLog() is called are written to STDERR", oneDNN and
CPU-feature notes, "Could not find cuda drivers", and on a machine without a GPU
"failed call to cuInit: ... CUDA error". `TF_CPP_MIN_LOG_LEVEL` cannot hide the ones printed
before absl's logging starts. So, unless the user sets `TF_CPP_MIN_LOG_LEVEL` themselves,
the first `import tensorflow` and its device discovery run with standard error captured; the
captured informational lines and the cuInit line are dropped and everything else (warnings,
other errors, Python's own output) is printed afterwards. `TF_CPP_MIN_LOG_LEVEL` is set to 2
for the rest of the run (TensorFlow's INFO and WARNING lines off; errors stay).
"""

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile

_MARKER = "BERT_TF_QUIET_STARTUP"  # set with TF_CPP_MIN_LOG_LEVEL, so child processes keep quiet too
_NOISE = re.compile(r"WARNING: All log messages before absl::InitializeLog\(\) is called"
                    r"|I\d{4} [\d:. ]+\d+ \S+:\d+\] "
                    r"|E\d{4} [\d:. ]+\d+ cuda_(platform|executor)\.cc:\d+\] failed call to cuInit"
                    r"|To enable the following instructions: .* in other operations, rebuild TensorFlow")


def is_noise(line):
    return bool(_NOISE.match(line))


def install():
    """Hide the start-up noise of the first `import tensorflow` (see the module docstring)."""
    user_level = "TF_CPP_MIN_LOG_LEVEL" in os.environ and os.environ.get(_MARKER) != "1"
    if user_level or "tensorflow" in sys.modules:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    os.environ[_MARKER] = "1"
    sys.meta_path.insert(0, _QuietFinder())


@contextlib.contextmanager
def filtered_stderr():
    """Standard error (the file descriptor, as C++ writes it) captured; afterwards everything
    but the noise is written to it."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", errors="replace")
            kept = [line for line in text.splitlines(keepends=True) if not is_noise(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


class _QuietFinder(importlib.abc.MetaPathFinder):
    """Wraps the loader of the first `import tensorflow` in `filtered_stderr`."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        with filtered_stderr():
            self.loader.exec_module(module)
            module.config.list_physical_devices()  # platform discovery: where cuInit complains
