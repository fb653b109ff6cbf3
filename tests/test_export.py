"""SavedModel export: the reloaded model computes what the Keras model does, its raw-text
signature tokenizes and packs as Google's Python code does (on real MRPC sentences and the
inputs where tensorflow-text differs), and TensorFlow's own `saved_model_cli run` executes
both signatures of a classifier and an encoder export (no tensorflow_text anywhere)."""

import itertools
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import ROOT, UNCASED_VOCAB, need
from test_tokenization import TRICKY
from bert_tf import checkpoints
from bert_tf.config import ConfigError, preset
from bert_tf.data.classifier import truncate_seq_pair
from bert_tf.export import ExportError, export_saved_model, load_task, truncated_lengths
from bert_tf.heads import BertClassifierModel, BertModel, BertSpanModel
from bert_tf.tasks import ClassifierTask, EncoderTask
from bert_tf.tokenization import FullTokenizer, VocabError

MAX_SEQ = 40  # short enough that most MRPC pairs are truncated
CONFIG = preset("micro", vocab_size=30522, num_hidden_layers=2)


def randomize(model, seed=0):
    """Every variable random (LayerNorm and biases too), so each one shows in the outputs."""
    rng = np.random.default_rng(seed)
    for name, variable in model.tf1_weights().items():
        base = 1.0 if name.endswith("gamma") else 0.0
        variable.assign(base + rng.normal(0, 0.1, variable.shape).astype(np.float32))
    return model


def google_pack(tokenizer, text_a, text_b, max_seq_length=MAX_SEQ):
    """Google's convert_single_example packing, written out as the reference."""
    tokens_a = tokenizer.tokenize(text_a)
    tokens_b = tokenizer.tokenize(text_b) if text_b else []
    if tokens_b:
        truncate_seq_pair(tokens_a, tokens_b, max_seq_length - 3)
    tokens = ["[CLS]", *tokens_a[:max_seq_length - 2], "[SEP]"]
    segments = [0] * len(tokens)
    if tokens_b:
        tokens += [*tokens_b, "[SEP]"]
        segments += [1] * (len(tokens_b) + 1)
    ids = tokenizer.convert_tokens_to_ids(tokens)
    pad = max_seq_length - len(ids)
    return ids + [0] * pad, [1] * len(ids) + [0] * pad, segments + [0] * pad


@pytest.fixture(scope="module")
def vocab():
    return str(need(UNCASED_VOCAB))


@pytest.fixture(scope="module")
def texts(vocab):
    """Real MRPC pairs and single sentences, the inputs on which tensorflow-text's tokenizer
    differs from Google's (the in-graph tokenizer does not), and ASCII words around Google's
    200-character limit."""
    rows = need("glue/MRPC/dev.tsv").read_text("utf-8-sig").splitlines()[1:]
    pairs = [tuple(row.split("\t")[3:5]) for row in rows]
    singles = [(a, "") for a, _ in pairs[10:13]]
    tricky = list(zip(TRICKY[0::2], TRICKY[1::2]))
    long_words = [("see " + "x" * 150 + " and " + "y" * 200, ""), ("z" * 201 + " end", "a b")]
    return pairs[:10] + singles + tricky + long_words


@pytest.fixture(scope="module")
def classifier(tmp_path_factory, vocab):
    """A random 3-label classifier exported over an earlier export's folder (which it replaces)."""
    model = randomize(BertClassifierModel(CONFIG, num_labels=3).build_for())
    export_dir = tmp_path_factory.mktemp("export") / "classifier"
    export_dir.mkdir()
    (export_dir / "saved_model.pb").write_bytes(b"an earlier export")
    (export_dir / "stale.txt").write_text("from the earlier export")
    export_saved_model(ClassifierTask(CONFIG, 3), model, str(export_dir), vocab, do_lower_case=True,
                       max_seq_length=MAX_SEQ)
    return model, tf.saved_model.load(str(export_dir)), export_dir


def keras_outputs(model, ids, mask, segments):
    features = {"input_ids": tf.constant(ids, tf.int32), "input_mask": tf.constant(mask, tf.int32),
                "segment_ids": tf.constant(segments, tf.int32)}
    return {k: v.numpy() for k, v in model(features).items() if hasattr(v, "numpy")}


def test_export_layout_replaces_an_earlier_export(classifier):
    _, loaded, export_dir = classifier
    assert sorted(os.listdir(export_dir)) == ["assets", "assets.extra", "fingerprint.pb",
                                              "saved_model.pb", "variables"]
    assert os.listdir(export_dir / "assets") == ["vocab.txt"]
    assert not [n for n in os.listdir(export_dir.parent) if n.startswith(".")]  # no temp left
    info = json.loads((export_dir / "assets.extra" / "bert_export.json").read_text())
    assert info["task"] == "classifier" and info["max_seq_length"] == MAX_SEQ
    assert info["signatures"]["serving_text"]["inputs"] == ["text_a", "text_b"]
    assert set(loaded.signatures) == {"serving_default", "serving_text"}


def test_ids_signature_matches_the_keras_model(classifier, texts, vocab):
    model, loaded, _ = classifier
    tokenizer = FullTokenizer(vocab)
    ids, mask, segments = map(np.array, zip(*(google_pack(tokenizer, a, b) for a, b in texts)))
    got = loaded.signatures["serving_default"](input_ids=tf.constant(ids, tf.int32),
                                               input_mask=tf.constant(mask, tf.int32),
                                               segment_ids=tf.constant(segments, tf.int32))
    want = keras_outputs(model, ids, mask, segments)
    np.testing.assert_allclose(got["logits"].numpy(), want["logits"], atol=1e-5)
    np.testing.assert_allclose(got["probabilities"].numpy(),
                               tf.nn.softmax(want["logits"]).numpy(), atol=1e-6)
    # any sequence length up to max_position_embeddings, not only max_seq_length
    short = loaded.serve(tf.constant(ids[:, :12], tf.int32), tf.constant(mask[:, :12], tf.int32),
                         tf.constant(segments[:, :12], tf.int32))
    np.testing.assert_allclose(short["logits"].numpy(),
                               keras_outputs(model, ids[:, :12], mask[:, :12],
                                             segments[:, :12])["logits"], atol=1e-5)


def test_text_signature_tokenizes_and_packs_as_google(classifier, texts, vocab):
    model, loaded, _ = classifier
    tokenizer = FullTokenizer(vocab)
    want_ids, want_mask, want_segments = map(
        np.array, zip(*(google_pack(tokenizer, a, b) for a, b in texts)))
    assert (want_mask.sum(1) == MAX_SEQ).sum() >= 5  # truncation is exercised
    got = loaded.signatures["serving_text"](text_a=tf.constant([a for a, _ in texts]),
                                            text_b=tf.constant([b for _, b in texts]))
    np.testing.assert_array_equal(got["input_ids"].numpy(), want_ids)
    np.testing.assert_array_equal(got["input_mask"].numpy(), want_mask)
    np.testing.assert_array_equal(got["segment_ids"].numpy(), want_segments)
    want = keras_outputs(model, want_ids, want_mask, want_segments)
    np.testing.assert_allclose(got["logits"].numpy(), want["logits"], atol=1e-5)


def test_truncation_in_closed_form_is_googles():
    lengths = list(itertools.product(range(14), range(14)))
    for max_seq_length in range(3, 18):
        want = []
        for len_a, len_b in lengths:
            a, b = list(range(len_a)), list(range(len_b))
            if b:
                truncate_seq_pair(a, b, max_seq_length - 3)
            want.append((len(a[:max_seq_length - 2]), len(b)))
        keep_a, keep_b = truncated_lengths(tf.constant([a for a, _ in lengths], tf.int64),
                                           tf.constant([b for _, b in lengths], tf.int64),
                                           max_seq_length)
        assert list(zip(keep_a.numpy().tolist(), keep_b.numpy().tolist())) == want


def test_bad_input_is_refused_before_anything_is_written(classifier, tmp_path, vocab):
    model, task = classifier[0], ClassifierTask(CONFIG, 3)
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine")
    with pytest.raises(ExportError, match="--export_dir=.* is not a SavedModel"):
        export_saved_model(task, model, str(occupied), vocab, max_seq_length=MAX_SEQ)
    assert os.listdir(occupied) == ["notes.txt"]
    with pytest.raises(ConfigError, match="--max_seq_length=129 .* max_position_embeddings=128"):
        export_saved_model(task, model, str(tmp_path / "a"), vocab, max_seq_length=129)
    repeated = tmp_path / "vocab.txt"
    repeated.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\nthe\n")
    with pytest.raises(VocabError, match="the token 'the' is listed twice, on lines 5 and 6"):
        export_saved_model(task, model, str(tmp_path / "b"), str(repeated), max_seq_length=MAX_SEQ)
    assert sorted(os.listdir(tmp_path)) == ["occupied", "vocab.txt"]


def _runner_checkpoint(model, model_dir):
    """A checkpoint as the runner saves it: tf.train.Checkpoint over {Google name: variable}."""
    step = tf.Variable(7, dtype=tf.int64)
    ckpt = tf.train.Checkpoint(variables=dict(model.tf1_weights()), global_step=step)
    return tf.train.CheckpointManager(ckpt, str(model_dir), max_to_keep=2).save(checkpoint_number=7)


def run_script(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    return subprocess.run([sys.executable, str(ROOT / "export_savedmodel.py"), *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=300)


def test_script_exports_a_squad_model_from_a_runner_checkpoint(tmp_path, texts, vocab):
    model = randomize(BertSpanModel(CONFIG).build_for(), seed=1)
    _runner_checkpoint(model, tmp_path / "model_dir")
    CONFIG.to_json_file(tmp_path / "bert_config.json")
    common = [f"--bert_config_file={tmp_path / 'bert_config.json'}", f"--vocab_file={vocab}",
              f"--output_dir={tmp_path / 'model_dir'}", f"--max_seq_length={MAX_SEQ}"]
    result = run_script("--task=squad", f"--export_dir={tmp_path / 'squad'}", *common)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = tf.saved_model.load(str(tmp_path / "squad"))
    got = loaded.signatures["serving_text"](text_a=tf.constant([a for a, _ in texts]),
                                            text_b=tf.constant([b for _, b in texts]))
    want = keras_outputs(model, got["input_ids"], got["input_mask"], got["segment_ids"])
    for name in ("start_logits", "end_logits"):
        np.testing.assert_allclose(got[name].numpy(), want[name], atol=1e-5)



def test_script_reports_bad_flags_with_exit_status_2(tmp_path, vocab):
    (tmp_path / "empty_model_dir").mkdir()
    CONFIG.to_json_file(tmp_path / "bert_config.json")
    result = run_script("--task=squad", f"--output_dir={tmp_path / 'empty_model_dir'}",
                        f"--bert_config_file={tmp_path / 'bert_config.json'}",
                        f"--vocab_file={vocab}", f"--export_dir={tmp_path / 'out'}")
    assert result.returncode == 2, result.stderr[-3000:]
    assert "--output_dir=" in result.stderr and "no checkpoint in it" in result.stderr
    assert not (tmp_path / "out").exists()


def test_load_task_reads_googles_layout_and_names_bad_flags(tmp_path):
    model = randomize(BertClassifierModel(CONFIG, num_labels=2).build_for(), seed=2)
    checkpoints.save_tf1(model, str(tmp_path / "bert_model.ckpt"))
    _, again, report = load_task("classifier", CONFIG, str(tmp_path / "bert_model.ckpt"), 2)
    assert not report.missing
    np.testing.assert_array_equal(again.classifier.output_weights.numpy(),
                                  model.classifier.output_weights.numpy())
    with pytest.raises(ExportError, match="--task=classifier needs --num_labels"):
        load_task("classifier", CONFIG, str(tmp_path / "bert_model.ckpt"))
    prefix = str(tmp_path / "bert_model.ckpt")
    with pytest.raises(checkpoints.CheckpointError,
                       match=r"\(2, 32\) in the checkpoint but \(3, 32\)"):
        load_task("ner", CONFIG, prefix, 3)
    with pytest.raises(checkpoints.CheckpointError,
                       match=r"lacks 2 variables of the --task=squad model \(cls/squad/output_b"):
        load_task("squad", CONFIG, prefix)


# ---------------------------------------------------------------------- TensorFlow's own loader
SAVED_MODEL_CLI = pathlib.Path(sys.executable).with_name("saved_model_cli")


def saved_model_cli_run(export_dir, signature, inputs, outdir):
    """`saved_model_cli run` as a user types it (the C++-style SavedModel loader of TF
    Serving, in a fresh process that never imports tensorflow_text); outputs from its .npy files."""
    np.savez(outdir / "inputs.npz", **inputs)
    result = subprocess.run(
        [str(SAVED_MODEL_CLI), "run", "--dir", str(export_dir), "--tag_set", "serve",
         "--signature_def", signature, "--outdir", str(outdir / signature), "--overwrite",
         "--inputs", ";".join(f"{k}={outdir / 'inputs.npz'}[{k}]" for k in inputs)],
        capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return {p.stem: np.load(p) for p in (outdir / signature).glob("*.npy")}


def test_saved_model_cli_runs_both_signatures_of_classifier_and_encoder(classifier, texts, vocab,
                                                                         tmp_path):
    if not SAVED_MODEL_CLI.exists():
        pytest.fail(f"{SAVED_MODEL_CLI} is missing (it comes with tensorflow)")
    model, _, export_dir = classifier
    encoder = randomize(BertModel(CONFIG).build_for(), seed=3)
    export_saved_model(EncoderTask(CONFIG), encoder, str(tmp_path / "encoder"), vocab, max_seq_length=MAX_SEQ)
    tokenizer = FullTokenizer(vocab)
    ids, mask, segments = map(np.array, zip(*(google_pack(tokenizer, a, b) for a, b in texts)))
    id_inputs = {"input_ids": ids.astype(np.int32), "input_mask": mask.astype(np.int32),
                 "segment_ids": segments.astype(np.int32)}
    text_inputs = {"text_a": np.array([a.encode("utf-8") for a, _ in texts]),
                   "text_b": np.array([b.encode("utf-8") for _, b in texts])}
    for keras_model, folder, names in ((model, export_dir, ("logits",)),
                                       (encoder, tmp_path / "encoder", ("sequence_output", "pooled_output"))):
        want = keras_outputs(keras_model, ids, mask, segments)
        out = tmp_path / f"{folder.name}_outputs"
        out.mkdir()
        by_ids = saved_model_cli_run(folder, "serving_default", id_inputs, out)
        by_text = saved_model_cli_run(folder, "serving_text", text_inputs, out)
        for name in names:  # the trained weights, not initial values: the variables were restored
            np.testing.assert_allclose(by_ids[name], want[name], atol=1e-5, err_msg=f"{folder.name} {name}")
            np.testing.assert_allclose(by_text[name], want[name], atol=1e-5, err_msg=f"{folder.name} {name}")
        for name, value in id_inputs.items():
            np.testing.assert_array_equal(by_text[name], value)
