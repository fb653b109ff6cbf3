"""run_ner.py as a user runs it: CoNLL-2003 fine-tuned from the real pretrained MiniLM, its
output files, and bad input (exit status 2, one line on stderr, no traceback, before any
model is built)."""

import os
import subprocess
import sys

from bert_tf.config import preset
from bert_tf.data import ner
from conftest import ROOT, UNCASED_VOCAB, need

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
CONLL_LABELS = {"O", "B-LOC", "B-MISC", "B-ORG", "B-PER", "I-LOC", "I-MISC", "I-ORG", "I-PER"}


def run(*args, timeout=600):
    return subprocess.run([sys.executable, str(ROOT / "run_ner.py"), *map(str, args)],
                          capture_output=True, text=True, env=ENV, timeout=timeout)


def read_results(path):
    out = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition(" = ")
        out[key] = float(value)
    return out


def copy_sentences(source, target, limit):
    """The first `limit` sentences of a CoNLL file (with its -DOCSTART- lines)."""
    lines, count = [], 0
    for line in source.read_text(encoding="utf-8").splitlines():
        lines.append(line)
        if not line.strip() and lines[-2:-1] and lines[-2].strip() and not lines[-2].startswith("-DOCSTART-"):
            count += 1
            if count == limit:
                break
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return count


# ---------------------------------------------------------------------- the real model
# MiniLM is uncased: its vocab with --do_lower_case=true (a cased model would keep the
# capitals that help NER; this is what the uncased checkpoint can do). 1,500 training
# sentences for one epoch at sequence length 64 (about 1% of CoNLL sentences are longer;
# their cut-off words are scored as "O"), evaluated on the first 500 of eng.testa.
TRAIN_SENTENCES, DEV_SENTENCES, TEST_SENTENCES = 1500, 500, 50
NER_ARGS = ("--do_lower_case=true", "--max_seq_length=64", "--train_batch_size=16", "--learning_rate=1e-4",
            "--num_train_epochs=1", "--use_xla", "--iterations_per_loop=50", "--eval_batch_size=32",
            "--predict_batch_size=32")


def test_conll2003_fine_tuned_from_minilm_finds_entities(minilm_google_dir, tmp_path):
    conll = need("conll2003")
    data = tmp_path / "conll2003"
    data.mkdir()
    assert copy_sentences(conll / "eng.train", data / "eng.train", TRAIN_SENTENCES) == TRAIN_SENTENCES
    assert copy_sentences(conll / "eng.testa", data / "eng.testa", DEV_SENTENCES) == DEV_SENTENCES
    assert copy_sentences(conll / "eng.testb", data / "eng.testb", TEST_SENTENCES) == TEST_SENTENCES
    bert = minilm_google_dir
    out = tmp_path / "out"
    result = run("--task_name=conll2003", f"--data_dir={data}", f"--vocab_file={bert}/vocab.txt",
                 f"--bert_config_file={bert}/bert_config.json", f"--init_checkpoint={bert}/bert_model.ckpt",
                 f"--output_dir={out}", "--do_train", "--do_eval", "--do_predict", *NER_ARGS)
    assert result.returncode == 0, result.stderr[-4000:]

    labels = (out / "label_list.txt").read_text().split("\n")
    assert labels[0] == "O" and labels[-1] == "" and set(labels[:-1]) == CONLL_LABELS
    results = read_results(out / "eval_results.txt")
    kinds = ("LOC", "MISC", "ORG", "PER")
    assert set(results) == ({"eval_precision", "eval_recall", "eval_f1", "eval_token_accuracy", "global_step"}
                            | {f"eval_f1_{kind}" for kind in kinds})
    assert results["global_step"] == TRAIN_SENTENCES // 16
    assert results["eval_f1"] > 0.5, results  # measured 0.678 (2,000 sentences: 0.704)
    assert results["eval_f1_PER"] > 0.7, results  # measured 0.912

    dev = ner.read_conll2003(str(data / "eng.testa"))
    for split, sentences in (("eval", dev), ("test", ner.read_conll2003(str(data / "eng.testb")))):
        blocks = (out / f"{split}_predictions.txt").read_text().split("\n\n")
        assert blocks[-1] == "" and len(blocks) - 1 == len(sentences)
        for block, sentence in zip(blocks, sentences):
            rows = [line.split(" ") for line in block.split("\n")]
            assert [r[0] for r in rows] == sentence.words and [r[1] for r in rows] == sentence.labels
            assert all(len(r) == 3 and r[2] in CONLL_LABELS for r in rows)
    # The predictions file scores to what eval_results.txt says (conlleval's input).
    from bert_tf.metrics.ner import ner_metrics
    blocks = (out / "eval_predictions.txt").read_text().split("\n\n")[:-1]
    predicted = [[line.split(" ")[2] for line in block.split("\n")] for block in blocks]
    assert abs(ner_metrics([s.labels for s in dev], predicted)["f1"] - results["eval_f1"]) < 1e-9


# ---------------------------------------------------------------------- bad input
def bad(tmp_path, *args):
    """A run that must stop at once: exit 2, one `error:` line, no traceback."""
    config = tmp_path / "bert_config.json"
    preset("micro", vocab_size=30522).to_json_file(config)
    result = run(f"--vocab_file={need(UNCASED_VOCAB)}", f"--bert_config_file={config}",
                 f"--output_dir={tmp_path}/out", *args, timeout=120)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr[-3000:]
    assert not (tmp_path / "out" / "checkpoint").exists()
    return errors[0]


def conll_dir(tmp_path, train="EU NNP B-NP I-ORG\nrejects VBZ B-VP O\n\n",
              dev="Peter NNP B-NP I-PER\nBlackburn NNP I-NP I-PER\n\n"):
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "eng.train").write_text("-DOCSTART- -X- O O\n\n" + train)
    (data / "eng.testa").write_text(dev)
    return data


def test_unknown_task_lists_the_known_ones(tmp_path):
    message = bad(tmp_path, "--task_name=conll2004", f"--data_dir={conll_dir(tmp_path)}", "--do_train")
    assert "--task_name=conll2004: unknown NER task" in message
    assert all(name in message for name in ("conll2003", "msra", "peoples_daily"))


def test_missing_split_file_is_named(tmp_path):
    data = conll_dir(tmp_path)
    message = bad(tmp_path, "--task_name=conll2003", f"--data_dir={data}", "--do_train", "--do_predict")
    assert f"{data / 'eng.testb'}: no such file" in message


def test_wrong_column_count_names_file_and_line(tmp_path):
    data = conll_dir(tmp_path, dev="Peter NNP B-NP I-PER\nBlackburn I-PER\n\n")
    message = bad(tmp_path, "--task_name=conll2003", f"--data_dir={data}", "--do_train", "--do_eval")
    assert f"{data / 'eng.testa'}, line 2: 2 columns, expected 4" in message


def test_label_outside_the_label_file_is_named_before_training(tmp_path):
    data = conll_dir(tmp_path)
    label_file = tmp_path / "labels.txt"
    label_file.write_text("O\nB-ORG\nI-ORG\n")  # no PER: the dev split has some
    message = bad(tmp_path, "--task_name=conll2003", f"--data_dir={data}", f"--label_file={label_file}",
                  "--do_train", "--do_eval", "--train_batch_size=1")
    assert "eng.testa:1" in message and "label 'B-PER' is not in the label list" in message


def test_no_action_flag(tmp_path):
    message = bad(tmp_path, "--task_name=conll2003", f"--data_dir={conll_dir(tmp_path)}")
    assert "--do_train, --do_eval, --do_predict" in message
