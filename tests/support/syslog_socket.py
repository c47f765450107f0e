"""A real syslog socket for the deploy scripts' ``logger``: a Unix datagram socket in a temp dir, read after the fact."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, field
from pathlib import Path

# RFC 3164 as util-linux logger sends it to a local socket: <PRI>Mmm dd hh:mm:ss TAG[PID]: MESSAGE
_LINE = re.compile(r"^<(?P<pri>\d+)>(?P<stamp>\w{3} [ \d]\d \d\d:\d\d:\d\d) (?P<tag>[^:\[]+)(?:\[(?P<pid>\d+)\])?: (?P<message>.*)$", re.S)
PRIORITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
DAEMON = 3  # syslog facility "daemon"


@dataclass(frozen=True)
class Message:
    facility: int
    priority: str
    tag: str
    text: str


@dataclass
class SyslogSocket:
    path: Path
    received: list[Message] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(self.path))
        self.path.chmod(0o666)
        self._sock.setblocking(False)

    def messages(self) -> list[Message]:
        """Every message received so far (the kernel keeps the datagrams until they are read)."""
        while True:
            try:
                data = self._sock.recv(65536)
            except BlockingIOError:
                return list(self.received)
            match = _LINE.match(data.decode("utf-8", "replace"))
            assert match, f"not a syslog line: {data!r}"
            pri = int(match["pri"])
            self.received.append(Message(pri // 8, PRIORITIES[pri % 8], match["tag"], match["message"]))

    def text(self) -> str:
        return "\n".join(f"{m.priority}: {m.text}" for m in self.messages())

    def close(self) -> None:
        self._sock.close()
