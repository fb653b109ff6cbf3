"""convert_checkpoint.py as a user runs it: HF -> Google TF1 -> HF, and its error messages."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, UNCASED_VOCAB, need, run_oracle, simple_ids

SENTENCES = ["The quick brown fox jumps over the lazy dog. ||| It was not amused.",
             "Alice was beginning to get very tired of sitting by her sister on the bank"]


def run(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, str(ROOT / "convert_checkpoint.py"), *args],
                          capture_output=True, text=True, env=env, timeout=300)


def test_hf_to_tf1_writes_googles_layout_and_back(minilm_dir, tmp_path):
    prefix = tmp_path / "google" / "bert_model.ckpt"
    result = run(f"--hf_model_dir={minilm_dir}", f"--tf1_checkpoint={prefix}")
    assert result.returncode == 0, result.stderr
    names = sorted(os.listdir(prefix.parent))
    assert names == ["bert_config.json", "bert_model.ckpt.data-00000-of-00001",
                     "bert_model.ckpt.index", "checkpoint", "vocab.txt"]
    config = json.loads((prefix.parent / "bert_config.json").read_text())
    assert config["hidden_act"] == "gelu_exact" and config["hidden_size"] == 384
    assert "Google's modeling.py refuses that name" in result.stdout  # and the cost of "gelu"
    import tensorflow as tf
    variables = dict(tf.train.list_variables(str(prefix)))
    assert variables["bert/encoder/layer_5/intermediate/dense/kernel"] == [384, 1536]
    assert len(variables) == 103

    back = tmp_path / "hf"
    result = run(f"--tf1_checkpoint={prefix}", f"--hf_output_dir={back}")
    assert result.returncode == 0, result.stderr
    from safetensors.numpy import load_file
    original, again = load_file(str(minilm_dir / "model.safetensors")), load_file(str(back / "model.safetensors"))
    for name, value in again.items():
        np.testing.assert_array_equal(value, original[name])


def test_bad_invocations_exit_nonzero_with_a_clear_message(tmp_path):
    result = run(f"--tf1_checkpoint={tmp_path}/x.ckpt")
    assert result.returncode == 2 and "give an input" in result.stderr
    result = run(f"--hf_model_dir={tmp_path}", f"--init_checkpoint={tmp_path}")
    assert result.returncode == 2 and "give one input" in result.stderr
    result = run(f"--hf_model_dir={tmp_path}", f"--tf1_checkpoint={tmp_path}/x.ckpt")
    assert result.returncode == 2 and "config.json is missing" in result.stderr
    result = run(f"--tf1_checkpoint={tmp_path}/none.ckpt", f"--hf_output_dir={tmp_path}/out")
    assert result.returncode == 2 and "none.ckpt.index does not exist" in result.stderr
    assert "bert_config.json" not in result.stderr  # the checkpoint is what is missing
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------- a pretraining run's checkpoint
GOLDEN_HF = ROOT / "tests" / "golden" / "hf_bert_for_pretraining.json"
SEQ, PRED = 32, 5


@pytest.fixture(scope="module")
def pretrained_run(tmp_path_factory):
    """A run_pretraining.py model folder after 3 steps of the micro BERT whose HuggingFace
    keys are in the golden file (its config), with the input iterator in the checkpoint."""
    from bert_tf.config import BertConfig
    from bert_tf.data import pretraining_job
    root = tmp_path_factory.mktemp("pretrained_run")
    pretraining_job.run(pretraining_job.JobOptions(
        input_files=[str(need("pretrain_text/gutenberg_nltk/chesterton-brown.txt"))],
        vocab_file=str(need(UNCASED_VOCAB)), output_files=[str(root / "a.tfrecord")],
        max_seq_length=SEQ, max_predictions_per_seq=PRED, dupe_factor=1))
    golden = json.loads(GOLDEN_HF.read_text())
    BertConfig.from_hf_dict(golden["config"]).to_json_file(root / "bert_config.json")
    result = subprocess.run(
        [sys.executable, str(ROOT / "run_pretraining.py"), f"--bert_config_file={root}/bert_config.json",
         f"--input_file={root}/a.tfrecord", f"--output_dir={root}/model", "--do_train",
         f"--max_seq_length={SEQ}", f"--max_predictions_per_seq={PRED}", "--train_batch_size=4",
         "--num_train_steps=3", "--num_warmup_steps=1", "--learning_rate=1e-3",
         "--iterations_per_loop=3", "--save_checkpoints_steps=3", f"--export_tf1_dir={root}/google",
         f"--vocab_file={need(UNCASED_VOCAB)}"],
        capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return root


def test_run_pretraining_writes_googles_layout_itself_and_the_issues_command_runs(pretrained_run, tmp_path):
    from bert_tf import checkpoints
    root = pretrained_run
    assert sorted(os.listdir(root / "google")) == [
        "bert_config.json", "bert_model.ckpt.data-00000-of-00001", "bert_model.ckpt.index",
        "checkpoint", "vocab.txt"]
    _, exported = checkpoints.read_checkpoint(str(root / "google" / "bert_model.ckpt"))
    _, trained = checkpoints.read_checkpoint(str(root / "model"))
    assert exported.keys() == trained.keys()
    for name in trained:
        np.testing.assert_array_equal(exported[name], trained[name], err_msg=name)
    # as a user types it: the config is found beside the training checkpoint
    result = run(f"--tf1_checkpoint={root}/model/model.ckpt-3", f"--hf_output_dir={tmp_path}/hf")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "hf" / "model.safetensors").exists()


def test_training_checkpoint_to_google_and_hf_layouts(pretrained_run, tmp_path):
    root = pretrained_run
    google, hf = tmp_path / "google" / "bert_model.ckpt", tmp_path / "hf"
    result = run(f"--init_checkpoint={root / 'model'}", f"--bert_config_file={root / 'bert_config.json'}",
                 f"--vocab_file={need(UNCASED_VOCAB)}", f"--tf1_checkpoint={google}",
                 f"--hf_output_dir={hf}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "(Google's TF1 layout)" in result.stderr and "(HuggingFace layout)" in result.stderr
    assert "iterator" in result.stderr and "optimizer/packed_m" in result.stderr  # left out, said so
    assert sorted(os.listdir(google.parent)) == [
        "bert_config.json", "bert_model.ckpt.data-00000-of-00001", "bert_model.ckpt.index",
        "checkpoint", "vocab.txt"]
    import tensorflow as tf
    from bert_tf import checkpoints
    names = dict(tf.train.list_variables(str(google)))
    assert all(n.startswith(("bert/", "cls/")) for n in names) and len(names) == 23 + 7

    # Google's modeling.py loads every encoder variable by name and computes what we do
    from bert_tf.config import BertConfig
    from bert_tf.heads import BertModel
    config = BertConfig.from_json_file(google.parent / "bert_config.json")
    ids, mask, types = simple_ids(need(UNCASED_VOCAB), SENTENCES, SEQ)
    np.savez(tmp_path / "in.npz", input_ids=ids, input_mask=mask, segment_ids=types)
    printed = run_oracle("google_modeling.py", google.parent / "bert_config.json", google,
                         tmp_path / "in.npz", tmp_path / "out.npz")
    assert "loaded 23 variables" in printed  # all of the encoder's, none at random
    ours = BertModel(config).build_for()
    checkpoints.init_from_checkpoint(ours, str(root / "model"))  # the training checkpoint itself
    out = ours({"input_ids": ids, "input_mask": mask, "segment_ids": types})
    want = np.load(tmp_path / "out.npz")
    np.testing.assert_allclose(out["sequence_output"].numpy(), want["sequence_output"], atol=1e-5)
    np.testing.assert_allclose(out["pooled_output"].numpy(), want["pooled_output"], atol=1e-5)

    # HuggingFace layout: exactly the tensors transformers' BertForPreTraining saves (golden),
    # and our reader gives back the training weights bit for bit
    from safetensors import safe_open
    with safe_open(str(hf / "model.safetensors"), "np") as f:
        saved = {k: list(f.get_slice(k).get_shape()) for k in f.keys()}
    assert saved == json.loads(GOLDEN_HF.read_text())["saved"]
    hf_config = json.loads((hf / "config.json").read_text())
    assert hf_config["architectures"] == ["BertForPreTraining"] and hf_config["hidden_act"] == "gelu_new"
    _, back, _ = checkpoints.read_hf(str(hf))
    _, trained = checkpoints.read_checkpoint(str(root / "model"))
    assert back.keys() == trained.keys()
    for name in trained:
        np.testing.assert_array_equal(back[name], trained[name], err_msg=name)


def test_hf_layout_loads_into_transformers_with_equal_outputs(pretrained_run, tmp_path):
    """The real client, where the bench env is (not under CI): BertForPreTraining loads the
    converted folder with no missing, unexpected or mismatched key and computes our logits."""
    from conftest import bench_python, run_bench_oracle
    if bench_python() is None:
        pytest.skip("no bench env with transformers (bench/setup_bench_env.sh)")
    root = pretrained_run
    result = run(f"--tf1_checkpoint={root / 'model' / 'model.ckpt-3'}",
                 f"--bert_config_file={root / 'bert_config.json'}", f"--hf_output_dir={tmp_path / 'hf'}")
    assert result.returncode == 0, result.stderr[-3000:]
    ids, mask, types = simple_ids(need(UNCASED_VOCAB), SENTENCES, SEQ)
    np.savez(tmp_path / "in.npz", input_ids=ids, input_mask=mask, segment_ids=types)
    printed = run_bench_oracle("hf_pretraining_forward.py", tmp_path / "hf", tmp_path / "in.npz",
                               tmp_path / "out.npz")
    assert "no missing, unexpected or mismatched keys" in printed
    from bert_tf import checkpoints
    from bert_tf.config import BertConfig
    from bert_tf.export import task_outputs
    from bert_tf.heads import BertPretrainingModel
    from bert_tf.tasks.pretraining import PretrainingTask
    config = BertConfig.from_json_file(root / "bert_config.json")
    model = BertPretrainingModel(config).build_for()
    checkpoints.load_tf1(model, str(root / "model"))  # README's call, on the training folder
    ours = task_outputs(PretrainingTask(config, SEQ, PRED), model,
                        {"input_ids": ids, "input_mask": mask, "segment_ids": types})
    want = np.load(tmp_path / "out.npz")
    np.testing.assert_allclose(ours["masked_lm_logits"].numpy(), want["prediction_logits"], atol=1e-4)
    np.testing.assert_allclose(ours["next_sentence_logits"].numpy(), want["seq_relationship_logits"],
                               atol=1e-5)


# ---------------------------------------------------------------------- NVIDIA's PyTorch files
@pytest.fixture(scope="module")
def nvidia_reference(tmp_path_factory):
    """The formula weights of the .pt fixtures written as a HuggingFace folder and converted to
    Google's layout by --hf_model_dir: what --pytorch_checkpoint must give."""
    sys.path.insert(0, str(ROOT / "tests" / "oracles"))
    import nvidia_bert_weights as w
    from safetensors.numpy import save_file
    from bert_tf import checkpoints
    from bert_tf.config import BertConfig
    root = tmp_path_factory.mktemp("nvidia_reference")
    config = BertConfig.from_dict(w.CONFIG)
    config.to_json_file(root / "bert_config.json")
    out = {}
    for heads in ("pretraining", "squad"):
        hf = root / f"hf_{heads}"
        hf.mkdir()
        save_file({w.to_hf_name(k): v for k, v in w.weights(heads=heads).items()}, str(hf / "model.safetensors"))
        (hf / "config.json").write_text(json.dumps(config.to_hf_dict()))
        checkpoints.convert_hf_to_tf1(str(hf), str(root / heads / "bert_model.ckpt"))
        out[heads] = checkpoints.read_tf1(str(root / heads / "bert_model.ckpt"))
    return root, out


def test_pytorch_checkpoints_equal_the_huggingface_conversion(nvidia_reference, tmp_path):
    sys.path.insert(0, str(ROOT / "tests"))
    from test_torch_checkpoint import COMMITTED, FILES, rounded
    from bert_tf import checkpoints
    root, reference = nvidia_reference
    for file, (heads, dtype, _) in FILES.items():
        prefix = tmp_path / file / "bert_model.ckpt"
        _, names, left_out = checkpoints.convert_pytorch(str(COMMITTED / file), str(prefix),
                                                         bert_config_file=str(root / "bert_config.json"))
        got = checkpoints.read_tf1(str(prefix))
        assert got.keys() == reference[heads].keys(), file
        for name, value in reference[heads].items():
            np.testing.assert_array_equal(got[name], rounded(value, dtype), err_msg=f"{file} {name}")
        assert ("cls.predictions.decoder.weight" in left_out) == (heads == "pretraining")


def test_pytorch_checkpoint_by_the_script(nvidia_reference, tmp_path):
    """convert_checkpoint.py --pytorch_checkpoint, as a user runs it (no PyTorch here)."""
    from bert_tf import checkpoints
    root, reference = nvidia_reference
    pt = ROOT / "tests" / "golden" / "torch" / "nvidia_fp32_legacy.pt"
    prefix = tmp_path / "google" / "bert_model.ckpt"
    result = run(f"--pytorch_checkpoint={pt}", f"--bert_config_file={root / 'bert_config.json'}",
                 f"--tf1_checkpoint={prefix}", f"--hf_output_dir={tmp_path / 'hf'}")
    assert result.returncode == 0, result.stderr[-3000:]
    got = checkpoints.read_tf1(str(prefix))
    for name, value in reference["pretraining"].items():
        np.testing.assert_array_equal(got[name], value, err_msg=name)
    _, hf_arrays, _ = checkpoints.read_hf(str(tmp_path / "hf"))
    assert hf_arrays.keys() == got.keys()
    result = run(f"--pytorch_checkpoint={pt}", f"--tf1_checkpoint={prefix}")
    assert result.returncode == 2 and "needs --bert_config_file" in result.stderr
