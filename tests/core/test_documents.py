"""The one artifact reader: hostile JSON files are one InputError naming the file, read in bounded time and memory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from preflight_action import documents, schemas, untrusted
from preflight_action.errors import InputError


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def test_nesting_past_the_parsers_own_limit_is_one_error_not_a_recursion_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text(nested(100_000), encoding="utf-8")  # 600 KB of nested objects
    with pytest.raises(InputError) as caught:
        documents.read(path)
    assert str(caught.value) == f"{path}: nested more than {untrusted.MAX_DEPTH} levels deep"


def test_nesting_the_parser_accepts_but_we_do_not_names_the_pointer(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"checks": [' + nested(200) + "]}", encoding="utf-8")
    with pytest.raises(InputError, match=r"deep\.json: /checks/0(/a){63}: nested more than 64 levels deep$"):
        documents.read(path)


def test_nesting_through_the_exact_parser_fallback_is_refused_too(tmp_path: Path) -> None:
    path = tmp_path / "surrogate.json"  # a lone surrogate: orjson refuses it, so json parses it (in C, with Python's recursion limit)
    path.write_text('{"x": "\\ud800", "deep": ' + nested(5_000) + "}", encoding="utf-8")
    with pytest.raises(InputError, match=r"surrogate\.json: nested more than 64 levels deep$"):
        documents.read(path)


def test_a_file_over_the_limit_is_refused_from_its_size_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    with path.open("wb") as handle:
        handle.truncate(untrusted.MAX_BYTES * 4)  # sparse: costs nothing unless someone reads it
    with pytest.raises(InputError) as caught:
        documents.read(path)
    assert str(caught.value) == f"{path}: {untrusted.MAX_BYTES * 4:,} bytes, more than the {untrusted.MAX_BYTES:,} a reader accepts"
    with pytest.raises(InputError, match="bytes, more than the 10 a reader accepts"):
        documents.loads(b'{"a": "0123456789"}', "member.json", max_bytes=10)


def test_a_huge_string_or_key_is_refused_with_its_pointer(tmp_path: Path) -> None:
    path = tmp_path / "long.json"
    path.write_text(json.dumps({"checks": [{"error": "e" * (untrusted.MAX_STRING + 1)}]}), encoding="utf-8")
    with pytest.raises(InputError, match=rf"long\.json: /checks/0/error: a string of {untrusted.MAX_STRING + 1} characters"):
        documents.read(path)
    path.write_text(json.dumps({"details": {"k" * (untrusted.MAX_STRING + 1): 1}}), encoding="utf-8")
    with pytest.raises(InputError, match=r"long\.json: /details: a key of \d+ characters"):
        documents.read(path)


@pytest.mark.parametrize("ensure_ascii", [True, False], ids=["escaped", "raw-utf8"])
def test_controls_and_bidi_overrides_are_shown_as_escapes_and_named(tmp_path: Path, ensure_ascii: bool) -> None:
    path = tmp_path / "bidi.json"
    hostile = {"checks": [{"id": "tensor.smoke", "error": "ok"}, {"id": "x", "error": "evil\u202egnp.exe \x1b[31m"}], "k\u2066": "v"}
    path.write_text(json.dumps(hostile, ensure_ascii=ensure_ascii), encoding="utf-8")
    read = documents.read(path)
    assert read.value["checks"][1]["error"] == "evil\\u202egnp.exe \\x1b[31m"
    assert read.value["k\\u2066"] == "v"
    assert read.escaped == "/checks/1/error"
    assert read.note == f"{path}: /checks/1/error: control or bidirectional-override characters, shown as escapes"
    assert not untrusted.has_unsafe(json.dumps(read.value, ensure_ascii=False))
    path.write_text(json.dumps({"ok": "fine", "details": {"n\u202e": {"deeper": "x\x07"}}}, ensure_ascii=ensure_ascii), encoding="utf-8")
    read = documents.read(path)
    assert read.value == {"ok": "fine", "details": {"n\\u202e": {"deeper": "x\\x07"}}}
    assert read.escaped == "/details/n\\u202e"  # the key, named as escaped text too


def test_ordinary_text_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "plain.json"
    text = {"error": "line one\nline two\ttabbed … naïve — 😀 C:\\u202e-looking\\path"}
    path.write_text(json.dumps(text, ensure_ascii=False), encoding="utf-8")
    read = documents.read(path)
    assert read.value == text
    assert read.escaped is None
    assert read.note is None


def test_the_raw_check_never_misses_what_escape_would_change() -> None:
    for code in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), 0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]:
        char = chr(code)
        if char in "\t\n":
            continue
        for ensure_ascii in (True, False):
            data = json.dumps({"s": f"a{char}b"}, ensure_ascii=ensure_ascii).encode("utf-8")
            assert untrusted.may_hold_unsafe(data), (hex(code), ensure_ascii)
    assert not untrusted.may_hold_unsafe(json.dumps({"s": "plain \\ text é …"}, ensure_ascii=False).encode("utf-8"))


def test_missing_malformed_and_binary_files_keep_their_messages(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.json: file not found$"):
        documents.read(tmp_path / "nope.json")
    (tmp_path / "torn.json").write_text('{"a": ', encoding="utf-8")
    with pytest.raises(InputError, match=r"torn\.json: malformed JSON at line 1 column 7"):
        documents.read(tmp_path / "torn.json")
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00{")
    with pytest.raises(InputError, match=r"bin\.json: cannot read \("):
        documents.read(tmp_path / "bin.json")


def test_schema_readers_go_through_it(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text(nested(100_000), encoding="utf-8")
    with pytest.raises(InputError, match="nested more than 64 levels deep"):
        schemas.read_json(path, "preflight_report")
    from preflight_action.preflight import report

    with pytest.raises(InputError, match="nested more than 64 levels deep"):
        report.read(path)


def test_deep_nesting_disguised_by_brackets_in_strings_is_still_refused() -> None:
    text = b"[" + b'"]",[' * 100 + b"1" + b'],"["' * 100 + b"]"
    with pytest.raises(InputError, match=r"^disguised\.json: /1/1/1.*: nested more than 64 levels deep$"):
        documents.loads(text, "disguised.json")
