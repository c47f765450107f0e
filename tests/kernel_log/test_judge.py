"""The kernel.log verdict on saved logs and saved sysfs trees: bands, storms, history kept in the cache folder."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from preflight_action.kernel_log import judge, read, watermark
from preflight_action.kernel_log.links import SYSFS_ENV
from preflight_action.kernel_log.read import LOG_ENV

DATA = Path(__file__).resolve().parents[1] / "data" / "kernel_log"
STORM_LINE = "2025-02-{day:02d}T{hh:02d}:{mm:02d}:{ss:02d}+0000 gpu-3 kernel: NVRM: Xid (PCI:0000:3b:00): 31, pid=4242, name=python, Ch 00000008, intr 00000000. MMU Fault: ENGINE GRAPHICS GPCCLIENT_T1_0 faulted @ 0x7f2e_3a000000. Fault is of type FAULT_PDE ACCESS_TYPE_VIRT_READ"


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Every test reads saved evidence only: its own cache folder and an empty sysfs."""
    monkeypatch.setenv("PREFLIGHT_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "sys").mkdir()
    monkeypatch.setenv(SYSFS_ENV, str(tmp_path / "sys"))
    return tmp_path


def use(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str) -> Path:
    """A private copy of a saved log (its history is keyed by its path)."""
    copy = tmp_path / name
    shutil.copyfile(DATA / name, copy)
    monkeypatch.setenv(LOG_ENV, str(copy))
    return copy


def test_a_log_without_events_passes_without_loading_the_policy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    use(monkeypatch, tmp_path, "dmesg_clean.log")

    def no_policy() -> None:
        raise AssertionError("the policy was loaded for a log without events")

    verdict = judge.judge("medium", 5.0, load_policy=no_policy)  # type: ignore[arg-type]
    assert verdict.status == "pass"
    assert verdict.message == f"no Xid, SXid, PCIe AER or fallen-off-the-bus line in 29 lines of {LOG_ENV}={tmp_path / 'dmesg_clean.log'}"
    assert not (tmp_path / "cache").exists()  # nothing to remember: nothing written


@pytest.mark.parametrize("name", ["dmesg_r384_xid79.log", "journalctl_r535_xid79.log"])
def test_xid_79_is_critical_and_names_meaning_and_action(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str) -> None:
    use(monkeypatch, tmp_path, name)
    verdict = judge.judge("medium", 5.0)
    assert verdict.status == "fail"
    assert verdict.worst_band == "critical"
    first = verdict.message.splitlines()[0]
    assert first.startswith("Xid 79 (GPU has fallen off the bus) on 0000:")
    assert ": reboot_node; 1 event at " in first
    assert verdict.remedy is not None
    assert verdict.remedy.startswith("drain the node and reboot it")
    (finding,) = verdict.details["findings"]  # the driver's "fallen off the bus" line is the same failure, not a second
    assert (finding["code"], finding["band"], finding["action"], finding["blocking"]) == (79, "critical", "reboot_node", True)
    assert finding["source"] == "https://docs.nvidia.com/deploy/xid-errors/analyzing-xid-catalog.html"
    assert finding["vendor_action"] == "RESTART_BM"


@pytest.mark.parametrize("name", ["kmsg_r570_fallen_off_bus.log", "dmesg_r570_fallen_off_bus.log"])
def test_off_the_bus_without_an_xid_line_is_critical_too(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str) -> None:
    use(monkeypatch, tmp_path, name)
    verdict = judge.judge("medium", 5.0)
    assert verdict.worst_band == "critical"
    assert verdict.message.startswith("NVRM message (GPU has fallen off the bus) on 0000:b3:00.0: reboot_node;")


@pytest.mark.parametrize(("name", "code"), [("dmesg_T_r550_xid13.log", 13), ("journalctl_iso_r470_xid31.log", 31)])
def test_xid_13_or_31_alone_is_an_application_finding_below_the_threshold(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, code: int
) -> None:
    use(monkeypatch, tmp_path, name)
    strict = judge.judge("low", 5.0)  # under --strict-threshold low it blocks (and is not recorded as seen)
    assert strict.details["findings"][0]["blocking"] is True
    verdict = judge.judge("medium", 5.0)
    assert (verdict.status, verdict.worst_band) == ("fail", "low")
    (finding,) = verdict.details["findings"]
    assert (finding["code"], finding["action"], finding["blocking"]) == (code, "application_or_driver", False)


def test_a_storm_of_500_lines_is_one_finding_with_its_count_and_span(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    lines = [STORM_LINE.format(day=1 + i // 86400, hh=(i // 3600) % 24, mm=(i // 60) % 60, ss=i % 60) for i in range(0, 500 * 7, 7)]
    log = tmp_path / "storm.log"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setenv(LOG_ENV, str(log))
    verdict = judge.judge("medium", 5.0)
    (finding,) = verdict.details["findings"]
    assert (finding["code"], finding["count"]) == (31, 500)
    assert (finding["first_seen"], finding["last_seen"]) == ("2025-02-01T00:00:00+0000", "2025-02-01T00:58:13+0000")
    assert verdict.message.count("\n") == 0
    assert "500 events from 2025-02-01T00:00:00+0000 to 2025-02-01T00:58:13+0000" in verdict.message


def test_a_mixed_log_is_judged_by_its_worst_finding(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    use(monkeypatch, tmp_path, "dmesg_iso_mixed.log")
    verdict = judge.judge("medium", 5.0)
    assert verdict.worst_band == "high"
    titles = [(f["title"], f["band"], f["count"], f["blocking"]) for f in verdict.details["findings"]]
    assert titles == [
        ("Xid 48", "high", 1, True),
        ("Xid 154", "high", 1, True),
        ("PCIe AER corrected", "low", 2, False),
        ("SXid 12028 (non-fatal)", "low", 1, False),
        ("Xid 13", "low", 1, False),
        ("Xid 63", "low", 1, False),
    ]
    assert verdict.remedy is not None
    assert verdict.remedy.startswith("drain the node and reset the GPU")


def test_non_utf8_bytes_are_read_not_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    log = tmp_path / "latin1.log"
    log.write_bytes(
        b"[    1.0] ACPI: \xb5-code \xff\xfe loaded\n"
        b"[ 8123.4] NVRM: Xid (PCI:0000:03:00): 79, pid=7, name=entra\xeenement, GPU has fallen off the bus.\n"
    )
    monkeypatch.setenv(LOG_ENV, str(log))
    verdict = judge.judge("medium", 5.0)
    assert verdict.worst_band == "critical"
    assert verdict.details["findings"][0]["process"] == "pid=7, name=entra\ufffdnement"
    json.dumps(verdict.details)  # the report can hold it


def test_a_missing_saved_log_fails_naming_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(LOG_ENV, str(tmp_path / "nope.log"))
    verdict = judge.judge("medium", 5.0)
    assert verdict.status == "fail"
    assert verdict.message == f"{LOG_ENV}={tmp_path / 'nope.log'}: cannot read it (No such file or directory)"
    assert verdict.worst_band is None  # no finding: the severity policy's own kernel.log score applies


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_saved_log_that_is_a_fifo_is_refused_never_waited_on(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fifo = tmp_path / "kern.fifo"
    os.mkfifo(fifo)
    monkeypatch.setenv(LOG_ENV, str(fifo))
    verdict = judge.judge("medium", 5.0)  # opening it would block until a writer came
    assert (verdict.status, verdict.message) == ("fail", f"{LOG_ENV}={fifo}: not a regular file (a FIFO)")


def test_the_live_log_is_read_or_each_source_says_why_not(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(LOG_ENV, raising=False)
    got = read.read(5.0)
    if isinstance(got, read.Log):
        assert got.source in ("/dev/kmsg", "journalctl -k -b", "dmesg")
        assert not got.saved
        assert got.boot_epoch is not None
        assert got.key().startswith("boot:")
    else:
        assert all(word in got.reason for word in ("/dev/kmsg:", "journalctl -k -b:", "dmesg:"))


# ------------------------------------------------------------------ history: what a healthy run already read


def test_what_a_healthy_run_read_is_history_next_time(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    log = use(monkeypatch, tmp_path, "dmesg_T_r550_xid13.log")
    first = judge.judge("medium", 5.0)
    assert first.status == "fail"
    assert first.worst_band == "low"
    state = json.loads((tmp_path / "cache" / "kernel_log" / "state.json").read_text(encoding="utf-8"))
    assert state["entries"][f"file:{log}"]["text"] == "Fri Aug 30 11:43:09 2024"
    second = judge.judge("medium", 5.0)
    assert second.status == "pass"
    assert second.details["history"][0]["count"] == 3
    assert second.message.endswith("1 finding from before the last healthy run at Fri Aug 30 11:43:09 2024 (history)")
    with log.open("a", encoding="utf-8") as handle:  # the same application fails again, later
        handle.write("[Fri Aug 30 14:00:00 2024] NVRM: Xid (PCI:0000:cb:00): 13, pid=99, name=python, Graphics Exception: ESR 0x1\n")
    third = judge.judge("medium", 5.0)
    assert third.status == "fail"
    assert [f["count"] for f in third.details["findings"]] == [1]
    assert [f["count"] for f in third.details["history"]] == [3]


def test_a_blocking_finding_is_never_recorded_so_it_stays_blocking(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    use(monkeypatch, tmp_path, "journalctl_r535_xid79.log")
    assert judge.judge("medium", 5.0).worst_band == "critical"
    assert not (tmp_path / "cache" / "kernel_log" / "state.json").exists()
    assert judge.judge("medium", 5.0).worst_band == "critical"


def test_history_is_per_log_and_a_corrupt_state_is_said_and_replaced(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    use(monkeypatch, tmp_path, "dmesg_T_r550_xid13.log")
    judge.judge("medium", 5.0)
    use(monkeypatch, tmp_path, "journalctl_iso_r470_xid31.log")
    assert judge.judge("medium", 5.0).status == "fail"  # another log: its own history, none yet
    state = tmp_path / "cache" / "kernel_log" / "state.json"
    assert len(json.loads(state.read_text(encoding="utf-8"))["entries"]) == 2
    state.write_text('{"schema_version": "1.0", "kind": "kernel_log_state", "entries": {"boot:x": {"clock": 3}}}', encoding="utf-8")
    verdict = judge.judge("medium", 5.0)
    assert verdict.status == "fail"  # nothing is assumed old when the state cannot be read
    assert verdict.details["state_note"].startswith("state ignored: ")
    assert judge.judge("medium", 5.0).status == "pass"  # the healthy run wrote a valid state again


def test_an_event_without_a_comparable_time_is_never_history() -> None:
    mark = watermark.Mark(judge.parse.Stamp("monotonic", 100.0, "100 s"), "2025-01-01T00:00:00Z")
    assert mark.covers(judge.parse.Stamp("monotonic", 99.0, "99 s"))
    assert not mark.covers(judge.parse.Stamp("monotonic", 101.0, "101 s"))
    assert not mark.covers(judge.parse.Stamp("wall", 1.0, "then"))
    assert not mark.covers(None)


def test_a_gpu_the_driver_says_needs_no_recovery_any_more_is_not_blamed_for_before(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    log = tmp_path / "reset.log"
    log.write_text(
        "[ 10.0] NVRM: Xid (PCI:0000:1b:00): 95, pid=1, name=x, Uncontained: FBHUB. RST: Yes, D-RST: No\n"
        "[ 10.1] NVRM: Xid (PCI:0000:2c:00): 95, pid=1, name=x, Uncontained: FBHUB. RST: Yes, D-RST: No\n"
        "[ 10.2] NVRM: Xid (PCI:0000:1b:00): 154, pid=1, name=x, GPU recovery action changed from 0x0 (None) to 0x1 (GPU Reset Required)\n"
        "[ 95.0] NVRM: Xid (PCI:0000:1b:00): 154, pid=1, name=x, GPU recovery action changed from 0x1 (GPU Reset Required) to 0x0 (None)\n",
        encoding="utf-8",
    )
    monkeypatch.setenv(LOG_ENV, str(log))
    verdict = judge.judge("medium", 5.0)
    assert [(f["code"], f["devices"], f["band"]) for f in verdict.details["findings"]] == [
        (95, ["0000:2c:00"], "high"),  # the other GPU was never reset
    ]
    assert sorted((f["code"], f["variant"], f["why"]) for f in verdict.details["history"]) == [
        (95, None, "the driver says this GPU needs no recovery"),
        (154, "GPU Reset Required", "superseded by the driver's later Xid 154 for this GPU"),
        (154, "None", "the driver says this GPU needs no recovery"),  # the all-clear is no finding of its own
    ]


def test_an_xid_154_superseded_by_a_later_one_on_the_same_gpu_is_history(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    log = tmp_path / "reset.log"
    log.write_text(
        "[ 10.0] NVRM: Xid (PCI:0000:1b:00): 154, pid=1, name=x, GPU recovery action changed from 0x0 (None) to 0x1 (GPU Reset Required)\n"
        "[ 90.0] NVRM: Xid (PCI:0000:1b:00): 154, pid=1, name=x, GPU recovery action changed from 0x1 (GPU Reset Required) to 0x0 (None)\n",
        encoding="utf-8",
    )
    monkeypatch.setenv(LOG_ENV, str(log))
    verdict = judge.judge("medium", 5.0)
    assert verdict.status == "pass"  # the GPU asked for a reset, then the driver said it needs nothing any more
    assert [f["variant"] for f in verdict.details["findings"]] == []
    assert sorted(f["variant"] for f in verdict.details["history"]) == ["GPU Reset Required", "None"]
    assert verdict.message.endswith(
        "1 finding superseded by a later Xid 154 (history); 1 finding on a GPU the driver says needs no recovery (history)"
    )


# ------------------------------------------------------------------ InfiniBand / RoCE ports from sysfs


def port(root: Path, device: str, number: str, state: str, phys: str, rate: str = "400 Gb/sec (4X NDR)", downed: int = 0) -> None:
    folder = root / "class" / "infiniband" / device / "ports" / number
    (folder / "counters").mkdir(parents=True)
    (folder / "state").write_text(f"{state}\n", encoding="utf-8")
    (folder / "phys_state").write_text(f"{phys}\n", encoding="utf-8")
    (folder / "rate").write_text(f"{rate}\n", encoding="utf-8")
    (folder / "link_layer").write_text("InfiniBand\n", encoding="utf-8")
    (folder / "counters" / "link_downed").write_text(f"{downed}\n", encoding="utf-8")


def test_ports_not_active_block_unless_nothing_is_plugged_in(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    use(monkeypatch, tmp_path, "dmesg_clean.log")
    root = tmp_path / "sys"
    port(root, "mlx5_0", "1", "4: ACTIVE", "5: LinkUp")
    port(root, "mlx5_1", "1", "1: DOWN", "3: Disabled")
    port(root, "mlx5_2", "1", "1: DOWN", "2: Polling", rate="10 Gb/sec (4X SDR)")
    port(root, "mlx5_3", "1", "2: INIT", "5: LinkUp")
    verdict = judge.judge("medium", 5.0)
    (finding,) = verdict.details["findings"]
    assert (finding["kind"], finding["devices"], finding["band"], finding["blocking"]) == ("port_not_active", ["mlx5_3/1"], "medium", True)
    assert verdict.message.startswith("InfiniBand/RoCE (InfiniBand/RoCE port not ACTIVE) on mlx5_3/1: hardware_service;")
    assert [p["port"] for p in verdict.details["ports"]] == ["mlx5_0/1", "mlx5_1/1", "mlx5_2/1", "mlx5_3/1"]
    assert verdict.details["ports"][0] == {
        "port": "mlx5_0/1",
        "state": "ACTIVE",
        "phys_state": "LinkUp",
        "rate": "400 Gb/sec (4X NDR)",
        "rate_gbps": 400.0,
        "link_layer": "InfiniBand",
        "link_downed": 0,
    }


def test_link_downs_are_new_until_a_healthy_run_has_counted_them(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    use(monkeypatch, tmp_path, "dmesg_clean.log")
    root = tmp_path / "sys"
    port(root, "mlx5_0", "1", "4: ACTIVE", "5: LinkUp", downed=2)
    first = judge.judge("medium", 5.0)
    assert [(f["kind"], f["count"], f["band"]) for f in first.details["findings"]] == [("link_downed", 2, "low")]
    second = judge.judge("medium", 5.0)
    assert second.status == "pass"
    assert [f["count"] for f in second.details["history"]] == [2]
    assert second.message.endswith("; 1 of 1 InfiniBand/RoCE port ACTIVE; 1 finding from before the last healthy run (history)")
    (root / "class/infiniband/mlx5_0/ports/1/counters/link_downed").write_text("3\n", encoding="utf-8")
    third = judge.judge("medium", 5.0)
    assert [f["count"] for f in third.details["findings"]] == [1]


def test_a_rate_floor_in_policy_finds_a_port_trained_slow(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    use(monkeypatch, tmp_path, "dmesg_clean.log")
    port(tmp_path / "sys", "mlx5_0", "1", "4: ACTIVE", "5: LinkUp", rate="200 Gb/sec (2X NDR)")
    assert judge.judge("medium", 5.0).status == "pass"  # no floor in the shipped policy
    policy = tmp_path / "kernel_log.yaml"
    shipped = (Path(__file__).resolve().parents[2] / "policy" / "kernel_log.yaml").read_text(encoding="utf-8")
    policy.write_text(shipped.replace("min_rate_gbps: null", "min_rate_gbps: 400"), encoding="utf-8")
    monkeypatch.setenv("PREFLIGHT_KERNEL_LOG_POLICY", str(policy))
    verdict = judge.judge("medium", 5.0)
    assert [(f["kind"], f["band"]) for f in verdict.details["findings"]] == [("rate_below", "medium")]
    assert "expected 400 Gb/s" in verdict.details["findings"][0]["example"]


# ------------------------------------------------------------------ history that must not hide a new failure

XID13 = "NVRM: Xid (PCI:0000:3b:00): 13, pid=4242, name=python, Graphics Exception"
XID79 = "NVRM: Xid (PCI:0000:3b:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus."


def test_a_saved_log_that_goes_on_past_a_reboot_judges_the_new_boot(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    log = tmp_path / "kern.log"
    log.write_text(
        "Mar  3 08:00:00 gpu-17 kernel: [    0.000000] Linux version 6.5.0-1024-nvidia\n"
        f"Mar  3 10:00:00 gpu-17 kernel: [ 7200.000000] {XID13}\n"
        "Mar  3 10:30:00 gpu-17 kernel: [ 9000.000000] IPv6: eth0: link becomes ready\n",
        encoding="utf-8",
    )
    monkeypatch.setenv(LOG_ENV, str(log))
    assert judge.judge("medium", 5.0).worst_band == "low"  # healthy: its place in the log is recorded
    with log.open("a", encoding="utf-8") as handle:  # the node rebooted; the kernel's clock started again at 0
        handle.write("Mar  4 09:00:00 gpu-17 kernel: [    0.000000] Linux version 6.5.0-1024-nvidia\n")
        handle.write(f"Mar  4 09:05:00 gpu-17 kernel: [  300.000000] {XID79}\n")
    verdict = judge.judge("medium", 5.0)
    assert (verdict.status, verdict.worst_band) == ("fail", "critical")
    assert verdict.details["boots"] == 2
    assert [(f["code"], f["why"]) for f in verdict.details["history"]] == [(13, "logged before the node's last reboot")]


def test_a_log_saved_again_after_a_reboot_is_judged_whole(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    log = tmp_path / "node.log"
    log.write_text(f"[ 7200.000000] {XID13}\n[ 9000.000000] IPv6: eth0: link becomes ready\n", encoding="utf-8")
    monkeypatch.setenv(LOG_ENV, str(log))
    assert judge.judge("medium", 5.0).worst_band == "low"
    log.write_text(f"[    1.000000] Command line: ro quiet\n[  300.000000] {XID79}\n", encoding="utf-8")  # dmesg > node.log again
    verdict = judge.judge("medium", 5.0)
    assert verdict.worst_band == "critical"  # 300 s is no earlier than the old 9000 s: it is another boot's clock
    assert "not in this log" in verdict.details["state_note"]


def test_a_run_under_a_looser_threshold_does_not_hide_what_a_stricter_one_blocks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    log = tmp_path / "dbe.log"
    log.write_text(
        "[   10.000000] NVRM: Xid (PCI:0000:3b:00): 48, pid=1, name=python, An uncorrectable double bit error (DBE) has been detected\n"
        "[   99.000000] systemd[1]: tick\n",
        encoding="utf-8",
    )
    monkeypatch.setenv(LOG_ENV, str(log))
    loose = judge.judge("critical", 5.0)  # --strict-threshold critical: a high finding does not block, the run records its place
    assert (loose.worst_band, loose.details["findings"][0]["blocking"]) == ("high", False)
    assert (tmp_path / "cache" / "kernel_log" / "state.json").exists()
    strict = judge.judge("medium", 5.0)
    assert (strict.status, strict.worst_band, strict.details["findings"][0]["blocking"]) == ("fail", "high", True)
    assert judge.judge("critical", 5.0).details["history"][0]["code"] == 48  # the loose run's own view is unchanged


def test_syslog_times_without_a_year_do_not_hide_what_came_after_new_year(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    log = tmp_path / "syslog"
    log.write_text(f"Dec 31 23:50:00 n17 kernel: {XID13}\nDec 31 23:59:00 n17 kernel: tick\n", encoding="utf-8")
    monkeypatch.setenv(LOG_ENV, str(log))
    assert judge.judge("medium", 5.0).worst_band == "low"
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"Jan  1 00:05:00 n17 kernel: {XID79}\n")
    verdict = judge.judge("medium", 5.0)
    assert verdict.worst_band == "critical"  # "Jan 1" reads as earlier than "Dec 31" by its words alone
    assert [f["code"] for f in verdict.details["history"]] == [13]


@pytest.mark.parametrize(
    "boot_two",
    [
        "-- Boot 5c2a1e0f9d8b4c7a9e6f1b2c3d4e5f60 --\n2025-03-02T08:00:00+0000 gpu-17 kernel: Linux version 6.5.0\n",
        "[    0.000000] Linux version 6.5.0 (buildd@lcy02) #24\n",
        "[    2.000000] ACPI: bus type PCI registered\n",  # no marker: the kernel's clock went back
    ],
)
def test_a_log_of_several_boots_judges_only_the_last(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, boot_two: str) -> None:
    log = tmp_path / "journal.log"
    stamp = "2025-03-01T10:22:01+0000 gpu-17 kernel: " if boot_two.startswith("--") else "[ 8123.400000] "
    log.write_text(f"{stamp}{XID79}\n{boot_two}", encoding="utf-8")
    monkeypatch.setenv(LOG_ENV, str(log))
    verdict = judge.judge("medium", 5.0)
    assert verdict.status == "pass"
    assert verdict.details["boots"] == 2
    assert [(f["code"], f["why"]) for f in verdict.details["history"]] == [(79, "logged before the node's last reboot")]
    assert verdict.message.endswith("1 finding from before the node's last reboot (history)")


def test_a_log_header_before_the_first_boot_is_not_a_second_boot(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    log = tmp_path / "journal.log"
    log.write_text(f"-- Boot 5c2a1e0f9d8b4c7a --\n[ 8123.400000] {XID79}\n", encoding="utf-8")
    monkeypatch.setenv(LOG_ENV, str(log))
    verdict = judge.judge("medium", 5.0)
    assert verdict.worst_band == "critical"
    assert "boots" not in verdict.details


def test_an_xid_line_the_copy_ends_inside_is_not_read_as_a_shorter_code(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    log = tmp_path / "cut.log"
    log.write_text("[   10.000000] NVRM: Xid (PCI:0000:3b:00): 7", encoding="utf-8")  # 79? 74? the copy stops here
    monkeypatch.setenv(LOG_ENV, str(log))
    verdict = judge.judge("medium", 5.0)
    (finding,) = verdict.details["findings"]
    assert (finding["title"], finding["code"]) == ("Xid (code cut off)", None)
    assert "after the digits 7" in finding["example"]
    assert verdict.remedy == judge.CUT_REMEDY
    log.write_text("[   10.000000] NVRM: Xid (PCI:0000:3b:00): 7, pid=1, name=x, detail\n", encoding="utf-8")  # whole: Xid 7
    assert judge.judge("medium", 5.0).details["findings"][0]["code"] == 7


@pytest.mark.parametrize("code", [63, 92])
def test_an_informational_hardware_xid_asks_for_no_drain(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, code: int) -> None:
    log = tmp_path / "info.log"
    log.write_text(f"[   10.000000] NVRM: Xid (PCI:0000:3b:00): {code}, pid=1, name=x, detail\n", encoding="utf-8")
    monkeypatch.setenv(LOG_ENV, str(log))
    verdict = judge.judge("medium", 5.0)
    assert (verdict.status, verdict.worst_band) == ("fail", "low")
    assert verdict.remedy is not None
    assert verdict.remedy.startswith("nothing to drain now")
