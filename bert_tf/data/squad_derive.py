"""SQuAD v2.0-format data derived from v1.1, and article splits, for tests and small experiments.

The SQuAD v2.0 and training sets are not always at hand; `dev-v1.1.json` is. `derive_v2` makes
v2.0-format data from v1.1 data by moving a seeded fraction of the questions to a paragraph of
a different article, where they become unanswerable (`is_impossible: true`, `answers: []`,
no `plausible_answers`); the rest stay where they were, answerable (`is_impossible: false`).
Question ids are kept, so predictions keyed by id still line up. `split_articles` cuts a
dataset into its first n articles and the rest (for example 38 to train, 10 to evaluate).

  python -m bert_tf.data.squad_derive --input dev-v1.1.json --output dev-derived-v2.0.json \
      [--seed 12345 --fraction 0.33] [--train_articles 38 --split_output_dir DIR]

With --train_articles and --split_output_dir it also writes DIR/train-v1.1.json and
DIR/dev-v1.1.json (the split) and DIR/train-v2.0.json and DIR/dev-v2.0.json, each derived from
its own part, so no question crosses from one part into the other.

Pure Python: no TensorFlow.
"""

import copy
import os
import random

from bert_tf import atomic
from bert_tf.errors import UserError
from bert_tf.data import squad_json

DEFAULT_SEED = 12345
DEFAULT_FRACTION = 1.0 / 3.0


def _question_slots(articles):
    """(article index, paragraph index, question index) of every question, in file order."""
    return [(a, p, q)
            for a, article in enumerate(articles)
            for p, paragraph in enumerate(article["paragraphs"])
            for q in range(len(paragraph["qas"]))]


def _unanswerable(qa):
    """A copy of a question made unanswerable: no answers, no plausible answers."""
    moved = {key: value for key, value in qa.items()
             if key not in ("answers", "plausible_answers", "is_impossible")}
    moved["answers"] = []
    moved["is_impossible"] = True
    return moved


def _pick_paragraph(rng, articles, source_article):
    """(article index, paragraph index) of a random paragraph of an article other than source."""
    others = [a for a, article in enumerate(articles)
              if a != source_article and article["paragraphs"]]
    if not others:
        raise UserError("derive_v2: unanswerable questions need a paragraph of another article; "
                        "the dataset has none")
    target = rng.choice(others)
    return target, rng.randrange(len(articles[target]["paragraphs"]))


def derive_v2(dataset_v11, seed=DEFAULT_SEED, fraction=DEFAULT_FRACTION):
    """SQuAD v2.0-format data from v1.1 data; deterministic given the seed.

    round(fraction * questions) questions, chosen with random.Random(seed), are moved to the end
    of the question list of a paragraph of another article and marked unanswerable; the others
    stay, marked answerable. The input is not changed; the result has version "v2.0".
    """
    squad_json.check_dataset(dataset_v11, "derive_v2 input")
    if not 0.0 <= fraction <= 1.0:
        raise UserError(f"derive_v2: fraction must be between 0 and 1, not {fraction}")
    if isinstance(dataset_v11, dict):
        result = copy.deepcopy(dataset_v11)
    else:
        result = {"data": copy.deepcopy(dataset_v11)}
    articles = result["data"]
    slots = _question_slots(articles)
    rng = random.Random(seed)
    chosen = set(rng.sample(range(len(slots)), round(fraction * len(slots))))
    kept = {}  # (article, paragraph) -> the questions that stay there, answerable
    moves = []  # (target article, target paragraph, unanswerable question), in source order
    for index, (a, p, q) in enumerate(slots):
        qa = articles[a]["paragraphs"][p]["qas"][q]
        if index in chosen:
            target_a, target_p = _pick_paragraph(rng, articles, a)
            moves.append((target_a, target_p, _unanswerable(qa)))
        else:
            qa["is_impossible"] = False
            kept.setdefault((a, p), []).append(qa)
    for a, article in enumerate(articles):
        for p, paragraph in enumerate(article["paragraphs"]):
            paragraph["qas"] = kept.get((a, p), [])
    for a, p, qa in moves:
        articles[a]["paragraphs"][p]["qas"].append(qa)
    result["version"] = "v2.0"
    return result


def split_articles(dataset, first_n):
    """(dataset of the first first_n articles, dataset of the rest); other top-level keys kept."""
    articles = squad_json.articles_of(dataset, "split_articles input")
    if not 0 <= first_n <= len(articles):
        raise UserError(f"split_articles: first_n={first_n} is outside 0..{len(articles)} "
                        "(the dataset's article count)")
    top = {k: v for k, v in dataset.items() if k != "data"} if isinstance(dataset, dict) else {}
    first = dict(top, data=copy.deepcopy(articles[:first_n]))
    rest = dict(top, data=copy.deepcopy(articles[first_n:]))
    return first, rest


def write_json(data, path):
    """Write JSON atomically (a temporary file renamed into place)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    atomic.write_json(path, data, ensure_ascii=False)


def main(argv):
    """CLI: derive v2.0 data and optionally write an article split of v1.1 and v2.0."""
    import argparse
    parser = argparse.ArgumentParser(prog="python -m bert_tf.data.squad_derive",
                                     description="SQuAD v2.0-format data derived from v1.1, and article splits.")
    parser.add_argument("--input", required=True, help="SQuAD v1.1 JSON file (e.g. dev-v1.1.json).")
    parser.add_argument("--output", help="Where to write the derived v2.0-format data.")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="Seed of the choice of unanswerable questions.")
    parser.add_argument("--fraction", type=float, default=DEFAULT_FRACTION,
                        help="Fraction of questions made unanswerable.")
    parser.add_argument("--train_articles", type=int, help="Split: the first N articles are the train part.")
    parser.add_argument("--split_output_dir", help="Split: where to write train/dev v1.1 and v2.0.")
    opts = parser.parse_args(argv[1:])
    if (opts.train_articles is None) != (opts.split_output_dir is None):
        raise UserError("--train_articles and --split_output_dir go together")
    if not opts.output and opts.split_output_dir is None:
        raise UserError("nothing to write: give --output and/or --train_articles with --split_output_dir")
    dataset = squad_json.read_json(opts.input, "--input")
    squad_json.check_dataset(dataset, f"--input {opts.input}")
    if squad_json.is_v2(dataset):
        raise UserError(f"--input {opts.input} is already SQuAD v2.0 data")
    if opts.output:
        write_json(derive_v2(dataset, opts.seed, opts.fraction), opts.output)
    if opts.split_output_dir is not None:
        train, dev = split_articles(dataset, opts.train_articles)
        for name, part in (("train", train), ("dev", dev)):
            write_json(part, os.path.join(opts.split_output_dir, f"{name}-v1.1.json"))
            write_json(derive_v2(part, opts.seed, opts.fraction),
                       os.path.join(opts.split_output_dir, f"{name}-v2.0.json"))


if __name__ == "__main__":
    from bert_tf import cli
    cli.run_argv(main)
