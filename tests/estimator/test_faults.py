"""The runner against faults: a damaged latest checkpoint, a changed command in an existing
model_dir, a full disk during a save, leftovers of a killed save, non-finite losses with
--nan_policy=rollback."""

import glob
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from bert_tf import optimization
from bert_tf.config import preset
from bert_tf.distribute.local import LocalStrategy
from bert_tf.errors import UserError
from bert_tf.estimator import TRAIN, Estimator, EstimatorSpec, RunConfig
from bert_tf.estimator.checkpointing import CheckpointSaveError
from bert_tf.estimator.estimator import TrainParams
from bert_tf.heads import BertClassifierModel, classification_loss

SEQ, BATCH = 16, 4
CONFIG = preset("micro", vocab_size=200, max_position_embeddings=SEQ, hidden_dropout_prob=0.0,
                attention_probs_dropout_prob=0.0)


class Toy:
    """A classifier whose loss is made infinite by batches marked `poison`."""

    def create_model(self, params):
        return BertClassifierModel(CONFIG, 2).build_for(SEQ)

    def model_fn(self, model, features, mode, params):
        logits = model(features, training=mode == TRAIN)["logits"]
        loss = classification_loss(logits, features["label_ids"])
        poison = tf.reduce_max(features["poison"])
        return EstimatorSpec(loss=loss * tf.where(poison > 0, tf.constant(np.inf), 1.0))  # inf gradients too


def toy_input(poisoned=(), files=None):
    """Deterministic batches of random ids; the batches in `poisoned` give an infinite loss."""
    def input_fn(params, ctx):
        rng = np.random.default_rng(0)
        n = BATCH * 40
        ids = rng.integers(5, 200, [n, SEQ]).astype(np.int32)
        poison = np.zeros([n], np.int32)
        for batch in poisoned:
            poison[batch * BATCH:(batch + 1) * BATCH] = 1
        data = {"input_ids": ids, "input_mask": np.ones_like(ids), "segment_ids": np.zeros_like(ids),
                "label_ids": (ids[:, 0] % 2).astype(np.int32), "poison": poison}
        return tf.data.Dataset.from_tensor_slices(data).batch(BATCH, drop_remainder=True).repeat()
    return input_fn


def estimator(model_dir, steps=40, save=5, run_settings=None, **config):
    opt = optimization.OptimizerConfig(learning_rate=1e-3, num_train_steps=steps, num_warmup_steps=0)
    run = RunConfig(str(model_dir), iterations_per_loop=5, save_checkpoints_steps=save, log_every_n_steps=5,
                    run_settings=run_settings, **config)
    return Estimator(Toy(), run, {"global_batch_size": BATCH, "train": TrainParams(opt)}, LocalStrategy("cpu"))


def weights(est):
    return {n: v.numpy() for n, v in est.named_variables.items()}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    est = estimator(tmp_path_factory.mktemp("whole"))
    est.train(toy_input(), 15)
    return weights(est)


# ---------------------------------------------------------------- damaged checkpoints
@pytest.mark.parametrize("damage", ["truncated_data", "index_without_data", "state_names_a_missing_step"])
def test_a_damaged_latest_checkpoint_is_skipped_with_a_warning(tmp_path, uninterrupted, damage, caplog):
    est = estimator(tmp_path)
    est.train(toy_input(), 10)
    data = glob.glob(str(tmp_path / "model.ckpt-10.data-*"))[0]
    if damage == "truncated_data":
        with open(data, "r+b") as f:
            f.truncate(os.path.getsize(data) // 2)
        skipped = "model.ckpt-10"
    elif damage == "index_without_data":
        os.remove(data)
        skipped = "model.ckpt-10"
    else:  # a `checkpoint` file whose newest entry has no files
        state = (tmp_path / "checkpoint").read_text()
        (tmp_path / "checkpoint").write_text(state.replace('model_checkpoint_path: "model.ckpt-10"',
                                                           'model_checkpoint_path: "model.ckpt-20"')
                                             + 'all_model_checkpoint_paths: "model.ckpt-20"\n')
        skipped = "model.ckpt-20"
    again = estimator(tmp_path)
    with caplog.at_level("WARNING"):
        assert again.train(toy_input(), 15) == 15
    assert f"skipping the damaged checkpoint {tmp_path}/{skipped}" in caplog.text
    for name, value in weights(again).items():  # resumed from an intact one: the same run from there
        np.testing.assert_array_equal(value, uninterrupted[name], err_msg=name)


# ---------------------------------------------------------------- a changed command
def test_a_changed_batch_is_refused_and_new_input_files_are_taken(tmp_path, caplog):
    settings = {"train_batch_size": BATCH, "max_seq_length": SEQ, "input_files": ["/data/a"],
                "num_train_steps": 40}
    estimator(tmp_path, run_settings=settings).train(toy_input(), 5)
    assert (tmp_path / "run_settings.json").exists()
    with pytest.raises(UserError, match=r"--train_batch_size differs from the run that wrote the "
                       r"checkpoints .*\(8 now, 4 then.*new --output_dir.*--init_checkpoint="):
        estimator(tmp_path, run_settings=dict(settings, train_batch_size=8)).train(toy_input(), 10)
    with caplog.at_level("WARNING"):
        est = estimator(tmp_path, run_settings=dict(settings, input_files=["/data/b"], num_train_steps=80))
        assert est.train(toy_input(), 10) == 10
    assert "input_files changed since the checkpoint" in caplog.text
    assert "the new input starts from its beginning" in caplog.text
    assert "num_train_steps changed since the checkpoint (40 -> 80): taken from now on" in caplog.text
    assert '"/data/b"' in (tmp_path / "run_settings.json").read_text()


# ---------------------------------------------------------------- saves that fail, and their leftovers
def test_leftovers_of_a_killed_save_are_removed_on_start(tmp_path):
    estimator(tmp_path).train(toy_input(), 5)
    leftover = tmp_path / "model.ckpt-10_temp"
    leftover.mkdir()
    (leftover / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"\0" * 1000)
    estimator(tmp_path).train(toy_input(), 10)
    assert not leftover.exists()


def test_a_full_disk_during_a_save_names_the_intact_checkpoint_and_a_rerun_resumes(tmp_path, small_disk,
                                                                                   uninterrupted):
    if small_disk is None:
        pytest.skip("this machine does not allow a tmpfs mount")  # the in-process case runs below
    model_dir = small_disk / "model"
    estimator(model_dir).train(toy_input(), 5)
    free = shutil.disk_usage(small_disk).free
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * max(free - 20_000, 0))
    with pytest.raises(CheckpointSaveError, match=rf"model.ckpt-10: the checkpoint could not be written .*"
                                                  rf"The last complete checkpoint is {model_dir}/model.ckpt-5"):
        estimator(model_dir).train(toy_input(), 15)
    assert not glob.glob(str(model_dir / "*_temp")) and not glob.glob(str(model_dir / "model.ckpt-10*"))
    filler.unlink()
    est = estimator(model_dir)
    assert est.train(toy_input(), 15) == 15
    for name, value in weights(est).items():
        np.testing.assert_array_equal(value, uninterrupted[name], err_msg=name)


def test_a_failed_save_in_process(tmp_path, monkeypatch):
    est = estimator(tmp_path)
    est.train(toy_input(), 5)

    def full(self, checkpoint_number=None):
        os.makedirs(os.path.join(self.directory, f"model.ckpt-{checkpoint_number}_temp"))
        raise tf.errors.ResourceExhaustedError(None, None, "No space left on device")

    monkeypatch.setattr(tf.train.CheckpointManager, "save", full)
    with pytest.raises(CheckpointSaveError, match="No space left on device.*model.ckpt-5"):
        estimator(tmp_path).train(toy_input(), 10)
    assert not (tmp_path / "model.ckpt-10_temp").exists()


# ---------------------------------------------------------------- non-finite losses
def test_rollback_goes_back_to_the_last_checkpoint_past_the_bad_batches(tmp_path, caplog):
    poisoned = (7, 8, 9)  # batches 7-9 (steps 8-10): three non-finite steps in a row
    stopping = estimator(tmp_path / "stop")
    with pytest.raises(UserError, match="not finite for 3 consecutive steps"):
        stopping.train(toy_input(poisoned), 20)
    rolling = estimator(tmp_path / "roll", nan_policy="rollback")
    with caplog.at_level("WARNING"):
        assert rolling.train(toy_input(poisoned), 20) == 20
    assert "rolled back to" in caplog.text and "model.ckpt-5" in caplog.text
    assert all(np.isfinite(v).all() for v in weights(rolling).values())


def test_bad_run_config_values():
    with pytest.raises(UserError, match="--nan_policy=maybe"):
        RunConfig("x", nan_policy="maybe")
