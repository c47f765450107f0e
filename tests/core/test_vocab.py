"""The fixed value sets live in vocab.py; the schemas, argparse and the action's inputs all agree with them."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from preflight_action import schemas, vocab
from preflight_action.github import action_inputs
from preflight_action.preflight import cli
from preflight_action.summary import cli as summary_cli
from preflight_probe import evidence
from tests.support.report_factory import report_doc


def _enum(name: str, *pointer: str) -> list[Any]:
    node: Any = schemas.load(name)
    for part in pointer:
        node = node[part]
    return list(node["enum"])


@pytest.mark.parametrize(
    ("values", "schema", "pointer"),
    [
        (vocab.DEVICES, "preflight_report", ("$defs", "requested_device")),
        (vocab.BACKENDS, "preflight_report", ("$defs", "backend")),
        (vocab.BANDS, "preflight_report", ("$defs", "band")),
        (vocab.CHECK_STATUSES, "preflight_report", ("$defs", "check", "properties", "status")),
        (vocab.CHECK_SOURCES, "preflight_report", ("$defs", "check", "properties", "source")),
        (vocab.UNFINISHED, "preflight_report", ("$defs", "check", "properties", "unfinished")),
        (vocab.REPORT_STATUSES, "preflight_report", ("properties", "status")),
        (vocab.VERDICTS, "preflight_report", ("properties", "verdict")),
        (vocab.LEVELS, "preflight_report", ("properties", "options", "properties", "level")),
        (vocab.BANDS, "severity_policy", ("properties", "strict_threshold")),
        (vocab.BANDS, "preflight_summary", ("$defs", "band")),
        (vocab.BACKENDS, "severity_policy", ("$defs", "backend")),
        (vocab.INVENTORY_SOURCES, "preflight_report", ("$defs", "inventory", "properties", "paths", "items", "properties", "source")),
        (
            (*vocab.INVENTORY_SOURCES, vocab.EDITABLE),
            "preflight_summary",
            ("$defs", "inventory_part", "properties", "sources", "additionalProperties"),
        ),
        ((*vocab.INVENTORY_SOURCES, vocab.EDITABLE), "history_record", ("$defs", "part", "properties", "sources", "additionalProperties")),
        (vocab.DIFF_GROUPS, "preflight_diff", ("$defs", "group")),
        (vocab.CHANGE_KINDS, "preflight_diff", ("$defs", "change", "properties", "kind")),
        (vocab.DIFF_GROUPS, "preflight_summary", ("$defs", "change", "properties", "group")),
        (vocab.CHANGE_KINDS, "preflight_summary", ("$defs", "change", "properties", "kind")),
        (vocab.GANG_LAUNCHERS, "preflight_report", ("$defs", "gang", "properties", "launcher")),
        (vocab.GANG_MEMBER_STATES, "preflight_report", ("$defs", "gang", "properties", "members", "items", "properties", "state")),
        (vocab.GANG_LAUNCHERS, "runtime_matrix", ("$defs", "gang", "properties", "launcher")),
        (vocab.GANG_MEMBER_STATES, "runtime_matrix", ("$defs", "gang", "properties", "members", "items", "properties", "state")),
        (vocab.GANG_LAUNCHERS, "preflight_summary", ("$defs", "gang", "properties", "launcher")),
        (vocab.GANG_MEMBER_STATES, "preflight_summary", ("$defs", "gang", "properties", "members", "items", "properties", "state")),
    ],
)
def test_schema_enums_equal_the_vocabulary(values: tuple[str, ...], schema: str, pointer: tuple[str, ...]) -> None:
    assert sorted(_enum(schema, *pointer)) == sorted(values)


def test_the_levels_policy_names_every_level() -> None:
    assert sorted(schemas.load("levels_policy")["properties"]["levels"]["required"]) == sorted(vocab.LEVELS)


def _choices(parser: argparse.ArgumentParser, flag: str) -> tuple[str, ...]:
    action = next(a for a in parser._actions if flag in a.option_strings)
    return tuple(action.choices or ())


def test_argparse_choices_come_from_the_vocabulary(capsys: pytest.CaptureFixture[str]) -> None:
    parser = cli.parser()
    cli.add_gate_argument(parser)
    assert _choices(parser, "--device") == vocab.DEVICES
    assert _choices(parser, "--level") == vocab.LEVELS
    assert _choices(parser, "--strict-threshold") == vocab.BANDS
    assert _choices(parser, "--gate") == vocab.GATES
    with pytest.raises(SystemExit):
        summary_cli.parse_args(["--fail-on", "sometimes"])
    assert "(choose from " + ", ".join(repr(v) for v in vocab.FAIL_ON) + ")" in capsys.readouterr().err


def test_the_action_inputs_accept_exactly_the_vocabulary() -> None:
    for level in vocab.LEVELS:
        assert action_inputs.parse_level(level) == level
    for value in vocab.FAIL_ON:
        assert action_inputs.parse_fail_on(value) == value
    with pytest.raises(action_inputs.ActionInputError, match="input level"):
        action_inputs.parse_level("thorough")
    with pytest.raises(action_inputs.ActionInputError, match="input fail-on"):
        action_inputs.parse_fail_on("sometimes")


def _with(diagnosis: dict[str, Any]) -> dict[str, Any]:
    document = report_doc()
    document["checks"][0]["details"]["diagnosis"] = diagnosis
    return document


def test_causes_are_one_set_in_vocab_the_probe_and_the_report_schema() -> None:
    assert vocab.CAUSES == evidence.CAUSES
    assert tuple(schemas.load("preflight_report")["$defs"]["diagnosis"]["properties"]["cause"]["enum"]) == vocab.CAUSES


def test_a_diagnosis_names_a_known_cause_and_an_unknown_one_gives_the_next_step() -> None:
    assert schemas.problems(_with(evidence.diagnosis("not_identified", ["x"], next_step="run it")), "preflight_report") == []
    assert schemas.problems(_with(evidence.diagnosis("resource_limit", ["RLIMIT_NOFILE soft 64"])), "preflight_report") == []
    assert "next_step" in " ".join(schemas.problems(_with({"cause": "not_identified", "evidence": ["x"]}), "preflight_report"))
    assert schemas.problems(_with({"cause": "a guess", "evidence": []}), "preflight_report")


def test_every_unfinished_cause_has_words_in_every_renderer() -> None:
    """A cause the renderers cannot name crashed --output-md and --output-html (KeyError: 'tool_error', exit 3)."""
    from preflight_action.preflight.describe import UNFINISHED_WORDS

    assert set(UNFINISHED_WORDS) == set(vocab.UNFINISHED)
