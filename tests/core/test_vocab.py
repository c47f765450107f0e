"""The fixed value sets have one home: the probe, the schemas and the orchestrator spell the same ones."""

from __future__ import annotations

from typing import Any

from preflight_action import schemas, vocab
from preflight_probe import evidence
from tests.support.report_factory import report_doc


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
