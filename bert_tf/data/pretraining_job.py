"""create_pretraining_data's job: text files -> pretraining TFRecords, reference or parallel.

Reference mode reads every document, then runs Google's algorithm with one
`random.Random(random_seed)` and writes instances round-robin across the output files: the
records are Google's, record for record.

Parallel mode splits the documents into `num_output_shards` shards (document k goes to shard
k mod num_shards), and `num_workers` processes each take whole shards. A worker streams the
input, keeps only its shard's documents, runs the same algorithm with a seed derived from
`random_seed` and the shard index, and writes that shard's file. Memory is bounded by a
shard, not the corpus; the output depends on the seed and the shard count only.
"""

import contextlib
import dataclasses
import multiprocessing
import os
import random
import signal
import sys
import threading
import time

from absl import logging

from bert_tf import atomic
from bert_tf.data import pretraining
from bert_tf.tokenization import FullTokenizer, check_special_tokens
from bert_tf.errors import DataError


TF_TEXT_MIN_BYTES = 64 << 20


@dataclasses.dataclass
class JobOptions:
    input_files: list
    vocab_file: str
    output_files: list
    do_lower_case: bool = True
    max_seq_length: int = 128
    max_predictions_per_seq: int = 20
    random_seed: int = 12345
    dupe_factor: int = 10
    masked_lm_prob: float = 0.15
    short_seq_prob: float = 0.1
    do_whole_word_mask: bool = False
    gzip_compress: bool = False
    use_v2_feature_names: bool = False
    mode: str = "reference"
    num_workers: int = 1
    tokenizer: str = "auto"  # "python", "tf_text" or "auto" (see use_tf_text)
    preserve_unused_tokens: bool = False

    @property
    def use_tf_text(self):
        """tensorflow-text tokenizes ~10x faster than our memoized Python tokenizer, but loading
        TensorFlow costs ~5 s and ~700 MB per process: worth it for large reference runs."""
        if self.tokenizer != "auto":
            return self.tokenizer == "tf_text"
        size = sum(os.path.getsize(f) for f in self.input_files)
        return self.mode == "reference" and size > TF_TEXT_MIN_BYTES

    @property
    def masking(self):
        return pretraining.MaskingOptions(self.masked_lm_prob, self.max_predictions_per_seq,
                                          self.do_whole_word_mask)


# ---------------------------------------------------------------------- output names
def shard_names(output_dir, num_shards, gzip=False):
    suffix = ".tfrecord.gz" if gzip else ".tfrecord"
    return [os.path.join(output_dir, f"part-{i:05d}-of-{num_shards:05d}{suffix}")
            for i in range(num_shards)]


def validate(options: JobOptions):
    o = options
    if o.mode not in ("reference", "parallel"):
        raise DataError(f"--mode={o.mode}: use 'reference' or 'parallel'")
    if o.tokenizer not in ("auto", "python", "tf_text"):
        raise DataError(f"--tokenizer={o.tokenizer}: use auto, python or tf_text")
    if not 0 < o.masked_lm_prob < 1:
        raise DataError(f"--masked_lm_prob={o.masked_lm_prob} must be in (0, 1)")
    if not 0 <= o.short_seq_prob <= 1:
        raise DataError(f"--short_seq_prob={o.short_seq_prob} must be in [0, 1]")
    if o.max_seq_length < 5:
        raise DataError(f"--max_seq_length={o.max_seq_length} leaves no room for two segments "
                        "and [CLS], [SEP], [SEP]; use at least 5")
    if not 1 <= o.max_predictions_per_seq <= o.max_seq_length - 3:
        raise DataError(f"--max_predictions_per_seq={o.max_predictions_per_seq} must be between 1 "
                        f"and {o.max_seq_length - 3} (the tokens a sequence of --max_seq_length="
                        f"{o.max_seq_length} can hold besides [CLS] and two [SEP])")
    if o.dupe_factor < 1:
        raise DataError(f"--dupe_factor={o.dupe_factor} must be at least 1")
    if o.num_workers < 1:
        raise DataError(f"--num_workers={o.num_workers} must be at least 1")
    if not o.output_files:
        raise DataError("give --output_file (comma list) or --output_dir")
    for path in o.output_files:
        atomic.check_output_file(path, f"output file {path}")
    for path in o.input_files:
        check_text_file(path)


def check_text_file(path):
    """Refuse a file with NUL bytes (binary); warn when much of it is not UTF-8 text.

    Undecodable bytes are dropped as Google's `convert_to_unicode` drops them, which is right
    for a stray byte but silently wrong for a binary file or text in another encoding; so a
    sample of the file (its start, middle and end) is measured and the fraction reported."""
    try:
        with open(path, "rb") as f:
            head = f.read(SAMPLE_BYTES)
            samples = [head] + _more_samples(f)
    except OSError as e:
        raise DataError(f"--input_file {path}: cannot read it ({e.strerror})") from e
    if b"\x00" in head:
        raise DataError(f"--input_file {path}: this is not a text file (it contains NUL bytes); "
                        "inputs are UTF-8 text, one sentence per line")
    fraction = not_text_fraction(b"".join(samples))
    if fraction > NOT_TEXT_WARNING:
        logging.warning("--input_file %s: %.0f%% of its bytes (sampled) are not UTF-8 text "
                        "(undecodable bytes, dropped when read, or control characters): is it "
                        "a binary file, or text in another encoding? Convert it to UTF-8 "
                        "(e.g. iconv -f latin1 -t utf-8)", path, 100 * fraction)
    return fraction


SAMPLE_BYTES = 65536
NOT_TEXT_WARNING = 0.05  # random bytes measure ~0.55; accented Latin-1 text 0.02-0.2
_CONTROL_BYTES = bytes(b for b in range(32) if b not in b"\t\n\r\x0b\x0c") + b"\x7f"


def _more_samples(f):
    """The middle and the last SAMPLE_BYTES of an open file larger than three samples."""
    size = f.seek(0, os.SEEK_END)
    if size <= 3 * SAMPLE_BYTES:
        f.seek(SAMPLE_BYTES)
        return [f.read()]
    out = []
    for offset in (size // 2, size - SAMPLE_BYTES):
        f.seek(offset)
        out.append(f.read(SAMPLE_BYTES))
    return out


def not_text_fraction(data):
    """Fraction of `data`'s bytes that UTF-8 decoding drops or that are control characters
    (other than tab, newline and the like)."""
    if not data:
        return 0.0
    decoded = data.decode("utf-8", "ignore").encode("utf-8")
    dropped = len(data) - len(decoded)
    controls = len(decoded) - len(decoded.translate(None, _CONTROL_BYTES))
    return (dropped + controls) / len(data)


# ---------------------------------------------------------------------- reading
def iter_raw_documents(input_files):
    """Yield each document as a list of stripped lines (Google's reading: blank line = break,
    documents run on across file boundaries, undecodable bytes dropped)."""
    current = []
    for path in input_files:
        with open(path, "rb") as f:
            for raw in f:
                line = raw.decode("utf-8", "ignore").strip()
                if line:
                    current.append(line)
                elif current:
                    yield current
                    current = []
    if current:
        yield current


def tokenize_documents(raw_documents, tokenizer, use_tf_text=False):
    """Raw documents -> token documents; lines that tokenize to nothing are dropped."""
    lines = [line for doc in raw_documents for line in doc]
    tokenized = iter(tokenizer.tokenize_lines(lines, use_fast_path=use_tf_text))
    documents = []
    for doc in raw_documents:
        segments = [t for t in (next(tokenized) for _ in doc) if t]
        if segments:
            documents.append(segments)
    return documents


# ---------------------------------------------------------------------- writing
@dataclasses.dataclass
class Stats:
    documents: int = 0
    instances: int = 0
    tokens: int = 0
    masked_tokens: int = 0
    random_next: int = 0
    files: list = dataclasses.field(default_factory=list)  # written
    empty_files: list = dataclasses.field(default_factory=list)  # no record: not written

    def add(self, other):
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


def write_records(records, output_files, gzip_compress=False):
    """Round-robin over the output files, as Google does; files appear only when complete.

    An output that would receive no record is not written, and a file left at its name by an
    earlier run is removed (it would be taken for this run's output). Returns (written, empty).
    On any failure every file of this call is removed, temporary or already renamed.
    """
    from bert_tf.records import RecordWriter
    writers, written, empty = [], [], []
    try:
        for path in output_files:
            writers.append(RecordWriter(path, gzip_compress))
        for index, record in enumerate(records):
            writers[index % len(writers)].write(record)
        for writer in writers:
            if writer.count:
                writer.close()
                written.append(writer.path)
            else:
                writer.abort()
                atomic.remove_quietly(writer.path)
                empty.append(writer.path)
    except BaseException:
        for writer in writers:
            writer.abort()
        for path in written:
            atomic.remove_quietly(path)
        raise
    return written, empty


def make_tokenizer(options):
    tokenizer = FullTokenizer(options.vocab_file, options.do_lower_case,
                              options.preserve_unused_tokens)
    check_special_tokens(tokenizer.vocab, options.vocab_file)
    return tokenizer


def _records(documents, tokenizer, rng, options, stats):
    """Google's instances for `documents`, serialized as they are made; counts into stats."""
    from bert_tf.records import PretrainingEncoder
    encoder = PretrainingEncoder(tokenizer.vocab, options.max_seq_length,
                                 options.max_predictions_per_seq, options.use_v2_feature_names)

    def finish(instance):
        stats.instances += 1
        stats.tokens += len(instance.tokens)
        stats.masked_tokens += len(instance.masked_lm_positions)
        stats.random_next += int(instance.is_random_next)
        return encoder.encode(instance.tokens, instance.segment_ids, instance.masked_lm_positions,
                              instance.masked_lm_labels, instance.is_random_next)

    return pretraining.create_training_instances(
        documents, list(tokenizer.vocab.keys()), rng, options.max_seq_length,
        options.dupe_factor, options.short_seq_prob, options.masking, finish=finish)


# ---------------------------------------------------------------------- the two modes
def run_reference(options: JobOptions):
    tokenizer = make_tokenizer(options)
    start = time.time()
    documents = tokenize_documents(list(iter_raw_documents(options.input_files)), tokenizer,
                                   options.use_tf_text)
    if not documents:
        raise DataError(f"--input_file: no text in {', '.join(options.input_files)} (every line "
                        "is blank or tokenizes to nothing)")
    logging.info("read %d documents in %.1fs; creating instances", len(documents), time.time() - start)
    stats = Stats(documents=len(documents))
    records = _records(documents, tokenizer, random.Random(options.random_seed), options, stats)
    del documents
    stats.files, stats.empty_files = write_records(records, options.output_files,
                                                   options.gzip_compress)
    return stats


def _run_shards(args):
    """Worker: build and write the shards assigned to it; returns their stats."""
    options, shards, num_shards = args
    tokenizer = make_tokenizer(options)
    results = []
    for shard in shards:
        raw = [doc for k, doc in enumerate(iter_raw_documents(options.input_files))
               if k % num_shards == shard]
        documents = tokenize_documents(raw, tokenizer, options.use_tf_text)
        stats = Stats(documents=len(documents))
        rng = random.Random(pretraining.shard_seed(options.random_seed, shard))
        records = _records(documents, tokenizer, rng, options, stats) if documents else []
        del documents, raw
        stats.files, stats.empty_files = write_records(
            records, [options.output_files[shard]], options.gzip_compress)
        results.append((shard, stats))
    return results


def _ignore_sigint():
    """Pool workers leave Ctrl-C to the parent, which stops them and removes their files."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_parallel(options: JobOptions):
    num_shards = len(options.output_files)
    make_tokenizer(options)  # fail early on a bad vocab
    if next(iter_raw_documents(options.input_files), None) is None:
        raise DataError(f"--input_file: no text in {', '.join(options.input_files)}")
    workers = min(options.num_workers, num_shards)
    # Shards are dealt out in rounds so that progress is reported as they finish.
    tasks = [(options, [s], num_shards) for s in range(num_shards)]
    stats, done, start = Stats(), 0, time.time()
    pool = multiprocessing.get_context("spawn").Pool(workers, initializer=_ignore_sigint)
    try:
        for results in pool.imap_unordered(_run_shards, tasks):
            for _, shard_stats in results:
                stats.add(shard_stats)
                done += 1
            elapsed = time.time() - start
            eta = elapsed / done * (num_shards - done)
            logging.info("shards %d/%d, %d documents (%.0f/s), %d instances written, ETA %.0fs",
                         done, num_shards, stats.documents, stats.documents / max(elapsed, 1e-9),
                         stats.instances, eta)
    except BaseException:
        # A failed shard (or Ctrl-C) stops the others mid-write: remove what they leave.
        pool.terminate()
        pool.join()
        for path in stats.files:
            atomic.remove_quietly(path)
        for folder in sorted({os.path.dirname(os.path.abspath(f)) for f in options.output_files}):
            atomic.remove_stale_temporaries(folder, min_age_seconds=0, targets=options.output_files)
        raise
    pool.terminate()
    pool.join()
    if stats.documents == 0:
        raise DataError(f"--input_file: no text in {', '.join(options.input_files)}")
    stats.files.sort()
    stats.empty_files.sort()
    return stats


def run(options: JobOptions, summary_path=None):
    """Validate, run the chosen mode, write the summary JSON; returns the summary dict."""
    validate(options)
    start = time.time()
    with _sigterm_as_exit():
        stats = run_reference(options) if options.mode == "reference" else run_parallel(options)
    if stats.empty_files:
        logging.warning("%d of %d output files would hold no record (more files than "
                        "documents): not written: %s", len(stats.empty_files),
                        len(options.output_files), ", ".join(stats.empty_files))
    counts = {f.name: getattr(stats, f.name) for f in dataclasses.fields(stats)
              if f.name not in ("files", "empty_files")}
    summary = {"mode": options.mode, "files": stats.files,
               "empty_files_not_written": stats.empty_files,
               "seconds": round(time.time() - start, 2), **counts,
               "max_seq_length": options.max_seq_length,
               "max_predictions_per_seq": options.max_predictions_per_seq,
               "random_seed": options.random_seed, "dupe_factor": options.dupe_factor,
               "do_whole_word_mask": options.do_whole_word_mask,
               "use_v2_feature_names": options.use_v2_feature_names}
    summary_path = summary_path or os.path.join(os.path.dirname(os.path.abspath(options.output_files[0])),
                                                "pretraining_data_summary.json")
    atomic.write_json(summary_path, summary, indent=2)
    logging.info("wrote %d instances (%d tokens, %d masked) to %d file(s) in %.1fs; summary: %s",
                 stats.instances, stats.tokens, stats.masked_tokens, len(stats.files),
                 summary["seconds"], summary_path)
    return summary


@contextlib.contextmanager
def _sigterm_as_exit():
    """SIGTERM (a scheduler stopping the job) unwinds like Ctrl-C, so that the writers
    remove their temporary files; exit status 143 as for an unhandled SIGTERM."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        print("error: stopped (SIGTERM); unfinished output files are removed", file=sys.stderr)
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
