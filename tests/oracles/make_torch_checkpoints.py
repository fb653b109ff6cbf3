"""Write NVIDIA-style PyTorch BERT checkpoints with the real torch.save (run where PyTorch is).

  python make_torch_checkpoints.py OUT_DIR

Writes, from the formula weights of nvidia_bert_weights.py (the tiny CONFIG):
  nvidia_fp32.pt         {'model', 'optimizer', 'grad_scaler', 'epoch'} as NVIDIA's current
                         run_pretraining.py saves (zip layout); Q/K/V are views into one fused
                         storage, one weight is a transposed (non-contiguous) view and the MLM
                         decoder shares the word-embedding storage, as in a tied model
  nvidia_fp16_module.pt  a bare fp16 state dict with DistributedDataParallel's `module.` prefix
  nvidia_fp32_legacy.pt  {'model', 'master params', 'files'} in PyTorch's pre-1.6 layout
  nvidia_squad_bf16.pt   {'model'} of a SQuAD model (bert.* + qa_outputs.*), bfloat16
The committed copies in tests/golden/torch/ were made by this script (torch 2.x, bench env).
"""

import collections
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nvidia_bert_weights as w  # noqa: E402


def state_dict(heads="pretraining", dtype=torch.float32, prefix=""):
    values = {k: torch.from_numpy(v).to(dtype) for k, v in w.weights(heads=heads).items()}
    layer0 = "bert.encoder.layer.0.attention.self."
    fused = torch.cat([values[layer0 + p + ".weight"] for p in ("query", "key", "value")])
    for i, p in enumerate(("query", "key", "value")):  # views at offsets into one storage
        h = values[layer0 + p + ".weight"].shape[0]
        values[layer0 + p + ".weight"] = fused[i * h:(i + 1) * h]
    name = "bert.encoder.layer.1.output.dense.weight"
    values[name] = values[name].t().contiguous().t()  # same values, column-major strides
    if heads == "pretraining":
        values["cls.predictions.decoder.weight"] = values["bert.embeddings.word_embeddings.weight"]
    out = collections.OrderedDict((prefix + k, values[k]) for k in sorted(values))
    out._metadata = collections.OrderedDict({"": {"version": 1}})
    return out


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    model = state_dict()
    exp_avg = torch.zeros(3, 4)
    torch.save({"model": model,
                "optimizer": {"state": {0: {"exp_avg": exp_avg, "step": 10}},
                              "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0]}]},
                "grad_scaler": {"scale": 65536.0, "_growth_tracker": 3}, "epoch": 2},
               os.path.join(out_dir, "nvidia_fp32.pt"))
    torch.save(state_dict(dtype=torch.float16, prefix="module."),
               os.path.join(out_dir, "nvidia_fp16_module.pt"))
    torch.save({"model": model, "master params": [torch.nn.Parameter(exp_avg)],
                "files": [0, "shard_0.hdf5"]},
               os.path.join(out_dir, "nvidia_fp32_legacy.pt"), _use_new_zipfile_serialization=False)
    torch.save({"model": state_dict("squad", torch.bfloat16)},
               os.path.join(out_dir, "nvidia_squad_bf16.pt"))


if __name__ == "__main__":
    main(sys.argv[1])
