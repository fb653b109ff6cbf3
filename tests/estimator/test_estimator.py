"""The runner: loss falls on real text, loops and accumulation change nothing, fp16 loss
scaling, evaluation metrics, non-finite guard, checkpoints and init."""

import math

import numpy as np
import pytest
import tensorflow as tf

from bert_tf import checkpoints, input_pipeline, optimization
from bert_tf.config import preset
from bert_tf.data import pretraining_job
from bert_tf.distribute.local import LocalStrategy
from bert_tf.errors import UserError
from bert_tf.estimator import TRAIN, Estimator, EstimatorSpec, RunConfig
from bert_tf.estimator.estimator import TrainParams, _next_batches
from bert_tf.estimator.hooks import NonFiniteLossError
from bert_tf.heads import BertClassifierModel, classification_loss
from bert_tf.tasks.pretraining import PretrainingTask, pretraining_metrics
from conftest import UNCASED_VOCAB, need

SEQ, PRED = 64, 10


@pytest.fixture(scope="module")
def gutenberg_records(tmp_path_factory):
    out = tmp_path_factory.mktemp("records") / "data.tfrecord"
    options = pretraining_job.JobOptions(
        input_files=[str(need("pretrain_text/gutenberg_nltk/austen-persuasion.txt"))],
        vocab_file=str(need(UNCASED_VOCAB)), output_files=[str(out)], max_seq_length=SEQ,
        max_predictions_per_seq=PRED, dupe_factor=1)
    pretraining_job.run(options)
    return [str(out)]


def _params(steps, lr=1e-3, accumulation=1, batch=16, warmup=5, **kw):
    opt = optimization.OptimizerConfig(learning_rate=lr, num_train_steps=steps, num_warmup_steps=warmup)
    return {"global_batch_size": batch, "train": TrainParams(opt, num_accumulation_steps=accumulation, **kw)}


def _estimator(tmp_path, steps, ipl=10, precision="fp32", config=None, task=None, init_checkpoint=None, **kw):
    config = config or preset("tiny", vocab_size=30522, max_position_embeddings=SEQ)
    run = RunConfig(str(tmp_path), iterations_per_loop=ipl, save_checkpoints_steps=1000, log_every_n_steps=1,
                    init_checkpoint=init_checkpoint)
    return Estimator(task or PretrainingTask(config), run, _params(steps, **kw),
                     LocalStrategy("cpu", precision=precision))


def _train_input(files, batch=16):
    return input_pipeline.pretraining_input_fn(files, SEQ, PRED, batch, is_training=True)


def _weights(est):
    return {n: v.numpy() for n, v in est.named_variables.items()}


def assert_loss_falls(est, records, steps):
    """Held-out masked-LM loss falls by 2 and accuracy passes 0.05 over `steps` of training."""
    eval_fn = input_pipeline.pretraining_input_fn(records, SEQ, PRED, 32, is_training=False)
    est._initialized = True
    before = est.evaluate(eval_fn, steps=4)
    est.train(_train_input(records), steps)
    after = est.evaluate(eval_fn, steps=4)
    assert after["masked_lm_loss"] < before["masked_lm_loss"] - 2.0
    assert after["masked_lm_accuracy"] > 0.05 > before["masked_lm_accuracy"]


def test_loss_falls_on_real_text(tmp_path, gutenberg_records):
    assert_loss_falls(_estimator(tmp_path, 80, ipl=20), gutenberg_records, 80)


def test_iterations_per_loop_1_10_and_13_give_the_same_weights(tmp_path, gutenberg_records):
    """13 per loop: launches of 10 and 3 steps (STEPS_PER_LAUNCH), the same program."""
    results = []
    for ipl in (1, 10, 13):
        est = _estimator(tmp_path / str(ipl), 20, ipl=ipl)
        est.train(_train_input(gutenberg_records), 20)
        results.append(_weights(est))
    for other in results[1:]:
        for name in results[0]:
            np.testing.assert_array_equal(results[0][name], other[name], err_msg=name)
    # the same steps launched one by one (the path of several replicas) agree to float tolerance
    est = _estimator(tmp_path / "one_by_one", 20, ipl=7)
    est._steps_sink = lambda element_spec: False
    est.train(_train_input(gutenberg_records), 20)
    for name, value in _weights(est).items():
        np.testing.assert_allclose(value, results[0][name], rtol=1e-4, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("jit", [True, False])
def test_the_norm_takes_its_compiled_form_exactly_where_the_update_is_compiled(tmp_path, gutenberg_records,
                                                                               monkeypatch, jit):
    seen, original = [], optimization.global_norm
    monkeypatch.setattr(optimization, "global_norm",
                        lambda tensors, compiled=False: seen.append(compiled) or original(tensors, compiled))
    config = preset("tiny", vocab_size=30522, max_position_embeddings=SEQ)
    est = Estimator(PretrainingTask(config), RunConfig(str(tmp_path), iterations_per_loop=2), _params(2),
                    LocalStrategy("cpu", jit_compile=jit))
    est.train(_train_input(gutenberg_records), 2)
    assert seen and set(seen) == {jit}


def test_next_batches_advances_the_iterator_by_exactly_count():
    iterator = iter(tf.data.Dataset.range(1, 100).map(lambda i: {"x": tf.fill([2], i)}))
    stacked = tf.function(lambda: _next_batches(iterator, tf.constant(3, tf.int64), 10))()
    np.testing.assert_array_equal(stacked["x"].numpy(), [[1, 1], [2, 2], [3, 3]] + [[0, 0]] * 7)
    assert int(next(iterator)["x"][0]) == 4


class _ToyClassifier:
    """A per-example-mean loss, so k micro-batches average to exactly the big batch."""

    def __init__(self, config):
        self.config = config

    def create_model(self, params):
        return BertClassifierModel(self.config, 2).build_for()

    def model_fn(self, model, features, mode, params):
        logits = model(features, training=mode == TRAIN)["logits"]
        loss = classification_loss(logits, features["next_sentence_labels"])
        return EstimatorSpec(loss=loss, logs={"loss": loss})


def test_accumulating_k_micro_batches_equals_one_k_times_larger_batch(tmp_path, gutenberg_records):
    config = preset("tiny", vocab_size=30522, max_position_embeddings=SEQ,
                    hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    files = gutenberg_records

    def fixed_input(batch):
        def input_fn(params, ctx):
            data = tf.data.TFRecordDataset(files).take(64).repeat()
            return data.batch(batch).map(lambda r: __import__("bert_tf").records.parse_pretraining(r, SEQ, PRED))
        return input_fn

    big = _estimator(tmp_path / "big", 4, ipl=2, config=config, task=_ToyClassifier(config), warmup=0)
    big.train(fixed_input(16), 4)
    small = _estimator(tmp_path / "small", 4, ipl=2, config=config, task=_ToyClassifier(config),
                       warmup=0, accumulation=4)
    small.train(fixed_input(16), 4)  # the step's batch, cut by the Estimator into 4 micro-batches of 4
    a, b = _weights(big), _weights(small)
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-4, atol=2e-5, err_msg=name)
    assert max(np.abs(a[n] - v).max() for n, v in _weights(_estimator(tmp_path / "init", 1, config=config, task=_ToyClassifier(config))).items()) > 1e-4


def test_fp16_overflow_skips_the_step_and_halves_the_scale(tmp_path, gutenberg_records):
    est = _estimator(tmp_path, 3, ipl=1, precision="fp16", init_loss_scale=2.0 ** 40)
    est._build_training()
    before = _weights(est)
    iterator = iter(_train_input(gutenberg_records)(est.params, est.strategy.input_context()))
    logs = tf.function(est._step)(iterator)
    assert float(est.loss_scale) == 2.0 ** 39 and int(est.global_step) == 0
    after = _weights(est)
    assert all(np.array_equal(before[n], after[n]) for n in before)
    assert math.isfinite(float(logs["total_loss"]))


def test_dynamic_loss_scale_grows_after_good_steps(tmp_path, gutenberg_records):
    est = _estimator(tmp_path, 3, ipl=1, precision="fp16", init_loss_scale=4.0)
    est.params["train"].loss_scale_growth_steps = 2
    est._build_training()
    iterator = iter(_train_input(gutenberg_records)(est.params, est.strategy.input_context()))
    step = tf.function(est._step)
    step(iterator)
    step(iterator)
    assert int(est.global_step) == 2 and float(est.loss_scale) == 8.0


def test_pretraining_metrics_equal_hand_computed_values():
    mlm_logits = tf.constant([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 1.0], [5.0, 0.0, 0.0]])
    nsp_logits = tf.constant([[1.0, 0.0], [0.0, 2.0]])
    features = {"masked_lm_ids": tf.constant([[0, 2], [2, 1]]),
                "masked_lm_weights": tf.constant([[1.0, 1.0], [1.0, 0.0]]),
                "next_sentence_labels": tf.constant([[0], [0]])}
    m = {k: (float(t), float(c)) for k, (t, c) in pretraining_metrics(mlm_logits, nsp_logits, features).items()}
    assert m["masked_lm_accuracy"] == (2.0, 3.0)  # rows 0 and 2 right, row 1 wrong, row 3 unweighted
    lse = lambda row: math.log(sum(math.exp(x) for x in row))  # noqa: E731
    want_loss = (lse([2, 0, 0]) - 2) + (lse([0, 3, 0]) - 0) + (lse([0, 0, 1]) - 1)
    assert m["masked_lm_loss"][0] == pytest.approx(want_loss, rel=1e-6) and m["masked_lm_loss"][1] == 3.0
    assert m["next_sentence_accuracy"] == (1.0, 2.0)
    assert m["next_sentence_loss"][0] == pytest.approx((lse([1, 0]) - 1) + (lse([0, 2]) - 0), rel=1e-6)


def test_nonfinite_fp32_loss_stops_with_a_clear_message(tmp_path, gutenberg_records):
    est = _estimator(tmp_path, 50, ipl=10, lr=1e30)
    with pytest.raises(NonFiniteLossError, match="not finite for 3 consecutive steps"):
        est.train(_train_input(gutenberg_records), 50)
    assert est.latest_checkpoint() is None


def test_resume_and_init_checkpoint(tmp_path, gutenberg_records):
    est = _estimator(tmp_path / "a", 10, ipl=5)
    est.config.save_checkpoints_steps = 5
    est.train(_train_input(gutenberg_records), 10)
    assert est.latest_checkpoint().endswith("model.ckpt-10")
    again = _estimator(tmp_path / "a", 10, ipl=5)
    assert again.train(_train_input(gutenberg_records), 10) == 10  # nothing left to do
    # our checkpoint and a Google-layout export both initialize a fresh run
    prefix = str(tmp_path / "google" / "bert_model.ckpt")
    checkpoints.save_tf1(est.model, prefix)
    for init in (est.latest_checkpoint(), prefix):
        fresh = _estimator(tmp_path / f"b{len(init)}", 1, init_checkpoint=init)
        fresh._build_training()
        fresh._init_from(init)
        np.testing.assert_array_equal(fresh.named_variables["bert/pooler/dense/kernel"].numpy(),
                                      est.named_variables["bert/pooler/dense/kernel"].numpy())


def test_resuming_a_checkpoint_with_per_variable_slots_is_refused(tmp_path, gutenberg_records):
    """Before the packed optimizer our checkpoints held optimizer/m/0, /1, ...: TF would
    restore such a file with the moments silently at zero, so the runner refuses it."""
    old_optimizer = tf.Module()
    old_optimizer.m = [tf.Variable(tf.zeros([2])), tf.Variable(tf.zeros([3]))]
    old_optimizer.v = [tf.Variable(tf.zeros([2])), tf.Variable(tf.zeros([3]))]
    tf.train.CheckpointManager(tf.train.Checkpoint(optimizer=old_optimizer), str(tmp_path),
                               max_to_keep=1, checkpoint_name="model.ckpt").save()
    est = _estimator(tmp_path, 2)
    with pytest.raises(UserError, match="earlier bert_tf.*--init_checkpoint="):
        est.train(_train_input(gutenberg_records), 2)


def test_init_checkpoint_of_another_config_fails_clearly(tmp_path):
    prefix = str(tmp_path / "bert_model.ckpt")
    checkpoints.save_tf1(BertClassifierModel(preset("micro", vocab_size=30522), 2).build_for(), prefix)
    est = _estimator(tmp_path / "m", 1)
    with pytest.raises(checkpoints.CheckpointError, match="bert/embeddings/word_embeddings.*bert_config_file"):
        est._init_from(prefix)


def test_run_config_rejects_bad_values():
    with pytest.raises(UserError, match="--iterations_per_loop=0"):
        RunConfig("x", iterations_per_loop=0)


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_mixed_precision_training_runs_and_keeps_float32_weights(tmp_path, gutenberg_records, precision):
    est = _estimator(tmp_path, 3, ipl=3, precision=precision)
    before = _weights(est)
    est.train(_train_input(gutenberg_records), 3)
    assert int(est.global_step) == 3
    after = _weights(est)
    assert all(v.dtype == np.float32 for v in after.values())
    assert np.abs(after["bert/encoder/layer_0/output/dense/kernel"]
                  - before["bert/encoder/layer_0/output/dense/kernel"]).max() > 0
    assert est.model.encoder.compute_dtype == ("float16" if precision == "fp16" else "bfloat16")


def test_predict_yields_one_dict_per_example(tmp_path, gutenberg_records):
    est = _estimator(tmp_path, 2, ipl=2)
    est.train(_train_input(gutenberg_records), 2)
    fn = input_pipeline.pretraining_input_fn(gutenberg_records, SEQ, PRED, 4, is_training=False)
    first = [p for _, p in zip(range(6), est.predict(lambda params, ctx: fn(params, ctx).take(2)))]
    assert len(first) == 6
    assert first[0]["masked_lm_predictions"].shape == (PRED,)
    assert first[0]["next_sentence_probabilities"].sum() == pytest.approx(1.0, abs=1e-5)


def test_lamb_and_static_loss_scale_train(tmp_path, gutenberg_records):
    est = _estimator(tmp_path, 2, ipl=2, precision="fp16", loss_scale=128.0)
    est.params["train"].optimizer.optimizer_type = "lamb"
    est.train(_train_input(gutenberg_records), 2)
    assert float(est.loss_scale) == 128.0 and int(est.global_step) == 2
