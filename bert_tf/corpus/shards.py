"""The output shards: names, the one being written, and what makes a run resumable.

Shard i holds the documents whose position in the input (the fraction of its bytes read at
the document's end) lies in [i/N, (i+1)/N): shards are contiguous runs of the input, even by
input bytes, finished one after the other. A shard is written under a temporary name and
renamed when complete; then its statistics and titles go to `.prepare_corpus/<name>.json`
with the run's fingerprint. A rerun after a kill skips every shard whose state file matches
its fingerprint and whose text file exists, and redoes the others.
"""

import contextlib
import dataclasses
import glob
import hashlib
import json
import os

from bert_tf import atomic

STATE_DIR = ".prepare_corpus"
STATUSES = ("kept", "disambiguation", "too_short", "redirect", "other_namespace")


def shard_names(output_dir, num_shards):
    return [os.path.join(output_dir, f"part-{i:05d}-of-{num_shards:05d}.txt") for i in range(num_shards)]


def shard_of(position, num_shards):
    return min(num_shards - 1, int(position * num_shards))


def fingerprint(settings):
    """A digest of everything that decides a shard's content (inputs by path, size, mtime)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


@dataclasses.dataclass
class ShardStats:
    pages: int = 0
    documents: int = 0
    sentences: int = 0
    characters: int = 0
    skipped: dict = dataclasses.field(default_factory=lambda: {s: 0 for s in STATUSES[1:]})
    titles: list = dataclasses.field(default_factory=list)

    def add(self, title, status, sentences):
        self.pages += 1
        if status != "kept":
            self.skipped[status] += 1
            return
        self.documents += 1
        self.sentences += len(sentences)
        self.characters += sum(map(len, sentences))
        self.titles.append(title)


def _state_path(output_dir, name):
    return os.path.join(output_dir, STATE_DIR, os.path.basename(name) + ".json")


def finished_shards(output_dir, names, run_fingerprint):
    """{shard index: its saved state} for shards a previous run of these settings completed."""
    done = {}
    for index, name in enumerate(names):
        try:
            with open(_state_path(output_dir, name), encoding="utf-8") as f:
                state = json.load(f)
        except (OSError, ValueError):
            continue
        if state.get("fingerprint") == run_fingerprint and os.path.isfile(name):
            done[index] = state
    return done


def remove_unfinished(output_dir, names, done):
    """What a killed or different earlier run left of the shards this run will write: their
    temporary files (atomic.temporary_name), and finished shards made with other settings,
    so that the folder never mixes runs."""
    for index, name in enumerate(names):
        stale = glob.glob(glob.escape(name) + ".tmp*")
        if index not in done:
            stale += [name, _state_path(output_dir, name)]
        for path in stale:
            if os.path.exists(path):
                os.remove(path)


class ShardWriter:
    """Takes results in input order and writes each unfinished shard whole, in order; a
    context manager (see __exit__)."""

    def __init__(self, output_dir, names, run_fingerprint, done):
        self.output_dir, self.names, self.fingerprint, self.done = output_dir, names, run_fingerprint, done
        self.states = dict(done)
        self.written = []
        self._current = -1
        self._stack = contextlib.ExitStack()
        self._file = None
        self._stats = None
        os.makedirs(os.path.join(output_dir, STATE_DIR), exist_ok=True)

    def add(self, shard, title, status, sentences):
        self._advance(shard)
        assert self._current not in self.done, f"shard {shard} is finished; its pages are not read"
        self._stats.add(title, status, sentences)
        if status == "kept":
            self._file.write("\n".join(sentences))
            self._file.write("\n\n")

    def _advance(self, shard):
        """Finish the shards before `shard` (a shard no page fell in is written empty)."""
        while self._current < shard:
            if self._file is not None:
                self._finish()
            self._current += 1
            if self._current not in self.done:
                self._open()

    def _open(self):
        self._file = self._stack.enter_context(atomic.open_text(self.names[self._current]))
        self._stats = ShardStats()

    def _finish(self):
        self._stack.close()  # renames the text file into place
        name = self.names[self._current]
        state = {"fingerprint": self.fingerprint, "file": os.path.basename(name),
                 **dataclasses.asdict(self._stats)}
        atomic.write_json(_state_path(self.output_dir, name), state)
        self.states[self._current] = state
        self.written.append(name)
        self._file = self._stats = None

    def close(self):
        """Finish the shard being written and write every later one (empty)."""
        self._advance(len(self.names) - 1)
        if self._file is not None:
            self._finish()

    def __enter__(self):
        return self

    def __exit__(self, *error):
        """On success every shard is finished; on an error the shard being written is dropped
        (its temporary file removed) and the finished ones stay for the rerun."""
        if error[0] is None:
            self.close()
        else:
            self._stack.__exit__(*error)
        return False
