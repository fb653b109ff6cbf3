"""The reference NPU-like plugin (examples/npu_plugin): installed as a package, discovered
through its `bert_tf.devices` entry point, and honoured by real runs: every hook is called."""

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, UNCASED_VOCAB, need

PLUGIN = ROOT / "examples" / "npu_plugin"
sys.path.insert(0, str(PLUGIN))
import bert_tf_npu  # noqa: E402

from bert_tf.errors import UserError  # noqa: E402

ALL_HOOKS = {"init", "device_scope", "input_context", "compile_loop", "dtype_policy",
             "configure_training", "reduce_gradients", "broadcast", "reduce_metrics", "barrier"}


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory):
    """An environment in which the plugin is pip-installed (its entry point registered)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(PLUGIN)], check=True, capture_output=True, timeout=300)
    return dict(os.environ, PYTHONPATH=str(target), TF_CPP_MIN_LOG_LEVEL="2", RANK_ID="0",
                RANK_SIZE="1", DEVICE_ID="0")


def micro_pretraining_data(folder):
    """folder/data.tfrecord (seq 32, 5 predictions) and a micro folder/bert_config.json."""
    from bert_tf.config import preset
    from bert_tf.data import pretraining_job
    pretraining_job.run(pretraining_job.JobOptions(
        input_files=[str(need("pretrain_text/sample_text.txt"))], vocab_file=str(need(UNCASED_VOCAB)),
        output_files=[str(folder / "data.tfrecord")], max_seq_length=32, max_predictions_per_seq=5,
        dupe_factor=2))
    preset("micro", vocab_size=30522).to_json_file(folder / "bert_config.json")


def test_pretraining_on_the_plugin_calls_every_hook(plugin_env, tmp_path):
    micro_pretraining_data(tmp_path)
    trace = tmp_path / "trace.jsonl"
    env = dict(plugin_env, BERT_TF_NPU_TRACE=str(trace))
    result = subprocess.run(
        [sys.executable, str(ROOT / "run_pretraining.py"), "--device=npu",
         "--precision_mode=must_keep_origin_dtype", "--device_option=npu_bert_loss_scale=-1",
         "--device_option=npu_bert_clip_by_global_norm=false", "--npu_bert_use_tdt=true",
         f"--bert_config_file={tmp_path}/bert_config.json",
         f"--input_file={tmp_path}/data.tfrecord", f"--output_dir={tmp_path}/model", "--do_train",
         "--do_eval", "--max_seq_length=32", "--max_predictions_per_seq=5", "--train_batch_size=4",
         "--num_accumulation_steps=2", "--num_train_steps=4", "--num_warmup_steps=1",
         "--iterations_per_loop=2", "--max_eval_steps=2"],
        capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    calls = [json.loads(line) for line in trace.read_text().splitlines()]
    assert ALL_HOOKS <= {c["hook"] for c in calls}
    init = next(c for c in calls if c["hook"] == "init")
    assert init == {"hook": "init", "rank_id": 0, "rank_size": 1, "device_id": 0, "precision": "fp32",
                    "switches": {"npu_bert_use_tdt": True}}  # Ascend's NPU-only switch reaches the plugin
    assert {"hook": "configure_training", "loss_scale": -1.0, "optimizer": "set"} in calls
    assert {"hook": "device_scope", "device": "/CPU:0"} in calls  # no PluggableDevice named NPU here
    assert (tmp_path / "model" / "eval_results.txt").exists()


def test_a_vendors_tf_distribute_strategy_plugs_in(plugin_env, tmp_path):
    """--device=npu_mirrored: the plugin's own tf.distribute.MirroredStrategy behind the hook."""
    micro_pretraining_data(tmp_path)
    trace = tmp_path / "trace.jsonl"
    result = subprocess.run(
        [sys.executable, str(ROOT / "run_pretraining.py"), "--device=npu_mirrored",
         f"--bert_config_file={tmp_path}/bert_config.json", f"--input_file={tmp_path}/data.tfrecord",
         f"--output_dir={tmp_path}/model", "--do_train", "--max_seq_length=32", "--max_predictions_per_seq=5",
         "--train_batch_size=4", "--num_train_steps=4", "--num_warmup_steps=1", "--iterations_per_loop=2"],
        capture_output=True, text=True, env=dict(plugin_env, BERT_TF_NPU_TRACE=str(trace)), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "device: npu_mirrored over /job:localhost/replica:0/task:0/device:CPU:0" in result.stderr
    assert {"hook": "mirrored", "devices": ["/cpu:0"]} in [json.loads(x) for x in trace.read_text().splitlines()]
    assert (tmp_path / "model" / "model.ckpt-4.index").exists()


def test_unknown_device_lists_the_plugin(plugin_env, tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "run_pretraining.py"), "--device=tpu",
                             f"--bert_config_file={need('bert_google/uncased_L-12_H-768_A-12/bert_config.json')}", f"--output_dir={tmp_path}", "--do_train"],
                            capture_output=True, text=True, env=plugin_env, timeout=300)
    assert result.returncode == 2
    assert ("--device=tpu is unknown; available: auto, cpu, gpu, horovod, mirrored, multiworker, npu, "
            "npu_mirrored") in result.stderr


def test_precision_modes_map_to_policies(monkeypatch):
    monkeypatch.setenv("RANK_SIZE", "1")
    for mode, policy in [("allow_mix_precision", "mixed_float16"), ("must_keep_origin_dtype", "float32"),
                         ("allow_mix_precision_bf16", "mixed_bfloat16")]:
        assert bert_tf_npu.NpuStrategy(options={"precision_mode": mode}).dtype_policy() == policy
    with pytest.raises(UserError, match="--precision_mode=fast is unknown"):
        bert_tf_npu.NpuStrategy(options={"precision_mode": "fast"})
    with pytest.raises(UserError, match="does not take use_hccl"):
        bert_tf_npu.NpuStrategy(options={"use_hccl": "1"})


def _table(tmp_path, devices):
    path = tmp_path / "rank_table.json"
    path.write_text(json.dumps({"version": "1.0", "status": "completed", "server_count": "1",
                                "server_list": [{"server_id": "10.0.0.1", "device": [
                                    {"device_id": str(d), "device_ip": f"192.168.1.{d}", "rank_id": str(r)}
                                    for r, d in enumerate(devices)]}]}))
    return str(path)


def test_rank_discovery_from_the_ascend_environment(tmp_path):
    table = _table(tmp_path, [4, 5])
    info = bert_tf_npu.discover_ranks({"RANK_ID": "1", "RANK_SIZE": "2", "RANK_TABLE_FILE": table})
    assert info == bert_tf_npu.RankInfo(rank_id=1, rank_size=2, device_id=5)
    assert bert_tf_npu.discover_ranks({}) == bert_tf_npu.RankInfo(0, 1, 0)
    with pytest.raises(UserError, match="RANK_SIZE=2 needs RANK_TABLE_FILE"):
        bert_tf_npu.discover_ranks({"RANK_ID": "0", "RANK_SIZE": "2"})
    with pytest.raises(UserError, match="DEVICE_ID=0 but RANK_TABLE_FILE"):
        bert_tf_npu.discover_ranks({"RANK_ID": "0", "RANK_SIZE": "2", "DEVICE_ID": "0",
                                    "RANK_TABLE_FILE": table})
    with pytest.raises(UserError, match="lists ranks \\[0, 1\\], not 0..2"):
        bert_tf_npu.discover_ranks({"RANK_ID": "0", "RANK_SIZE": "3", "RANK_TABLE_FILE": table})
    with pytest.raises(UserError, match="RANK_ID=2 is outside RANK_SIZE=2"):
        bert_tf_npu.discover_ranks({"RANK_ID": "2", "RANK_SIZE": "2", "RANK_TABLE_FILE": table})
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(UserError, match="not an Ascend rank table"):
        bert_tf_npu.discover_ranks({"RANK_SIZE": "2", "RANK_TABLE_FILE": str(tmp_path / "bad.json")})


def test_squad_on_the_plugin_calls_every_hook(plugin_env, tiny_bert_dir, small_squad, tmp_path):
    trace = tmp_path / "trace.jsonl"
    env = dict(plugin_env, BERT_TF_NPU_TRACE=str(trace))
    result = subprocess.run(
        [sys.executable, str(ROOT / "run_squad.py"), "--device=npu", "--precision_mode=allow_mix_precision",
         "--npu_bert_loss_scale=0", f"--vocab_file={tiny_bert_dir}/vocab.txt",
         f"--bert_config_file={tiny_bert_dir}/bert_config.json",
         f"--init_checkpoint={tiny_bert_dir}/bert_model.ckpt", f"--output_dir={tmp_path}/out",
         "--do_train", f"--train_file={small_squad}/train-v2.0.json", "--version_2_with_negative",
         "--do_predict", f"--predict_file={small_squad}/dev-v2.0.json", "--max_seq_length=96",
         "--doc_stride=48", "--max_query_length=24", "--train_batch_size=8",
         "--num_accumulation_steps=2", "--num_train_steps=4", "--iterations_per_loop=2"],
        capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    calls = [json.loads(line) for line in trace.read_text().splitlines()]
    assert ALL_HOOKS <= {c["hook"] for c in calls}
    assert next(c for c in calls if c["hook"] == "init")["precision"] == "fp16"
    assert {"hook": "configure_training"} in calls  # --npu_bert_loss_scale=0 is --loss_scale=0 everywhere
    logged = json.loads((tmp_path / "out" / "log.jsonl").read_text().splitlines()[-1])
    assert logged["loss_scale"] >= 1.0  # dynamic float16 loss scaling
    assert (tmp_path / "out" / "null_odds.json").exists()
