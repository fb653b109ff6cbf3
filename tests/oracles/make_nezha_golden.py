"""Write tests/golden/nezha_hf.npz: HuggingFace NezhaModel's hidden states for tests/nezha_case.py.

  BERT_TF_BENCH_VENV=/path/to/.venv-bench python tests/oracles/make_nezha_golden.py

Runs in bert_tf's environment: draws the seeded weights, writes them as a HuggingFace NEZHA
folder with our converter, runs tests/oracles/hf_nezha.py in the bench env (torch +
transformers) on the real Chinese rows, and stores the inputs, HuggingFace's layer outputs
and pooled output, and the weights' checksum. CI has no bench env, so
`test_nezha_matches_huggingface_golden` compares against this file; rerun this script when
the case changes (and `test_nezha_matches_huggingface_live` checks it while the env is there).
"""

import os
import pathlib
import sys
import tempfile

import numpy as np

TESTS = pathlib.Path(__file__).resolve().parent.parent
sys.path[:0] = [str(TESTS.parent), str(TESTS)]
import nezha_case  # noqa: E402
from conftest import need  # noqa: E402

GOLDEN = TESTS / "golden" / "nezha_hf.npz"


def main():
    from bert_tf import checkpoints
    if nezha_case.bench_python() is None:
        raise SystemExit("no bench env: run bench/setup_bench_env.sh or set BERT_TF_BENCH_VENV")
    config, _, arrays = nezha_case.model_and_weights()
    ids, mask, segments = nezha_case.inputs(need(nezha_case.TEXT), need(nezha_case.CHINESE_VOCAB))
    with tempfile.TemporaryDirectory() as tmp:
        checkpoints.write_hf(os.path.join(tmp, "hf"), config, arrays)
        np.savez(os.path.join(tmp, "in.npz"), input_ids=ids, input_mask=mask, segment_ids=segments)
        print(nezha_case.run_hf_oracle(os.path.join(tmp, "hf"), os.path.join(tmp, "in.npz"),
                                       os.path.join(tmp, "out.npz")).strip())
        hf = np.load(os.path.join(tmp, "out.npz"))
        np.savez_compressed(GOLDEN, input_ids=ids, input_mask=mask, segment_ids=segments,
                            layers=hf["hidden_states"][1:], pooled_output=hf["pooled_output"],
                            weights_checksum=np.float64(nezha_case.checksum(arrays)))
    print(f"wrote {GOLDEN} ({GOLDEN.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
