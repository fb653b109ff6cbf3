"""THOR through the runner on BERT: the loss falls on real text, a stopped and resumed run
matches an uninterrupted one, loop sizes and the per-step path change nothing, accumulated
micro-batches give the big batch's factors, the fused Q/K/V matmul reports what three dense
layers would, fp16 divides the loss scale out of G, and a checkpoint of another optimizer is
refused."""

import numpy as np
import pytest
import tensorflow as tf

from bert_tf import capture, optimization, thor
from bert_tf.config import preset
from bert_tf.distribute.local import LocalStrategy
from bert_tf.errors import UserError
from bert_tf.estimator import TRAIN, Estimator, RunConfig
from bert_tf.estimator.estimator import TrainParams
from bert_tf.modeling import SelfAttention
from bert_tf.tasks.pretraining import PretrainingTask
from test_estimator import (PRED, SEQ, _estimator, _ToyClassifier, _train_input, _weights,  # noqa: F401
                            assert_loss_falls, gutenberg_records)


def _thor_params(steps, lr=0.3, batch=16, accumulation=1, frequency=3, **thor_kw):
    config = thor.ThorConfig(frequency=frequency, global_batch_size=batch, **thor_kw)
    opt = optimization.OptimizerConfig(optimizer_type="thor", learning_rate=lr, num_train_steps=steps,
                                       num_warmup_steps=0, decay_power=2.0, weight_decay_rate=0.0,
                                       clip_norm=0.0, thor=config)
    return {"global_batch_size": batch, "train": TrainParams(opt, num_accumulation_steps=accumulation)}


def _thor_estimator(model_dir, steps, config=None, task=None, ipl=10, precision="fp32", save=1000, **kw):
    config = config or preset("micro", vocab_size=30522, max_position_embeddings=SEQ)
    run = RunConfig(str(model_dir), iterations_per_loop=ipl, save_checkpoints_steps=save, log_every_n_steps=1)
    return Estimator(task or PretrainingTask(config, SEQ, PRED), run, _thor_params(steps, **kw),
                     LocalStrategy("cpu", precision=precision))


def _state(est):
    """The weights and THOR's whole state (momentum, factors, inverses)."""
    out = _weights(est)
    out.update((f"slot{i}", v.numpy()) for i, v in enumerate(est._optimizer.slots()))
    return out


def test_thor_loss_falls_on_real_text(tmp_path, gutenberg_records):
    est = _thor_estimator(tmp_path, 40, config=preset("tiny", vocab_size=30522, max_position_embeddings=SEQ),
                          ipl=20, frequency=10)
    assert_loss_falls(est, gutenberg_records, 40)


def test_thor_resumed_run_equals_the_uninterrupted_one_whatever_the_loop(tmp_path, gutenberg_records):
    """Frequency 3: factor steps 0, 3, 6, 9; the pause at step 5 falls between two, so the
    resumed run must take step 5's inverses from the checkpoint. Loops of 10 and of 4 steps
    (launches of 4, 1, 4, 1) compute the same steps. (The per-step path is checked against
    the NumPy reference in tests/test_thor.py, and by the Horovod test.)"""
    straight = _thor_estimator(tmp_path / "straight", 10, ipl=10)
    straight.train(_train_input(gutenberg_records), 10)
    want = _state(straight)
    paused = _thor_estimator(tmp_path / "paused", 10, ipl=4, save=5)
    paused.train(_train_input(gutenberg_records), 5)
    resumed = _thor_estimator(tmp_path / "paused", 10, ipl=4, save=5)
    resumed.train(_train_input(gutenberg_records), 10)
    got = _state(resumed)
    assert want.keys() == got.keys()
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_thor_accumulated_micro_batches_equal_one_big_batch(tmp_path, gutenberg_records):
    """Factors of k micro-batches are their mean, which is the big batch's (per-example mean
    loss, no dropout)."""
    config = preset("micro", vocab_size=30522, max_position_embeddings=SEQ,
                    hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)

    def fixed_input(batch):
        def input_fn(params, ctx):
            data = tf.data.TFRecordDataset(gutenberg_records).take(64).repeat()
            return data.batch(batch).map(lambda r: __import__("bert_tf").records.parse_pretraining(r, SEQ, PRED))
        return input_fn

    task = _ToyClassifier(config)
    big = _thor_estimator(tmp_path / "big", 4, config=config, task=task, ipl=2, frequency=2, lr=0.05)
    big.train(fixed_input(16), 4)
    small = _thor_estimator(tmp_path / "small", 4, config=config, task=task, ipl=2, frequency=2, lr=0.05,
                            accumulation=4)
    small.train(fixed_input(16), 4)  # one input batch holds the 4 micro-batches of 4
    a, b = _state(big), _state(small)
    for name in a:  # factors and inverses run to tens: a tolerance relative to each tensor's scale
        np.testing.assert_allclose(b[name], a[name], rtol=2e-4, atol=2e-5 * max(1.0, np.abs(a[name]).max()),
                                   err_msg=name)


def _factors(model, optimizer, features):
    probe = capture.Probe()
    with tf.GradientTape() as tape, capture.recording(probe):
        spec = PretrainingTask(model.config, SEQ, PRED).model_fn(model, features, TRAIN, {})
    capture.take_output_gradients(probe, tape.gradient(spec.loss, capture.outputs(probe)), 1.0)
    return optimizer.factors(probe, 4)


def test_fused_qkv_reports_what_three_dense_layers_would(gutenberg_records):
    from bert_tf.heads import BertPretrainingModel
    config = preset("micro", vocab_size=30522, max_position_embeddings=SEQ, hidden_dropout_prob=0.0,
                    attention_probs_dropout_prob=0.0)
    model = BertPretrainingModel(config).build_for()
    opt = optimization.create_optimizer(model.tf1_weights(), _thor_params(1, split_dim=24)["train"].optimizer)
    features = next(iter(_train_input(gutenberg_records, 4)(None, LocalStrategy().input_context())))
    fused = _factors(model, opt, features)
    try:
        SelfAttention.fused = False
        separate = _factors(model, opt, features)
    finally:
        SelfAttention.fused = True
    assert fused.keys() == separate.keys() == {layer.name for layer in opt.layers}
    for name in ("query", "key", "value"):
        a1, g1 = fused[f"bert/encoder/layer_0/attention/self/{name}/kernel"]
        a2, g2 = separate[f"bert/encoder/layer_0/attention/self/{name}/kernel"]
        np.testing.assert_allclose(a1.numpy(), a2.numpy(), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(g1.numpy(), g2.numpy(), rtol=1e-4, atol=1e-9)
        assert a1.shape == (2, 24, 24) and np.abs(g1.numpy()).max() > 0  # 32 = 24 + a remainder of 8
    assert fused["cls/seq_relationship/output_weights"][1] is None  # two outputs: no G (Ascend)
    # the tied decoder reports nothing of its own; the word table's A is its counts / B
    counts = np.bincount(features["input_ids"].numpy().reshape(-1), minlength=30522) / 4
    np.testing.assert_allclose(fused["bert/embeddings/word_embeddings"][0].numpy(), counts)


def test_thor_under_fp16_divides_the_loss_scale_out_of_g(tmp_path, gutenberg_records):
    """(bf16 runs through the script in tests/e2e/test_run_pretraining.py.)"""
    runs = {}
    for precision, scale in (("fp32", -1), ("fp16", 1024.0)):
        est = _thor_estimator(tmp_path / precision, 1, ipl=1, precision=precision)
        est.params["train"].loss_scale = scale
        est.train(_train_input(gutenberg_records), 1)
        assert int(est.global_step) == 1
        runs[precision] = {n: v.numpy() for n, v in est._optimizer.g_factors.items()}
    name = "bert/encoder/layer_0/output/dense/kernel"
    assert np.abs(runs["fp32"][name]).max() > 0
    assert all(np.isfinite(g).all() for g in runs["fp16"].values())
    np.testing.assert_allclose(runs["fp16"][name], runs["fp32"][name], rtol=0.05,
                               atol=0.02 * np.abs(runs["fp32"][name]).max())


def test_resuming_a_checkpoint_of_another_optimizer_is_refused(tmp_path, gutenberg_records):
    adamw = _estimator(tmp_path, 2, ipl=2, config=preset("micro", vocab_size=30522, max_position_embeddings=SEQ))
    adamw.train(_train_input(gutenberg_records), 2)
    with pytest.raises(UserError, match="another --optimizer_type"):
        _thor_estimator(tmp_path, 4).train(_train_input(gutenberg_records), 4)


def test_thor_preconditions_nezha(tmp_path, gutenberg_records):
    """NEZHA (no position table, relative positions in attention): every table and kernel
    reports to THOR, so the first factor step stores a factor for each and training runs."""
    config = preset("micro", vocab_size=30522, max_position_embeddings=SEQ, use_relative_position=True)
    est = _thor_estimator(tmp_path, 2, config=config, ipl=2, frequency=2)
    est.train(_train_input(gutenberg_records), 2)
    a_factors = est._optimizer.a_factors
    assert "bert/embeddings/word_embeddings" in a_factors and not any("position_embeddings" in n for n in a_factors)
    assert all(np.abs(v.numpy()).sum() > 0 for v in a_factors.values())
    assert int(est.global_step) == 2
