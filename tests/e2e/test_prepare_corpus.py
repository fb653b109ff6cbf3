"""prepare_corpus.py as a user runs it, on the real (shortened) Wikipedia dumps in
../shared/data/wikipedia: markup gone, golden first sentences, tables give prose, the UTF-16
dump read, a killed run resumed, bad input named with nothing half-written."""

import bz2
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, need

ENWIKI = "wikipedia/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
TABLES = "wikipedia/enwiki-table-markup.xml.bz2"
BGWIKI = "wikipedia/bgwiki-latest-pages-articles-shortened.xml.bz2"
MARKUP = ("{{", "}}", "[[", "]]", "|-", "<ref", "&nbsp;", "<!--", "'''", "{|", "|}", "==")


def prepare(*flags, check=True):
    result = subprocess.run([sys.executable, str(ROOT / "prepare_corpus.py"), *map(str, flags)],
                            capture_output=True, text=True, timeout=300)
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def shard_text(folder):
    return "".join((folder / n).read_text("utf-8") for n in sorted(os.listdir(folder)) if n.startswith("part-"))


def documents(text):
    return [d.split("\n") for d in text.split("\n\n") if d.strip()]


@pytest.fixture(scope="module")
def english(tmp_path_factory):
    out = tmp_path_factory.mktemp("enwiki")
    result = prepare(f"--input_file={need(ENWIKI)}", f"--output_dir={out}", "--num_output_shards=4",
                     "--num_workers=2")
    summary = json.loads((out / "prepare_corpus_summary.json").read_text("utf-8"))
    return out, summary, result.stderr


def test_english_dump_leaves_no_markup(english):
    out, _, _ = english
    text = shard_text(out)
    for mark in MARKUP:
        assert text.count(mark) == 0, (mark, text[max(0, text.find(mark) - 200):text.find(mark) + 200])


def test_english_dump_counts_and_every_title_in_the_summary(english):
    out, summary, log = english
    # 206 pages: 100 redirects (99 by <redirect>, one by its text), 1 project page, 8
    # disambiguation pages, 1 article too short; measured: 97 documents, 17,7xx sentences
    assert summary["pages_read"] == 206 and summary["skipped"]["other_namespace"] == 1
    assert summary["skipped"]["redirect"] >= 99 and summary["skipped"]["disambiguation"] == 8
    assert 90 <= summary["documents"] <= 100 and summary["articles_kept"] == summary["documents"]
    docs = documents(shard_text(out))
    titles = [t for s in summary["shards"] for t in s["titles"]]
    assert len(docs) == len(titles) == summary["documents"] == len(set(titles))
    assert {"Anarchism", "Autism", "Albedo", "Alabama", "Aristotle", "Algeria"} <= set(titles)
    assert not {"AccessibleComputing", "Austin (disambiguation)", "Alien"} & set(titles)
    assert summary["sentences"] == sum(map(len, docs))
    # plausible: ~180 sentences per article, ~140 characters per sentence
    assert 100 <= summary["sentences_per_document"] <= 300
    assert 80 <= summary["characters"] / summary["sentences"] <= 200
    assert [s["file"] for s in summary["shards"]] == [f"part-0000{i}-of-00004.txt" for i in range(4)]
    sizes = [s["characters"] for s in summary["shards"]]
    assert min(sizes) > 0.4 * max(sizes)  # even by input bytes: measured 503k-764k characters
    assert "ETA" in log and "of the input" in log


def test_golden_first_sentences_of_anarchism(english):
    out, _, _ = english
    first = documents(shard_text(out))[0]
    assert first[:4] == [
        "Anarchism is a political philosophy that advocates self-governed societies based on "
        "voluntary institutions.",
        "These are often described as stateless societies, although several authors have defined "
        "them more specifically as institutions based on non-hierarchical free associations.",
        "Anarchism considers the state to be undesirable, unnecessary, and harmful.",
        "While anti-statism is central, anarchism entails opposing authority or hierarchical "
        "organisation in the conduct of all human relations, including, but not limited to, the "
        "state system."]


def test_table_heavy_pages_give_prose(tmp_path):
    prepare(f"--input_file={need(TABLES)}", f"--output_dir={tmp_path}", "--num_output_shards=1")
    text = shard_text(tmp_path)
    lines = [line for line in text.split("\n") if line]
    for mark in MARKUP + ("||", "!!", "rowspan", "colspan", "style=", "class="):
        assert mark not in text, mark
    assert "The constructive vote of no confidence (in German: konstruktives Misstrauensvotum, in " \
           "Spanish: moción de censura constructiva) is a variation on the motion of no confidence" in text
    # table rows would be short cells and numbers; prose lines end as sentences end
    sentence_like = [line for line in lines if line.rstrip("\"'”)")[-1:] in ".!?" or len(line) > 100]
    assert len(sentence_like) > 0.9 * len(lines) and len(lines) > 300
    summary = json.loads((tmp_path / "prepare_corpus_summary.json").read_text("utf-8"))
    assert summary["shards"][0]["titles"] == ["Constructive vote of no confidence",
                                              "List of Prison Break characters",
                                              "Academy Award for Best Production Design",
                                              "Economy of Estonia", "Brahui language"]


def test_utf16_bulgarian_dump(tmp_path):
    prepare(f"--input_file={need(BGWIKI)}", f"--output_dir={tmp_path}", "--num_output_shards=2",
            "--language=bg")
    summary = json.loads((tmp_path / "prepare_corpus_summary.json").read_text("utf-8"))
    assert summary["pages_read"] == 3 and summary["skipped"]["other_namespace"] == 2
    assert [t for s in summary["shards"] for t in s["titles"]] == ["Григориански календар"]
    first = documents(shard_text(tmp_path))[0]
    assert first[0].startswith("Григорианският календар (понякога наричан и Грегориански календар, "
                               "„нов стил“) е съвременният международно признат светски календар")
    assert 40 <= len(first) <= 80 and "Категория" not in "".join(first)


def test_killed_run_resumes_without_redoing_finished_shards(tmp_path):
    dump = need(ENWIKI)
    flags = [f"--input_file={dump},{dump},{dump}", "--num_output_shards=6", "--num_workers=2"]
    prepare(*flags, f"--output_dir={tmp_path / 'straight'}")
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(ROOT / "prepare_corpus.py"), *flags, f"--output_dir={out}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    first = out / "part-00000-of-00006.txt"
    deadline = time.time() + 60
    while not (out / ".prepare_corpus" / (first.name + ".json")).exists() and time.time() < deadline:
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "prepare_corpus_summary.json").exists(), "the run ended before the kill"
    stamp = first.stat().st_mtime_ns
    result = prepare(*flags, f"--output_dir={out}")
    assert "resuming:" in result.stderr
    assert first.stat().st_mtime_ns == stamp
    summary = json.loads((out / "prepare_corpus_summary.json").read_text("utf-8"))
    assert summary["shards_resumed"] >= 1 and summary["documents"] == 3 * 97
    assert shard_text(out) == shard_text(tmp_path / "straight")
    assert not [n for n in os.listdir(out) if ".tmp" in n]


# ---------------------------------------------------------------------- bad input
def test_bad_inputs_one_line_exit_2_nothing_written(tmp_path):
    data = need(ENWIKI).read_bytes()
    truncated = tmp_path / "cut.xml.bz2"
    truncated.write_bytes(data[:len(data) // 2])
    empty = tmp_path / "empty.xml.bz2"
    empty.write_bytes(b"")
    empty_xml = tmp_path / "nothing.xml.bz2"
    empty_xml.write_bytes(bz2.compress(b""))
    not_wiki = tmp_path / "feed.xml"
    not_wiki.write_text('<?xml version="1.0"?><rss><channel><item>news</item></channel></rss>')
    not_xml = tmp_path / "notes.bz2"
    not_xml.write_bytes(bz2.compress(b"plain notes, not a dump\n"))
    binary = tmp_path / "image.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    out = tmp_path / "out"
    good = need(TABLES)
    cases = [
        ([f"--input_file={truncated}"], r"truncated"),
        ([f"--input_file={empty}"], r"the dump is empty \(0 bytes\)"),
        ([f"--input_file={empty_xml}"], r"the dump is empty \(no XML in it\)"),
        ([f"--input_file={not_wiki}"], r"not a MediaWiki XML dump \(its root element is <rss>"),
        ([f"--input_file={not_xml}"], r"not a MediaWiki XML dump \(it is not XML"),
        ([f"--input_file={binary}"], r"neither a MediaWiki dump .* nor a text file"),
        ([f"--input_file={tmp_path}/missing*.bz2"], r"nothing matches"),
        ([f"--input_file={good}", "--num_output_shards=0"], r"--num_output_shards=0 must be at least 1"),
        ([f"--input_file={good}", "--language=English"], r"--language='English'"),
        ([f"--input_file={good}", f"--output_dir={blocker}/out"], r"--output_dir .* cannot be created"),
        ([f"--input_file={good}", "--min_document_chars=1000000"], r"no documents kept from 5 pages"),
    ]
    for flags, message in cases:
        args = flags if any(f.startswith("--output_dir") for f in flags) else [*flags, f"--output_dir={out}"]
        result = prepare(*args, check=False)
        assert result.returncode == 2, (flags, result.stderr[-2000:])
        errors = [line for line in result.stderr.splitlines() if not line.startswith("I1")]  # progress logs
        assert len(errors) == 1 and errors[0].startswith("error: "), (flags, result.stderr[-2000:])
        assert re.search(message, errors[0]), (message, errors[0])
        leftover = [n for n in os.listdir(out) if not n.startswith(".")] if out.exists() else []
        assert leftover == [], (flags, leftover)


def test_the_script_imports_no_tensorflow():
    code = "import sys, prepare_corpus; sys.exit('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=60).returncode == 0
