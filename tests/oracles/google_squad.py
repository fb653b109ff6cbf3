"""Oracle: Google's run_squad.py (bert-tensorflow 1.0.4) data path under TF 2.21.

  python google_squad.py REQUEST_JSON

REQUEST_JSON: {"jobs": [job, ...]}, run in one process (TensorFlow is imported once):

  {"kind": "features", "input_file", "vocab_file", "do_lower_case", "max_seq_length",
   "doc_stride", "max_query_length", "is_training", "version_2_with_negative", "output"}
      Google's read_squad_examples + convert_examples_to_features; one JSON line per feature
      (`canonical_feature`) in `output`, and the example count in `output`.count.

  {"kind": "predictions", "input_file", "vocab_file", "do_lower_case", "max_seq_length",
   "doc_stride", "max_query_length", "version_2_with_negative", "null_score_diff_threshold",
   "n_best_size", "max_answer_length", "logits", "output_dir"}
      Google's prediction path of main(): eval examples and features from `input_file`,
      RawResults from the npz `logits` (unique_ids, start_logits, end_logits rows; converted
      with float() as main() does), then write_predictions into `output_dir`.

Google's FullTokenizer.tokenize is wrapped in a cache keyed by the whole input text: the
function is deterministic, so the results are Google's, only computed once per distinct
text (a paragraph's words recur for each of its questions).
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tf1_shim  # noqa: E402,F401
import numpy as np  # noqa: E402
import tensorflow.compat.v1 as tf  # noqa: E402
from bert import run_squad as google  # noqa: E402
from bert import tokenization  # noqa: E402


def canonical_feature(f):
    """One feature as a compact JSON line; maps as [key, value] pairs in their order."""
    record = [f.unique_id, f.example_index, f.doc_span_index, f.tokens,
              [[k, v] for k, v in f.token_to_orig_map.items()],
              [[k, v] for k, v in f.token_is_max_context.items()],
              f.input_ids, f.input_mask, f.segment_ids, f.start_position, f.end_position,
              f.is_impossible]
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def cached_tokenizer(vocab_file, do_lower_case):
    tokenizer = tokenization.FullTokenizer(vocab_file=vocab_file, do_lower_case=do_lower_case)
    tokenize, cache = tokenizer.tokenize, {}

    def cached(text):
        if text not in cache:
            cache[text] = tokenize(text)
        return list(cache[text])

    tokenizer.tokenize = cached
    return tokenizer


def set_flags(job):
    google.FLAGS.version_2_with_negative = job.get("version_2_with_negative", False)
    google.FLAGS.null_score_diff_threshold = job.get("null_score_diff_threshold", 0.0)
    google.FLAGS.do_lower_case = job["do_lower_case"]
    google.FLAGS.verbose_logging = False


def features_job(job):
    set_flags(job)
    tokenizer = cached_tokenizer(job["vocab_file"], job["do_lower_case"])
    examples = google.read_squad_examples(job["input_file"], is_training=job["is_training"])
    with open(job["output"], "w", encoding="utf-8") as out:
        google.convert_examples_to_features(
            examples=examples, tokenizer=tokenizer, max_seq_length=job["max_seq_length"],
            doc_stride=job["doc_stride"], max_query_length=job["max_query_length"],
            is_training=job["is_training"],
            output_fn=lambda feature: out.write(canonical_feature(feature) + "\n"))
    with open(job["output"] + ".count", "w") as out:
        out.write(str(len(examples)))


def predictions_job(job):
    set_flags(job)
    tokenizer = cached_tokenizer(job["vocab_file"], job["do_lower_case"])
    examples = google.read_squad_examples(job["input_file"], is_training=False)
    features = []
    google.convert_examples_to_features(
        examples=examples, tokenizer=tokenizer, max_seq_length=job["max_seq_length"],
        doc_stride=job["doc_stride"], max_query_length=job["max_query_length"],
        is_training=False, output_fn=features.append)
    logits = np.load(job["logits"])
    results = [google.RawResult(unique_id=int(uid),
                                start_logits=[float(x) for x in start.flat],
                                end_logits=[float(x) for x in end.flat])
               for uid, start, end in zip(logits["unique_ids"], logits["start_logits"],
                                          logits["end_logits"])]
    out = job["output_dir"]
    os.makedirs(out, exist_ok=True)
    google.write_predictions(examples, features, results, job["n_best_size"],
                             job["max_answer_length"], job["do_lower_case"],
                             os.path.join(out, "predictions.json"),
                             os.path.join(out, "nbest_predictions.json"),
                             os.path.join(out, "null_odds.json"))


def main():
    google.FLAGS([sys.argv[0]])
    tf.logging.set_verbosity(tf.logging.ERROR)
    request = json.load(open(sys.argv[1], encoding="utf-8"))
    for job in request["jobs"]:
        start = time.time()
        {"features": features_job, "predictions": predictions_job}[job["kind"]](job)
        print(f"{job['kind']} {os.path.basename(job.get('output') or job['output_dir'])}: "
              f"{time.time() - start:.1f} s", flush=True)


if __name__ == "__main__":
    main()
