"""policy/kernel_log.yaml: every entry sourced, its schema strict, its enums the vocabulary's."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from preflight_action import policy_files, schemas, vocab
from preflight_action.errors import InputError
from preflight_action.kernel_log import policy as kernel_policy
from preflight_action.kernel_log.parse import Event

ROOT = Path(__file__).resolve().parents[2]


def event(kind: str, code: int | None = None, variant: str | None = None) -> Event:
    return Event(kind, code, variant, None, "", None, 0)


def test_the_shipped_policy_judges_the_issues_examples() -> None:
    policy = kernel_policy.load()
    assert (policy.rule(event("xid", 79)).band, policy.rule(event("xid", 79)).action) == ("critical", "reboot_node")
    for code in (13, 31):
        assert (policy.rule(event("xid", code)).band, policy.rule(event("xid", code)).action) == ("low", "application_or_driver")
    assert policy.rule(event("xid", 48)).action == "reset_gpu"
    assert policy.rule(event("xid", 9999)) == policy.xid_default
    assert policy.rule(event("xid", 154, "Node Reboot Required")).action == "reboot_node"
    assert policy.rule(event("xid", 154, "something new")) == policy.xid.get(154, policy.xid_default)
    assert policy.rule(event("sxid", 20034, "fatal")).band == "critical"
    assert policy.rule(event("sxid", 12028, None)).band == "medium"
    assert policy.rule(event("aer", None, "corrected")).band == "low"
    assert policy.rule(event("fallen_off_bus")).action == "reboot_node"


def test_every_meaning_names_a_public_https_source() -> None:
    policy = kernel_policy.load()
    rules = [*policy.xid.values(), policy.xid_default, *policy.xid154.values(), *policy.sxid_by_severity.values()]
    rules += [policy.fallen_off_bus, *policy.aer.values(), policy.port_not_active, policy.link_downed, policy.rate_below]
    assert all(rule.source.startswith("https://") and rule.vendor for rule in rules)


def test_the_schema_enums_are_the_vocabularys() -> None:
    schema = schemas.load("kernel_log_policy")
    rule = schema["$defs"]["rule"]["properties"]
    assert tuple(rule["action"]["enum"]) == vocab.KERNEL_ACTIONS
    assert tuple(rule["band"]["enum"]) == vocab.BANDS
    assert tuple(schema["properties"]["actions"]["required"]) == vocab.KERNEL_ACTIONS_REQUIRED
    assert tuple(schema["properties"]["actions"]["properties"]) == vocab.KERNEL_ACTIONS


def test_a_policy_from_before_monitor_still_loads_and_a_rule_needs_its_actions_words(tmp_path: Path) -> None:
    def older(document: dict) -> None:  # type: ignore[type-arg]
        del document["actions"]["monitor"]
        for section in ("xid", "xid154"):
            for entry in document[section]:
                if entry["action"] == "monitor":
                    entry["action"] = "hardware_service"
        document["sxid"]["non_fatal"]["action"] = "hardware_service"
        document["aer"]["corrected"]["action"] = "hardware_service"
        document["infiniband"]["link_downed"]["action"] = "hardware_service"

    assert kernel_policy.load(_edited(tmp_path, older)).rule(event("xid", 92)).action == "hardware_service"
    path = _edited(tmp_path, lambda d: d["actions"].pop("monitor"))
    with pytest.raises(InputError, match=r"kernel_log\.yaml: /xid/\d+/action: 'monitor' has no words under /actions"):
        kernel_policy.load(path)


def test_a_finding_that_never_blocks_by_default_asks_for_no_drain() -> None:
    """A low band is below every shipped threshold: its words must not tell an operator to drain the node."""
    policy = kernel_policy.load()
    rules = [*policy.xid.values(), *policy.xid154.values(), *policy.sxid_by_severity.values(), *policy.aer.values()]
    rules += [policy.link_downed, policy.fallen_off_bus, policy.port_not_active, policy.rate_below]
    for rule in rules:
        if rule.band == "low":
            assert "drain the node" not in policy.actions[rule.action], rule


def _edited(tmp_path: Path, edit: object) -> Path:
    document = yaml.safe_load((ROOT / "policy" / "kernel_log.yaml").read_text(encoding="utf-8"))
    edit(document)  # type: ignore[operator]
    path = tmp_path / "kernel_log.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    policy_files.clear_cache()
    return path


def test_an_unknown_source_name_is_one_line_naming_file_and_pointer(tmp_path: Path) -> None:
    path = _edited(tmp_path, lambda d: d["xid"][2].update(source="nvidia_blog"))
    with pytest.raises(InputError, match=r"kernel_log\.yaml: /xid/2/source: 'nvidia_blog' is not under /sources"):
        kernel_policy.load(path)


def test_a_code_listed_twice_is_refused(tmp_path: Path) -> None:
    path = _edited(tmp_path, lambda d: d["xid"].append(dict(d["xid"][0])))
    with pytest.raises(InputError, match=r"/xid/\d+/code: 8 is listed twice"):
        kernel_policy.load(path)


def test_a_band_outside_the_vocabulary_is_a_schema_error(tmp_path: Path) -> None:
    path = _edited(tmp_path, lambda d: d["xid"][0].update(band="severe"))
    with pytest.raises(InputError, match=r"/xid/0/band"):
        kernel_policy.load(path)
