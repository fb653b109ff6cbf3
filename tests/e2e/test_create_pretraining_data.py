"""create_pretraining_data.py as a user runs it, against Google's own script (the oracle)."""

import hashlib
import json
import os
import subprocess
import sys

import pytest

from bert_tf import records
from conftest import ROOT, need, run_oracle

UNCASED = "bert_google/uncased_L-12_H-768_A-12/vocab.txt"
CHINESE = "bert_google/chinese_L-12_H-768_A-12/vocab.txt"
SAMPLE = "pretrain_text/sample_text.txt"
BOOK = "pretrain_text/gutenberg_nltk/austen-persuasion.txt"
NEWS = "pretrain_text_zh/news_zh_1.txt"


def ours(*flags, check=True):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run([sys.executable, str(ROOT / "create_pretraining_data.py"), *flags],
                            capture_output=True, text=True, env=env, timeout=600)
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def google(tmp_path, *flags):
    out = tmp_path / "google.tfrecord"
    run_oracle("google_pretraining_data.py", f"--output_file={out}", *flags)
    return out


@pytest.mark.parametrize("corpus,vocab,flags", [
    (SAMPLE, UNCASED, []),
    (SAMPLE, UNCASED, ["--max_seq_length=64", "--max_predictions_per_seq=10", "--short_seq_prob=0.5",
                       "--masked_lm_prob=0.2", "--random_seed=7", "--dupe_factor=3"]),
    (BOOK, UNCASED, ["--dupe_factor=2"]),
    (NEWS, CHINESE, ["--dupe_factor=2", "--max_seq_length=96", "--max_predictions_per_seq=14"]),
])
def test_reference_mode_equals_googles_script_record_for_record(tmp_path, corpus, vocab, flags):
    common = [f"--input_file={need(corpus)}", f"--vocab_file={need(vocab)}", *flags]
    want = records.read_examples(str(google(tmp_path, *common)))
    ours(*common, f"--output_file={tmp_path / 'ours.tfrecord'}")
    got = records.read_examples(str(tmp_path / "ours.tfrecord"))
    assert len(got) == len(want) > 0
    assert got == want


def test_reference_mode_round_robin_over_several_output_files(tmp_path):
    common = [f"--input_file={need(SAMPLE)}", f"--vocab_file={need(UNCASED)}", "--dupe_factor=3"]
    outs = [tmp_path / f"g{i}.tfrecord" for i in range(3)]
    run_oracle("google_pretraining_data.py", "--output_file=" + ",".join(map(str, outs)), *common)
    mine = [tmp_path / f"o{i}.tfrecord" for i in range(3)]
    ours(*common, "--output_file=" + ",".join(map(str, mine)))
    for g, o in zip(outs, mine):
        assert records.read_examples(str(o)) == records.read_examples(str(g))


def _digest(examples):
    return hashlib.sha256(json.dumps(examples, sort_keys=True).encode()).hexdigest()


def test_whole_word_masking_equals_googles_current_algorithm_and_golden(tmp_path):
    """Golden made with: tests/oracles/google_pretraining_data.py --do_whole_word_mask
    --input_file=sample_text.txt --vocab_file=uncased vocab --dupe_factor=3, then
    {records, masked tokens, sha256 of json.dumps(records, sort_keys=True)}."""
    common = [f"--input_file={need(SAMPLE)}", f"--vocab_file={need(UNCASED)}", "--dupe_factor=3",
              "--do_whole_word_mask"]
    want = records.read_examples(str(google(tmp_path, *common)))
    ours(*common, f"--output_file={tmp_path / 'ours.tfrecord'}")
    got = records.read_examples(str(tmp_path / "ours.tfrecord"))
    assert got == want
    golden = json.loads((ROOT / "tests" / "golden" / "wwm_sample_text.json").read_text())
    assert {"records": len(got), "masked": sum(sum(e["masked_lm_weights"]) for e in got),
            "sha256": _digest(got)} == golden
    plain = records.read_examples(str(google(tmp_path, *common[:-1])))
    assert _digest(plain) != golden["sha256"]


def test_v2_names_gzip_and_summary(tmp_path):
    ours(f"--input_file={need(SAMPLE)}", f"--vocab_file={need(UNCASED)}", "--dupe_factor=1",
         "--use_v2_feature_names", "--gzip_compress", f"--output_dir={tmp_path / 'out'}",
         "--num_output_shards=2")
    files = sorted(os.listdir(tmp_path / "out"))
    assert files == ["part-00000-of-00002.tfrecord.gz", "part-00001-of-00002.tfrecord.gz",
                     "pretraining_data_summary.json"]
    first = records.read_examples(str(tmp_path / "out" / files[0]), compression="GZIP")
    assert set(first[0]) == {"input_word_ids", "input_mask", "input_type_ids", "masked_lm_positions",
                             "masked_lm_ids", "masked_lm_weights", "next_sentence_labels"}
    summary = json.loads((tmp_path / "out" / files[2]).read_text())
    second = records.read_examples(str(tmp_path / "out" / files[1]), compression="GZIP")
    assert summary["instances"] == len(first) + len(second)
    assert summary["masked_tokens"] == sum(sum(e["masked_lm_weights"]) for e in first + second)


def _stats(paths):
    examples = [e for p in paths for e in records.read_examples(str(p))]
    tokens = sum(sum(e["input_mask"]) for e in examples)
    return {"instances": len(examples), "tokens": tokens,
            "masked": sum(sum(e["masked_lm_weights"]) for e in examples) / tokens,
            "random_next": sum(e["next_sentence_labels"][0] for e in examples) / len(examples)}


def test_parallel_mode_is_deterministic_and_statistically_reference(tmp_path):
    corpus = need("pretrain_text/gutenberg_nltk")
    common = [f"--input_file={corpus}/austen-*.txt", f"--vocab_file={need(UNCASED)}", "--dupe_factor=2"]
    for run in ("a", "b"):
        ours(*common, "--mode=parallel", "--num_workers=2", f"--output_dir={tmp_path / run}",
             "--num_output_shards=4")
    shards = sorted(p for p in os.listdir(tmp_path / "a") if p.endswith(".tfrecord"))
    assert len(shards) == 4
    for name in shards:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    ours(*common, f"--output_file={tmp_path / 'ref.tfrecord'}")
    par = _stats([tmp_path / "a" / s for s in shards])
    ref = _stats([tmp_path / "ref.tfrecord"])
    assert abs(par["instances"] / ref["instances"] - 1) < 0.02
    assert abs(par["tokens"] / par["instances"] - ref["tokens"] / ref["instances"]) < 1.0
    assert abs(par["masked"] - ref["masked"]) < 0.002
    assert abs(par["random_next"] - ref["random_next"]) < 0.02
    # the records feed the model's parser
    import tensorflow as tf
    raw = next(iter(tf.data.TFRecordDataset(str(tmp_path / "a" / shards[0])).batch(4)))
    parsed = records.parse_pretraining(raw, 128, 20)
    assert parsed["input_ids"].shape == (4, 128) and parsed["masked_lm_weights"].dtype == tf.float32


# ---------------------------------------------------------------------- bad input
def test_bad_inputs_fail_clearly_and_write_nothing(tmp_path):
    vocab, text = need(UNCASED), need(SAMPLE)
    out = tmp_path / "o" / "x.tfrecord"
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n  \n")
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"PK\x03\x04\x00\x00binary")
    bad_vocab = tmp_path / "vocab.txt"
    bad_vocab.write_text("[PAD]\n[UNK]\n[CLS]\nhello\n")
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o500)
    cases = [
        ([f"--input_file={tmp_path}/nothing*.txt", f"--vocab_file={vocab}", f"--output_file={out}"],
         "nothing matches"),
        ([f"--input_file={empty}", f"--vocab_file={vocab}", f"--output_file={out}"], "no text in"),
        ([f"--input_file={binary}", f"--vocab_file={vocab}", f"--output_file={out}"], "not a text file"),
        ([f"--input_file={text}", f"--vocab_file={bad_vocab}", f"--output_file={out}"],
         r"lacks [SEP], [MASK]"),
        ([f"--input_file={text}", f"--vocab_file={vocab}", f"--output_file={out}",
          "--max_predictions_per_seq=200"], "--max_predictions_per_seq=200 must be between 1 and 125"),
        ([f"--input_file={text}", f"--vocab_file={vocab}", f"--output_file={out}",
          "--masked_lm_prob=1.5"], "--masked_lm_prob=1.5 must be in (0, 1)"),
        ([f"--input_file={text}", f"--vocab_file={vocab}", f"--output_file={out}", "--max_ngram_size=3"],
         "n-gram masking is not supported"),
        ([f"--input_file={text}", f"--vocab_file={vocab}", f"--output_file={out}", f"--output_dir={tmp_path}"],
         "exactly one of --output_file"),
    ]
    if os.geteuid() != 0:  # root writes anywhere
        cases.append(([f"--input_file={text}", f"--vocab_file={vocab}",
                       f"--output_file={readonly}/x.tfrecord"], "not writable"))
    for flags, message in cases:
        result = ours(*flags, check=False)
        assert result.returncode == 2, (flags, result.stderr[-2000:])
        assert message in result.stderr, (message, result.stderr[-2000:])
    assert not out.exists() and not list((tmp_path / "o").glob("*")) if (tmp_path / "o").exists() else True
