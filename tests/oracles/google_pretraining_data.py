"""Oracle: Google's create_pretraining_data.py (bert-tensorflow 1.0.4) with the given flags.

  python google_pretraining_data.py --input_file=... --output_file=... --vocab_file=... [...]

Runs Google's own main() under TF 2.21; it needs no shim beyond tensorflow.compat.v1.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tf1_shim  # noqa: E402,F401
from absl import app  # noqa: E402
from bert import create_pretraining_data  # noqa: E402

if __name__ == "__main__":
    create_pretraining_data.flags.mark_flag_as_required("input_file")
    app.run(create_pretraining_data.main)
