"""Sentence splitting: sentencex for English, our Chinese rule on top, the joins we add."""

from bert_tf.corpus.sentences import FORMULA, check_language, join_lines, split


def test_english_abbreviations_do_not_end_sentences():
    text = "Dr. Smith went to Washington D.C. on Jan. 5. He said no. The U.S. is big. It costs $3.50."
    assert split(text, "en") == ["Dr. Smith went to Washington D.C. on Jan. 5.", "He said no.",
                                 "The U.S. is big.", "It costs $3.50."]


def test_chinese_full_stops_and_closing_quotes():
    text = "他说：“你好！”然后走了。今天天气很好吗？是的！「真的。」他问。"
    assert split(text, "zh") == ["他说：“你好！”", "然后走了。", "今天天气很好吗？", "是的！",
                                 "「真的。」", "他问。"]


def test_chinese_full_stop_before_a_digit_ends_the_sentence():
    # sentencex alone keeps these together; our rule splits them
    assert split("奔走呐喊。2010年，他被评为第一。", "zh") == ["奔走呐喊。", "2010年，他被评为第一。"]
    assert split("他说：“好！”2010年到了。", "zh") == ["他说：“好！”", "2010年到了。"]


def test_pieces_without_letters_join_a_neighbour():
    assert split("Tables of TAI (see k. ) list them. 1. The first rule holds.", "en") == \
        ["Tables of TAI (see k. ) list them.", "1. The first rule holds."]


def test_a_sentence_that_lost_a_formula_is_dropped():
    assert split(f"The area is {FORMULA} here. The rest stays.", "en") == ["The rest stays."]


def test_join_lines_uses_spaces_except_next_to_chinese():
    assert join_lines(["hard wrapped", "  line ", "", "end"]) == "hard wrapped line end"
    assert join_lines(["第一行", "第二行", "and English"]) == "第一行第二行and English"


def test_language_codes():
    assert all(check_language(c) for c in ("en", "zh", "bg", "pt-BR", "zh_Hant"))
    assert not any(check_language(c) for c in ("", "english", "e", "en-"))
