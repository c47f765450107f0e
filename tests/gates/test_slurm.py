"""The slurm gate on a real one-node Slurm cluster, in the environment slurmd really gives its hooks.

slurmd itself runs the deploy/slurm prolog for each job (its environment has no PATH: the wrapper only
points the script at the test's settings file, as /etc/default/preflight-gate would be on a node); the
health-check script is run the way slurmd runs HealthCheckProgram (as root, SLURMD_NODENAME and nothing
else). What the scripts log goes to a real syslog socket (util-linux logger) and their log file. The
broken runtime is a real interpreter without torch (a fresh venv); the broken install is a real
``preflight_action`` package that fails to import, first on PYTHONPATH.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import venv
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.support.slurm_cluster import SlurmCluster, cluster, missing
from tests.support.syslog_socket import DAEMON, SyslogSocket

pytestmark = pytest.mark.integration

DEPLOY = ROOT / "deploy" / "slurm"
GATE = f"{sys.executable} {ROOT / 'scripts' / 'gate.py'}"
HIDDEN = ("/usr/bin/scontrol", "/usr/bin/sinfo")  # where this host's Slurm clients are: hidden to prove SLURM_BIN_DIR


@pytest.fixture(scope="module")
def broken_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real interpreter that cannot import torch: what a node with a broken stack looks like."""
    env_dir = tmp_path_factory.mktemp("no-torch") / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    return env_dir / "bin" / "python"


@pytest.fixture(scope="module")
def broken_install(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory whose ``preflight_action`` fails to import: a bad image or a half-finished upgrade of this tool."""
    where = tmp_path_factory.mktemp("broken-install")
    package = where / "preflight_action"
    package.mkdir()
    (package / "__init__.py").write_text("raise ImportError('preflight_action is half-installed (a broken image)')\n")
    where.chmod(0o755)
    return where


def _hooks_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    hooks = tmp_path_factory.mktemp("hooks")
    hooks.chmod(0o755)
    return hooks


def _wrapper(hooks: Path, script: str, prefix: str = "") -> Path:
    """What slurm.conf names: the deploy script, told where the settings file is (slurmd's environment otherwise)."""
    wrapper = hooks / script
    wrapper.write_text(f"#!/bin/bash\nexport PREFLIGHT_GATE_CONFIG={hooks / 'gate.conf'}\n{prefix}exec {DEPLOY / script}\n")
    wrapper.chmod(0o755)
    return wrapper


@pytest.fixture
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    """A fresh cluster per test (it starts in seconds) whose slurmd runs deploy/slurm/preflight-prolog.sh before each job."""
    hooks = _hooks_dir(tmp_path_factory)
    prolog = _wrapper(hooks, "preflight-prolog.sh")
    with cluster(tmp_path_factory, f"Prolog={prolog}\nPrologFlags=Alloc") as running:
        running.hooks = hooks
        yield running


@pytest.fixture
def syslog(slurm: SlurmCluster) -> Iterator[SyslogSocket]:
    assert slurm.hooks is not None
    socket = SyslogSocket(slurm.hooks / "syslog.sock")
    yield socket
    socket.close()


def _hooks(slurm: SlurmCluster) -> Path:
    assert slurm.hooks is not None
    return slurm.hooks


def configure(slurm: SlurmCluster, python: Path | None = None, extra: str = "", **settings: str) -> Path:
    """Write the /etc/default/preflight-gate equivalent both deploy scripts read; returns the report path."""
    hooks = _hooks(slurm)
    reports = slurm.root / "gate-reports"
    values = {
        "PREFLIGHT_GATE": GATE,
        "PREFLIGHT_REPORT_DIR": str(reports),
        "PREFLIGHT_ARGS": f"--check-timeout 60 {extra}".strip(),
        "PREFLIGHT_LOG": str(hooks / "preflight-gate.log"),
        "PREFLIGHT_SYSLOG_SOCKET": str(hooks / "syslog.sock"),
        # a site whose slurm.conf is not at the compiled-in path says so here (slurmd gives health checks no SLURM_CONF)
        "SLURM_CONF": str(slurm.conf),
        **settings,
    }
    if python:
        values["PREFLIGHT_PYTHON"] = str(python)
    if os.environ.get("PYTHONPATH") and "PYTHONPATH" not in values:
        values["PYTHONPATH"] = os.environ["PYTHONPATH"]
    (hooks / "gate.conf").write_text("".join(f"{key}={shlex.quote(value)}\n" for key, value in values.items()))
    return reports / "preflight.json"


def slurmd_environment(slurm: SlurmCluster) -> dict[str, str]:
    """All slurmd gives a HealthCheckProgram (no PATH), plus where the test's settings file is."""
    return {"SLURMD_NODENAME": slurm.node, "PREFLIGHT_GATE_CONFIG": str(_hooks(slurm) / "gate.conf")}


def healthcheck(slurm: SlurmCluster, hide_slurm_bin: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the HealthCheckProgram as slurmd does: root, SLURMD_NODENAME, no PATH, nothing else of ours.

    ``hide_slurm_bin``: in a private mount namespace where /usr/bin's scontrol and sinfo are gone, as on a site
    that installs Slurm under /opt.
    """
    script = str(DEPLOY / "preflight-healthcheck.sh")
    argv = [script]
    if hide_slurm_bin:
        hide = " && ".join(f"mount --bind /dev/null {path}" for path in HIDDEN)
        argv = ["/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/bash", "-c", f"{hide} && exec {script}"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=180, env=slurmd_environment(slurm), check=False)


def gate_log(slurm: SlurmCluster) -> str:
    log = _hooks(slurm) / "preflight-gate.log"
    return log.read_text() if log.exists() else ""


def _wait_for(predicate: object, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.5)
    return False


def submit(slurm: SlurmCluster) -> str:
    return slurm.run("sbatch", "--parsable", f"--chdir={slurm.root}", "--wrap", "true").stdout.strip().split(";")[0]


def job_state(slurm: SlurmCluster, job: str) -> str:
    """PENDING / RUNNING / COMPLETED ...: squeue while the job is known, else what the controller kept."""
    shown = slurm.run("scontrol", "-o", "show", "job", job, check=False).stdout
    return next((token.split("=", 1)[1] for token in shown.split() if token.startswith("JobState=")), "")


def node_state(slurm: SlurmCluster) -> str:
    """The node's state as slurmctld holds it (IDLE, MIXED, IDLE+DRAIN ...)."""
    shown = slurm.run("scontrol", "-o", "show", "node", slurm.node).stdout
    return next((token.split("=", 1)[1] for token in shown.split() if token.startswith("State=")), "")


# ---------------------------------------------------------------------------------------------- health check


def test_broken_runtime_drains_the_node_and_a_healthy_run_resumes_it(
    slurm: SlurmCluster, syslog: SyslogSocket, broken_python: Path
) -> None:
    configure(slurm, broken_python)
    done = healthcheck(slurm)
    assert done.returncode == 0, done.stderr  # slurmd ignores it; the gate changed the node itself
    assert "drained: preflight: torch.import critical" in done.stderr
    assert slurm.state() == "drained"
    assert slurm.reason().startswith("preflight: torch.import critical: ModuleNotFoundError")
    listed = slurm.run("sinfo", "-R").stdout
    assert "preflight: torch.imp" in listed  # sinfo -R shows the first 20 characters: ours say what failed
    said = syslog.messages()
    assert {m.tag for m in said} == {"preflight-gate"}
    assert all(m.facility == DAEMON for m in said)
    assert any(m.priority == "crit" and m.text.startswith(f"preflight gate (slurm, node {slurm.node}): drained: ") for m in said)
    assert f"preflight healthcheck on {slurm.node}: blocking finding" in gate_log(slurm)

    configure(slurm)  # the stack is fixed
    done = healthcheck(slurm)
    assert done.returncode == 0, done.stderr
    assert "healthy: resumed" in done.stderr
    assert slurm.state().rstrip("*") == "idle"
    assert slurm.reason() == "none"
    assert any(m.priority == "info" and "healthy: resumed" in m.text for m in syslog.messages())


def test_a_node_drained_by_someone_else_is_left_alone(slurm: SlurmCluster, broken_python: Path) -> None:
    report = configure(slurm)
    slurm.run("scontrol", "update", f"NodeName={slurm.node}", "State=DRAIN", "Reason=DIMM swap ticket 4711")
    done = healthcheck(slurm)
    assert "drained by someone else ('DIMM swap ticket 4711'): left drained" in done.stderr
    assert (slurm.state(), slurm.reason()) == ("drained", "DIMM swap ticket 4711")
    assert json.loads(report.read_text())["triage"]["blocking"] is False

    configure(slurm, broken_python)  # a blocking finding does not overwrite the admin's reason either
    done = healthcheck(slurm)
    assert "already" in done.stderr
    assert "by someone else" in done.stderr
    assert (slurm.state(), slurm.reason()) == ("drained", "DIMM swap ticket 4711")


def test_not_judged_neither_drains_nor_resumes(slurm: SlurmCluster, syslog: SyslogSocket, tmp_path: Path) -> None:
    configure(slurm, tmp_path / "no-such-python")
    done = healthcheck(slurm)
    assert "not judged" in done.stderr
    assert "the node was left as it is" in done.stderr
    assert slurm.state().rstrip("*") == "idle"
    assert any(m.priority == "warning" and m.text.startswith("preflight: not judged: --python ") for m in syslog.messages())

    slurm.run("scontrol", "update", f"NodeName={slurm.node}", "State=DRAIN", "Reason=preflight: gpu.ecc critical: earlier run")
    env = slurm.env(SLURMD_NODENAME=slurm.node)
    gate = [sys.executable, str(ROOT / "scripts" / "gate.py"), "--gate", "slurm", "--from-report", str(tmp_path / "missing.json")]
    done = subprocess.run(gate, capture_output=True, text=True, timeout=60, env=env, check=False)
    assert done.returncode == 2
    assert "not judged" in done.stderr
    assert (slurm.state(), slurm.reason()) == ("drained", "preflight: gpu.ecc critical: earlier run")


def test_a_tiny_budget_is_not_judged_and_changes_nothing(slurm: SlurmCluster, syslog: SyslogSocket) -> None:
    slurm.run("scontrol", "update", f"NodeName={slurm.node}", "State=DRAIN", "Reason=preflight: gpu.ecc critical: earlier run")
    configure(slurm, extra="--budget 0.5")
    done = healthcheck(slurm)
    assert "preflight: not judged: " in done.stderr
    assert "the --budget of 0.5 s ran out" in done.stderr
    # an unjudged node is neither resumed (nothing proved it healthy) nor drained
    assert (slurm.state(), slurm.reason()) == ("drained", "preflight: gpu.ecc critical: earlier run")
    assert any("healthcheck" in m.text and "not judged" in m.text for m in syslog.messages())


def test_slurm_clients_outside_usr_bin_come_from_slurm_bin_dir(slurm: SlurmCluster, broken_python: Path, tmp_path: Path) -> None:
    if shutil.which("unshare") is None or not all(Path(path).exists() for path in HIDDEN):
        pytest.skip("needs unshare and this host's Slurm clients in /usr/bin (to hide them in a private mount namespace)")
    configure(slurm, broken_python)
    done = healthcheck(slurm, hide_slurm_bin=True)  # /usr/bin has no scontrol now, and slurmd gave no PATH
    assert "the node's state cannot be read (scontrol " in done.stderr, done.stderr
    assert "set SLURM_BIN_DIR" in done.stderr
    assert slurm.state().rstrip("*") == "idle"  # nothing changed, and the log says why
    assert "set SLURM_BIN_DIR" in gate_log(slurm)

    elsewhere = tmp_path / "opt-slurm-bin"
    elsewhere.mkdir()
    for path in HIDDEN:  # copies, not links: a link into /usr/bin would be hidden with its target
        shutil.copy2(path, elsewhere / Path(path).name)
    elsewhere.chmod(0o755)
    tmp_path.chmod(0o755)
    configure(slurm, broken_python, SLURM_BIN_DIR=str(elsewhere))
    done = healthcheck(slurm, hide_slurm_bin=True)
    assert "drained: preflight: torch.import critical" in done.stderr, done.stderr
    assert slurm.state() == "drained"


def test_from_report_refuses_a_foreign_or_stale_report_and_judges_its_own(
    slurm: SlurmCluster, syslog: SyslogSocket, tmp_path: Path
) -> None:
    own = configure(slurm)
    done = healthcheck(slurm)  # a real run leaves this node's healthy report
    assert done.returncode == 0, done.stderr
    document = json.loads(own.read_text())
    slurm.run("scontrol", "update", f"NodeName={slurm.node}", "State=DRAIN", "Reason=preflight: gpu.ecc critical: earlier run")
    shared = tmp_path / "shared"
    shared.mkdir()
    tmp_path.chmod(0o755)

    foreign = json.loads(json.dumps(document))
    foreign["host"].update(node_id="gpu-node-17", hostname="gpu-node-17")
    (shared / f"{slurm.node}.json").write_text(json.dumps(foreign))
    configure(slurm, PREFLIGHT_FROM_REPORT=str(shared / "%N.json"))
    done = healthcheck(slurm)
    assert f"is from node gpu-node-17, not {slurm.node}" in done.stderr
    assert (slurm.state(), slurm.reason()) == ("drained", "preflight: gpu.ecc critical: earlier run")  # not resumed by it

    stale = json.loads(json.dumps(document))
    stale["finished_at"] = (datetime.now(timezone.utc) - timedelta(days=40)).isoformat().replace("+00:00", "Z")
    (shared / f"{slurm.node}.json").write_text(json.dumps(stale))
    done = healthcheck(slurm)
    assert "finished 40 days ago, older than the 6 h accepted" in done.stderr
    assert (slurm.state(), slurm.reason()) == ("drained", "preflight: gpu.ecc critical: earlier run")
    said = syslog.text()
    assert "not gpu-node-17" not in said
    assert "gpu-node-17" in said
    assert "40 days ago" in said

    (shared / f"{slurm.node}.json").write_text(json.dumps(document))  # its own, fresh, complete report
    done = healthcheck(slurm)
    assert "healthy: resumed" in done.stderr, done.stderr
    assert slurm.state().rstrip("*") == "idle"


# ---------------------------------------------------------------------------------------------- prolog


def test_prolog_on_a_bad_node_holds_the_job_and_drains_the_node(slurm: SlurmCluster, syslog: SyslogSocket, broken_python: Path) -> None:
    configure(slurm, broken_python)
    job = submit(slurm)
    try:
        assert _wait_for(lambda: slurm.state() == "drained"), slurm.logs()
        assert slurm.reason().startswith("preflight: torch.import critical")
        assert _wait_for(lambda: slurm.run("squeue", "-h", "-j", job, "-o", "%T").stdout.strip() == "PENDING")
        held = slurm.run("squeue", "-h", "-j", job, "-o", "%r").stdout.strip()
        assert "held" in held  # requeued and held: the job never ran on the bad node
        assert _wait_for(lambda: f"job {job} requeued and held" in syslog.text())
    finally:
        slurm.run("scancel", job, check=False)


def test_prolog_with_a_hung_check_does_not_hand_the_node_to_the_job(slurm: SlurmCluster, syslog: SyslogSocket) -> None:
    # the shipped budget and timeout (preflight-gate.default), and a check that never answers
    configure(slurm, PREFLIGHT_ARGS="--budget 45 --check-timeout 40", PREFLIGHT_INJECT_FAULT="tensor.smoke=hang")
    job = submit(slurm)
    try:
        assert _wait_for(lambda: slurm.state() == "drained", timeout=150), (slurm.logs(), gate_log(slurm))
        assert slurm.reason().startswith("preflight: tensor.smoke critical: no result after ")
        assert _wait_for(lambda: job_state(slurm, job) == "PENDING")
        assert "held" in slurm.run("squeue", "-h", "-j", job, "-o", "%r").stdout
        assert _wait_for(lambda: "hung" in syslog.text())
    finally:
        slurm.run("scancel", job, check=False)


def test_prolog_with_a_broken_install_lets_the_job_run_and_never_drains(
    slurm: SlurmCluster, syslog: SyslogSocket, broken_install: Path
) -> None:
    configure(slurm, PYTHONPATH=str(broken_install))
    job = submit(slurm)
    assert _wait_for(lambda: job_state(slurm, job) == "COMPLETED"), (job_state(slurm, job), slurm.logs(), gate_log(slurm))
    assert _wait_for(lambda: node_state(slurm) == "IDLE"), node_state(slurm)
    assert slurm.reason() == "none"
    said = syslog.messages()
    assert any(m.priority == "err" and "loading it failed: ImportError: preflight_action is half-installed" in m.text for m in said)
    assert any(
        m.priority == "err" and "the gate could not run (exit 3: this tool is broken" in m.text and f"job {job} allowed" in m.text
        for m in said
    )


def test_prolog_without_path_and_a_bare_gate_name_is_loud_and_lets_the_job_run(slurm: SlurmCluster, syslog: SyslogSocket) -> None:
    if shutil.which("preflight-gate", path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"):
        pytest.skip("preflight-gate is installed on this host's default PATH: the bare name would be found")
    configure(slurm, PREFLIGHT_GATE="preflight-gate")  # what the shipped default said before it named a path
    job = submit(slurm)
    assert _wait_for(lambda: job_state(slurm, job) == "COMPLETED"), slurm.logs()
    assert _wait_for(lambda: node_state(slurm) == "IDLE"), node_state(slurm)
    said = syslog.messages()
    assert any(
        m.priority == "err" and "the gate command preflight-gate was not found (exit 127)" in m.text and "absolute path" in m.text
        for m in said
    ), said
    assert "exit 127" in gate_log(slurm)


def test_prolog_circuit_breaker_at_zero_leaves_the_node_up_and_says_why(
    slurm: SlurmCluster, syslog: SyslogSocket, broken_python: Path
) -> None:
    prom = _hooks(slurm) / "textfiles"
    prom.mkdir()
    configure(slurm, broken_python, PREFLIGHT_GATE_ARGS="--max-drained 0", PREFLIGHT_PROM_DIR=str(prom))
    job = submit(slurm)
    assert _wait_for(lambda: job_state(slurm, job) == "COMPLETED"), (job_state(slurm, job), slurm.logs(), gate_log(slurm))
    # a blocking finding, and still up: the breaker held the drain (scontrol: sinfo may show the finished job's CPU a while)
    assert _wait_for(lambda: node_state(slurm) == "IDLE"), node_state(slurm)
    assert slurm.reason() == "none"
    said = syslog.text()
    assert "drain circuit breaker OPEN: 0 nodes of partition debug (1 nodes) already drained by preflight, limit 0" in said
    assert "despite a blocking finding (preflight: torch.import critical" in said
    assert f"breaker is open: the node was NOT drained; job {job} allowed" in said
    assert "drain circuit breaker OPEN" in gate_log(slurm)
    textfile = (prom / "preflight.prom").read_text()
    assert f'preflight_gate_drain_breaker_open{{device="none",level="quick",node="{slurm.node}"}} 1.0' in textfile
    assert f'preflight_gate_drain_limit_nodes{{device="none",level="quick",node="{slurm.node}"}} 0.0' in textfile
    assert 'verdict="blocking"} 1.0' in textfile


def test_fleet_sbatch_preflights_every_node_into_a_matrix(slurm: SlurmCluster, tmp_path: Path) -> None:
    configure(slurm)  # the prolog runs before the fleet job too: a healthy node lets it start
    shared = tmp_path / "fleet"
    env = slurm.env(
        PREFLIGHT_CMD=f"{sys.executable} {ROOT / 'scripts' / 'runtime_preflight.py'}",
        PREFLIGHT_MATRIX_CMD=f"{sys.executable} {ROOT / 'scripts' / 'runtime_matrix.py'}",
        PREFLIGHT_ARGS="--device cpu",
    )
    done = subprocess.run(
        ["sbatch", "--wait", "--nodes=1", f"--chdir={tmp_path}", str(DEPLOY / "preflight-fleet.sbatch"), str(shared)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    job = done.stdout.split()[-1] if done.stdout.split() else "?"
    log = tmp_path / f"preflight-fleet-{job}.out"
    assert done.returncode == 0, (done.stdout, done.stderr, log.read_text() if log.exists() else "", slurm.logs())
    report = json.loads((shared / "reports" / f"{slurm.node}.json").read_text())
    assert report["host"]["node_id"] == slurm.node
    matrix = json.loads((shared / "matrix.json").read_text())
    nodes = json.dumps(matrix)
    assert slurm.node in nodes
    assert "cpu" in nodes
    assert (shared / "matrix.html").exists()
    assert "1 reports, matrix in" in log.read_text()


# ---------------------------------------------------------------------------------------------- slurmd's own health check


@pytest.fixture
def slurm_health_checked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    """A cluster whose slurmd itself runs deploy/slurm/preflight-healthcheck.sh every few seconds."""
    why = missing()
    if why:
        pytest.skip(why)
    hooks = _hooks_dir(tmp_path_factory)
    root = Path(tmp_path_factory.mktemp("slurm-conf"))
    wrapper = _wrapper(hooks, "preflight-healthcheck.sh")
    running = SlurmCluster(root, hooks=hooks)
    configure(running)  # healthy while the node registers
    root.chmod(0o755)
    running.start(f"HealthCheckProgram={wrapper}\nHealthCheckInterval=5\nHealthCheckNodeState=ANY")
    try:
        yield running
    finally:
        running.stop()


def test_slurmd_runs_the_health_check_which_drains_then_resumes(slurm_health_checked: SlurmCluster, broken_python: Path) -> None:
    slurm = slurm_health_checked
    configure(slurm, broken_python)
    assert _wait_for(lambda: slurm.state() == "drained", timeout=180), slurm.logs()
    assert slurm.reason().startswith("preflight: torch.import critical")
    configure(slurm)
    assert _wait_for(lambda: slurm.state() == "idle", timeout=180), slurm.logs()
    assert slurm.reason() == "none"
    assert "preflight healthcheck on" in gate_log(slurm)


# ---------------------------------------------------------------------------------------------- no cluster needed


@pytest.mark.parametrize(
    ("gate", "code", "said"),
    [
        ("not-executable", 126, "is not executable (exit 126): the node was NOT checked"),
        ("missing", 127, "was not found (exit 127): the node was NOT checked; slurmd gives no PATH"),
    ],
)
def test_a_gate_that_cannot_be_started_is_loud_in_syslog_and_the_log(tmp_path: Path, gate: str, code: int, said: str) -> None:
    """126 / 127 never reach Slurm (nothing to read its state from is needed): the scripts log them at err and exit 0."""
    tmp_path.chmod(0o755)
    command = tmp_path / "preflight-gate"
    if gate == "not-executable":
        command.write_text("#!/bin/sh\nexit 0\n")
        command.chmod(0o644)
    syslog = SyslogSocket(tmp_path / "syslog.sock")
    try:
        config = tmp_path / "gate.conf"
        config.write_text(
            f"PREFLIGHT_GATE={command}\nPREFLIGHT_LOG={tmp_path / 'gate.log'}\nPREFLIGHT_SYSLOG_SOCKET={tmp_path / 'syslog.sock'}\n"
            f"PREFLIGHT_REPORT_DIR={tmp_path / 'reports'}\n"
        )
        env = {"SLURMD_NODENAME": "gpu-07", "SLURM_JOB_ID": "42", "PREFLIGHT_GATE_CONFIG": str(config)}
        for script in ("preflight-prolog.sh", "preflight-healthcheck.sh"):
            done = subprocess.run([str(DEPLOY / script)], capture_output=True, text=True, timeout=60, env=env, check=False)
            assert done.returncode == 0, done.stderr  # the job runs; a tool that cannot start never holds or drains
        messages = syslog.messages()
        assert [m.priority for m in messages] == ["err", "err"]
        assert f"preflight prolog on gpu-07: the gate command {command} {said}" in messages[0].text
        assert messages[0].text.endswith("job 42 allowed")
        assert f"preflight healthcheck on gpu-07: the gate command {command} {said}" in messages[1].text
        assert (tmp_path / "gate.log").read_text().count(f"exit {code}") == 2
    finally:
        syslog.close()
