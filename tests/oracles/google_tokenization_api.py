"""Oracle: Google's module-level tokenization functions (bert-tensorflow 1.0.4) on a JSON list.

  python google_tokenization_api.py REQUEST_JSON OUTPUT_JSON
  REQUEST_JSON: {"validate_case": [[do_lower_case, init_checkpoint], ...],
                 "printable_text": [text, ...], "preserve": {"vocab": [...], "tokens": [...]}}
  OUTPUT_JSON: {"validate_case": [null or the ValueError's message, ...],
                "printable_text": [...], "preserve": {"False": [...], "True": [...]}} (the
                flag --preserve_unused_tokens off and on)
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tf1_shim  # noqa: E402,F401
from bert import tokenization  # noqa: E402

request = json.load(open(sys.argv[1], encoding="utf-8"))
out = {"validate_case": [], "printable_text": [], "preserve": {}}
for lower, checkpoint in request["validate_case"]:
    try:
        tokenization.validate_case_matches_checkpoint(lower, checkpoint)
        out["validate_case"].append(None)
    except ValueError as e:
        out["validate_case"].append(str(e))
for text in request["printable_text"]:
    out["printable_text"].append(tokenization.printable_text(text))
vocab = {t: i for i, t in enumerate(request["preserve"]["vocab"])}
for flag in (False, True):
    tokenization.FLAGS([sys.argv[0], f"--preserve_unused_tokens={flag}"])
    out["preserve"][str(flag)] = [tokenization.preserve_token(t, vocab) for t in request["preserve"]["tokens"]]
json.dump(out, open(sys.argv[2], "w", encoding="utf-8"))
