"""Kernel log text to events, on saved logs in the formats several driver generations and log tools print."""

from __future__ import annotations

from pathlib import Path

import pytest

from preflight_action.kernel_log import parse

DATA = Path(__file__).resolve().parents[1] / "data" / "kernel_log"


def events(name: str) -> tuple[parse.Event, ...]:
    return parse.scan((DATA / name).read_text(encoding="utf-8")).events


def test_a_boot_log_without_events_has_none_even_with_aer_enabled_lines() -> None:
    text = (DATA / "dmesg_clean.log").read_text(encoding="utf-8")
    assert "AER: enabled" in text  # an AER line, and no error
    assert parse.scan(text).events == ()


def test_r384_xid_without_pci_prefix_and_the_drivers_own_words() -> None:
    found = events("dmesg_r384_xid79.log")
    assert [(e.kind, e.code, e.device) for e in found] == [("xid", 79, "0000:03:00"), ("fallen_off_bus", None, "0000:03:00.0")]
    assert found[0].stamp == parse.Stamp("monotonic", 8123.412218, "8123.412218 s after boot")
    assert found[0].detail == "GPU has fallen off the bus."


def test_r535_journal_line_with_pid_and_name() -> None:
    xid = next(e for e in events("journalctl_r535_xid79.log") if e.kind == "xid")
    assert (xid.code, xid.device, xid.process) == (79, "0000:c6:00", "pid=1101234, name=nvc:[driver]")
    assert xid.stamp is not None
    assert (xid.stamp.clock, xid.stamp.text) == ("yearless", "Mar 03 10:22:01")


def test_r550_dmesg_t_quoted_unknown_pid() -> None:
    found = events("dmesg_T_r550_xid13.log")
    assert [e.code for e in found] == [13, 13, 13]
    assert found[0].process == "pid='<unknown>', name=<unknown>"
    assert found[0].detail.startswith("Graphics SM Warp Exception on (GPC 7, TPC 7, SM 0)")
    assert found[0].stamp is not None
    assert (found[0].stamp.clock, found[0].stamp.text) == ("wall", "Fri Aug 30 11:43:09 2024")


def test_r470_short_iso_with_offset() -> None:
    (xid,) = events("journalctl_iso_r470_xid31.log")
    assert (xid.code, xid.device) == (31, "0000:3b:00")
    assert "MMU Fault: ENGINE GRAPHICS" in xid.detail
    assert xid.stamp is not None
    assert xid.stamp.value == 1686734264.0


@pytest.mark.parametrize("name", ["kmsg_r570_fallen_off_bus.log", "dmesg_r570_fallen_off_bus.log"])
def test_r570_fallen_off_bus_without_xid_spans_lines_in_both_kmsg_and_dmesg(name: str) -> None:
    (event,) = events(name)
    assert (event.kind, event.device) == ("fallen_off_bus", "0000:b3:00.0")
    assert event.stamp is not None
    assert event.stamp.value == pytest.approx(1843.308145)


def test_fallen_off_bus_split_over_journal_lines_finds_its_gpu_lines_above() -> None:
    text = (
        "Oct 25 10:01:01 n1 kernel: NVRM: The NVIDIA GPU 0000:b3:00.0\n"
        "Oct 25 10:01:01 n1 kernel: NVRM: (PCI ID: 10de:26b5) installed in this system has\n"
        "Oct 25 10:01:01 n1 kernel: NVRM: fallen off the bus and is not responding to commands.\n"
    )
    (event,) = parse.scan(text).events
    assert event.device == "0000:b3:00.0"


def test_mixed_log_sxid_detail_lines_and_aer_summaries_are_not_counted_twice() -> None:
    found = events("dmesg_iso_mixed.log")
    kinds = [(e.kind, e.code, e.variant) for e in found]
    assert kinds == [
        ("aer", None, "corrected"),
        ("aer", None, "corrected"),
        ("xid", 13, None),
        ("sxid", 12028, "non_fatal"),
        ("xid", 63, None),
        ("xid", 48, None),
        ("xid", 154, "GPU Reset Required"),
    ]
    assert found[0].device == "0000:1a:00.0"
    assert found[0].stamp is not None
    assert found[0].stamp.text == "2024-11-05T07:12:40,501130+00:00"


def test_aer_summary_line_counts_where_the_kernel_printed_no_detail() -> None:
    text = "[  10.5] pcieport 0000:00:01.0: AER: Uncorrected (Fatal) error received: 0000:01:00.0\n"
    (event,) = parse.scan(text).events
    assert (event.kind, event.variant, event.device) == ("aer", "fatal", "0000:01:00.0")
    newer = "[  11.0] pcieport 0000:00:01.0: AER: Multiple Uncorrectable (Non-Fatal) error message received from 0000:01:00.0\n"
    assert parse.scan(newer).events[0].variant == "non_fatal"


def test_dmesg_x_prefix_and_kern_log_stamps() -> None:
    text = (
        "kern  :err   : [  200.5] pcieport 0000:00:03.0: PCIe Bus Error: severity=Uncorrected (Fatal), type=Transaction Layer, id=0018(Requester ID)\n"
        "2024-03-03T10:22:01.123456+00:00 gpu-17 kernel: [ 5107.644336] NVRM: Xid (PCI:0000:03:00): 79, GPU has fallen off the bus.\n"
    )
    aer, xid = parse.scan(text).events
    assert (aer.variant, aer.stamp.value if aer.stamp else None) == ("fatal", 200.5)
    assert xid.stamp is not None
    assert (xid.stamp.clock, xid.stamp.value) == ("monotonic", 5107.644336)


def test_undecodable_bytes_and_control_characters_stay_evidence() -> None:
    raw = b"[  5.0] NVRM: Xid (PCI:0000:3b:00): 13, pid=9, name=caf\xe9\xff\x1b[31m, Graphics Exception \xfe\n"
    (event,) = parse.scan(raw.decode("utf-8", errors="replace")).events
    assert event.code == 13
    assert "\x1b" not in (event.process or "")
    assert "\\x1b" in (event.process or "")
    assert "\ufffd" in (event.process or "")


def test_xid_154_keeps_the_recovery_action_it_changed_to() -> None:
    text = (
        "[ 9.9] NVRM: Xid (PCI:0000:1b:00): 154, pid=1, name=x, GPU recovery action changed from 0x0 (None) to 0x2 (Node Reboot Required)\n"
    )
    assert parse.scan(text).events[0].variant == "Node Reboot Required"


def test_last_stamp_skips_trailing_unstamped_lines() -> None:
    text = "[  1.0] a\n[  2.5] b\n               continued\n\n"
    assert parse.scan(text + "[ 3.0] NVRM: Xid (0000:01:00): 13, x\n").last == parse.Stamp("monotonic", 3.0, "3.000000 s after boot")
    assert parse.last_stamp(text) == parse.Stamp("monotonic", 2.5, "2.500000 s after boot")
    assert parse.last_stamp("no stamps\nat all\n") is None
