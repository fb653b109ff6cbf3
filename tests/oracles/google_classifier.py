"""Oracle: Google's run_classifier.py (bert-tensorflow 1.0.4) processors and features.

  python google_classifier.py REQUEST_JSON OUTPUT_JSON
  REQUEST_JSON: {"vocab_file": ..., "do_lower_case": bool, "max_seq_lengths": [int, ...],
                 "label_list": [...], "examples": [[guid, text_a, text_b or null, label], ...],
                 "processor": {"task": "mrpc" | "cola", "data_dir": ..., "split": ...} (optional)}
  OUTPUT_JSON: {"examples": [[guid, text_a, text_b, label], ...] read by Google's processor
                (when asked), "features": {max_seq_length: [[input_ids, input_mask,
                segment_ids, label_id], ...]} for the request's examples}
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tf1_shim  # noqa: E402,F401
from bert import run_classifier, tokenization  # noqa: E402

tokenization.FLAGS([sys.argv[0]])
request = json.load(open(sys.argv[1], encoding="utf-8"))
out = {}
if request.get("processor"):
    spec = request["processor"]
    processors = {"mrpc": run_classifier.MrpcProcessor, "cola": run_classifier.ColaProcessor}
    processor = processors[spec["task"]]()
    examples = getattr(processor, f"get_{spec['split']}_examples")(spec["data_dir"])
    out["examples"] = [[e.guid, e.text_a, e.text_b, e.label] for e in examples]

tokenizer = tokenization.FullTokenizer(request["vocab_file"], request["do_lower_case"])
examples = [run_classifier.InputExample(guid, a, b, label)
            for guid, a, b, label in request["examples"]]
out["features"] = {}
for max_seq_length in request["max_seq_lengths"]:
    rows = []
    for example in examples:
        # ex_index 5 and up: Google logs the first five examples only.
        f = run_classifier.convert_single_example(5, example, request["label_list"],
                                                  max_seq_length, tokenizer)
        rows.append([f.input_ids, f.input_mask, f.segment_ids, f.label_id])
    out["features"][str(max_seq_length)] = rows
json.dump(out, open(sys.argv[2], "w", encoding="utf-8"))
