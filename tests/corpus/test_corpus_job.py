"""The job: shards, order, resuming, statistics, plain text inputs (small inputs made here)."""

import json
import os

import pytest

from bert_tf.corpus import dump, job, shards, text_files
from bert_tf.errors import DataError
from test_dump import dump_xml, page

ARTICLES = [page(f"Article {i}", f"'''Article {i}''' is about [[topic {i}]]. " * 3
                 + f"It has a second sentence, number {i}. " * 4) for i in range(30)]
SKIPPED = [page("Redirected", "#REDIRECT [[Article 1]]", redirect=True),
           page("Talk:Article 1", "A talk page that is long enough to be kept. " * 9, ns=1),
           page("Stub", "Too short."),
           page("Article (disambiguation)", "'''Article''' may refer to:\n* [[Article 1]]")]
PAGES = ARTICLES[:10] + SKIPPED + ARTICLES[10:]
TIMINGS = ("seconds", "shards_resumed", "input_mb_per_second")


def options(tmp_path, inputs, out="out", **kw):
    return job.CorpusOptions(input_file=",".join(map(str, inputs)), output_dir=str(tmp_path / out),
                             num_output_shards=kw.pop("num_output_shards", 4),
                             min_document_chars=kw.pop("min_document_chars", 50), **kw)


@pytest.fixture(autouse=True)
def fine_positions(monkeypatch):
    """Positions every 256 bytes, so that a dump of a few kB spreads over several shards."""
    monkeypatch.setattr(dump, "FEED", 256)


@pytest.fixture
def small_dump(tmp_path):
    path = tmp_path / "small.xml"
    path.write_text(dump_xml(PAGES), "utf-8")
    return path


def shard_texts(folder):
    return {n: (folder / n).read_text("utf-8") for n in sorted(os.listdir(folder)) if n.startswith("part-")}


def test_shards_counts_and_titles(tmp_path, small_dump):
    summary = job.run(options(tmp_path, [small_dump]))
    texts = shard_texts(tmp_path / "out")
    assert list(texts) == [f"part-0000{i}-of-00004.txt" for i in range(4)]
    assert summary["pages_read"] == 34 and summary["articles"] == 32 and summary["documents"] == 30
    assert summary["skipped"] == {"disambiguation": 1, "too_short": 1, "redirect": 1, "other_namespace": 1}
    titles = [t for s in summary["shards"] for t in s["titles"]]
    assert titles == [f"Article {i}" for i in range(30)]  # input order, every kept article
    documents = [d for text in texts.values() for d in text.split("\n\n") if d]
    assert len(documents) == 30 and all(text.endswith("\n\n") for text in texts.values())
    assert documents[0].split("\n")[0] == "Article 0 is about topic 0."
    assert summary["sentences"] == sum(d.count("\n") + 1 for d in documents) == 30 * 7
    assert summary["characters"] == sum(len(d) - d.count("\n") for d in documents)
    assert all(5 <= s["documents"] <= 10 for s in summary["shards"])  # even by input bytes
    on_disk = json.loads((tmp_path / "out" / job.SUMMARY_NAME).read_text("utf-8"))
    assert on_disk["documents"] == 30 and on_disk["shards"][0]["titles"] == summary["shards"][0]["titles"]


def test_output_does_not_depend_on_the_worker_count(tmp_path, small_dump):
    job.run(options(tmp_path, [small_dump, small_dump], "one", num_output_shards=3))
    job.run(options(tmp_path, [small_dump, small_dump], "two", num_output_shards=3, num_workers=2))
    assert shard_texts(tmp_path / "one") == shard_texts(tmp_path / "two")


def test_rerun_keeps_finished_shards_and_redoes_the_rest(tmp_path, small_dump):
    first = job.run(options(tmp_path, [small_dump]))
    out = tmp_path / "out"
    before = shard_texts(out)
    kept = out / "part-00000-of-00004.txt"
    stamp = kept.stat().st_mtime_ns
    # as a kill leaves it: shard 2 and 3 unfinished, a temporary file, no summary
    for name in ("part-00002-of-00004.txt", "part-00003-of-00004.txt"):
        os.remove(out / name)
    (out / "part-00002-of-00004.txt.tmp999").write_text("half")
    os.remove(out / job.SUMMARY_NAME)
    second = job.run(options(tmp_path, [small_dump]))
    assert kept.stat().st_mtime_ns == stamp and second["shards_resumed"] == 2
    assert shard_texts(out) == before and not list(out.glob("*.tmp*"))
    assert {k: v for k, v in second.items() if k not in TIMINGS} == \
        {k: v for k, v in first.items() if k not in TIMINGS}


def test_other_settings_redo_every_shard(tmp_path, small_dump):
    job.run(options(tmp_path, [small_dump]))
    summary = job.run(options(tmp_path, [small_dump], min_document_chars=10))
    assert summary["shards_resumed"] == 0 and summary["skipped"]["too_short"] == 0


def test_no_document_kept_is_an_error_and_leaves_nothing(tmp_path, small_dump):
    with pytest.raises(DataError, match="no documents kept from 34 pages"):
        job.run(options(tmp_path, [small_dump], min_document_chars=100000))
    assert [n for n in os.listdir(tmp_path / "out") if not n.startswith(".")] == []


def test_more_shards_than_pages_gives_empty_shards(tmp_path, small_dump):
    summary = job.run(options(tmp_path, [small_dump], num_output_shards=64))
    assert len(summary["shards"]) == 64 and summary["documents"] == 30
    assert len(shard_texts(tmp_path / "out")) == 64


def test_plain_text_one_document_per_file_or_per_blank_line(tmp_path):
    folder = tmp_path / "books"
    folder.mkdir()
    (folder / "a.txt").write_text("The first line is hard\nwrapped here. A second sentence.\n\n"
                                  "A new paragraph follows. It ends.\n", "utf-8")
    (folder / "b.txt").write_text("第一句话。第二句话！\n\n第三句话？\n", "utf-8")
    (folder / "skip.md").write_text("not read", "utf-8")
    per_file = job.run(options(tmp_path, [folder], "f", num_output_shards=1, min_document_chars=1,
                               language="zh"))
    assert per_file["documents"] == 2 and per_file["shards"][0]["titles"] == ["a.txt", "b.txt"]
    assert (tmp_path / "f" / "part-00000-of-00001.txt").read_text("utf-8") == (
        "The first line is hard wrapped here.\nA second sentence.\nA new paragraph follows.\nIt ends.\n\n"
        "第一句话。\n第二句话！\n第三句话？\n\n")
    per_block = job.run(options(tmp_path, [folder], "b", num_output_shards=1, min_document_chars=1,
                                text_documents="blank_line"))
    assert per_block["documents"] == 4
    assert per_block["shards"][0]["titles"] == ["a.txt:1", "a.txt:4", "b.txt:1", "b.txt:3"]


def test_text_documents_positions(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("one\n\ntwo\n\nthree\n", "utf-8")
    assert [(t, p) for t, _, p in text_files.documents(str(path), "blank_line")] == \
        [("t.txt:1", 5 / 16), ("t.txt:3", 10 / 16), ("t.txt:5", 1.0)]


def test_shard_of_a_position():
    assert [shards.shard_of(p, 4) for p in (0.0, 0.24, 0.25, 0.99, 1.0)] == [0, 0, 1, 3, 3]


@pytest.mark.parametrize("flags,message", [
    ({"num_output_shards": 0}, "--num_output_shards=0 must be at least 1"),
    ({"num_workers": 0}, "--num_workers=0 must be at least 1"),
    ({"language": "English"}, "--language='English'"),
    ({"min_document_chars": -1}, "--min_document_chars=-1"),
])
def test_bad_flags(tmp_path, small_dump, flags, message):
    with pytest.raises(DataError) as error:
        job.run(options(tmp_path, [small_dump], **flags))
    assert message in str(error.value)
    assert not (tmp_path / "out").exists()


def test_a_failure_mid_run_leaves_finished_shards_and_no_temporary(tmp_path, small_dump, monkeypatch):
    real, calls = job.documents.clean_batch, []

    def failing(batch):
        calls.append(1)
        if len(calls) == 3:
            raise DataError("boom")
        return real(batch)
    monkeypatch.setattr(job, "BATCH_ITEMS", 4)
    monkeypatch.setattr(job.documents, "clean_batch", failing)
    with pytest.raises(DataError, match="boom"):
        job.run(options(tmp_path, [small_dump]))
    out = tmp_path / "out"
    assert sorted(n for n in os.listdir(out) if not n.startswith(".")) == ["part-00000-of-00004.txt"]
    monkeypatch.setattr(job.documents, "clean_batch", real)
    assert job.run(options(tmp_path, [small_dump]))["shards_resumed"] == 1


def test_batches_in_flight_are_bounded():
    """Memory does not grow with the input: the reader runs at most IN_FLIGHT_PER_WORKER
    batches per worker ahead of what has been written."""
    pulled, lags = [0], []

    def batches():
        for index in range(40):
            pulled[0] += 1
            yield (job.documents.Rules(), (), [("text", 0, f"t{index}", "A sentence here.")]), index / 40

    for done, (results, _) in enumerate(job._results(batches(), num_workers=2), 1):
        assert len(results) == 1
        lags.append(pulled[0] - done)
    assert len(lags) == 40 and max(lags) <= job.IN_FLIGHT_PER_WORKER * 2
