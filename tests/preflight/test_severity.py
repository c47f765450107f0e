"""Severity policy: scores, bands, experimental backends, compile fallback, bad files."""

from __future__ import annotations

import pytest
import yaml

from preflight_action.errors import InputError, SchemaError
from preflight_action.preflight import severity as policy


@pytest.fixture
def shipped():
    return policy.load()


def test_seed_bands_and_critical_checks(shipped):
    assert [(b.name, b.min_score) for b in shipped.bands] == [("critical", 90), ("high", 75), ("medium", 60), ("low", 0)]
    for check_id in ("torch.import", "device.resolve", "capabilities.detect", "tensor.smoke"):
        assert shipped.band(shipped.score(check_id, "cuda")).name == "critical"
    assert shipped.band(shipped.score("torchvision.import", "cpu")).name == "medium"


def test_compile_is_high_on_first_class_and_low_on_experimental(shipped):
    assert shipped.band(shipped.score("compile.smoke", "cuda")).name == "high"
    assert shipped.band(shipped.score("compile.smoke", "mps")).name == "low"


def test_unknown_check_gets_default_score(shipped):
    assert shipped.score("brand.new_check", "cpu") == 50


def test_strict_threshold_default_is_medium(shipped):
    assert shipped.strict_threshold == "medium"
    assert shipped.blocks(60)
    assert not shipped.blocks(59)
    assert not shipped.blocks(70, "high")
    assert shipped.blocks(75, "high")


def _document():
    return yaml.safe_load(policy.default_path().read_text())


def test_compile_fallback_downgrades_compile_failures():
    doc = _document()
    doc["compile_fallback"] = {"allowed": True, "score": 40, "rationale": "we run eager when inductor is unavailable on CI runners"}
    allowed = policy.from_document(doc, "inline")
    assert allowed.score("compile.smoke", "cuda") == 40


def test_compile_fallback_without_rationale_is_rejected(tmp_path):
    doc = _document()
    doc["compile_fallback"] = {"allowed": True, "score": 40, "rationale": ""}
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(SchemaError) as info:
        policy.load(path)
    assert "/compile_fallback/rationale" in str(info.value)


def test_bands_must_descend(tmp_path):
    doc = _document()
    doc["bands"][1]["min_score"] = 95
    with pytest.raises(InputError, match="min_score must fall strictly"):
        policy.from_document(doc, "inline")


def test_missing_policy_file(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        policy.load(tmp_path / "nope.yaml")


def test_a_backend_cannot_be_both_first_class_and_experimental():
    doc = _document()
    doc["backends"]["experimental"].append("cuda")
    with pytest.raises(InputError, match="cuda cannot be both first_class and experimental"):
        policy.from_document(doc, "inline")


def test_unresolved_device_keeps_the_full_score(shipped):
    assert shipped.score("torch.import", None) == 100
    assert shipped.score("compile.smoke", "unknown") == 80
