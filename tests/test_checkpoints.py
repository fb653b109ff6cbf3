"""Checkpoint mapping: Google's real checkpoint names, HF import, TF1 export, round trips."""

import json

import numpy as np
import pytest

from bert_tf import checkpoints
from bert_tf.config import BertConfig, preset
from bert_tf.heads import (BertClassifierModel, BertModel, BertPretrainingModel, BertSpanModel,
                           BertTaggerModel)
from conftest import ROOT, need, run_oracle, simple_ids
import numpy_bert

CHINESE = "bert_google/chinese_L-12_H-768_A-12"
SENTENCES = [
    "The quick brown fox jumps over the lazy dog. ||| It was not amused.",
    "BERT is a bidirectional transformer pretrained on unlabeled text",
    "Alice was beginning to get very tired of sitting by her sister on the bank",
]


def test_google_chinese_checkpoint_names_and_shapes_are_covered_one_to_one():
    config = BertConfig.from_json_file(need(f"{CHINESE}/bert_config.json"))
    google = checkpoints.list_tf1(str(need(f"{CHINESE}/bert_model.ckpt.index"))[:-len(".index")])
    ours = {n: tuple(v.shape) for n, v in BertPretrainingModel(config).build_for().tf1_weights().items()}
    assert len(google) == 206
    assert ours == google


@pytest.fixture(scope="module")
def minilm_tf1(minilm_dir, tmp_path_factory):
    """MiniLM converted HF -> Google TF1 by the converter's library call."""
    out = tmp_path_factory.mktemp("minilm_tf1") / "bert_model.ckpt"
    config, names, ignored = checkpoints.convert_hf_to_tf1(str(minilm_dir), str(out))
    assert ignored == ["embeddings.position_ids"] or ignored == []
    return out, config


def _inputs(config_dir_vocab, seq=24):
    return simple_ids(config_dir_vocab, SENTENCES, seq)


@pytest.mark.parametrize("act", ["gelu", "gelu_exact"])
def test_minilm_through_tf1_matches_numpy_float64(minilm_tf1, act):
    prefix, config = minilm_tf1
    assert config.hidden_act == "gelu_exact"  # HF's "gelu" is the erf form
    config = config.replace(hidden_act=act)
    model = BertModel(config).build_for()
    report = checkpoints.load_tf1(model, str(prefix))
    assert report.missing == [] and len(report.loaded) == 6 * 16 + 7
    ids, mask, types = _inputs(prefix.parent / "vocab.txt")
    out = model({"input_ids": ids, "input_mask": mask, "segment_ids": types})
    weights = checkpoints.read_tf1(str(prefix))
    seq_ref, pooled_ref, layers_ref = numpy_bert.forward(weights, ids, mask, types, 6, 12, act=act)
    assert np.abs(out["sequence_output"].numpy() - seq_ref).max() < 1e-5
    assert np.abs(out["pooled_output"].numpy() - pooled_ref).max() < 1e-5
    for ours, ref in zip(out["all_layers"], layers_ref):
        assert np.abs(ours.numpy() - ref).max() < 1e-5


def test_minilm_matches_googles_own_modeling_py(minilm_tf1, tmp_path):
    prefix, config = minilm_tf1
    config = config.replace(hidden_act="gelu")
    config_path = tmp_path / "bert_config.json"
    config.to_json_file(config_path)
    ids, mask, types = _inputs(prefix.parent / "vocab.txt")
    np.savez(tmp_path / "in.npz", input_ids=ids, input_mask=mask, segment_ids=types)
    run_oracle("google_modeling.py", config_path, prefix, tmp_path / "in.npz", tmp_path / "out.npz")
    google = np.load(tmp_path / "out.npz")
    model = BertModel(config).build_for()
    checkpoints.load_tf1(model, str(prefix))
    out = model({"input_ids": ids, "input_mask": mask, "segment_ids": types})
    assert np.abs(out["sequence_output"].numpy() - google["sequence_output"]).max() < 1e-5
    assert np.abs(out["pooled_output"].numpy() - google["pooled_output"]).max() < 1e-5
    for i, ours in enumerate(out["all_layers"]):
        assert np.abs(ours.numpy() - google[f"layer_{i}"]).max() < 1e-5


def test_minilm_tf1_back_to_hf_is_exact(minilm_dir, minilm_tf1, tmp_path):
    from safetensors.numpy import load_file
    prefix, _ = minilm_tf1
    checkpoints.convert_tf1_to_hf(str(prefix), str(tmp_path / "hf"))
    original = load_file(str(minilm_dir / "model.safetensors"))
    back = load_file(str(tmp_path / "hf" / "model.safetensors"))
    assert set(back) == set(original) - {"embeddings.position_ids"}
    for name, value in back.items():
        np.testing.assert_array_equal(value, original[name])
    hf_config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert hf_config["hidden_act"] == "gelu" and hf_config["num_hidden_layers"] == 6
    assert (tmp_path / "hf" / "vocab.txt").read_bytes() == (minilm_dir / "vocab.txt").read_bytes()


@pytest.mark.parametrize("model_cls,args", [(BertPretrainingModel, ()), (BertSpanModel, ()),
                                            (BertClassifierModel, (3,)), (BertTaggerModel, (5,))])
def test_ours_to_tf1_to_ours_is_exact(tmp_path, model_cls, args):
    config = preset("tiny", vocab_size=99)
    first = model_cls(config, *args).build_for()
    checkpoints.save_tf1(first, str(tmp_path / "model.ckpt"), config)
    second = model_cls(config, *args).build_for()
    report = checkpoints.load_tf1(second, str(tmp_path / "model.ckpt"))
    assert report.missing == [] and report.unused == []
    a, b = checkpoints.model_tf1_arrays(first), checkpoints.model_tf1_arrays(second)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    assert BertConfig.from_json_file(tmp_path / "bert_config.json") == config


def test_report_names_new_heads_and_ignored_optimizer_slots(tmp_path):
    config = preset("micro", vocab_size=50)
    arrays = checkpoints.model_tf1_arrays(BertPretrainingModel(config).build_for())
    arrays["bert/pooler/dense/kernel/adam_m"] = np.zeros([32, 32], np.float32)
    arrays["global_step"] = np.int64(7)
    checkpoints.write_tf1(str(tmp_path / "bert_model.ckpt"), arrays)
    report = checkpoints.load_tf1(BertSpanModel(config).build_for(), str(tmp_path / "bert_model.ckpt"))
    assert report.missing == ["cls/squad/output_bias", "cls/squad/output_weights"]
    assert "global_step" in report.unused and "bert/pooler/dense/kernel/adam_m" in report.unused
    assert "cls/predictions/output_bias" in report.unused
    assert "not in the checkpoint" in report.summary()


def test_mismatched_config_names_variable_and_both_shapes(tmp_path):
    small = preset("micro", vocab_size=50)
    checkpoints.save_tf1(BertModel(small).build_for(), str(tmp_path / "bert_model.ckpt"))
    wider = small.replace(hidden_size=64, num_attention_heads=2)
    with pytest.raises(checkpoints.CheckpointError) as e:
        checkpoints.load_tf1(BertModel(wider).build_for(), str(tmp_path / "bert_model.ckpt"))
    message = str(e.value)
    assert "bert/embeddings/word_embeddings" in message
    assert "(50, 32)" in message and "(50, 64)" in message and "bert_config_file" in message


def test_missing_checkpoint_and_unrelated_checkpoint_are_clear_errors(tmp_path):
    model = BertModel(preset("micro", vocab_size=50)).build_for()
    with pytest.raises(checkpoints.CheckpointError, match="does not exist"):
        checkpoints.load_tf1(model, str(tmp_path / "nothing.ckpt"))
    checkpoints.write_tf1(str(tmp_path / "other.ckpt"), {"foo/bar": np.zeros(3, np.float32)})
    with pytest.raises(checkpoints.CheckpointError, match="none of its variables"):
        checkpoints.load_tf1(model, str(tmp_path / "other.ckpt"))


def test_write_tf1_leaves_nothing_half_written_on_failure(tmp_path):
    with pytest.raises(Exception):
        checkpoints.write_tf1(str(tmp_path / "x.ckpt"), {"a": object()})
    assert list(tmp_path.iterdir()) == []


def test_hf_and_tf1_names_translate_both_ways():
    config = preset("micro", vocab_size=50)
    names = list(BertPretrainingModel(config).build_for().tf1_weights())
    names += ["cls/squad/output_weights", "output_bias"]
    for name in names:
        hf, transpose = checkpoints.tf1_to_hf_name(name)
        assert checkpoints.hf_to_tf1_name(hf) == (name, transpose)
    assert checkpoints.tf1_to_hf_name("bert/encoder/layer_3/attention/self/query/kernel") == (
        "encoder.layer.3.attention.self.query.weight", True)
    assert checkpoints.hf_to_tf1_name("bert.embeddings.LayerNorm.gamma") == (
        "bert/embeddings/LayerNorm/gamma", False)
    assert checkpoints.tf1_to_hf_name("cls/squad/output_weights") == ("qa_outputs.weight", False)


# ---------------------------------------------------------------------- NEZHA
def _nezha_case():
    import nezha_case
    return nezha_case


def test_nezha_matches_huggingface_golden():
    """Our NEZHA against HuggingFace's NezhaModel (PyTorch) on real Chinese text of 140 tokens
    (> 2K + 1 = 129, so distances are clipped): tests/golden/nezha_hf.npz, written by
    tests/oracles/make_nezha_golden.py with the bench env (CI has none)."""
    case = _nezha_case()
    golden = np.load(ROOT / "tests" / "golden" / "nezha_hf.npz")
    ids, mask, types = case.inputs(need(case.TEXT), need(case.CHINESE_VOCAB))
    for name, ours in (("input_ids", ids), ("input_mask", mask), ("segment_ids", types)):
        np.testing.assert_array_equal(golden[name], ours)  # the real text, tokenized as then
    assert mask[0].sum() == case.SEQ > 2 * case.CONFIG["max_relative_position"] + 1
    config, model, arrays = case.model_and_weights()
    assert case.checksum(arrays) == pytest.approx(float(golden["weights_checksum"]), rel=1e-12), \
        "nezha_case.weights draws differently now: rerun tests/oracles/make_nezha_golden.py"
    out = model({"input_ids": ids, "input_mask": mask, "segment_ids": types})
    for i, ours in enumerate(out["all_layers"]):
        assert np.abs(ours.numpy() - golden["layers"][i]).max() < 1e-5, f"layer {i}"
    assert np.abs(out["pooled_output"].numpy() - golden["pooled_output"]).max() < 1e-5


def test_nezha_huggingface_layout_in_and_out_with_the_real_client(tmp_path):
    """With the bench env: HF's NezhaForPreTraining loads what we write (no missing or
    unexpected weight, `nezha.` prefix, heads), computes our hidden states, and what it saves
    reads back to our arrays exactly. Skipped without the bench env (CI: the golden test)."""
    case = _nezha_case()
    if case.bench_python() is None:
        pytest.skip("no bench env (bench/setup_bench_env.sh; BERT_TF_BENCH_VENV)")
    config, model, arrays = case.model_and_weights(BertPretrainingModel)
    ids, mask, types = case.inputs(need(case.TEXT), need(case.CHINESE_VOCAB))
    checkpoints.write_hf(str(tmp_path / "ours"), config, arrays)
    hf_config = json.loads((tmp_path / "ours" / "config.json").read_text())
    assert hf_config["architectures"] == ["NezhaForPreTraining"]
    np.savez(tmp_path / "in.npz", input_ids=ids, input_mask=mask, segment_ids=types)
    case.run_hf_oracle(tmp_path / "ours", tmp_path / "in.npz", tmp_path / "out.npz", tmp_path / "theirs")
    hf = np.load(tmp_path / "out.npz")
    out = model.encode({"input_ids": ids, "input_mask": mask, "segment_ids": types}, False, True)
    for i, ours in enumerate(out["all_layers"]):
        assert np.abs(ours.numpy() - hf["hidden_states"][i + 1]).max() < 1e-5, f"layer {i}"
    back_config, back, ignored = checkpoints.read_hf(str(tmp_path / "theirs"))
    assert back_config == config and set(back) == set(arrays)
    for name in arrays:
        np.testing.assert_array_equal(back[name], arrays[name])


def test_nezha_tf1_round_trip_has_no_position_or_relative_variable(tmp_path):
    config = preset("micro", vocab_size=60, use_relative_position=True)
    first = BertPretrainingModel(config).build_for()
    checkpoints.save_tf1(first, str(tmp_path / "model.ckpt"), config)
    names = checkpoints.list_tf1(str(tmp_path / "model.ckpt"))
    assert "bert/embeddings/position_embeddings" not in names
    assert not [n for n in names if "relative" in n]
    second = BertPretrainingModel(BertConfig.from_json_file(tmp_path / "bert_config.json")).build_for()
    report = checkpoints.init_from_checkpoint(second, str(tmp_path / "model.ckpt"))
    assert report.missing == [] and report.unused == []
    for name, value in checkpoints.model_tf1_arrays(first).items():
        np.testing.assert_array_equal(value, checkpoints.model_tf1_arrays(second)[name])


@pytest.mark.parametrize("saved_relative", [True, False])
def test_bert_and_nezha_checkpoints_refuse_the_other_config_naming_both_files(tmp_path, saved_relative):
    saved = preset("micro", vocab_size=60, use_relative_position=saved_relative)
    checkpoints.save_tf1(BertModel(saved).build_for(), str(tmp_path / "model.ckpt"))
    other = saved.replace(use_relative_position=not saved_relative)
    other.to_json_file(tmp_path / "other_config.json")
    other = BertConfig.from_json_file(tmp_path / "other_config.json")
    with pytest.raises(checkpoints.CheckpointError) as e:
        checkpoints.init_from_checkpoint(BertModel(other).build_for(), str(tmp_path / "model.ckpt"))
    message = str(e.value)
    assert "\n" not in message and "bert/embeddings/position_embeddings" in message
    assert str(tmp_path / "model.ckpt") in message and str(tmp_path / "other_config.json") in message
    assert ("lacks" if saved_relative else "has") in message


def test_hf_nezha_stored_relative_tables_are_checked_then_ignored(tmp_path):
    from bert_tf.modeling import relative_position_encoding
    from safetensors.numpy import load_file, save_file
    config = preset("micro", vocab_size=60, use_relative_position=True, max_position_embeddings=20,
                    max_relative_position=5)
    arrays = checkpoints.model_tf1_arrays(BertModel(config).build_for())
    checkpoints.write_hf(str(tmp_path / "hf"), config, arrays)
    weights = load_file(str(tmp_path / "hf" / "model.safetensors"))
    assert not [n for n in weights if "relative" in n or "position_embeddings" in n]
    name = "encoder.layer.0.attention.self.relative_positions_encoding.positions_encoding"
    for k, ok in ((5, True), (4, False)):
        table = relative_position_encoding(20, k, config.head_size).numpy()
        save_file(dict(weights, **{name: table}), str(tmp_path / "hf" / "model.safetensors"))
        if ok:
            _, back, ignored = checkpoints.read_hf(str(tmp_path / "hf"))
            assert name in ignored and set(back) == set(arrays)
        else:
            with pytest.raises(checkpoints.CheckpointError, match="max_relative_position=5"):
                checkpoints.read_hf(str(tmp_path / "hf"))


def test_nezha_hf_names_take_the_nezha_prefix():
    assert checkpoints.hf_to_tf1_name("nezha.encoder.layer.1.output.dense.weight") == (
        "bert/encoder/layer_1/output/dense/kernel", True)
    assert checkpoints.hf_to_tf1_name("nezha.embeddings.word_embeddings.weight") == (
        "bert/embeddings/word_embeddings", False)

def _training_checkpoint(model, model_dir):
    """A checkpoint as run_pretraining.py writes one: the Google-named variables, an optimizer
    slot, the step, and a tf.data iterator (whose state NumPy cannot hold)."""
    import tensorflow as tf
    iterator = iter(tf.data.Dataset.range(10))
    next(iterator)
    slot = tf.Variable(np.ones([3], np.float32))
    ckpt = tf.train.Checkpoint(variables=dict(model.tf1_weights()), optimizer={"packed_m": slot},
                               global_step=tf.Variable(3, dtype=tf.int64), iterator=iterator)
    return tf.train.CheckpointManager(ckpt, str(model_dir), 2, checkpoint_name="model.ckpt").save(3)


def test_training_checkpoints_load_by_load_tf1_and_convert(tmp_path):
    config = preset("micro", vocab_size=50)
    trained = BertPretrainingModel(config).build_for()
    prefix = _training_checkpoint(trained, tmp_path / "run")
    for path in (prefix, str(tmp_path / "run")):  # a step, or the folder's latest
        again = BertPretrainingModel(config).build_for()
        report = checkpoints.load_tf1(again, path)
        assert report.missing == [] and report.unused == [] and report.source == prefix
        for name, value in checkpoints.model_tf1_arrays(trained).items():
            np.testing.assert_array_equal(again.tf1_weights()[name].numpy(), value)
    config.to_json_file(tmp_path / "bert_config.json")
    _, names, dropped = checkpoints.convert_checkpoint(
        str(tmp_path / "run"), tf1_prefix=str(tmp_path / "google" / "bert_model.ckpt"),
        bert_config_file=str(tmp_path / "bert_config.json"))
    assert {"iterator", "optimizer/packed_m", "global_step"} <= set(dropped)
    assert sorted(checkpoints.read_tf1(str(tmp_path / "google" / "bert_model.ckpt"))) == names
    with pytest.raises(checkpoints.CheckpointError, match="no bert_config.json beside it"):
        checkpoints.convert_checkpoint(str(tmp_path / "run"), hf_output_dir=str(tmp_path / "hf"))


def test_export_google_layout_writes_weights_only_and_guards_its_folder(tmp_path):
    config = preset("micro", vocab_size=50)
    model = BertPretrainingModel(config).build_for()
    named = dict(model.tf1_weights(), **{"bert/pooler/dense/kernel/adam_m": np.zeros([32, 32]),
                                         "global_step": np.int64(4)})
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("[PAD]\n[UNK]\n")
    prefix = checkpoints.export_google_layout(named, tmp_path / "google", config, str(vocab))
    assert sorted(checkpoints.list_tf1(prefix)) == sorted(model.tf1_weights())
    assert sorted(p.name for p in (tmp_path / "google").iterdir()) == [
        "bert_config.json", "bert_model.ckpt.data-00000-of-00001", "bert_model.ckpt.index",
        "checkpoint", "vocab.txt"]
    assert BertConfig.from_json_file(tmp_path / "google" / "bert_config.json") == config
    _training_checkpoint(model, tmp_path / "run")
    with pytest.raises(checkpoints.CheckpointError, match="holds a training run's checkpoints"):
        checkpoints.export_google_layout(model, tmp_path / "run", config)
    with pytest.raises(checkpoints.CheckpointError, match=r"\(50, 32\), but the config .* \(50, 64\)"):
        checkpoints.export_google_layout(model, tmp_path / "wide", config.replace(hidden_size=64))
    assert not (tmp_path / "wide").exists()


def test_google_activation_note_names_gelu_exact():
    assert checkpoints.google_activation_note(preset("micro")) is None
    note = checkpoints.google_activation_note(preset("micro", hidden_act="gelu_exact"))
    assert "modeling.py refuses" in note and checkpoints.GELU_SWITCH_ERROR in note


def test_pytorch_names_and_an_untied_decoder():
    config = preset("micro", vocab_size=50)
    arrays = checkpoints.model_tf1_arrays(BertPretrainingModel(config).build_for())
    state = {}
    for name, value in arrays.items():
        hf, transpose = checkpoints.tf1_to_hf_name(name)
        hf = hf if hf.startswith("cls") else "module.bert." + hf
        state[hf.replace("intermediate.dense.", "intermediate.dense_act.")] = value.T if transpose else value
    state["cls.predictions.decoder.weight"] = arrays["bert/embeddings/word_embeddings"]
    got, left_out = checkpoints.pytorch_to_tf1(state)
    assert left_out == ["cls.predictions.decoder.weight"] and got.keys() == arrays.keys()
    for name in arrays:
        np.testing.assert_array_equal(got[name], arrays[name])
    state["cls.predictions.decoder.weight"] = state["cls.predictions.decoder.weight"] + 1
    with pytest.raises(checkpoints.CheckpointError, match="differs from the word embeddings"):
        checkpoints.pytorch_to_tf1(state)


def test_hf_config_names_the_class_of_the_heads(tmp_path):
    config = preset("micro", vocab_size=50)
    cases = {"pretraining": (BertPretrainingModel(config), ["BertForPreTraining"]),
             "squad": (BertSpanModel(config), ["BertForQuestionAnswering"]),
             "classifier": (BertClassifierModel(config, 3), [])}
    for name, (model, architectures) in cases.items():
        checkpoints.write_hf(str(tmp_path / name), config, checkpoints.model_tf1_arrays(model.build_for()))
        hf = json.loads((tmp_path / name / "config.json").read_text())
        assert hf["architectures"] == architectures, name
    assert hf["id2label"] == {"0": "LABEL_0", "1": "LABEL_1", "2": "LABEL_2"}
