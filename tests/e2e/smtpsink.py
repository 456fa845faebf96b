"""An SMTP sink: ``python -m tests.e2e.smtpsink PORT DIRECTORY`` (aiosmtpd on 127.0.0.1:PORT).

Every message accepted is written to ``DIRECTORY/<arrival ns>-<n>.eml`` (the exact bytes of
the DATA command, renamed into place once complete) before the ``250`` answer is sent, so a
message a client saw accepted is always on disk. The end-to-end stack's web and worker
processes send their e-mail here (``EMAIL_URL=smtp://127.0.0.1:PORT``); the test reads the
files (``ProcessStack.sent_mail``).

``DIRECTORY/.delay`` (seconds, a float; optional) is read for every message: the sink waits
that long before accepting, which slows delivery down so that a test can kill a worker in the
middle of sending (``ProcessStack.set_mail_delay``). A message whose client disconnected
during that wait (a killed worker) is not kept: the client never learnt it was accepted,
so it sends it again (a mail server that kept it would count it twice; Kelisim's e-mail is
at-least-once with a stable Message-ID, docs/deadlines.md).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import sys
import threading
import time
from pathlib import Path


class Sink:
    """aiosmtpd handler writing each message to a file of ``directory``."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.counter = itertools.count(1)

    def _delay(self) -> float:
        try:
            return max(0.0, float((self.directory / ".delay").read_text().strip() or 0))
        except (OSError, ValueError):
            return 0.0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        delay = self._delay()
        if delay:
            await asyncio.sleep(delay)
            transport = getattr(server, "transport", None)
            if transport is None or transport.is_closing():
                return "451 Client gone before the message was accepted"
        name = f"{time.time_ns()}-{next(self.counter):06d}.eml"
        partial = self.directory / f".{name}.part"
        partial.write_bytes(envelope.content if isinstance(envelope.content, bytes)
                            else envelope.content.encode("utf-8"))
        os.replace(partial, self.directory / name)
        return "250 Message accepted for delivery"


def main(argv: list[str]) -> int:
    from aiosmtpd.controller import Controller

    port, directory = int(argv[0]), Path(argv[1])
    directory.mkdir(parents=True, exist_ok=True)
    controller = Controller(Sink(directory), hostname="127.0.0.1", port=port)
    controller.start()
    print(f"SMTP sink on 127.0.0.1:{port} writing to {directory}", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    while not stopped.wait(0.5):
        pass
    controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
