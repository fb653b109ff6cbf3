"""Oracle: HuggingFace's BertForPreTraining (transformers, in the bench env) on a converted folder.

  python hf_pretraining_forward.py HF_DIR INPUTS_NPZ OUTPUT_NPZ

Loads HF_DIR with `from_pretrained(..., output_loading_info=True)`, fails unless no key is
missing, unexpected or mismatched, and saves `prediction_logits` and
`seq_relationship_logits` for the inputs (input_ids, input_mask, segment_ids).
"""

import json
import sys

import numpy as np
import torch
import transformers


def main(hf_dir, inputs_path, output_path):
    model, info = transformers.BertForPreTraining.from_pretrained(hf_dir, output_loading_info=True)
    problems = {k: v for k, v in info.items() if v}
    if problems:
        sys.exit(f"loading {hf_dir}: {json.dumps({k: list(map(str, v)) for k, v in problems.items()})}")
    inputs = np.load(inputs_path)
    with torch.no_grad():
        out = model.eval()(input_ids=torch.from_numpy(inputs["input_ids"]).long(),
                           attention_mask=torch.from_numpy(inputs["input_mask"]).long(),
                           token_type_ids=torch.from_numpy(inputs["segment_ids"]).long())
    np.savez(output_path, prediction_logits=out.prediction_logits.numpy(),
             seq_relationship_logits=out.seq_relationship_logits.numpy())
    print(f"transformers {transformers.__version__}: loaded {hf_dir} with no missing, "
          "unexpected or mismatched keys")


if __name__ == "__main__":
    main(*sys.argv[1:4])
