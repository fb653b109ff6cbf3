"""The fine-tuning procedure with length buckets: evaluation and prediction on real data give
the padded run's outputs (classifier probabilities, NER labels, SQuAD n-best logits) in the
input order, and the boundaries a run is given are the ones its batches take."""

import json

import numpy as np
import pytest

from bert_tf.finetuning import FineTuning
from bert_tf.settings import FineTuningSettings
from bert_tf.tasks.classifier import ClassifierTask
from bert_tf.tasks.squad import SquadOptions, SquadTask
from bert_tf.tasks.tagger import TaggerTask
from conftest import need

SEQ = 128


def _run(bert_dir, out, task_of, bucket_by_length, **settings):
    """Predict with the micro model (random heads, seeded alike): the output folder."""
    settings = FineTuningSettings(
        output_dir=str(out), bert_config_file=str(bert_dir / "bert_config.json"),
        init_checkpoint=str(bert_dir / "bert_model.ckpt"), vocab_file=str(bert_dir / "vocab.txt"),
        max_seq_length=SEQ, eval_batch_size=32, predict_batch_size=32,
        bucket_by_length=bucket_by_length, **settings)
    run = FineTuning(settings)
    run.fine_tune(task_of(run))
    return out


def _both(tiny_bert_dir, tmp_path, task_of, **settings):
    return [_run(tiny_bert_dir, tmp_path / name, task_of, bucketed, **settings)
            for name, bucketed in (("padded", False), ("bucketed", True))]


def _results(path):
    return {k: float(v) for k, _, v in (line.partition(" = ") for line in path.read_text().splitlines())}


def test_classifier_probabilities_equal_the_padded_run_in_input_order(tiny_bert_dir, tmp_path, caplog):
    mrpc = need("glue/MRPC")

    def task_of(run):
        return ClassifierTask.for_data(run.config, "mrpc", str(mrpc), SEQ)

    caplog.set_level("INFO", logger="absl")  # absl's own level: an earlier test may have raised it
    padded, bucketed = _both(tiny_bert_dir, tmp_path, task_of, do_eval=True, do_predict=True,
                             use_xla=True)
    assert "examples padded to" in caplog.text  # the bucketed run said how it batched
    for name in ("test_results.tsv",):
        want = np.loadtxt(padded / name)
        got = np.loadtxt(bucketed / name)
        assert want.shape == (1725, 2)
        np.testing.assert_allclose(got, want, rtol=0, atol=2e-6)
    want, got = _results(padded / "eval_results.txt"), _results(bucketed / "eval_results.txt")
    assert want.keys() == got.keys()
    for key in want:
        assert got[key] == pytest.approx(want[key], abs=1e-6), key


def test_ner_labels_equal_the_padded_run_in_input_order(tiny_bert_dir, tmp_path):
    conll = need("conll2003")
    data = tmp_path / "conll"
    data.mkdir()
    lines = (conll / "eng.testa").read_text("utf-8").splitlines()
    (data / "eng.testa").write_text("\n".join(lines[:6000]) + "\n", "utf-8")  # ~400 sentences

    def task_of(run):
        return TaggerTask.for_data(run.config, "conll2003", str(data), SEQ)

    padded, bucketed = _both(tiny_bert_dir, tmp_path, task_of, do_eval=True)
    want = (padded / "eval_predictions.txt").read_text("utf-8")
    assert want.count("\n\n") > 300
    assert (bucketed / "eval_predictions.txt").read_text("utf-8") == want
    assert _results(bucketed / "eval_results.txt") == _results(padded / "eval_results.txt")


def test_squad_nbest_logits_equal_the_padded_run(tiny_bert_dir, small_squad, tmp_path):
    options = SquadOptions(predict_file=str(small_squad / "dev-v2.0.json"), doc_stride=48,
                           max_query_length=32, version_2_with_negative=True)

    def task_of(run):
        return SquadTask(run.config, SEQ, options)

    padded, bucketed = _both(tiny_bert_dir, tmp_path, task_of, do_predict=True)
    for name in ("predictions.json", "null_odds.json"):
        want = json.loads((padded / name).read_text())
        got = json.loads((bucketed / name).read_text())
        assert list(got) == list(want)  # the questions in the file's order
        if name == "predictions.json":
            assert got == want
        else:
            np.testing.assert_allclose(list(got.values()), list(want.values()), atol=1e-5)
    want = json.loads((padded / "nbest_predictions.json").read_text())
    got = json.loads((bucketed / "nbest_predictions.json").read_text())
    assert list(got) == list(want) and len(want) == 17
    for qid in want:
        assert [e["text"] for e in got[qid]] == [e["text"] for e in want[qid]], qid
        for key in ("start_logit", "end_logit", "probability"):
            np.testing.assert_allclose([e[key] for e in got[qid]], [e[key] for e in want[qid]],
                                       atol=1e-5, err_msg=f"{qid} {key}")
