"""Every schema is a well-formed, versioned contract; the report schema accepts and rejects the right things."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest

from preflight_action import schemas
from preflight_action.errors import InputError, SchemaError
from preflight_action.preflight import report

ALL = schemas.names()


@pytest.mark.parametrize("name", ALL)
def test_schema_is_versioned_and_closed(name):
    schema = schemas.load(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].startswith("https://preflight-action.github.io/schemas/")
    jsonschema.Draft202012Validator.check_schema(schema)
    if schema.get("type") == "object":
        assert schema.get("additionalProperties") is False or "unevaluatedProperties" in schema


def test_schema_ids_are_unique():
    ids = [schemas.load(n)["$id"] for n in ALL]
    assert len(ids) == len(set(ids))


@pytest.fixture(scope="module")
def valid_report(tmp_path_factory):
    from preflight_action import main as cli_preflight

    out = tmp_path_factory.mktemp("r") / "r.json"
    assert cli_preflight.main(["--device", "cpu", "--quiet", "--output-path", str(out)]) == 0
    return json.loads(out.read_text())


def test_real_report_round_trips_through_the_dataclasses(valid_report):
    rebuilt = report.Report.from_dict(valid_report).to_dict()
    assert rebuilt == valid_report
    assert rebuilt["verdict"] == "healthy"
    assert rebuilt["budget"]["budget_s"] is None


def test_fields_of_a_later_1x_report_are_carried_not_dropped(valid_report):
    later = {**valid_report, "schema_version": "1.9", "provenance": {"packages": 400}}
    later["checks"] = [{**valid_report["checks"][0], "evidence": ["RECORD"]}, *valid_report["checks"][1:]]
    assert schemas.problems(later, "preflight_report") == []
    rebuilt = report.Report.from_dict(later)
    assert rebuilt.extra == {"provenance": {"packages": 400}}
    assert rebuilt.to_dict()["provenance"] == {"packages": 400}
    assert rebuilt.to_dict()["checks"][0]["evidence"] == ["RECORD"]


@pytest.mark.parametrize(
    ("mutate", "pointer"),
    [
        (lambda r: r.update(status="maybe"), "/status"),
        (lambda r: r["checks"][0].update(status="skip", skip_reason=None), "/checks/0/skip_reason"),
        (lambda r: r["checks"][1].update(id="NoDots"), "/checks/1/id"),
        (lambda r: r["env_fingerprint"].update(sha256="xyz"), "/env_fingerprint/sha256"),
        (lambda r: r.update(stauts="pass"), "'stauts' -> did you mean 'status'?"),
        (lambda r: r.update(schema_version="2.0"), "/schema_version"),
    ],
)
def test_report_schema_rejects_with_a_pointer(valid_report, mutate, pointer):
    doc = copy.deepcopy(valid_report)
    mutate(doc)
    with pytest.raises(SchemaError) as info:
        schemas.validate(doc, "preflight_report", "r.json")
    assert pointer in str(info.value)
    assert str(info.value).startswith("r.json: ")


def test_a_1x_reader_accepts_fields_added_by_a_newer_minor_version(valid_report, tmp_path):
    doc = copy.deepcopy(valid_report)
    doc["schema_version"] = "1.7"
    doc["energy_joules"] = 12.5
    doc["checks"][0]["retries"] = 2
    doc["triage"]["top_failed_checks"] = []
    path = tmp_path / "future.json"
    path.write_text(json.dumps(doc))
    loaded = report.read(path)
    assert loaded.checks[0].id == valid_report["checks"][0]["id"]
    assert loaded.to_dict()["energy_joules"] == 12.5  # carried, not dropped (issue 30)
    assert loaded.to_dict()["checks"][0]["retries"] == 2


def test_same_version_extra_fields_and_a_new_major_are_rejected(valid_report):
    doc = copy.deepcopy(valid_report)
    doc["energy_joules"] = 12.5
    with pytest.raises(SchemaError, match="energy_joules"):
        schemas.validate(doc, "preflight_report", "same.json")
    doc["schema_version"] = "2.0"
    with pytest.raises(SchemaError, match="/schema_version"):
        schemas.validate(doc, "preflight_report", "major.json")
    newer = copy.deepcopy(valid_report)
    newer["schema_version"] = "1.3"
    newer["status"] = "maybe"
    with pytest.raises(SchemaError, match="/status"):
        schemas.validate(newer, "preflight_report", "newer.json")


def test_a_newer_major_says_upgrade_instead_of_a_pattern_mismatch(valid_report, tmp_path):
    doc = copy.deepcopy(valid_report)
    doc["schema_version"] = "2.0"
    doc["renamed_everything"] = True
    path = tmp_path / "from-the-future.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(SchemaError) as info:
        report.read(path)
    assert str(info.value) == (f"{path}: /schema_version: report schema 2.0 is newer than this tool (1.x): upgrade preflight-action")


@pytest.mark.parametrize("name", [n for n in schemas.names() if schemas._our_major(n) is not None])
def test_every_versioned_artifact_names_a_newer_major(name):
    ours = schemas._our_major(name)
    const = (schemas.load(name).get("properties") or {}).get("schema_version", {}).get("const")
    later = ours + 1 if isinstance(const, int) else f"{ours + 1}.0"
    found = schemas.problems({"schema_version": later}, name)
    assert found == [
        f"/schema_version: {schemas.LABELS.get(name, name.replace('_', ' '))} schema {later} is newer than this tool "
        f"({ours}.x): upgrade preflight-action"
    ]
    assert schemas.newer_major({"schema_version": ours}, name) is None


def test_read_json_reports_malformed_json_with_line_and_column(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"status": "pass",\n "checks": [}')
    with pytest.raises(InputError, match=r"bad.json: malformed JSON at line 2 column 13"):
        schemas.read_json(bad, "preflight_report")


def test_an_interrupted_1_1_report_that_said_pass_is_read_as_incomplete(valid_report):
    """1.1 wrote status "pass" for a run Ctrl-C stopped; a 1.2 reader derives the truth from the checks."""
    old = copy.deepcopy(valid_report)
    old["schema_version"] = "1.1"
    old.pop("verdict")
    old["interrupted_by"] = "SIGINT"
    for check in old["checks"]:
        check.pop("unfinished", None)
    last = old["checks"][-1]
    last.update(status="skip", skip_reason="not run: the run was interrupted by SIGINT", details={}, error=None, severity=None)
    old["status"] = "pass"
    schemas.validate(old, "preflight_report", "a 1.1 report")
    rebuilt = report.Report.from_dict(old)
    assert rebuilt.check(last["id"]).unfinished == "interrupted"
    assert rebuilt.status == "incomplete"
    assert rebuilt.verdict == "not_judged"
    budget_cut = copy.deepcopy(old)
    budget_cut.pop("interrupted_by")
    budget_cut["checks"][-1].update(skip_reason="cut short by the --budget of 60 s: ...", details={"budget_cut": True})
    assert report.Report.from_dict(budget_cut).verdict == "not_judged"
