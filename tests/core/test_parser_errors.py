"""cli_args.Parser names an unknown flag even when a required argument is missing too (argparse would blame the
missing one for what is a typo), in one line, exit 2, for every command built on it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from preflight_action.diff import cli as diff_cli
from preflight_action.matrix import cli as matrix_cli
from preflight_action.summary import cli as summary_cli
from preflight_action.sweep import cli as sweep_cli


@pytest.mark.parametrize(
    ("main", "argv", "said"),
    [
        (summary_cli.main, ["--bogus"], "preflight-summarize: error: unrecognized arguments: --bogus"),
        (summary_cli.main, ["--input-glb", "x/*.json"], "preflight-summarize: error: unrecognized arguments: --input-glb"),
        (summary_cli.main, [], "preflight-summarize: error: the following arguments are required: --input-glob"),
        (matrix_cli.main, ["--bogus"], "preflight-matrix: error: unrecognized arguments: --bogus"),
        (sweep_cli.main, ["export", "--bogus"], "preflight-sweep export: error: unrecognized arguments: --bogus"),
        (sweep_cli.main, ["export"], "preflight-sweep export: error: the following arguments are required: --run-id"),
        (diff_cli.main, ["--bogus"], "preflight-diff: error: unrecognized arguments: --bogus"),
    ],
)
def test_an_unknown_flag_is_named_before_a_missing_argument(
    main: Callable[[list[str]], int], argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert capsys.readouterr().err == said + "\n"
