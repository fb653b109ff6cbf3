"""SIGTERM and SIGINT during training: finish the loop, write a checkpoint, stop.

SLURM, Kubernetes and spot instances stop a job with SIGTERM (and a grace period); a user
with Ctrl-C (SIGINT). Either, while training, is noted here; the Estimator finishes the
current loop (`iterations_per_loop` steps: a signal is handled when the compiled loop
returns), all workers agree to stop (`DeviceStrategy.any_worker`), the chief writes a
checkpoint, and `Stopped` ends the run with one line and exit status 128 + the signal (143,
130). Rerunning the same command resumes exactly. SIGKILL stops at once, as always.
"""

import signal
import threading

from absl import logging

from bert_tf.errors import Stopped

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopRequests:
    """While active (main thread only), SIGTERM/SIGINT are noted instead of ending the process."""

    def __init__(self):
        self.signum = None
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._note)
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        return False

    def _note(self, signum, frame):
        if self.signum is None:
            logging.warning("%s received: finishing this loop, then writing a checkpoint and stopping",
                            signal.Signals(signum).name)
        self.signum = signum

    @property
    def requested(self):
        return self.signum is not None

    def stopped(self, step, checkpoint):
        """checkpoint: the one just written, or None on a worker that writes none (the chief does)."""
        name = signal.Signals(self.signum or signal.SIGTERM).name
        written = f"the checkpoint {checkpoint} is written" if checkpoint else "the chief worker wrote the checkpoint"
        return Stopped(f"stopped by {name} at global step {step}: {written}; "
                       "rerun the same command to resume from it", 128 + (self.signum or signal.SIGTERM))
