"""Pages out of a MediaWiki XML dump (`.xml` or `.xml.bz2`, one or many bz2 streams), streamed.

The file is read in RAW_CHUNK pieces, decompressed and fed to expat (through ElementTree's
pull parser) FEED bytes at a time; every finished `<page>` is yielded and then dropped from the
tree, so memory holds one page whatever the dump's size. Expat reads the encodings XML allows
(UTF-8, UTF-16 with its byte-order mark, or what the XML declaration names).

Each page carries `position`: the fraction of the file's bytes consumed when the page ended.
For bz2, output arrives a block (~900 kB of XML) at a time, so a page's position is
interpolated between the compressed offsets of the block's first and last input. The
positions depend only on the file's bytes, so shards cut at them are the same on every run.
"""

import bz2
import dataclasses
import os
import xml.etree.ElementTree as ET

from bert_tf.errors import DataError

RAW_CHUNK = 1 << 16
FEED = 1 << 14
BZ2_MAGIC = b"BZh"
BZ2_END_OF_STREAM = 0x177245385090
DROPPED_LINK_NAMESPACES = (-2, 6, 14)  # Media, File, Category


@dataclasses.dataclass
class Page:
    title: str
    namespace: int
    redirect: bool
    text: str
    position: float


def is_bz2(path):
    with open(path, "rb") as f:
        return f.read(3) == BZ2_MAGIC


def check_bz2_end(path):
    """A bz2 file ends with the 48-bit end-of-stream magic, a 32-bit CRC and at most 7 bits of
    zero padding: without them it was cut short (an interrupted download). Checked before any
    work, so that a truncated dump writes nothing."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        f.seek(max(0, size - 11))
        tail = int.from_bytes(f.read(), "big")
    for padding in range(8):
        if tail & ((1 << padding) - 1) == 0 and \
                (tail >> (padding + 32)) & ((1 << 48) - 1) == BZ2_END_OF_STREAM:
            return
    raise DataError(f"{path}: the bz2 data stops before its end-of-stream marker: the file is "
                    "truncated (an interrupted download?); fetch it again")


def check_xml_end(path):
    """An uncompressed dump ends with </mediawiki> (in its own encoding): checked before any
    work, like check_bz2_end."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(2)
        f.seek(max(0, size - 64))
        tail = f.read()
    encoding = {b"\xff\xfe": "utf-16-le", b"\xfe\xff": "utf-16-be"}.get(head, "utf-8")
    if "</mediawiki>" not in tail.decode(encoding, "ignore"):
        raise DataError(f"{path}: the XML does not end with </mediawiki>: the file is truncated "
                        "(an interrupted download or copy?); fetch it again")


def _local(tag):
    return tag.rpartition("}")[2]


class DumpReader:
    """Streams one dump. `namespace_names` (the dump's own names of the File, Category and
    Media namespaces, from its <siteinfo>) is filled in as soon as the header is read."""

    def __init__(self, path):
        self.path = path
        self.size = max(1, os.path.getsize(path))
        self.namespace_names = ()
        self._prefix = ""
        self._root = None

    # ------------------------------------------------------------------ bytes
    def _raw_pieces(self):
        """(bytes of XML, position at their end) for the whole file."""
        with open(self.path, "rb") as f:
            if f.read(3) != BZ2_MAGIC:
                f.seek(0)
                consumed = 0
                while chunk := f.read(FEED):
                    consumed += len(chunk)
                    yield chunk, consumed / self.size
                return
            f.seek(0)
            yield from self._bz2_pieces(f)

    def _bz2_pieces(self, f):
        decompressor, consumed, last_output, in_stream = bz2.BZ2Decompressor(), 0, 0, False
        while chunk := f.read(RAW_CHUNK):
            consumed += len(chunk)
            while chunk:
                try:
                    out = decompressor.decompress(chunk)
                except OSError as e:
                    raise DataError(f"{self.path}: not a readable bz2 file ({e})") from e
                in_stream, chunk = not decompressor.eof, b""
                if decompressor.eof:  # a multistream dump: the next stream starts here
                    chunk = decompressor.unused_data
                    decompressor = bz2.BZ2Decompressor()
                if out:
                    for start in range(0, len(out), FEED):
                        piece = out[start:start + FEED]
                        done = (start + len(piece)) / len(out)
                        yield piece, (last_output + (consumed - last_output) * done) / self.size
                    last_output = consumed
        if in_stream:
            raise DataError(f"{self.path}: the bz2 data stops before its end: the file is "
                            "truncated (an interrupted download?); fetch it again")

    # ------------------------------------------------------------------ XML
    def pages(self):
        parser = ET.XMLPullParser(events=("start", "end"))
        count, fed, self._root = 0, 0, None
        try:
            for piece, position in self._raw_pieces():
                fed += len(piece.strip())
                parser.feed(piece)
                for page in self._events(parser, position):
                    count += 1
                    yield page
            parser.close()
            for page in self._events(parser, 1.0):
                count += 1
                yield page
        except ET.ParseError as e:
            if not fed:
                raise DataError(f"{self.path}: the dump is empty (no XML in it)") from e
            if self._root is None:
                raise DataError(f"{self.path}: not a MediaWiki XML dump (it is not XML: {e})") from e
            raise DataError(f"{self.path}: the XML breaks off after {count} pages ({e}): the file "
                            "is truncated or damaged") from e
        if self._root is None:
            raise DataError(f"{self.path}: the dump is empty (no XML in it)")

    def _events(self, parser, position):
        for event, elem in parser.read_events():
            if event == "start":
                if self._root is None:
                    self._start(elem)
                continue
            tag = _local(elem.tag)
            if tag == "page":
                page = self._page(elem, position)
                self._root.clear()
                yield page
            elif tag == "siteinfo":
                self._siteinfo(elem)
                self._root.clear()

    def _start(self, root):
        if _local(root.tag) != "mediawiki":
            raise DataError(f"{self.path}: not a MediaWiki XML dump (its root element is "
                            f"<{_local(root.tag)}>, not <mediawiki>)")
        self._root = root
        self._prefix = root.tag[:-len("mediawiki")]

    def _siteinfo(self, elem):
        names = []
        for namespace in elem.iter(self._prefix + "namespace"):
            if int(namespace.get("key", "0")) in DROPPED_LINK_NAMESPACES and namespace.text:
                names.append(namespace.text)
        self.namespace_names = tuple(names)

    def _page(self, elem, position):
        p = self._prefix
        revisions = elem.findall(p + "revision")
        text = revisions[-1].findtext(p + "text") if revisions else None
        namespace = elem.findtext(p + "ns")
        return Page(title=elem.findtext(p + "title") or "",
                    namespace=int(namespace) if namespace and namespace.lstrip("-").isdigit() else 0,
                    redirect=elem.find(p + "redirect") is not None, text=text or "",
                    position=position)

    def check(self):
        """Fail early, before anything is written: a file that is not a MediaWiki dump, a dump
        without a single page, a dump cut short."""
        if os.path.getsize(self.path) == 0:
            raise DataError(f"{self.path}: the dump is empty (0 bytes)")
        pages = self.pages()
        if next(pages, None) is None:
            raise DataError(f"{self.path}: the dump has no <page> in it")
        pages.close()
        if is_bz2(self.path):
            check_bz2_end(self.path)
        else:
            check_xml_end(self.path)

