"""Oracle: Google's FullTokenizer (bert-tensorflow 1.0.4) over lines of a JSON request.

  python google_tokenize.py REQUEST_JSON OUTPUT_JSON
  REQUEST_JSON: {"vocab_file": ..., "do_lower_case": bool, "lines": [...]}
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tf1_shim  # noqa: E402,F401
from bert import tokenization  # noqa: E402

request = json.load(open(sys.argv[1], encoding="utf-8"))
tokenization.FLAGS([sys.argv[0], f"--preserve_unused_tokens={request.get('preserve', False)}"])
tokenizer = tokenization.FullTokenizer(request["vocab_file"], request["do_lower_case"])
result = [tokenizer.tokenize(line) for line in request["lines"]]
json.dump(result, open(sys.argv[2], "w", encoding="utf-8"))
