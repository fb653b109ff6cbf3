"""SIGTERM/SIGINT during training: noted while active, then one line that says where the
checkpoint is, on the chief and on the other workers."""

import os
import signal

from bert_tf.estimator.preemption import StopRequests


def test_a_signal_is_noted_while_active_and_the_handlers_come_back():
    before = signal.getsignal(signal.SIGTERM)
    with StopRequests() as stop:
        assert not stop.requested
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested
    assert signal.getsignal(signal.SIGTERM) is before
    chief = stop.stopped(60, "/out/model.ckpt-60")
    assert chief.exit_code == 143
    assert str(chief) == ("stopped by SIGTERM at global step 60: the checkpoint /out/model.ckpt-60 is written; "
                          "rerun the same command to resume from it")


def test_a_worker_that_writes_no_checkpoint_names_the_chiefs():
    with StopRequests() as stop:
        os.kill(os.getpid(), signal.SIGINT)
    other = stop.stopped(60, None)  # only the chief writes (it once said "the checkpoint None")
    assert other.exit_code == 130
    assert str(other) == ("stopped by SIGINT at global step 60: the chief worker wrote the checkpoint; "
                          "rerun the same command to resume from it")
