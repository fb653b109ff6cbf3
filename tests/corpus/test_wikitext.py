"""The wikitext cleaner, rule by rule, on markup as it appears in real articles."""

import pytest

from bert_tf.corpus import wikitext
from bert_tf.corpus.sentences import FORMULA

RULES = wikitext.LinkRules()


def clean(text, rules=RULES):
    return wikitext.paragraphs(text, rules)


def test_templates_nested_and_inline_ones_keep_their_words():
    text = ("{{Infobox person|name=X|spouse={{marriage|A|B}}|born={{birth date|1900|1|1}}}}\n"
            "The lake is {{convert|5|km|mi}} long and {{convert|2|to|3|m}} deep.{{sfn|Smith|2001|p=4}} "
            "It is called {{lang|de|der See}} in German{{citation needed|date=May 2010}}.")
    assert clean(text) == ["The lake is 5 km long and 2 to 3 m deep. It is called der See in German."]


def test_unclosed_template_drops_only_its_braces():
    assert clean("Text before {{broken and text after.") == ["Text before broken and text after."]


def test_tables_nested_wiki_and_html_are_removed_whole():
    text = ("Prose before the table.\n{| class=wikitable\n|-\n! Year !! Votes\n|-\n| 1990 || "
            "{| \n| inner\n|}\n|-\n| 1991 || 7\n|}\nProse after the table.\n"
            "<table><tr><td>cell</td></tr></table>\nMore prose here.")
    assert clean(text) == ["Prose before the table.", "Prose after the table.", "More prose here."]


def test_pipe_brace_inside_template_is_not_a_table_end():
    assert clean("{{foo|a|}}Kept text ends here.") == ["Kept text ends here."]


def test_references_comments_and_dropped_tags():
    text = ('Fact one.<ref name="a">Smith, p. 3 {{cite book|title=T}}</ref> Fact two.<ref name="a"/>'
            "<!-- hidden\nnote --> Fact three.<gallery>\nFile:A.jpg|caption\n</gallery>")
    assert clean(text) == ["Fact one. Fact two. Fact three."]


def test_links_files_categories_interlanguage_and_external():
    text = ("[[File:Map.png|thumb|A map of [[France]] in [1900] (left)]]\n"
            "The [[political philosophy|philosophy]] of [[anarchism]]s spread to [[Spain]]. "
            "See [http://example.org the site] or [http://example.org/x].\n"
            "[[Category:Anarchism| ]]\n[[de:Anarchismus]]\n[[Image:X.jpg]]")
    assert clean(text) == ["The philosophy of anarchisms spread to Spain. See the site or."]


def test_dump_namespace_names_drop_their_links():
    rules = wikitext.LinkRules(("Файл", "Категория"))
    text = "[[Файл:Карта.png|мини|Карта]]Текстът е [[Европа|тук]].\n[[Категория:Календари]]"
    assert clean(text, rules) == ["Текстът е тук."]


def test_headings_lists_and_rules_are_dropped_and_end_paragraphs():
    text = ("First line of a paragraph\ncontinues here.\n== History ==\nAfter the heading.\n"
            "* a list item.\n# numbered item.\n: indented.\n; term\nLast paragraph.\n----\n")
    assert clean(text) == ["First line of a paragraph continues here.", "After the heading.",
                           "Last paragraph."]


def test_bold_italic_tags_entities_and_spaces():
    text = "'''Bold''' and ''italic'' with <small>small</small> H<sub>2</sub>O&nbsp;and&ndash;dash<br/>end."
    assert clean(text) == ["Bold and italic with small H2O and–dash end."]


def test_escaped_ref_in_text_is_still_removed():
    assert clean("Claim.&lt;ref&gt;source&lt;/ref&gt; Next claim.") == ["Claim. Next claim."]


def test_empty_parentheses_left_by_removed_templates():
    text = "Anarchism ({{IPAc-en|ˈ|æ|n}}; from Greek) is a philosophy. Algeria ({{lang-ar|}}) is big."
    assert clean(text) == ["Anarchism (from Greek) is a philosophy. Algeria is big."]


def test_formula_is_marked_for_its_sentence_to_be_dropped():
    (paragraph,) = clean("The area is <math>\\pi r^2</math> here. The value {{math|2x}} too. Plain.")
    assert paragraph.count(FORMULA) == 2 and "pi" not in paragraph


def test_captions_and_labels_are_not_prose():
    assert clean("Algeria\n\nThey include:\n\nA real sentence.") == ["A real sentence."]
    long_label = "word " * 30
    assert clean(long_label) == [long_label.strip()]


@pytest.mark.parametrize("title,text,expected", [
    ("Austin (disambiguation)", "Austin may refer to:", True),
    ("Alien", "'''Alien''' may refer to:\n* x\n{{disambiguation}}", True),
    ("Aa River", "{{geodis}}", True),
    ("Anarchism", "{{Redirect2|Anarchist|Anarchists|other uses|Anarchists (disambiguation)}}", False),
])
def test_disambiguation_pages(title, text, expected):
    assert wikitext.is_disambiguation(title, text) is expected
