"""The dump reader on small dumps written here: encodings, bz2 streams, positions, errors."""

import bz2

import pytest

from bert_tf.corpus import dump
from bert_tf.errors import DataError

NS = "http://www.mediawiki.org/xml/export-0.10/"


def page(title, text, ns=0, redirect=False):
    return (f"<page><title>{title}</title><ns>{ns}</ns><id>1</id>"
            + ('<redirect title="X" />' if redirect else "")
            + f'<revision><id>2</id><text xml:space="preserve">{text}</text></revision></page>\n')


def dump_xml(pages, siteinfo=True):
    head = (f'<mediawiki xmlns="{NS}" version="0.10">\n'
            + ('<siteinfo><namespaces><namespace key="6">Fichier</namespace>'
               '<namespace key="14">Catégorie</namespace><namespace key="0" /></namespaces></siteinfo>\n'
               if siteinfo else ""))
    return head + "".join(pages) + "</mediawiki>\n"


PAGES = [page("Alpha", "Alpha is &lt;b&gt;first&lt;/b&gt; &amp; best."), page("Talk:Alpha", "talk", ns=1),
         page("Beta", "#REDIRECT [[Alpha]]", redirect=True)] + \
        [page(f"Page {i}", f"Text number {i}. " * 50) for i in range(40)]


def read(path):
    reader = dump.DumpReader(str(path))
    return reader, list(reader.pages())


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_plain_xml_in_utf8_and_utf16(tmp_path, encoding):
    path = tmp_path / "d.xml"
    path.write_bytes(dump_xml(PAGES).encode(encoding))
    reader, pages = read(path)
    assert [p.title for p in pages[:3]] == ["Alpha", "Talk:Alpha", "Beta"]
    assert pages[0].text == "Alpha is <b>first</b> & best." and pages[0].namespace == 0
    assert pages[1].namespace == 1 and pages[2].redirect and not pages[0].redirect
    assert reader.namespace_names == ("Fichier", "Catégorie")
    positions = [p.position for p in pages]
    assert positions == sorted(positions) and 0 < positions[0] and positions[-1] <= 1.0


def test_bz2_single_and_multistream_give_the_same_pages(tmp_path):
    xml = dump_xml(PAGES).encode()
    one, many = tmp_path / "one.xml.bz2", tmp_path / "many.xml.bz2"
    one.write_bytes(bz2.compress(xml))
    cut = len(xml) // 3
    many.write_bytes(bz2.compress(xml[:cut]) + bz2.compress(xml[cut:2 * cut]) + bz2.compress(xml[2 * cut:]))
    _, a = read(one)
    _, b = read(many)
    assert [(p.title, p.text) for p in a] == [(p.title, p.text) for p in b]
    assert len(a) == len(PAGES)
    dump.DumpReader(str(many)).check()


def test_positions_spread_over_a_bz2_dump(tmp_path, monkeypatch):
    monkeypatch.setattr(dump, "RAW_CHUNK", 256)
    monkeypatch.setattr(dump, "FEED", 512)
    path = tmp_path / "d.xml.bz2"
    path.write_bytes(bz2.compress(dump_xml(PAGES).encode(), 1))
    _, pages = read(path)
    positions = [p.position for p in pages]
    assert positions == sorted(positions) and positions[-1] == pytest.approx(1.0)
    assert len({round(p, 2) for p in positions}) > 10  # interpolated within a block


@pytest.mark.parametrize("content,message", [
    (b"", "the dump is empty"),
    (b"<notwiki><page/></notwiki>", "not a MediaWiki XML dump (its root element is <notwiki>"),
    (b"just some words, not XML", "not a MediaWiki XML dump (it is not XML"),
    (dump_xml([]).encode(), "has no <page>"),
    (bz2.compress(b""), "the dump is empty (no XML in it)"),
    (b"BZh9 this is not bz2 data at all....", "not a readable bz2 file"),
])
def test_bad_dumps_are_named(tmp_path, content, message):
    path = tmp_path / "bad.xml"
    path.write_bytes(content)
    with pytest.raises(DataError, match=None) as error:
        dump.DumpReader(str(path)).check()
    assert message in str(error.value) and str(path) in str(error.value)


def test_truncated_bz2_is_refused_before_reading(tmp_path):
    data = bz2.compress(dump_xml(PAGES).encode())
    path = tmp_path / "cut.xml.bz2"
    path.write_bytes(data[:len(data) * 2 // 3])
    with pytest.raises(DataError, match="truncated"):
        dump.check_bz2_end(str(path))
    with pytest.raises(DataError, match="truncated"):  # and if read anyway
        list(dump.DumpReader(str(path)).pages())


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_truncated_xml_is_refused_before_reading(tmp_path, encoding):
    xml = dump_xml(PAGES).encode(encoding)
    path = tmp_path / "cut.xml"
    path.write_bytes(xml[:len(xml) // 2])
    with pytest.raises(DataError, match="does not end with </mediawiki>: the file is truncated"):
        dump.DumpReader(str(path)).check()
    with pytest.raises(DataError, match="XML breaks off after .* pages"):  # and if read anyway
        list(dump.DumpReader(str(path)).pages())
    path.write_bytes(xml)
    dump.DumpReader(str(path)).check()
