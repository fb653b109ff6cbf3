"""SQuAD v1.1 / v2.0 data path of Google's `run_squad.py`, exactly, as plain Python.

Three stages, each giving Google's output exactly (tested against `bert-tensorflow==1.0.4`
in tests/data/test_squad.py):

1. `read_squad_examples`: a SQuAD JSON file -> `SquadExample`s. A paragraph is split into
   words on whitespace only (" ", \\t, \\r, \\n, U+202F), with a character -> word map that
   places the answer. CMRC 2018 and DRCD use the same format; their text has no spaces, so
   a whole paragraph is one "word". That is Google's behaviour and it is kept: WordPiece
   still makes every CJK character a token, only the word-level maps are coarse (a
   predicted span is cut back out of the paragraph by `get_final_text`, and a training
   answer lands on the first occurrence of its text in the paragraph).
2. `convert_examples_to_features`: WordPiece with token -> word maps, answer-span
   refinement, sliding windows of `doc_stride`, max-context flags, `[CLS]` (position 0)
   targets where a window has no answer.
3. `best_predictions` / `write_predictions`: raw start/end logits -> n-best lists, final
   answers and null-score differences (v2.0), written as Google's predictions.json,
   nbest_predictions.json and null_odds.json, byte for byte.

Where Google stops with a traceback on bad input, `DataError` names the file and the first
bad entry. Where valid data would make Google's code crash or misbehave, we differ, only
there:
- training with several answers to a question takes the first (Google raises; this is what
  HuggingFace's port does, and it lets dev-set splits train as they are);
- a training answer with empty text, or an `answer_start` outside the context, is skipped
  with a warning like an answer whose text is not at `answer_start` (Google keeps the first
  with a broken span and crashes on the second);
- in v2.0, an example with no non-null candidate gets HuggingFace's `"empty"` nonce at the
  front of its n-best list (Google crashes).

Features for post-processing are recomputed from the predict file, as Google does: reading
and conversion are deterministic and take seconds. The records are cached by
`bert_tf.feature_cache` (a JSON sidecar with the count, settings and a SHA-256 fingerprint of
the records), so a runner can use a cache for training without reading it, and check with
`features_fingerprint` that a cached eval file is the one the recomputed features describe.

No TensorFlow here.
"""

import collections
import dataclasses
import hashlib
import json
import math
import os
from typing import Optional

from absl import logging

from bert_tf import atomic, records
from bert_tf.errors import DataError, UserError
from bert_tf.tokenization import BasicTokenizer, check_special_tokens, whitespace_tokenize

UNIQUE_ID_START = 1000000000  # Google's first feature id
_WHITESPACE = frozenset(" \t\r\n\u202f")  # Google's is_whitespace in read_squad_examples


@dataclasses.dataclass
class SquadExample:
    """One question on one paragraph, Google's fields.

    `start_position` / `end_position` are word indexes into `doc_tokens` (training only;
    -1 for an impossible question); at prediction time they and `orig_answer_text` stay
    None, as in Google's code. `doc_tokens` is shared by the questions of a paragraph.
    """

    qas_id: object
    question_text: str
    doc_tokens: list
    orig_answer_text: Optional[str] = None
    start_position: Optional[int] = None
    end_position: Optional[int] = None
    is_impossible: bool = False


@dataclasses.dataclass
class InputFeatures:
    """One window of one example, Google's fields.

    `token_to_orig_map` and `token_is_max_context` are keyed by position in `tokens` (the
    paragraph part only); `start_position` / `end_position` are positions in `tokens`
    (training only, 0 = [CLS] where the window holds no answer).
    """

    unique_id: int
    example_index: int
    doc_span_index: int
    tokens: list
    token_to_orig_map: dict
    token_is_max_context: dict
    input_ids: list
    input_mask: list
    segment_ids: list
    start_position: Optional[int] = None
    end_position: Optional[int] = None
    is_impossible: Optional[bool] = None


DocSpan = collections.namedtuple("DocSpan", ["start", "length"])
RawResult = collections.namedtuple("RawResult", ["unique_id", "start_logits", "end_logits"])


# ---------------------------------------------------------------------- reading
def read_squad_examples(path_or_dict, is_training, version_2_with_negative=False):
    """A SQuAD file (path, or the parsed JSON dict) -> [SquadExample], Google's rules.

    `is_impossible` is read only in training with `version_2_with_negative`, as Google
    does; at prediction time every example is answerable and carries no answer.
    """
    source, articles = _load_articles(path_or_dict)
    examples = []
    for where, context, qas in _paragraphs(articles, source):
        doc_tokens, char_to_word_offset = split_doc_tokens(context)
        if not doc_tokens and qas:
            raise DataError(f"{source}: {where} has an empty context; every question needs "
                            "a paragraph to answer from")
        for qa_index, qa in enumerate(qas):
            example = _read_question(qa, doc_tokens, char_to_word_offset, is_training,
                                     version_2_with_negative, source, f"{where} qas[{qa_index}]")
            if example is not None:
                examples.append(example)
    return examples


def _load_articles(path_or_dict):
    """-> (name for messages, the "data" list); DataError if unreadable or not SQuAD-shaped."""
    if isinstance(path_or_dict, dict):
        source, dataset = "SQuAD data", path_or_dict
    else:
        source = os.fspath(path_or_dict)
        try:
            with open(source, "rb") as f:
                raw = f.read()
        except OSError as e:
            raise DataError(f"{source}: cannot read the SQuAD file ({e.strerror})") from e
        try:
            dataset = json.loads(raw)
        except UnicodeDecodeError as e:
            raise DataError(f"{source}: not UTF-8 text (byte {e.start}); expected a SQuAD "
                            "JSON file") from e
        except json.JSONDecodeError as e:
            raise DataError(f"{source}: not JSON ({e.msg} at line {e.lineno}, column "
                            f"{e.colno}); expected a SQuAD JSON file") from e
    articles = dataset.get("data") if isinstance(dataset, dict) else None
    if not isinstance(articles, list):
        raise DataError(f'{source}: not a SQuAD file: expected {{"data": [articles]}} at the '
                        "top level")
    return source, articles


def _paragraphs(articles, source):
    """Yields (where, context, qas) per paragraph, checking the shape on the way."""
    for i, article in enumerate(articles):
        title = article.get("title") if isinstance(article, dict) else None
        name = f"data[{i}] ({title!r})" if isinstance(title, str) else f"data[{i}]"
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            raise DataError(f'{source}: {name} has no "paragraphs" list')
        for j, paragraph in enumerate(paragraphs):
            where = f"{name} paragraphs[{j}]"
            if (not isinstance(paragraph, dict) or not isinstance(paragraph.get("context"), str)
                    or not isinstance(paragraph.get("qas"), list)):
                raise DataError(f'{source}: {where} needs a "context" string and a "qas" list')
            yield where, paragraph["context"], paragraph["qas"]


def split_doc_tokens(text):
    """Google's word split: -> (words, char_to_word_offset).

    Words are maximal runs of non-whitespace; each character maps to the index of the
    word it is in, or, for whitespace, of the word before it (-1 before the first).
    """
    doc_tokens, char_to_word_offset = [], []
    prev_is_whitespace = True
    for c in text:
        if c in _WHITESPACE:
            prev_is_whitespace = True
        else:
            if prev_is_whitespace:
                doc_tokens.append(c)
            else:
                doc_tokens[-1] += c
            prev_is_whitespace = False
        char_to_word_offset.append(len(doc_tokens) - 1)
    return doc_tokens, char_to_word_offset


def _read_question(qa, doc_tokens, char_to_word_offset, is_training, version_2, source, where):
    """One "qas" entry -> SquadExample, or None for a training answer that is not in place."""
    if not isinstance(qa, dict) or "id" not in qa or not isinstance(qa.get("question"), str):
        raise DataError(f'{source}: {where} needs an "id" and a "question" string')
    qas_id, question = qa["id"], qa["question"]
    where = f"{where} (id {qas_id!r})"
    if not is_training:
        return SquadExample(qas_id, question, doc_tokens)
    is_impossible = qa.get("is_impossible", False) if version_2 else False
    if not isinstance(is_impossible, bool):
        raise DataError(f'{source}: {where}: "is_impossible" must be true or false')
    if is_impossible:
        return SquadExample(qas_id, question, doc_tokens, "", -1, -1, True)
    text, offset = _first_answer(qa, source, where)
    span = _answer_word_span(text, offset, doc_tokens, char_to_word_offset)
    if span is None:
        logging.warning("%s: skipping question %r: its answer %r is not at answer_start %d",
                        source, qas_id, text, offset)
        return None
    return SquadExample(qas_id, question, doc_tokens, text, span[0], span[1], False)


def _first_answer(qa, source, where):
    """The training answer: Google needs exactly one; we take the first of several."""
    answers = qa.get("answers")
    if not isinstance(answers, list) or not answers:
        raise DataError(f'{source}: {where} has no answer; for training each answerable '
                        'question needs one in "answers" (SQuAD 2.0 data marks the others '
                        '"is_impossible" and needs --version_2_with_negative)')
    answer = answers[0]
    if (not isinstance(answer, dict) or not isinstance(answer.get("text"), str)
            or type(answer.get("answer_start")) is not int):
        raise DataError(f'{source}: {where}: an answer needs a "text" string and an integer '
                        '"answer_start"')
    return answer["text"], answer["answer_start"]


def _answer_word_span(text, offset, doc_tokens, char_to_word_offset):
    """(start word, end word) of an answer, or None where Google's text check fails.

    Google keeps an answer only if its whitespace-normalized text occurs in the words the
    character span covers ("weird Unicode" otherwise). An empty answer or one outside the
    context cannot be placed either.
    """
    end_char = offset + len(text) - 1
    if not text or offset < 0 or end_char >= len(char_to_word_offset):
        return None
    start, end = char_to_word_offset[offset], char_to_word_offset[end_char]
    actual_text = " ".join(doc_tokens[start:end + 1])
    if actual_text.find(" ".join(whitespace_tokenize(text))) == -1:
        return None
    return start, end


# ---------------------------------------------------------------------- features
def check_feature_settings(max_seq_length, doc_stride, max_query_length):
    """UserError naming the flag when the windows cannot work.

    Google checks only max_seq_length > max_query_length + 3; a doc_stride of 0 would loop
    forever there, and one not below the room a window has for the paragraph (after the
    longest question, [CLS] and two [SEP]) leaves windows that do not overlap.
    """
    if max_query_length < 0:
        raise UserError(f"--max_query_length={max_query_length} must not be negative")
    if max_seq_length <= max_query_length + 3:
        raise UserError(f"--max_seq_length={max_seq_length} must be greater than "
                        f"--max_query_length + 3 = {max_query_length + 3} ([CLS] and two "
                        "[SEP]) to leave room for the paragraph")
    room = max_seq_length - max_query_length - 3
    if not 0 < doc_stride < room:
        raise UserError(f"--doc_stride={doc_stride} must be between 1 and {room - 1}: a window "
                        f"of --max_seq_length={max_seq_length} has room for {room} paragraph "
                        f"tokens after a question of --max_query_length={max_query_length}, "
                        "and windows must overlap; lower --doc_stride or --max_query_length")


def convert_examples_to_features(examples, tokenizer, max_seq_length, doc_stride,
                                 max_query_length, is_training, output_fn=None):
    """Google's convert_examples_to_features: windows of every example, in order.

    Each feature goes to `output_fn` (Google's callback) and the count is returned; without
    `output_fn` the list of features is returned. Unique ids count from 1000000000.
    """
    check_feature_settings(max_seq_length, doc_stride, max_query_length)
    check_special_tokens(tokenizer.vocab, getattr(tokenizer, "vocab_file", "the vocab"),
                         ("[CLS]", "[SEP]", "[UNK]"))
    collected = []
    emit = collected.append if output_fn is None else output_fn
    unique_id = UNIQUE_ID_START
    for example_index, example in enumerate(examples):
        for feature in example_features(example, example_index, unique_id, tokenizer,
                                        max_seq_length, doc_stride, max_query_length,
                                        is_training):
            emit(feature)
            unique_id += 1
    return collected if output_fn is None else unique_id - UNIQUE_ID_START


def example_features(example, example_index, first_unique_id, tokenizer, max_seq_length,
                     doc_stride, max_query_length, is_training):
    """Yields the InputFeatures of one example, one per window."""
    query_tokens = tokenizer.tokenize(example.question_text)[:max_query_length]
    all_doc_tokens, tok_to_orig_index, orig_to_tok_index = wordpiece_document(
        example.doc_tokens, tokenizer)
    answer = None
    if is_training:
        answer = token_answer_span(example, all_doc_tokens, orig_to_tok_index, tokenizer)
    spans = doc_spans(len(all_doc_tokens), max_seq_length - len(query_tokens) - 3, doc_stride)
    best_span = max_context_spans(spans, len(all_doc_tokens))
    for span_index, span in enumerate(spans):
        tokens, segment_ids, token_to_orig_map, token_is_max_context = _window_tokens(
            query_tokens, all_doc_tokens, tok_to_orig_index, span, span_index, best_span)
        input_ids = tokenizer.convert_tokens_to_ids(tokens)
        input_mask = [1] * len(input_ids)
        padding = [0] * (max_seq_length - len(input_ids))
        start_position = end_position = None
        if is_training:
            start_position, end_position = _window_targets(
                example, answer, span, len(query_tokens))
        yield InputFeatures(
            unique_id=first_unique_id + span_index, example_index=example_index,
            doc_span_index=span_index, tokens=tokens, token_to_orig_map=token_to_orig_map,
            token_is_max_context=token_is_max_context, input_ids=input_ids + padding,
            input_mask=input_mask + padding, segment_ids=segment_ids + padding,
            start_position=start_position, end_position=end_position,
            is_impossible=example.is_impossible)


def wordpiece_document(doc_tokens, tokenizer):
    """Words -> (WordPieces, piece -> word index, word -> index of its first piece).

    A word with no pieces (only control characters) maps to where the next word's start.
    """
    all_doc_tokens, tok_to_orig_index, orig_to_tok_index = [], [], []
    for i, word in enumerate(doc_tokens):
        orig_to_tok_index.append(len(all_doc_tokens))
        pieces = tokenizer.tokenize(word)
        tok_to_orig_index.extend([i] * len(pieces))
        all_doc_tokens.extend(pieces)
    return all_doc_tokens, tok_to_orig_index, orig_to_tok_index


def token_answer_span(example, all_doc_tokens, orig_to_tok_index, tokenizer):
    """The training answer as (first piece, last piece); (-1, -1) when impossible.

    The word span's pieces, narrowed by `improve_answer_span` to the answer's own pieces.
    """
    if example.is_impossible:
        return -1, -1
    start = orig_to_tok_index[example.start_position]
    if example.end_position < len(example.doc_tokens) - 1:
        end = orig_to_tok_index[example.end_position + 1] - 1
    else:
        end = len(all_doc_tokens) - 1
    return improve_answer_span(all_doc_tokens, start, end, tokenizer, example.orig_answer_text)


def improve_answer_span(doc_tokens, input_start, input_end, tokenizer, orig_answer_text):
    """Google's _improve_answer_span: the first sub-span whose pieces are the answer's.

    Annotations are character based, so a word span may hold more than the answer
    ("(1895-1943)." for "1895"). Google compares space-joined strings over every (start,
    end) pair, shortest start first, longest end first: cubic in the span, which for
    CJK text (a whole paragraph is one word) means seconds a question. When no piece is
    empty or contains a space (always, for pieces our tokenizer makes) joined strings are
    equal exactly when the piece lists are, and only spans of the answer's length can
    match, so scanning starts with one list comparison each gives the same result.
    """
    answer_tokens = tokenizer.tokenize(orig_answer_text)
    span = doc_tokens[input_start:input_end + 1]
    if all(t and " " not in t for t in answer_tokens) and all(t and " " not in t for t in span):
        n = len(answer_tokens)
        if n:
            for new_start in range(input_start, input_end - n + 2):
                if doc_tokens[new_start:new_start + n] == answer_tokens:
                    return new_start, new_start + n - 1
        return input_start, input_end
    tok_answer_text = " ".join(answer_tokens)
    for new_start in range(input_start, input_end + 1):
        for new_end in range(input_end, new_start - 1, -1):
            if " ".join(doc_tokens[new_start:new_end + 1]) == tok_answer_text:
                return new_start, new_end
    return input_start, input_end


def doc_spans(num_tokens, max_tokens_for_doc, doc_stride):
    """Google's sliding windows: [DocSpan(start, length)] covering all paragraph pieces.

    Each window starts `doc_stride` after the previous one (or right after its end if
    shorter); the last one ends at the paragraph's end.
    """
    spans, start = [], 0
    while start < num_tokens:
        length = min(num_tokens - start, max_tokens_for_doc)
        spans.append(DocSpan(start, length))
        if start + length == num_tokens:
            break
        start += min(length, doc_stride)
    return spans


def max_context_spans(spans, num_tokens):
    """For each piece, the index of the window where it has the most context.

    Google's _check_is_max_context for every position at once: the score is the smaller
    of the left and right context plus 0.01 * window length, the first window wins ties.
    """
    best_score = [None] * num_tokens
    best_index = [None] * num_tokens
    for span_index, span in enumerate(spans):
        end = span.start + span.length - 1
        for position in range(span.start, end + 1):
            score = min(position - span.start, end - position) + 0.01 * span.length
            if best_score[position] is None or score > best_score[position]:
                best_score[position] = score
                best_index[position] = span_index
    return best_index


def _window_tokens(query_tokens, all_doc_tokens, tok_to_orig_index, span, span_index,
                   best_span):
    """[CLS] question [SEP] window [SEP], segment ids, and the per-position maps."""
    tokens = ["[CLS]"] + query_tokens + ["[SEP]"]
    segment_ids = [0] * len(tokens)
    token_to_orig_map, token_is_max_context = {}, {}
    for split_token_index in range(span.start, span.start + span.length):
        position = len(tokens)
        token_to_orig_map[position] = tok_to_orig_index[split_token_index]
        token_is_max_context[position] = best_span[split_token_index] == span_index
        tokens.append(all_doc_tokens[split_token_index])
    tokens.append("[SEP]")
    segment_ids += [1] * (span.length + 1)
    return tokens, segment_ids, token_to_orig_map, token_is_max_context


def _window_targets(example, answer, span, query_length):
    """Training (start, end) positions in a window; (0, 0), [CLS], where it has no answer."""
    if example.is_impossible:
        return 0, 0
    tok_start, tok_end = answer
    doc_start, doc_end = span.start, span.start + span.length - 1
    if not (tok_start >= doc_start and tok_end <= doc_end):
        return 0, 0
    doc_offset = query_length + 2
    return tok_start - doc_start + doc_offset, tok_end - doc_start + doc_offset


# ---------------------------------------------------------------------- feature records
def cache_name(split, max_seq_length, doc_stride, max_query_length):
    """The feature cache's name for a split and window settings (`bert_tf.feature_cache`)."""
    return f"{split}-seq{max_seq_length}-stride{doc_stride}-query{max_query_length}"


def serialized_features(features, is_training):
    """`InputFeatures` -> serialized records (Google's fields), lazily."""
    for feature in features:
        yield records.squad_feature_example(feature, is_training)


def features_fingerprint(features, is_training):
    """SHA-256 of the features' records: equals a cache's "sha256" iff the records are."""
    digest = hashlib.sha256()
    for record in serialized_features(features, is_training):
        digest.update(record)
    return digest.hexdigest()


# ---------------------------------------------------------------------- predictions
_PrelimPrediction = collections.namedtuple(
    "PrelimPrediction", ["feature_index", "start_index", "end_index", "start_logit", "end_logit"])
_NbestPrediction = collections.namedtuple("NbestPrediction", ["text", "start_logit", "end_logit"])
_NullScore = collections.namedtuple("NullScore",
                                    ["score", "feature_index", "start_logit", "end_logit"])


def write_predictions(all_examples, all_features, all_results, n_best_size, max_answer_length,
                      do_lower_case, output_prediction_file, output_nbest_file,
                      output_null_log_odds_file, version_2_with_negative=False,
                      null_score_diff_threshold=0.0, verbose_logging=False):
    """Google's write_predictions: the three JSON files, each written atomically.

    null_odds.json is written only with `version_2_with_negative`, as Google does.
    """
    predictions, nbest, null_odds = best_predictions(
        all_examples, all_features, all_results, n_best_size, max_answer_length, do_lower_case,
        version_2_with_negative, null_score_diff_threshold, verbose_logging)
    logging.info("Writing predictions to %s and %s", output_prediction_file, output_nbest_file)
    atomic.write_json(output_prediction_file, predictions, indent=4)
    atomic.write_json(output_nbest_file, nbest, indent=4)
    if version_2_with_negative:
        atomic.write_json(output_null_log_odds_file, null_odds, indent=4)
    return predictions


def best_predictions(all_examples, all_features, all_results, n_best_size, max_answer_length,
                     do_lower_case, version_2_with_negative=False, null_score_diff_threshold=0.0,
                     verbose_logging=False):
    """-> (predictions, nbest, null_odds): {qas_id: answer}, {qas_id: [n-best entries]},
    {qas_id: null score - best non-null score} (empty unless v2.0); Google's values."""
    features_by_example = collections.defaultdict(list)
    for feature in all_features:
        features_by_example[feature.example_index].append(feature)
    results = {result.unique_id: result for result in all_results}
    predictions, all_nbest, null_odds = {}, {}, {}
    for example_index, example in enumerate(all_examples):
        features = features_by_example[example_index]
        logits = [_feature_logits(results, feature, example, len(all_features))
                  for feature in features]
        prelim, null = _prelim_predictions(features, logits, n_best_size, max_answer_length,
                                           version_2_with_negative)
        nbest = _nbest_predictions(example, features, prelim, null, n_best_size, do_lower_case,
                                   version_2_with_negative, verbose_logging)
        all_nbest[example.qas_id] = _nbest_json(nbest)
        if not version_2_with_negative:
            predictions[example.qas_id] = nbest[0].text
        else:
            best_non_null = next(entry for entry in nbest if entry.text)
            score_diff = null.score - best_non_null.start_logit - (best_non_null.end_logit)
            null_odds[example.qas_id] = score_diff
            predictions[example.qas_id] = (
                "" if score_diff > null_score_diff_threshold else best_non_null.text)
    return predictions, all_nbest, null_odds


def _feature_logits(results, feature, example, num_features):
    """(start logits, end logits) of a feature as Python floats, as Google's main makes them."""
    result = results.get(feature.unique_id)
    if result is None:
        raise DataError(f"no prediction for feature {feature.unique_id} (question "
                        f"{example.qas_id!r}): the results cover {len(results)} of "
                        f"{num_features} features")
    return _floats(result.start_logits), _floats(result.end_logits)


def _floats(values):
    """Logits as a list of Python floats: float32 values summed in double, as Google's are."""
    return values.tolist() if hasattr(values, "tolist") else [float(x) for x in values]


def _best_indexes(logits, n_best_size):
    """Google's _get_best_indexes: indexes of the top logits, stable on ties."""
    ranked = sorted(enumerate(logits), key=lambda x: x[1], reverse=True)
    return [index for index, _ in ranked[:n_best_size]]


def _prelim_predictions(features, logits, n_best_size, max_answer_length, version_2):
    """Every valid (start, end) pair from the top logits, best first; plus the null score.

    The null score (v2.0) is the smallest start[0] + end[0] over the windows; its starting
    values are Google's integers, which show when an example has no window.
    """
    prelim = []
    null = _NullScore(1000000, 0, 0, 0)
    for feature_index, (feature, (start_logits, end_logits)) in enumerate(zip(features, logits)):
        start_indexes = _best_indexes(start_logits, n_best_size)
        end_indexes = _best_indexes(end_logits, n_best_size)
        if version_2:
            feature_null_score = start_logits[0] + end_logits[0]
            if feature_null_score < null.score:
                null = _NullScore(feature_null_score, feature_index, start_logits[0],
                                  end_logits[0])
        for start_index in start_indexes:
            for end_index in end_indexes:
                if _valid_span(feature, start_index, end_index, max_answer_length):
                    prelim.append(_PrelimPrediction(feature_index, start_index, end_index,
                                                    start_logits[start_index],
                                                    end_logits[end_index]))
    if version_2:
        prelim.append(_PrelimPrediction(null.feature_index, 0, 0, null.start_logit,
                                        null.end_logit))
    prelim.sort(key=lambda x: (x.start_logit + x.end_logit), reverse=True)
    return prelim, null


def _valid_span(feature, start_index, end_index, max_answer_length):
    """A span inside the window's paragraph, starting where the window has max context."""
    return (start_index < len(feature.tokens) and end_index < len(feature.tokens)
            and start_index in feature.token_to_orig_map
            and end_index in feature.token_to_orig_map
            and feature.token_is_max_context.get(start_index, False)
            and start_index <= end_index <= start_index + max_answer_length - 1)


def _nbest_predictions(example, features, prelim, null, n_best_size, do_lower_case, version_2,
                       verbose_logging):
    """The n best distinct answer texts (Google's rules, with its "empty" nonces)."""
    seen, nbest = set(), []
    for pred in prelim:
        if len(nbest) >= n_best_size:
            break
        if pred.start_index > 0:
            final_text = _span_text(example, features[pred.feature_index], pred, do_lower_case,
                                    verbose_logging)
            if final_text in seen:
                continue
        else:
            final_text = ""
        seen.add(final_text)
        nbest.append(_NbestPrediction(final_text, pred.start_logit, pred.end_logit))
    if version_2 and "" not in seen:
        nbest.append(_NbestPrediction("", null.start_logit, null.end_logit))
    if not nbest:
        nbest.append(_NbestPrediction("empty", 0.0, 0.0))
    if version_2 and not any(entry.text for entry in nbest):
        nbest.insert(0, _NbestPrediction("empty", 0.0, 0.0))  # HuggingFace's fix
    return nbest


def _span_text(example, feature, pred, do_lower_case, verbose_logging):
    """A predicted span as original text: its pieces joined, then aligned to the words."""
    tok_text = " ".join(feature.tokens[pred.start_index:pred.end_index + 1])
    tok_text = tok_text.replace(" ##", "").replace("##", "")
    tok_text = " ".join(tok_text.strip().split())
    orig_start = feature.token_to_orig_map[pred.start_index]
    orig_end = feature.token_to_orig_map[pred.end_index]
    orig_text = " ".join(example.doc_tokens[orig_start:orig_end + 1])
    return get_final_text(tok_text, orig_text, do_lower_case, verbose_logging)


def _nbest_json(nbest):
    """n-best entries as Google's dicts: text, softmax probability, start and end logit."""
    probs = compute_softmax([entry.start_logit + entry.end_logit for entry in nbest])
    return [{"text": entry.text, "probability": prob, "start_logit": entry.start_logit,
             "end_logit": entry.end_logit} for entry, prob in zip(nbest, probs)]


def compute_softmax(scores):
    """Google's _compute_softmax, operation for operation (the floats must match)."""
    if not scores:
        return []
    max_score = None
    for score in scores:
        if max_score is None or score > max_score:
            max_score = score
    exp_scores, total_sum = [], 0.0
    for score in scores:
        x = math.exp(score - max_score)
        exp_scores.append(x)
        total_sum += x
    return [score / total_sum for score in exp_scores]


def get_final_text(pred_text, orig_text, do_lower_case, verbose_logging=False):
    """Google's get_final_text: the part of `orig_text` that `pred_text` came from.

    `pred_text` is normalized (lower case, accents stripped, punctuation split); the answer
    should be the original characters ("Steve Smith", not "steve smith" or "Steve Smith's").
    Both are aligned character by character after Google's BasicTokenizer and removing
    spaces; where that fails `orig_text` is returned whole.
    """
    tok_text = " ".join(BasicTokenizer(do_lower_case=do_lower_case).tokenize(orig_text))
    start_position = tok_text.find(pred_text)
    if start_position == -1:
        if verbose_logging:
            logging.info("Unable to find text: '%s' in '%s'", pred_text, orig_text)
        return orig_text
    end_position = start_position + len(pred_text) - 1
    orig_ns_text, orig_ns_to_s_map = _strip_spaces(orig_text)
    tok_ns_text, tok_ns_to_s_map = _strip_spaces(tok_text)
    if len(orig_ns_text) != len(tok_ns_text):
        if verbose_logging:
            logging.info("Length not equal after stripping spaces: '%s' vs '%s'",
                         orig_ns_text, tok_ns_text)
        return orig_text
    tok_s_to_ns_map = {tok_index: i for i, tok_index in tok_ns_to_s_map.items()}
    orig_start_position = _project(start_position, tok_s_to_ns_map, orig_ns_to_s_map)
    if orig_start_position is None:
        if verbose_logging:
            logging.info("Couldn't map start position")
        return orig_text
    orig_end_position = _project(end_position, tok_s_to_ns_map, orig_ns_to_s_map)
    if orig_end_position is None:
        if verbose_logging:
            logging.info("Couldn't map end position")
        return orig_text
    return orig_text[orig_start_position:orig_end_position + 1]


def _strip_spaces(text):
    """-> (text without " ", {index there: index in text})."""
    ns_chars, ns_to_s_map = [], {}
    for i, c in enumerate(text):
        if c == " ":
            continue
        ns_to_s_map[len(ns_chars)] = i
        ns_chars.append(c)
    return "".join(ns_chars), ns_to_s_map


def _project(position, tok_s_to_ns_map, orig_ns_to_s_map):
    """A position in the tokenized text -> the same character's position in the original."""
    ns_position = tok_s_to_ns_map.get(position)
    return None if ns_position is None else orig_ns_to_s_map.get(ns_position)
