"""Untrusted text stays printable and bounded; hostile documents are measured without recursion."""

from __future__ import annotations

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
