"""Oracle: HuggingFace's PyTorch NEZHA on a folder we wrote; run in the bench env.

  python hf_nezha.py HF_DIR INPUTS_NPZ OUTPUT_NPZ [SAVE_DIR]

Loads HF_DIR with `NezhaModel.from_pretrained` (or `NezhaForPreTraining` when its config
names that architecture) and fails if HuggingFace reports any missing, unexpected or
mismatched weight, so the folder is checked with the real client. OUTPUT_NPZ gets
`hidden_states` [layers + 1, batch, seq, hidden] (the embedding output first) and
`pooled_output`. With SAVE_DIR, the model is also written back by `save_pretrained`, for
the reverse check of our reader on HuggingFace's own layout.

transformers 4.42-4.57 keep NEZHA under `transformers.models.deprecated.nezha`.
"""

import json
import os
import sys

import numpy as np
import torch

try:
    from transformers.models.deprecated.nezha import NezhaForPreTraining, NezhaModel
except ImportError:  # before its deprecation
    from transformers import NezhaForPreTraining, NezhaModel


def main(hf_dir, inputs_path, output_path, save_dir=None):
    with open(os.path.join(hf_dir, "config.json"), encoding="utf-8") as f:
        architectures = json.load(f).get("architectures", [])
    cls = NezhaForPreTraining if "NezhaForPreTraining" in architectures else NezhaModel
    model, info = cls.from_pretrained(hf_dir, output_loading_info=True)
    problems = {k: v for k, v in info.items() if v}
    if problems:
        raise SystemExit(f"{hf_dir}: HuggingFace's {cls.__name__} reports {problems}")
    model.eval()
    encoder = model if cls is NezhaModel else model.nezha
    inputs = np.load(inputs_path)
    with torch.no_grad():
        out = encoder(input_ids=torch.from_numpy(inputs["input_ids"].astype(np.int64)),
                      attention_mask=torch.from_numpy(inputs["input_mask"].astype(np.int64)),
                      token_type_ids=torch.from_numpy(inputs["segment_ids"].astype(np.int64)),
                      output_hidden_states=True)
    np.savez(output_path, hidden_states=np.stack([h.numpy() for h in out.hidden_states]),
             pooled_output=out.pooler_output.numpy())
    if save_dir:
        model.save_pretrained(save_dir)
    print(f"{cls.__name__}: {sum(p.numel() for p in model.parameters())} parameters")


if __name__ == "__main__":
    main(*sys.argv[1:5])
