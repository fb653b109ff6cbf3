"""Wikipedia dump -> text, side by side in one run: prepare_corpus.py (1 and 2 workers) against
WikiExtractor (PyPI `wikiextractor`) and gensim's `segment_wiki`, on the same dump, and the
dump repeated N times to show how memory grows with the input.

Set-up, once (the peers live in their own venv, never in the project's):
    python3.11 -m venv .venv-corpus-bench
    .venv-corpus-bench/bin/pip install wikiextractor==3.1.0 gensim==4.4.0 psutil==7.2.2
Run it with that venv's Python; prepare_corpus.py runs with the project's (--python):
    flock /tmp/bert_tf_heavy.lock .venv-corpus-bench/bin/python bench/bench_corpus.py \
        --python=.venv/bin/python --repeats=1,4

For each tool and input: wall seconds, MB of dump XML (uncompressed) per second, peak memory
(PSS summed over the tool's processes, sampled every 50 ms: shared pages of forked workers
are counted once), articles and characters of text written, and leftover markup. Every tool
reads the same .xml.bz2 and runs as a user would run it from the shell.
"""

import argparse
import bz2
import glob
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import psutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DUMP = os.path.join(ROOT, "..", "shared", "data", "wikipedia",
                    "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2")
MARKUP = {"{{": r"\{\{", "}}": r"\}\}", "[[": r"\[\[", "]]": r"\]\]", "{|": r"\{\|", "|}": r"\|\}",
          "|-": r"\|-", "'' or '''": r"''", "==": r"==", "<ref": r"<ref", "<!--": r"<!--",
          "&entity;": r"&[a-z]+;|&#\d+;", "<tag>": r"</?[a-zA-Z][a-zA-Z0-9]*(?:\s[^<>]{0,60})?/?>",
          "thumb|": r"thumb\|", "Category:": r"Category:", "File:/Image:": r"(?:File|Image):"}


def repeated_dump(source, times, folder):
    """The dump with its pages repeated `times` times (one header, one footer), as .xml.bz2."""
    if times == 1:
        return source
    path = os.path.join(folder, f"repeated{times}.xml.bz2")
    if not os.path.exists(path):
        xml = bz2.open(source, "rb").read()
        start, end = xml.index(b"<page>"), xml.rindex(b"</mediawiki>")
        start = xml.rindex(b"\n", 0, start) + 1
        with bz2.open(path, "wb") as f:
            f.write(xml[:start])
            for _ in range(times):
                f.write(xml[start:end])
            f.write(xml[end:])
    return path


def xml_megabytes(dump):
    size = 0
    with bz2.open(dump, "rb") as f:
        while chunk := f.read(1 << 24):
            size += len(chunk)
    return size / 1e6


def measure(command):
    """Runs command; returns (seconds, peak PSS of its process tree in MB)."""
    start = time.time()
    proc = psutil.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        total = 0
        try:
            for p in [proc] + proc.children(recursive=True):
                total += p.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
        peak = max(peak, total)
        time.sleep(0.05)
    seconds = time.time() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{command[:3]} failed: {proc.stderr.read().decode()[-2000:]}")
    return seconds, peak / 2**20


# ---------------------------------------------------------------------- the tools
def ours(python, dump, out, workers):
    command = [python, os.path.join(ROOT, "prepare_corpus.py"), f"--input_file={dump}",
               f"--output_dir={out}", "--num_output_shards=8", f"--num_workers={workers}"]
    seconds, memory = measure(command)
    summary = json.load(open(os.path.join(out, "prepare_corpus_summary.json"), encoding="utf-8"))
    text = "".join(open(p, encoding="utf-8").read() for p in sorted(glob.glob(f"{out}/part-*.txt")))
    return seconds, memory, summary["documents"], text


def wikiextractor(dump, out, workers):
    command = [sys.executable, "-m", "wikiextractor.WikiExtractor", dump, "-o", out,
               "--processes", str(workers), "-q"]
    seconds, memory = measure(command)
    text = "".join(open(p, encoding="utf-8").read() for p in sorted(glob.glob(f"{out}/*/wiki_*")))
    articles = text.count("<doc id=")
    text = re.sub(r"<doc id=[^\n]*>\n[^\n]*\n|</doc>\n?", "", text)  # the wrapper and title line
    return seconds, memory, articles, text


def segment_wiki(dump, out, workers):
    path = os.path.join(out, "wiki.json.gz")
    os.makedirs(out, exist_ok=True)
    command = [sys.executable, "-m", "gensim.scripts.segment_wiki", "-f", dump, "-o", path,
               "-w", str(workers)]
    seconds, memory = measure(command)
    articles, texts = 0, []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            articles += 1
            texts.extend(json.loads(line)["section_texts"])
    return seconds, memory, articles, "\n".join(texts)


def leftovers(text):
    return {name: len(re.findall(pattern, text)) for name, pattern in MARKUP.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dump", default=DUMP)
    parser.add_argument("--python", default=os.path.join(ROOT, ".venv", "bin", "python"),
                        help="the project's Python, which runs prepare_corpus.py")
    parser.add_argument("--repeats", default="1,4", help="dump sizes, as repeats of --dump")
    parser.add_argument("--output", help="write the figures as JSON here too")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for times in [int(t) for t in args.repeats.split(",")]:
            dump = repeated_dump(args.dump, times, folder)
            xml_mb = xml_megabytes(dump)
            tools = [("prepare_corpus.py, 1 worker", lambda o: ours(args.python, dump, o, 1)),
                     ("prepare_corpus.py, 2 workers", lambda o: ours(args.python, dump, o, 2)),
                     ("WikiExtractor, 1 process", lambda o: wikiextractor(dump, o, 1)),
                     ("WikiExtractor, 2 processes", lambda o: wikiextractor(dump, o, 2)),
                     ("gensim segment_wiki, 1 worker", lambda o: segment_wiki(dump, o, 1)),
                     ("gensim segment_wiki, 2 workers", lambda o: segment_wiki(dump, o, 2))]
            for index, (name, run) in enumerate(tools):
                out = os.path.join(folder, f"out{times}_{index}")
                seconds, memory, articles, text = run(out)
                found = leftovers(text)
                row = {"tool": name, "repeats": times, "xml_mb": round(xml_mb, 1),
                       "seconds": round(seconds, 2), "xml_mb_per_s": round(xml_mb / seconds, 2),
                       "peak_mb": round(memory), "articles": articles,
                       "characters": len(text) - text.count("\n"), "leftover_markup": sum(found.values()),
                       "leftover_by_kind": {k: v for k, v in found.items() if v}}
                rows.append(row)
                print(json.dumps(row, ensure_ascii=False), flush=True)
    print("\n| tool | dump | s | MB XML/s | peak MB | articles | characters kept | leftover markup |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['tool']} | {r['repeats']}x ({r['xml_mb']} MB) | {r['seconds']} | {r['xml_mb_per_s']} "
              f"| {r['peak_mb']} | {r['articles']} | {r['characters']:,} | {r['leftover_markup']:,} |")
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=1, ensure_ascii=False)


if __name__ == "__main__":
    main()
