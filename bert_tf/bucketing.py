"""Length bucketing: the few padded lengths a run's batches take, and the order of buckets
that training workers follow in step. NumPy only; the tf.data side is `bert_tf.input_pipeline`.

Google's scripts pad every example to `--max_seq_length`; MRPC's pairs average 53 WordPieces
against 128, CoNLL's sentences 21. With `--bucket_by_length` each example goes to the
smallest bucket length that holds its real tokens (`input_mask`), and a batch is padded only
to its bucket's length, so XLA compiles one program per bucket (a bounded number) and a step
multiplies little padding.

- Prediction and evaluation: batches hold examples of one bucket; every example is computed
  exactly as when padded (padding is masked out of attention), to float tolerance, and the
  predictions are put back in input order (`in_input_order`).
- Training: `training_schedule` fixes how many batches each bucket gives per epoch, the same
  on every worker, so a seeded shuffle of that list makes every worker take the same bucket
  at the same step (the replicas stay in step; see `input_pipeline.bucketed_training`).

The bucket lengths are `--bucket_boundaries` when given, otherwise chosen from the input's
own length histogram (`choose_boundaries`): up to MAX_BUCKETS lengths, multiples of
MULTIPLE, that minimize the padded tokens plus BUCKET_COST_TOKENS for each bucket.
"""

import dataclasses

import numpy as np

from bert_tf.errors import UserError

MAX_BUCKETS = 4  # compiled shapes per run: each costs a compilation (MiniLM-L6 training: ~5 s)
MULTIPLE = 8  # bucket lengths chosen from the data are multiples of this
# A bucket more must save this many padded tokens per pass over the input: about what one
# more compilation costs against the tokens it saves computing (MiniLM-L6 on the 2-core CPU:
# forward ~1 s to compile, ~0.6 s per 32 x 128 tokens; training step ~5 s, ~1.7 s per 32 x 128),
# so a small input (MRPC's 408 dev pairs) gets one bucket and a large one up to MAX_BUCKETS.
BUCKET_COST_TOKENS = 16384
EXAMPLE_INDEX = "example_index"  # the feature that carries an example's position in its input


def parse_boundaries(text, max_seq_length, flag="--bucket_boundaries"):
    """`--bucket_boundaries` ("64,96,128") -> (64, 96, 128); "" -> () (chosen from the data).

    Lengths must be positive integers in increasing order, none above --max_seq_length;
    examples longer than the last one go to a bucket of --max_seq_length.
    """
    text = (text or "").strip()
    if not text:
        return ()
    try:
        values = tuple(int(x) for x in text.split(","))
    except ValueError:
        raise UserError(f"{flag}={text}: expected comma-separated sequence lengths in "
                        "increasing order, e.g. 32,64,128") from None
    if any(v < 1 for v in values):
        raise UserError(f"{flag}={text}: bucket lengths must be positive")
    if any(b <= a for a, b in zip(values, values[1:])):
        raise UserError(f"{flag}={text}: bucket lengths must be in increasing order, each once "
                        f"(e.g. {','.join(map(str, sorted(set(values))))})")
    if values[-1] > max_seq_length:
        raise UserError(f"{flag}={text}: {values[-1]} is above --max_seq_length={max_seq_length}; "
                        "no example is longer than that, so drop it or raise --max_seq_length")
    return values


def choose_boundaries(lengths, max_seq_length, max_buckets=MAX_BUCKETS, multiple=MULTIPLE,
                      bucket_cost=BUCKET_COST_TOKENS):
    """Up to `max_buckets` bucket lengths (multiples of `multiple`, or --max_seq_length) that
    minimize the total padded length of `lengths` plus `bucket_cost` per bucket, the last one
    holding the longest example.

    Dynamic programming over the length histogram: cost[k][j] is the least padded total of
    the examples up to candidate j with k buckets, the last one ending at j.
    """
    lengths = np.asarray(lengths, np.int64)
    if not len(lengths):
        return (max_seq_length,)
    candidates = sorted({min(c, max_seq_length) for c in range(multiple, max_seq_length + multiple, multiple)})
    top = next(i for i, c in enumerate(candidates) if c >= lengths.max())
    candidates = candidates[:top + 1]
    # below[i]: examples no longer than candidates[i]
    below = np.searchsorted(np.sort(lengths), candidates, side="right")
    inf = float("inf")
    cost = [[inf] * len(candidates) for _ in range(max_buckets + 1)]
    back = [[None] * len(candidates) for _ in range(max_buckets + 1)]
    for j, c in enumerate(candidates):
        cost[1][j] = float(below[j] * c)
    for k in range(2, max_buckets + 1):
        for j, c in enumerate(candidates):
            for i in range(j):
                total = cost[k - 1][i] + float((below[j] - below[i]) * c)
                if total < cost[k][j]:
                    cost[k][j], back[k][j] = total, i
    best_k = min(range(1, max_buckets + 1), key=lambda k: (cost[k][top] + k * bucket_cost, k))
    chosen, j = [], top
    for k in range(best_k, 0, -1):
        chosen.append(candidates[j])
        j = back[k][j]
    return tuple(sorted(chosen))


@dataclasses.dataclass(frozen=True)
class BucketSpec:
    """How a task's records are bucketed: their --max_seq_length, which parsed fields are per
    token (cut to the bucket length: `records.sequence_fields`), and the user's bucket
    lengths (empty: chosen from the data)."""

    max_seq_length: int
    sequence_fields: tuple
    boundaries: tuple = ()

    def resolve(self, lengths):
        """The bucket lengths for these example lengths: the user's (plus --max_seq_length
        when some example is longer than the last), or chosen from the data."""
        if not self.boundaries:
            return choose_boundaries(lengths, self.max_seq_length)
        boundaries = tuple(self.boundaries)
        if len(lengths) and np.max(lengths) > boundaries[-1]:
            boundaries += (self.max_seq_length,)
        return boundaries


def bucket_ids(lengths, boundaries):
    """Each length's bucket: the index of the smallest boundary that holds it."""
    return np.searchsorted(np.asarray(boundaries), np.asarray(lengths), side="left").astype(np.int64)


def training_schedule(ids, num_buckets, batch_size, num_workers):
    """(ids, batches): the examples' buckets after merging, and how many batches each bucket
    gives per epoch on every worker.

    A worker reads every `num_workers`-th example (`InputContext.shard_records`); a bucket
    gives as many batches as its smallest share on any worker holds, so every worker has the
    same list of buckets per epoch. A bucket too small for one batch on some worker is merged
    into the next longer one (the longest into the one below it), so no example is left out.
    """
    ids = np.array(ids, np.int64)

    def batches():
        shares = [np.bincount(ids[w::num_workers], minlength=num_buckets) for w in range(num_workers)]
        return np.min(shares, axis=0) // batch_size

    while True:
        counts, per_epoch = np.bincount(ids, minlength=num_buckets), batches()
        small = [b for b in range(num_buckets) if counts[b] and not per_epoch[b]]
        used = [b for b in range(num_buckets) if counts[b]]
        if not small or len(used) == 1:
            break
        b = small[0]
        if b != used[-1]:
            ids[ids == b] = used[used.index(b) + 1]  # into the next longer bucket
        else:
            ids[ids == used[-2]] = b  # the longest bucket takes the one below it
    if not per_epoch.sum():
        raise UserError(f"{len(ids)} training examples make no batch of {batch_size} on each of "
                        f"{num_workers} worker(s); lower --train_batch_size or add data")
    return ids, per_epoch


def in_input_order(predictions):
    """Predictions (dicts) carrying EXAMPLE_INDEX -> the same in input order, without it; rows
    marked -1 (the padding of a partial batch) are dropped. Predictions without it are
    already in order and returned as they are."""
    predictions = list(predictions)
    if not predictions or EXAMPLE_INDEX not in predictions[0]:
        return predictions
    real = [p for p in predictions if int(p[EXAMPLE_INDEX]) >= 0]
    ordered = sorted(real, key=lambda p: int(p[EXAMPLE_INDEX]))
    return [{k: v for k, v in p.items() if k != EXAMPLE_INDEX} for p in ordered]
