"""Untrusted text stays printable and bounded; hostile documents are measured without recursion."""

from __future__ import annotations

import json

from preflight_action import untrusted


def test_controls_and_bidi_overrides_are_shown_as_escapes() -> None:
    text = "ok\x1b[31mred\u202eevil\ttab\nline\udcff"
    cleaned = untrusted.clean(text)
    assert cleaned == "ok\\x1b[31mred\\u202eevil\ttab\nline\\udcff"
    assert untrusted.has_unsafe(text)
    assert not untrusted.has_unsafe(cleaned)


def test_long_text_is_cut_with_a_note_of_what_was_dropped() -> None:
    assert untrusted.clean("x" * 10, limit=4) == "xxxx… (6 more characters)"
    assert untrusted.clean("short", limit=5) == "short"


def test_a_deep_document_is_refused_with_its_pointer_without_recursing() -> None:
    deep: dict[str, object] = {}
    node = deep
    for _ in range(100_000):  # far past the interpreter's recursion limit
        child: dict[str, object] = {}
        node["a"] = child
        node = child
    problem = untrusted.check_shape(deep, max_depth=64)
    assert problem is not None
    assert problem.startswith("/a/a/a")
    assert "nested more than 64 levels deep" in problem


def test_a_huge_string_is_refused_and_a_normal_document_passes() -> None:
    assert (
        untrusted.check_shape({"checks": [{"error": "e" * 11}]}, max_string=10) == "/checks/0/error: a string of 11 characters (at most 10)"
    )
    assert untrusted.check_shape({"checks": [{"id": "torch.import", "details": {"x": [1, 2]}}]}) is None


def _nested(depth: int, leaf: object = 1) -> object:
    document: object = leaf
    for _ in range(depth):
        document = {"a": document}
    return document


def test_the_quick_checks_agree_with_check_shape_at_the_limit() -> None:
    for depth in (63, 64, 65):
        document = _nested(depth)
        text = json.dumps(document).encode("utf-8")
        assert untrusted.within_shape(document, max_depth=64) is (untrusted.check_shape(document, max_depth=64) is None)
        if untrusted.text_within_shape(text, max_depth=64):  # may say "not known", never a wrong yes
            assert untrusted.check_shape(document, max_depth=64) is None
    assert untrusted.text_within_shape(json.dumps(_nested(30)).encode("utf-8"), max_depth=64)


def test_brackets_inside_strings_cannot_make_deep_text_look_shallow() -> None:
    # each level opens with a string holding "]" and closes after one holding "[": the brackets alone pair up flat
    text = b"[" + b'"]",[' * 100 + b"1" + b'],"["' * 100 + b"]"
    document = json.loads(text)
    assert untrusted.check_shape(document) is not None
    assert not untrusted.text_within_shape(text)
    assert not untrusted.within_shape(document)


def test_text_with_an_escaped_quote_or_a_long_run_is_left_to_the_walk() -> None:
    assert not untrusted.text_within_shape(json.dumps({"e": 'say "hi"'}).encode("utf-8"))
    assert untrusted.text_within_shape(json.dumps({"e": "C:\\temp\\", "f": [1]}).encode("utf-8"))
    long = json.dumps({"e": "x" * 11}).encode("utf-8")
    assert not untrusted.text_within_shape(long, max_string=10)
    assert not untrusted.within_shape(json.loads(long), max_string=10)
    assert untrusted.within_shape(json.loads(long), max_string=None)


def test_clean_tree_escapes_and_caps_every_string_and_key_and_keeps_other_leaves() -> None:
    document = {"env\udcff": ["ok", "a\x00b", 1.5, None, True], "big": "y" * 50, "nested": {"k": ("t\u202e",)}}
    cleaned = untrusted.clean_tree(document, limit=10, key_limit=12)
    assert cleaned == {
        "env\\udcff": ["ok", "a\\x00b", 1.5, None, True],
        "big": "yyyyyyyyyy… (40 more characters)",
        "nested": {"k": ["t\\u202e"]},
    }
    assert untrusted.check_shape(cleaned) is None


def test_the_markdown_filters_escape_controls_and_overrides_whatever_reaches_them() -> None:
    from preflight_action.templating import md_block, md_cell

    assert md_cell("ok\x1b[2J\u202e|x") == "ok\\x1b\\[2J\\u202e\\|x"  # brackets escaped as links are
    assert md_block("line\x00\u2066end") == "line\\x00\\u2066end"
