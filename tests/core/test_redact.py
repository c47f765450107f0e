"""Secrets: redacted by variable name, scrubbed by value, URL credentials removed."""

from __future__ import annotations

from preflight_action import redact


def test_secret_names():
    for name in ("GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "HF_TOKEN", "DB_PASSWORD", "GOOGLE_APPLICATION_CREDENTIALS", "ssh_private_key"):
        assert redact.is_secret_name(name)
    for name in ("NPM_CONFIG__AUTH", "SSH_KEY", "HFTOKEN", "SENTRY_DSN"):
        assert redact.is_secret_name(name)
    for name in ("CUDA_VISIBLE_DEVICES", "PYTHONPATH", "OMP_NUM_THREADS", "NOX_CURRENT_SESSION", "GIT_AUTHOR_NAME", "KEYBOARD"):
        assert not redact.is_secret_name(name)


def test_a_key_run_into_another_word_is_a_secret_name():
    for name in ("HF_ACCESSKEY", "NVIDIA_NGCKEY", "TORCH_HUBKEY", "OPENAIKEY", "wandb_apikeys", "SSH_KEYS", "MY_SIGNINGKEY_FILE"):
        assert redact.is_secret_name(name), name
    # KEY not at a part's end, and the InfiniBand partition key (a fabric setting, exempted by name)
    for name in ("KEYBOARD_LAYOUT", "MONKEYPATCH_MODE", "NCCL_IB_PKEY", "UCX_IB_PKEY", "KEYMAP", "XKB_DEFAULT_KEYMAP"):
        assert not redact.is_secret_name(name), name


def test_a_run_in_key_is_redacted_by_name_and_scrubbed_by_value():
    env = {"HF_ACCESSKEY": "hf-access-123456", "NCCL_IB_PKEY": "0x8001ab", "PATH": "/bin:hf-access-123456"}
    assert redact.secret_values(env) == ["hf-access-123456"]
    out = redact.redact_environment(env, ["HF_ACCESSKEY", "NCCL_IB_PKEY", "PATH"])
    assert out == {"HF_ACCESSKEY": "<redacted>", "NCCL_IB_PKEY": "0x8001ab", "PATH": "/bin:<redacted>"}


def test_scrub_replaces_values_in_nested_keys_and_strings():
    env = {"API_TOKEN": "tok-123456789", "SHORT_KEY": "abc", "HOME": "/root"}
    values = redact.secret_values(env)
    assert values == ["tok-123456789"]
    doc = {"a": ["x tok-123456789 y", {"tok-123456789": 1}], "b": 3}
    assert redact.scrub(doc, values) == {"a": ["x <redacted> y", {"<redacted>": 1}], "b": 3}


def test_url_credentials_are_removed():
    text = "pip index https://user:hunter22@pypi.example/simple and ssh://git@host/repo"
    assert redact.scrub_text(text, []) == "pip index https://<redacted>@pypi.example/simple and ssh://git@host/repo"


def test_redact_environment_keeps_only_named_and_redacts_secret_names():
    env = {"TORCH_HUB_TOKEN": "secret-value-xyz", "CUDA_HOME": "/usr/local/cuda", "PYTHONPATH": "/x/secret-value-xyz"}
    out = redact.redact_environment(env, ["TORCH_HUB_TOKEN", "CUDA_HOME", "PYTHONPATH", "UNSET"])
    assert out == {"CUDA_HOME": "/usr/local/cuda", "PYTHONPATH": "/x/<redacted>", "TORCH_HUB_TOKEN": "<redacted>"}


def test_report_documents_become_strict_json():
    import json

    from preflight_action.preflight.session import finalize

    doc = finalize({"details": {"rel_error": float("nan"), "peak": float("inf"), "ok": 1.5}, "list": [float("-inf")]})
    assert doc == {"details": {"rel_error": "NaN", "peak": "Infinity", "ok": 1.5}, "list": ["-Infinity"]}
    json.dumps(doc, allow_nan=False)


# -- the encodings the Actions runner's log masker covers, and token shapes ---------------------------

import base64  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import quote, quote_plus  # noqa: E402

import pytest  # noqa: E402

from preflight_action import schemas  # noqa: E402
from tests.conftest import ROOT  # noqa: E402

TOKEN = "planted+Secret/Value=0123456789"
# Shapes built at run time so no secret scanner flags this file; none is a real credential.
SHAPED = {
    "github": "ghp_" + "A1b2C3d4E5" * 3 + "F6g7H8",
    "github-oauth": "gho_" + "Z9y8X7w6V5" * 3 + "U4t3S2",
    "github-app": "ghs_" + "k" * 36,
    "github-user": "ghu_" + "M" * 18 + "n" * 18,
    "github-refresh": "ghr_" + "Q7" * 38,
    "github-fine-grained": "github_pat_" + "11ABCDEFG0" + "a" * 12 + "_" + "B" * 59,
    "huggingface": "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh",
    "aws": "AKIA" + "IOSFODNN7EXAMPL2",
    "aws-session": "ASIA" + "Y34FZKBOKMUTVV7A",
    "slack-bot": "xoxb-" + "123456789012-1234567890123-" + "AbCdEfGhIjKlMnOpQrStUvWx",
    "slack-user": "xoxp-" + "1234567890-1234567890-" + "abcdef012345",
}
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7planted\nQ2xlYXJseSBub3QgYSByZWFsIGtleQ==\n-----END RSA PRIVATE KEY-----"


def base64_forms(secret: str) -> list[tuple[str, str, str]]:
    """(prefix, suffix, base64(prefix + secret + suffix)) for prefixes of 0 to 5 bytes, standard and URL-safe."""
    out = []
    for prefix in ("", "u", "us", "use", "user", "user:"):
        for suffix in ("", "@host"):
            for encode in (base64.b64encode, base64.urlsafe_b64encode):
                out.append((prefix, suffix, encode(f"{prefix}{secret}{suffix}".encode()).decode()))
    return out


@pytest.mark.parametrize(("prefix", "suffix", "encoded"), base64_forms(TOKEN))
def test_base64_of_a_secret_is_scrubbed_at_every_byte_alignment(prefix: str, suffix: str, encoded: str) -> None:
    scrubbed = redact.scrub_text(f"Authorization: Basic {encoded}", [TOKEN])
    before, after = scrubbed.split("Basic ", 1)[1].split(redact.REDACTED)
    # left: the prefix's own groups (the last one shares the secret's first byte or two), and the
    # characters the secret's last bytes share with what follows (with the padding)
    assert len(before) <= 4 * -(-len(prefix) // 3), scrubbed
    if not suffix:
        assert len(after) <= 4, scrubbed


def test_url_json_and_html_escaped_secrets_are_scrubbed() -> None:
    secret = 'p@ss w0rd&"quoted"/x+y'
    escaped = {
        "url": quote(secret, safe=""),
        "url-plus": quote_plus(secret),
        "json": json.dumps(secret)[1:-1],
        "json-in-a-document": json.dumps({"value": secret}),
        "html": "&quot;".join(secret.split('"')).replace("&", "&amp;", 1),
        "command-line": secret.replace('"', '\\"'),
    }
    for name, text in escaped.items():
        assert secret not in redact.scrub_text(text, [secret])
        assert redact.REDACTED in redact.scrub_text(text, [secret]), name


@pytest.mark.parametrize("name", sorted(SHAPED))
def test_token_shapes_are_scrubbed_whatever_variable_they_came_from(name: str) -> None:
    token = SHAPED[name]
    text = f"warning: request failed with token={token}, retrying\n'{token}'"
    assert redact.scrub_text(text, []) == f"warning: request failed with token={redact.REDACTED}, retrying\n'{redact.REDACTED}'"


def test_pem_private_key_blocks_are_scrubbed_whole_even_when_cut_off() -> None:
    assert redact.scrub_text(f"key:\n{PEM}\ndone", []) == f"key:\n{redact.REDACTED}\ndone"
    cut = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA"  # a stderr tail that ends mid-key
    assert redact.scrub_text(f"tail: {cut}", []) == f"tail: {redact.REDACTED}"
    assert redact.scrub_text("-----BEGIN PUBLIC KEY-----\nMFkw", []) == "-----BEGIN PUBLIC KEY-----\nMFkw"


def test_lookalikes_and_digests_are_left_alone() -> None:
    digest = hashlib.sha256(b"report").hexdigest()
    kept = [
        "ghp_short",
        "xghp_" + "A" * 36,  # inside a longer word
        "hf_hub_download",
        "PYTORCH_CUDA_ALLOC_CONF",
        "BAKIA" + "IOSFODNN7EXAMPLE",
        "xoxb-short",
        digest,
        "torch 2.14.1+cpu on cpu",
    ]
    for text in kept:
        assert redact.scrub_text(text, [TOKEN]) == text


def test_scrub_takes_the_environment_by_default_and_any_document(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SERVICE_TOKEN", TOKEN)
    line = {"node": "n1", "checks": [{"error": f"b64 {base64.b64encode(TOKEN.encode()).decode()}"}], SHAPED["aws"]: 1, "n": 3}
    clean = redact.scrub(line)
    assert json.dumps(clean).count(redact.REDACTED) == 2
    assert clean["n"] == 3
    assert redact.scrub_text(f"x {TOKEN} y") == f"x {redact.REDACTED} y"


# -- planted in a real run: stderr tails, check details, node names, the summary ---------------------


def plant_torchvision(root: Path, body: str) -> Path:
    package = root / "torchvision"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(body, encoding="utf-8")
    return root


def outputs_of(run, *paths: Path) -> str:
    return "\n".join([run.path.read_text(encoding="utf-8"), *(p.read_text(encoding="utf-8") for p in paths), run.stdout, run.stderr])


def test_secrets_a_crashing_library_prints_never_reach_the_report(run_preflight, monkeypatch, tmp_path: Path) -> None:
    encoded = base64.b64encode(f"user:{TOKEN}".encode()).decode()
    printed = [encoded, quote(TOKEN, safe=""), json.dumps({"auth": TOKEN}), SHAPED["github"], SHAPED["huggingface"], PEM]
    body = "import ctypes, sys\n" + "".join(f"sys.stderr.write({line!r} + '\\n')\n" for line in printed)
    body += "sys.stderr.flush()\nctypes.string_at(0)\n"
    fake = plant_torchvision(tmp_path / "site", body)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(fake), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    monkeypatch.setenv("MY_SERVICE_API_TOKEN", TOKEN)
    monkeypatch.setenv("PREFLIGHT_NODE_ID", SHAPED["slack-bot"])
    monkeypatch.delenv("PREFLIGHT_INJECT_FAULT", raising=False)
    md, page = tmp_path / "r.md", tmp_path / "r.html"
    run = run_preflight("--device", "cpu", "--check-torchvision", "--output-md", str(md), "--output-html", str(page))
    schemas.validate(run.report, "preflight_report", str(run.path))
    crashed = run.check("torchvision.import")
    assert crashed["status"] == "fail"
    assert ("access violation" if sys.platform == "win32" else "SIGSEGV") in crashed["error"]
    assert crashed["error"].count(redact.REDACTED) >= len(printed)  # the stderr tail is there, scrubbed
    assert run.report["host"]["node_id"] == redact.REDACTED
    everything = outputs_of(run, md, page)
    for leaked in (
        TOKEN,
        quote(TOKEN, safe=""),
        encoded[8:24],
        SHAPED["github"],
        SHAPED["huggingface"],
        SHAPED["slack-bot"],
        "MIIEowIBAAKCAQEA7planted",
    ):
        assert leaked not in everything

    # a report written before this scrub existed is scrubbed again when a summary publishes it
    stale = json.loads(run.path.read_text(encoding="utf-8"))
    stale["checks"][0]["details"]["note"] = f"token {SHAPED['aws']} and {encoded}"
    old = tmp_path / "old" / "report.json"
    old.parent.mkdir()
    old.write_text(json.dumps(stale), encoding="utf-8")
    from preflight_action.summary import cli as cli_summarize

    summary_md, summary_json = tmp_path / "summary.md", tmp_path / "summary.json"
    code = cli_summarize.main(["--input-glob", str(old), "--output-md", str(summary_md), "--output-json", str(summary_json)])
    assert code == 0
    published = summary_md.read_text(encoding="utf-8") + summary_json.read_text(encoding="utf-8")
    for leaked in (SHAPED["aws"], encoded[8:24], TOKEN, SHAPED["slack-bot"]):
        assert leaked not in published


def test_secrets_in_check_details_are_scrubbed(run_preflight, monkeypatch, tmp_path: Path) -> None:
    fake = plant_torchvision(tmp_path / "site", f"__version__ = {SHAPED['github-fine-grained']!r}\nraise ImportError({TOKEN!r})\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(fake), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.delenv("PREFLIGHT_INJECT_FAULT", raising=False)
    run = run_preflight("--device", "cpu", "--check-torchvision")
    failed = run.check("torchvision.import")
    assert failed["status"] == "fail"
    assert redact.REDACTED in json.dumps(failed)
    assert TOKEN not in run.path.read_text(encoding="utf-8")
    assert ROOT.exists()


def test_a_sweep_step_log_is_scrubbed_of_token_shapes_without_any_secret_variable(tmp_path: Path) -> None:
    from preflight_action.sweep.artifacts import RunDir
    from preflight_action.sweep.records import PlannedPoint, PlannedStep
    from preflight_action.sweep.runner import Interrupted, run_step

    code = f"import sys; print({SHAPED['huggingface']!r}); sys.stderr.write({SHAPED['aws']!r}); sys.exit(3)"
    step = PlannedStep(0, "leaky", "inline", {}, (sys.executable, "-c", code), 30.0, 0)
    run = RunDir(tmp_path / "run")
    record = run_step(run, PlannedPoint("p000", 0, 0, {}, 1, (step,)), step, {"PATH": os.environ.get("PATH", "")}, Interrupted(), [])
    assert record["status"] == "failed"
    assert redact.REDACTED in record["error"]  # the stderr tail in the record
    logs = (run.path / record["stdout_log"]).read_text(encoding="utf-8") + (run.path / record["stderr_log"]).read_text(encoding="utf-8")
    assert SHAPED["huggingface"] not in logs
    assert SHAPED["aws"] not in logs + json.dumps(record)


def test_finalize_makes_any_bytes_a_valid_utf8_report_and_rehashes_a_changed_fingerprint() -> None:
    import json

    from preflight_action.preflight import report
    from preflight_action.preflight.session import REPORT_STRING_LIMIT, finalize

    def fingerprint(payload: dict[str, object]) -> dict[str, object]:
        made = report.fingerprint(payload)
        return {"payload": made.payload, "sha256": made.sha256}

    payload = {"environment": {"PYTORCH_X": "\udcff\x1b[2J\u202e" + "z" * (2 * REPORT_STRING_LIMIT)}}
    doc = finalize({"env_fingerprint": fingerprint(payload), "host": {"hostname": "evil\x07host"}})
    text = json.dumps(doc, ensure_ascii=False)
    text.encode("utf-8")  # a lone surrogate used to stop the report being written here
    value = doc["env_fingerprint"]["payload"]["environment"]["PYTORCH_X"]
    assert value.startswith("\\udcff\\x1b[2J\\u202ezzz")
    assert value.endswith("more characters)")
    assert len(value) < REPORT_STRING_LIMIT + 40
    assert doc["env_fingerprint"] == fingerprint(doc["env_fingerprint"]["payload"])
    assert doc["host"]["hostname"] == "evil\\x07host"
    clean = {"env_fingerprint": fingerprint({"environment": {"A": "b"}})}
    assert finalize(clean)["env_fingerprint"] == clean["env_fingerprint"]  # nothing to clean: the same hash


def test_a_value_given_to_a_secret_named_word_goes_and_the_name_stays() -> None:
    said = "login failed: token=SuperSecretValue_12345; password: hunter22x; api_key='k3y-abcdef'"
    assert redact.scrub_text(said, []) == "login failed: token=<redacted>; password: <redacted>; api_key='<redacted>'"
    ordinary = "max_tokens=512 tokenizer=bert-base-uncased monkey=bananas123 HF_TOKEN=<redacted> token=abc"
    assert redact.scrub_text(ordinary, []) == ordinary  # a longer word, a short value, one already redacted


def test_an_environment_map_loses_secret_named_values_whatever_they_are() -> None:
    document = {"environment": {"WANDB_API_KEY": "wb-anything", "NCCL_DEBUG": "INFO"}, "token_env": "GITHUB_TOKEN"}
    assert redact.scrub(document, []) == {"environment": {"WANDB_API_KEY": "<redacted>", "NCCL_DEBUG": "INFO"}, "token_env": "GITHUB_TOKEN"}
