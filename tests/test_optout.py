"""The opt-out keyword rules (engine.twilio.optout, twilio-compat.md §11)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.twilio.optout import (
    DEFAULT_HELP_REPLY,
    DEFAULT_OPT_IN_REPLY,
    DEFAULT_OPT_OUT_REPLY,
    HELP_KEYWORDS,
    OPT_IN_KEYWORDS,
    OPT_OUT_KEYWORDS,
    KeywordAction,
    KeywordReplies,
    classify,
    reply_for,
)


@pytest.mark.parametrize("word", sorted(OPT_OUT_KEYWORDS))
def test_opt_out_words_any_case_and_spacing(word: str) -> None:
    for body in (word, word.lower(), word.title(), f"  {word}\n", f"\t{word.lower()} "):
        assert classify(body) is KeywordAction.STOP


@pytest.mark.parametrize("word", sorted(OPT_IN_KEYWORDS))
def test_opt_in_words(word: str) -> None:
    assert classify(f" {word.lower()} ") is KeywordAction.START


@pytest.mark.parametrize("word", sorted(HELP_KEYWORDS))
def test_help_words(word: str) -> None:
    assert classify(word.capitalize()) is KeywordAction.HELP


@pytest.mark.parametrize(
    "body", ["STOP PLEASE", "please stop", "STOP.", "S T O P", "", "   ", "STOPP", "Yes!", "HELP?"]
)
def test_not_keywords(body: str) -> None:
    assert classify(body) is None


def test_long_or_non_ascii_body_is_never_a_keyword() -> None:
    assert classify(" " * 100 + "STOP") is None
    assert classify("\ufb06op") is None  # "ﬆop".upper() == "STOP"
    assert classify("\u00a0STOP") is None


def test_keyword_sets_are_twilios() -> None:
    assert {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"} == OPT_OUT_KEYWORDS
    assert {"START", "YES", "UNSTOP"} == OPT_IN_KEYWORDS
    assert {"HELP", "INFO"} == HELP_KEYWORDS


def test_default_replies() -> None:
    assert reply_for(KeywordAction.STOP) == DEFAULT_OPT_OUT_REPLY
    assert reply_for(KeywordAction.START) == DEFAULT_OPT_IN_REPLY
    assert reply_for(KeywordAction.HELP) == DEFAULT_HELP_REPLY
    assert "Reply START to resubscribe" in DEFAULT_OPT_OUT_REPLY


def test_custom_and_silenced_replies() -> None:
    replies = KeywordReplies(opt_out="Bye", opt_in="", help=None)
    assert reply_for(KeywordAction.STOP, replies) == "Bye"
    assert reply_for(KeywordAction.START, replies) is None  # "" sends nothing
    assert reply_for(KeywordAction.HELP, replies) == DEFAULT_HELP_REPLY


def test_reply_length_is_bounded() -> None:
    with pytest.raises(ValueError, match="opt_out"):
        KeywordReplies(opt_out="x" * 1601)


@given(st.text(max_size=80))
def test_classify_never_raises_and_matches_the_rule(body: str) -> None:
    word = body.strip().upper()
    expected = (
        KeywordAction.STOP
        if word in OPT_OUT_KEYWORDS
        else KeywordAction.START
        if word in OPT_IN_KEYWORDS
        else KeywordAction.HELP
        if word in HELP_KEYWORDS
        else None
    )
    if len(body) > 64 or not body.isascii():
        expected = None
    assert classify(body) is expected
