"""The command lines users already have, run as they are (paths aside): the Ascend SQuAD v2.0
command verbatim, NVIDIA's and Ascend's pretraining commands built from their READMEs; and what
TensorBoard sees of a run (training every loop, the evaluation in `eval/`), read back with the
tensorboard package's own reader."""

import json
import os
import subprocess
import sys

import pytest

from bert_tf.checkpoints import save_tf1
from bert_tf.config import preset
from bert_tf.data import pretraining_job
from bert_tf.heads import BertModel
from conftest import ROOT, UNCASED_VOCAB, need

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
SEQ, PRED = 32, 5


def run(args, cwd, timeout=600):
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, env=ENV, cwd=cwd,
                          timeout=timeout)


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    """$B: a random micro BERT in Google's release layout that takes 384 positions."""
    folder = tmp_path_factory.mktemp("B")
    config = preset("micro", vocab_size=30522, max_position_embeddings=512)
    save_tf1(BertModel(config).build_for(), str(folder / "bert_model.ckpt"), config, str(need(UNCASED_VOCAB)))
    return folder


def test_the_ascend_squad_v2_command_runs_verbatim(bert_dir, small_squad, tmp_path):
    data = tmp_path / "D"
    (data / "tfrecord" / "train").mkdir(parents=True)
    for split in ("train", "dev"):
        (data / f"{split}-v2.0.json").write_text((small_squad / f"{split}-v2.0.json").read_text())
    (data / "evaluate-v2.0.py").write_text(  # the official v2.0 scoring (tests/oracles), as a script
        "import runpy, sys\n"
        f"sys.argv = [sys.argv[0], 'v2'] + sys.argv[1:]\n"
        f"runpy.run_path({str(ROOT / 'tests' / 'oracles' / 'official_squad_eval.py')!r}, run_name='__main__')\n")
    B, D = bert_dir, data
    command = (f"run_squad.py --vocab_file={B}/vocab.txt --bert_config_file={B}/bert_config.json "
               f"--init_checkpoint={B}/bert_model.ckpt --do_train=True --train_file={D}/train-v2.0.json "
               f"--input_files_dir={D}/tfrecord/train --use_tfrecord=False --do_predict=True "
               f"--predict_file={D}/dev-v2.0.json --eval_script={D}/evaluate-v2.0.py --train_batch_size=32 "
               "--learning_rate=5.6e-5 --num_train_epochs=2 --max_seq_length=384 --doc_stride=128 --amp=True "
               "--npu_bert_debug=False --npu_bert_use_tdt=True --iterations_per_loop=100 "
               "--save_checkpoints_steps=1000 --npu_bert_clip_by_global_norm=True --distributed=False "
               "--npu_bert_loss_scale=0 --version_2_with_negative=True --predict_batch_size=1 "
               "--output_dir=./result").split()
    result = run([ROOT / command[0], *command[1:]], cwd=tmp_path, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "--npu_bert_debug, --npu_bert_use_tdt: switches of another device; they change nothing" in result.stderr
    out = tmp_path / "result"
    for name in ("predictions.json", "nbest_predictions.json", "null_odds.json", "eval_results.json"):
        assert (out / name).exists(), name
    scores = json.loads((out / "eval_results.json").read_text())
    assert {"exact", "f1", "HasAns_exact", "NoAns_exact", "best_f1"} <= set(scores)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == scores


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    root = tmp_path_factory.mktemp("pretraining_records")
    for split in ("training", "test"):
        (root / split).mkdir()
        pretraining_job.run(pretraining_job.JobOptions(
            input_files=[str(need("pretrain_text/gutenberg_nltk/austen-emma.txt" if split == "training"
                                  else "pretrain_text/gutenberg_nltk/austen-sense.txt"))],
            vocab_file=str(need(UNCASED_VOCAB)), output_files=[str(root / split / "part-0.tfrecord")],
            max_seq_length=SEQ, max_predictions_per_seq=PRED, dupe_factor=1))
    preset("micro", vocab_size=30522, max_position_embeddings=SEQ).to_json_file(root / "bert_config.json")
    return root


def test_nvidias_pretraining_command_with_its_dllogger_file(records, tmp_path):
    R = tmp_path / "results"
    command = (f"--input_files_dir={records}/training --eval_files_dir={records}/test --output_dir={R} "
               f"--bert_config_file={records}/bert_config.json --do_train=True --do_eval=True --train_batch_size=8 "
               f"--eval_batch_size=8 --max_seq_length={SEQ} --max_predictions_per_seq={PRED} --num_train_steps=6 "
               "--num_accumulation_steps=2 --num_warmup_steps=2 --save_checkpoints_steps=100 --learning_rate=7.5e-4 "
               "--optimizer_type=lamb --horovod --amp --use_xla --allreduce_post_accumulation=True "
               f"--dllog_path={R}/bert_dllog.json --report_loss --iterations_per_loop=3 --max_eval_steps=2").split()
    result = run([ROOT / "run_pretraining.py", *command], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    lines = (R / "bert_dllog.json").read_text().splitlines()
    assert lines and all(line.startswith("DLLL {") for line in lines)  # as often as the log line
    record = json.loads(lines[-1][5:])
    assert record["type"] == "LOG" and record["step"] == [6]
    assert {"total_loss", "masked_lm_loss", "sentences/sec"} <= set(record["data"])
    refused = run([ROOT / "run_pretraining.py", *command, "--allreduce_post_accumulation=False"], cwd=tmp_path)
    assert refused.returncode == 2 and "--allreduce_post_accumulation=false: bert_tf averages" in refused.stderr


def test_ascends_pretraining_command(records, tmp_path):
    command = (f"--bert_config_file={records}/bert_config.json --max_seq_length={SEQ} "
               f"--max_predictions_per_seq={PRED} --train_batch_size=8 --learning_rate=1e-4 --num_warmup_steps=2 "
               "--num_train_steps=4 --optimizer_type=adam --manual_fp16=True --use_fp16_cls=True "
               f"--input_files_dir={records}/training --eval_files_dir={records}/test --npu_bert_debug=False "
               "--npu_bert_use_tdt=True --do_train=True --num_accumulation_steps=1 --npu_bert_job_start_file= "
               "--iterations_per_loop=2 --save_checkpoints_steps=10000 --npu_bert_clip_by_global_norm=False "
               "--distributed=False --npu_bert_loss_scale=0 --output_dir=./output").split()
    result = run([ROOT / "run_pretraining.py", *command], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    assert ("--npu_bert_debug, --npu_bert_job_start_file, --npu_bert_use_tdt: switches of another device; "
            "they change nothing") in result.stderr
    assert (tmp_path / "output" / "model.ckpt-4.index").exists()
    clash = run([ROOT / "run_pretraining.py", *command, "--loss_scale=128"], cwd=tmp_path)
    assert clash.returncode == 2 and "--npu_bert_loss_scale=0 and --loss_scale=128.0 disagree" in clash.stderr


def test_tensorboard_sees_every_loop_and_the_evaluation(records, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util.tensor_util import make_ndarray
    model = tmp_path / "model"
    result = run([ROOT / "run_pretraining.py", f"--bert_config_file={records}/bert_config.json",
                  f"--input_files_dir={records}/training", f"--output_dir={model}", "--do_train", "--do_eval",
                  f"--max_seq_length={SEQ}", f"--max_predictions_per_seq={PRED}", "--train_batch_size=8",
                  "--num_train_steps=9", "--num_warmup_steps=1", "--iterations_per_loop=3",
                  "--display_loss_steps=1", "--max_eval_steps=2"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    train = EventAccumulator(str(model)).Reload()  # TF2 scalar summaries are tensors of the scalars plugin
    assert [e.step for e in train.Tensors("total_loss")] == [3, 6, 9]  # every loop, by default
    assert train.SummaryMetadata("total_loss").plugin_data.plugin_name == "scalars"
    evaluation = EventAccumulator(str(model / "eval")).Reload()
    assert {"masked_lm_accuracy", "masked_lm_loss", "next_sentence_accuracy"} <= set(evaluation.Tags()["tensors"])
    (point,) = evaluation.Tensors("masked_lm_accuracy")
    results = dict(line.split(" = ") for line in (model / "eval_results.txt").read_text().splitlines())
    assert point.step == 9
    assert float(make_ndarray(point.tensor_proto)) == pytest.approx(float(results["masked_lm_accuracy"]), rel=1e-6)
