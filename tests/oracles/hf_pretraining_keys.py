"""Golden list: the tensors HuggingFace's BertForPreTraining saves and expects, for one config.

  python hf_pretraining_keys.py OUTPUT_JSON   (in the bench env: transformers + torch)

Builds `transformers.BertForPreTraining` for CONFIG below, saves it with `save_pretrained`
(safetensors) and records the saved tensors' names and shapes, the model's state-dict names
and the names it ties (which a saved file may leave out). tests/golden/hf_bert_for_pretraining.json
was made by this script (transformers 4.57.1); tests/e2e/test_convert_checkpoint.py checks our
HuggingFace-layout output against it where transformers is not installed.
"""

import json
import sys
import tempfile

import transformers
from safetensors import safe_open

# The micro BERT of the pretraining-export test (bert_tf's preset "micro", seq 32).
CONFIG = dict(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
              intermediate_size=64, max_position_embeddings=32, type_vocab_size=2,
              hidden_act="gelu_new")


def main(output):
    model = transformers.BertForPreTraining(transformers.BertConfig(**CONFIG))
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        with safe_open(f"{tmp}/model.safetensors", "np") as f:
            saved = {k: list(f.get_slice(k).get_shape()) for k in f.keys()}
    record = {"transformers": transformers.__version__, "config": CONFIG,
              "saved": dict(sorted(saved.items())),
              "state_dict": sorted(model.state_dict()),
              "tied": sorted(getattr(model, "_tied_weights_keys", None) or [])}
    with open(output, "w") as f:
        json.dump(record, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
