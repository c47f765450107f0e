"""PREFLIGHT_SMOKE_REQUIRE_REAL / _ALLOW_HIGH_MEM: the usual words only; anything else is one line naming the variable, exit 2.

A value the guard cannot read as on or off (``=2``, ``=maybe``) must never be taken as off: REQUIRE_REAL off lets a
simulated run through the gate it was set to guard.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from preflight_action.errors import UsageError
from preflight_action.smoke import cli, guard

VARIABLES = ("PREFLIGHT_SMOKE_REQUIRE_REAL", "PREFLIGHT_SMOKE_ALLOW_HIGH_MEM")
FIELD = {"PREFLIGHT_SMOKE_REQUIRE_REAL": "require_real", "PREFLIGHT_SMOKE_ALLOW_HIGH_MEM": "allow_high_mem"}


@pytest.mark.parametrize("variable", VARIABLES)
@pytest.mark.parametrize(
    ("value", "on"),
    [*[(word, True) for word in ("1", "true", "TRUE", " Yes ", "on")], *[(word, False) for word in ("0", "false", "No", "OFF", "")]],
)
def test_the_usual_words_and_empty_read_as_on_or_off(variable: str, value: str, on: bool) -> None:
    knobs = guard.knobs_from(environ={variable: value})
    assert getattr(knobs, FIELD[variable]) is on


@pytest.mark.parametrize("variable", VARIABLES)
@pytest.mark.parametrize("value", ["2", "maybe", "-1", "enabled", "y e s"])
def test_any_other_value_is_refused_naming_the_variable_and_the_value(variable: str, value: str) -> None:
    with pytest.raises(UsageError) as refused:
        guard.knobs_from(environ={variable: value})
    assert str(refused.value).startswith(f"{variable}={value!r}: not a switch; use one of 1, true, yes, on or 0, false, no, off")


def test_the_flag_still_wins_over_the_variable() -> None:
    assert guard.knobs_from(require_real=True, environ={"PREFLIGHT_SMOKE_REQUIRE_REAL": "0"}).require_real


@pytest.mark.parametrize("variable", VARIABLES)
def test_the_smoke_command_exits_2_in_one_line_before_any_run(
    variable: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(variable, "maybe")
    code = cli.main(["--output-root", str(tmp_path / "smoke"), "--mode", "stub", "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert err == f"preflight-smoke: error: {variable}='maybe': not a switch; use one of 1, true, yes, on or 0, false, no, off\n"
    assert not (tmp_path / "smoke").exists() or not any((tmp_path / "smoke").iterdir())  # no run record started
