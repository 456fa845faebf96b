"""A plain TCP proxy: ``python -m tests.e2e.tcpproxy LISTEN_PORT TARGET_PORT`` (127.0.0.1 both).

The end-to-end stack puts it in front of the moto S3 server, and the web and worker
processes talk to S3 through it. Stopping the proxy (``ProcessStack.stop_s3``) makes S3
unreachable exactly as a dead MinIO would be (connections refused, open ones reset), while
the moto process behind it keeps its bucket and objects; starting it again on the same port
(``start_s3``) brings the same bucket back. (Stopping moto itself would lose its in-memory
bucket; SIGSTOP would make requests hang until botocore's timeouts instead of failing fast.)

Each connection is two threads copying bytes; the process exits on SIGTERM/SIGINT.
"""

from __future__ import annotations

import signal
import socket
import sys
import threading


def _pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            target.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, target):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _serve_one(client: socket.socket, target_port: int) -> None:
    try:
        upstream = socket.create_connection(("127.0.0.1", target_port), timeout=10)
    except OSError:
        client.close()
        return
    upstream.settimeout(None)
    threading.Thread(target=_pipe, args=(client, upstream), daemon=True).start()
    threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()


def serve(listen_port: int, target_port: int) -> None:
    """Accept on 127.0.0.1:``listen_port`` and forward each connection to ``target_port``."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", listen_port))
    listener.listen(128)
    print(f"proxy 127.0.0.1:{listen_port} -> 127.0.0.1:{target_port} listening", flush=True)
    while True:
        client, _ = listener.accept()
        _serve_one(client, target_port)


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    serve(int(argv[0]), int(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
