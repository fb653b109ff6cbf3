"""prepare_corpus's job: dumps and text files -> text shards for create_pretraining_data.

The main process streams the inputs (dump.DumpReader, text_files.documents), groups pages
into batches of at most BATCH_ITEMS pages or BATCH_CHARS characters and, with
--num_workers=N > 1, hands them to N spawned worker processes (documents.clean_batch) with at
most IN_FLIGHT_PER_WORKER batches each in flight; results come back in input order and are
written by shards.ShardWriter. Memory is bounded by the batches in flight and one page being
parsed, not by the dump. With --num_workers=1 everything runs in this process.

The output depends on the inputs and the flags, never on --num_workers: a page's shard is
fixed by its position in the input and results are written in input order.
"""

import collections
import dataclasses
import multiprocessing
import os
import time

from absl import logging

import sentencex

from bert_tf import atomic
from bert_tf.corpus import documents, dump, sentences, shards, sources as sources_lib, text_files
from bert_tf.errors import DataError

BATCH_ITEMS = 64
BATCH_CHARS = 2 << 20
IN_FLIGHT_PER_WORKER = 2
PROGRESS_SECONDS = 10.0
SUMMARY_NAME = "prepare_corpus_summary.json"
FORMAT_VERSION = 1


@dataclasses.dataclass
class CorpusOptions:
    input_file: str
    output_dir: str
    num_output_shards: int = 64
    num_workers: int = 1
    language: str = "en"
    min_document_chars: int = 200
    skip_disambiguation: bool = True
    text_documents: str = "file"

    @property
    def rules(self):
        return documents.Rules(self.language, self.min_document_chars, self.skip_disambiguation,
                               self.text_documents)


# ---------------------------------------------------------------------- checks
def validate(options):
    """Flags and inputs checked, output folder made: returns the Sources. Nothing is written
    before this passes."""
    o = options
    if o.num_output_shards < 1:
        raise DataError(f"--num_output_shards={o.num_output_shards} must be at least 1")
    if o.num_workers < 1:
        raise DataError(f"--num_workers={o.num_workers} must be at least 1")
    if o.min_document_chars < 0:
        raise DataError(f"--min_document_chars={o.min_document_chars} must be 0 or more")
    if not sentences.check_language(o.language):
        raise DataError(f"--language={o.language!r}: give an ISO 639 code such as en, zh, bg")
    if o.text_documents not in ("file", "blank_line"):
        raise DataError(f"--text_documents={o.text_documents}: use file or blank_line")
    if not o.output_dir:
        raise DataError("--output_dir is required")
    found = sources_lib.expand(o.input_file)
    try:
        os.makedirs(o.output_dir, exist_ok=True)
    except OSError as e:
        raise DataError(f"--output_dir {o.output_dir} cannot be created: {e.strerror}") from e
    if not os.access(o.output_dir, os.W_OK):
        raise DataError(f"--output_dir {o.output_dir} is not writable")
    return found


def settings_of(options, found):
    """Everything that decides the shards' content: the fingerprint's input."""
    return {"version": FORMAT_VERSION, "sentencex": _sentencex_version(),
            "inputs": [[s.path, s.size, os.stat(s.path).st_mtime_ns] for s in found],
            **{k: v for k, v in dataclasses.asdict(options).items()
               if k not in ("input_file", "output_dir", "num_workers")}}


def _sentencex_version():
    from importlib import metadata
    try:
        return metadata.version("sentencex")
    except metadata.PackageNotFoundError:
        return getattr(sentencex, "__version__", "unknown")


# ---------------------------------------------------------------------- reading
def _dump_items(source):
    reader = dump.DumpReader(source.path)
    for page in reader.pages():
        if page.namespace != 0:
            item = ("other_namespace", page.title, None)
        elif page.redirect or page.text.lstrip()[:9].upper() == "#REDIRECT":
            item = ("redirect", page.title, None)
        else:
            item = ("article", page.title, page.text)
        yield reader.namespace_names, item, page.position


def _text_items(source, layout):
    for title, text, position in text_files.documents(source.path, layout):
        yield (), ("text", title, text), position


def _batches(found, options, done):
    """(batch for documents.clean_batch, input position at its end); pages of finished
    shards are read past without being sent."""
    total = sum(s.size for s in found) or 1
    base, items, chars, names, position = 0, [], 0, (), 0.0
    for source in found:
        stream = _dump_items(source) if source.kind == "dump" else _text_items(source, options.text_documents)
        for namespace_names, (kind, title, text), local in stream:
            position = (base + local * source.size) / total
            shard = shards.shard_of(position, options.num_output_shards)
            if shard in done:
                continue
            if items and (namespace_names != names or len(items) >= BATCH_ITEMS or chars >= BATCH_CHARS):
                yield (options.rules, names, items), position
                items, chars = [], 0
            names = namespace_names
            items.append((kind, shard, title, text))
            chars += len(text or "")
        base += source.size
    if items:
        yield (options.rules, names, items), position


# ---------------------------------------------------------------------- progress
def _duration(seconds):
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else \
        f"{seconds // 60}m{seconds % 60:02d}s"


class Progress:
    """Logs what is done and an ETA from the input's bytes, every PROGRESS_SECONDS."""

    def __init__(self, total_bytes, num_shards):
        self.total_bytes, self.num_shards = total_bytes, num_shards
        self.start = self.last = time.time()
        self.pages = self.documents = self.sentences = 0

    def count(self, status, found):
        self.pages += 1
        if status == "kept":
            self.documents += 1
            self.sentences += len(found)

    def report(self, position, shards_done, force=False):
        now = time.time()
        if not force and now - self.last < PROGRESS_SECONDS:
            return
        self.last = now
        elapsed = max(now - self.start, 1e-9)
        done = max(position, 1e-9)
        eta = elapsed / done * (1.0 - position)
        logging.info("%.1f%% of the input (%.1f MB/s), shards %d/%d, %d pages, %d documents, "
                     "%d sentences, ETA %s", 100 * position, done * self.total_bytes / 1e6 / elapsed,
                     shards_done, self.num_shards, self.pages, self.documents, self.sentences,
                     _duration(eta))


# ---------------------------------------------------------------------- the run
def _results(batches, num_workers):
    """Each batch's results in input order, with the batch's end position."""
    if num_workers == 1:
        for batch, position in batches:
            yield documents.clean_batch(batch), position
        return
    context = multiprocessing.get_context("spawn")
    with context.Pool(num_workers) as pool:
        pending = collections.deque()
        for batch, position in batches:
            pending.append((pool.apply_async(documents.clean_batch, (batch,)), position))
            if len(pending) >= IN_FLIGHT_PER_WORKER * num_workers:
                result, at = pending.popleft()
                yield result.get(), at
        while pending:
            result, at = pending.popleft()
            yield result.get(), at


def _write(options, found, names, run_fingerprint, done):
    progress = Progress(sum(s.size for s in found), len(names))
    with shards.ShardWriter(options.output_dir, names, run_fingerprint, done) as writer:
        for results, position in _results(_batches(found, options, done), options.num_workers):
            for shard, title, status, found_sentences in results:
                writer.add(shard, title, status, found_sentences)
                progress.count(status, found_sentences)
            progress.report(position, len(writer.states))
    progress.report(1.0, len(writer.states), force=True)
    return writer


def _forget(output_dir, written):
    for name in written:
        for path in (name, os.path.join(output_dir, shards.STATE_DIR, os.path.basename(name) + ".json")):
            if os.path.exists(path):
                os.remove(path)


def summarize(options, found, names, states, seconds, resumed):
    totals = {"pages": 0, "documents": 0, "sentences": 0, "characters": 0,
              "skipped": {s: 0 for s in shards.STATUSES[1:]}}
    for state in states:
        for key in ("pages", "documents", "sentences", "characters"):
            totals[key] += state[key]
        for key, value in state["skipped"].items():
            totals["skipped"][key] += value
    skipped = totals["skipped"]
    input_bytes = sum(s.size for s in found)
    return {
        "inputs": [{"path": s.path, "kind": s.kind, "bytes": s.size} for s in found],
        "output_files": [os.path.basename(n) for n in names],
        **{k: v for k, v in dataclasses.asdict(options).items() if k not in ("input_file", "output_dir")},
        "pages_read": totals["pages"],
        "articles": totals["pages"] - skipped["redirect"] - skipped["other_namespace"],
        "articles_kept": totals["documents"],
        "documents": totals["documents"], "sentences": totals["sentences"],
        "characters": totals["characters"], "skipped": skipped,
        "sentences_per_document": round(totals["sentences"] / max(1, totals["documents"]), 2),
        "seconds": round(seconds, 2), "shards_resumed": resumed,
        "input_mb_per_second": round(input_bytes / 1e6 / max(seconds, 1e-9), 2) if not resumed else None,
        "shards": [{"file": st["file"], "documents": st["documents"], "sentences": st["sentences"],
                    "characters": st["characters"], "titles": st["titles"]} for st in states],
    }


def run(options):
    """Validate, write the shards not yet finished, write the summary; returns the summary."""
    found = validate(options)
    names = shards.shard_names(options.output_dir, options.num_output_shards)
    run_fingerprint = shards.fingerprint(settings_of(options, found))
    done = shards.finished_shards(options.output_dir, names, run_fingerprint)
    shards.remove_unfinished(options.output_dir, names, done)
    if done:
        logging.info("resuming: %d of %d shards are finished and kept", len(done), len(names))
    start = time.time()
    written = []
    states = dict(done)
    if len(done) < len(names):
        if os.path.exists(os.path.join(options.output_dir, SUMMARY_NAME)):
            os.remove(os.path.join(options.output_dir, SUMMARY_NAME))  # it described other shards
        writer = _write(options, found, names, run_fingerprint, done)
        states, written = writer.states, writer.written
    ordered = [states[i] for i in range(len(names))]
    summary = summarize(options, found, names, ordered, time.time() - start, len(done))
    if summary["documents"] == 0:
        _forget(options.output_dir, written)
        raise DataError(f"--input_file: no documents kept from {summary['pages_read']} pages "
                        f"read (skipped: {summary['skipped']}); is --min_document_chars="
                        f"{options.min_document_chars} too high?")
    path = os.path.join(options.output_dir, SUMMARY_NAME)
    atomic.write_json(path, summary, indent=1, ensure_ascii=False)
    logging.info("%d documents, %d sentences, %d characters from %d pages in %d shards (%.1fs); "
                 "summary: %s", summary["documents"], summary["sentences"], summary["characters"],
                 summary["pages_read"], len(names), summary["seconds"], path)
    return summary
