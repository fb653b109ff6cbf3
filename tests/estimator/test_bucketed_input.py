"""The Estimator on length-bucketed input: a bucketed training run killed at a checkpoint and
resumed ends with the uninterrupted run's weights (other loop sizes, with and without
accumulation), and bucketed pretraining evaluation gives the padded one's metrics."""

import numpy as np
import pytest

from bert_tf import bucketing, input_pipeline, optimization
from bert_tf.config import preset
from bert_tf.data import pretraining_job
from bert_tf.distribute.local import LocalStrategy
from bert_tf.estimator import Estimator, RunConfig
from bert_tf.estimator.estimator import TrainParams
from bert_tf.tasks.classifier import ClassifierTask
from bert_tf.tasks.pretraining import PretrainingTask
from conftest import UNCASED_VOCAB, need

SEQ = 128


def _estimator(model_dir, task, steps, ipl, accumulation=1, save=1000):
    opt = optimization.OptimizerConfig(learning_rate=1e-3, num_train_steps=steps, num_warmup_steps=2)
    params = {"global_batch_size": 16, "train": TrainParams(opt, num_accumulation_steps=accumulation)}
    run = RunConfig(str(model_dir), iterations_per_loop=ipl, save_checkpoints_steps=save,
                    log_every_n_steps=100)
    return Estimator(task, run, params, LocalStrategy("cpu"))


def _weights(est):
    return {n: v.numpy() for n, v in est.named_variables.items()}


@pytest.mark.parametrize("accumulation", [1, 2])
def test_a_killed_bucketed_run_resumes_to_the_uninterrupted_weights(tmp_path, mrpc_records, accumulation):
    task = ClassifierTask(preset("micro", vocab_size=30522, max_position_embeddings=SEQ), 2,
                          max_seq_length=SEQ)
    spec = bucketing.BucketSpec(SEQ, task.sequence_fields(True), (48, 64))  # and 128
    batch = 16 // accumulation

    def train(model_dir, until, ipl):
        est = _estimator(model_dir, task, 8, ipl, accumulation, save=4)
        est.train(input_pipeline.input_fn(mrpc_records, task.parse, batch, True, seed=3, buckets=spec),
                  until)
        return est

    whole = _weights(train(tmp_path / "whole", 8, ipl=3))
    train(tmp_path / "parts", 4, ipl=2)  # stopped at its checkpoint of step 4
    resumed = train(tmp_path / "parts", 8, ipl=2)
    assert int(resumed.global_step) == 8
    for name, value in _weights(resumed).items():
        np.testing.assert_array_equal(value, whole[name], err_msg=name)


def test_bucketed_pretraining_evaluation_gives_the_padded_metrics(tmp_path):
    out = tmp_path / "data.tfrecord"
    pretraining_job.run(pretraining_job.JobOptions(
        input_files=[str(need("pretrain_text/gutenberg_nltk/austen-persuasion.txt"))],
        vocab_file=str(need(UNCASED_VOCAB)), output_files=[str(out)], max_seq_length=SEQ,
        max_predictions_per_seq=20, dupe_factor=1, short_seq_prob=0.5))
    task = PretrainingTask(preset("tiny", vocab_size=30522, max_position_embeddings=SEQ), SEQ, 20)
    est = _estimator(tmp_path / "model", task, 1, 1)
    est._initialized = True  # the random model
    results = [est.evaluate(task.input_fn([str(out)], 16, is_training=False, buckets=buckets,
                                          max_batches=8))
               for buckets in (None, bucketing.BucketSpec(SEQ, task.sequence_fields(False)))]
    assert set(results[0]) == set(results[1]) and results[0]["masked_lm_loss"] > 5
    for key, value in results[0].items():
        assert results[1][key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
