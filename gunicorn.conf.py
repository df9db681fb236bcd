"""Gunicorn server hooks: the address links follow, and Prometheus's multiprocess mode.

Gunicorn reads ./gunicorn.conf.py from its working directory by itself; the command line
still decides everything else. The metrics hooks do nothing unless the environment variable
PROMETHEUS_MULTIPROC_DIR is set (see METRICS_ENABLED in portal/config.py).
"""

import os
import socket
from pathlib import Path


def when_ready(server) -> None:
    """Tell the workers (forked after this) the address the master listens on.

    Without PORTAL_BASE_URL, links in emails follow it (SERVED_AT in portal/config.py), so
    `PORT=8000 make run` mails links to port 8000. An address bound on every interface
    (0.0.0.0, ::) is written as loopback. With --preload the app is built before this runs:
    set PORTAL_BASE_URL.
    """
    for listener in server.LISTENERS:
        if listener.FAMILY not in (socket.AF_INET, socket.AF_INET6):
            continue  # a unix socket: a proxy in front decides the address
        from portal.config import listening_url

        host, port = listener.sock.getsockname()[:2]
        scheme = "https" if server.cfg.is_ssl else "http"
        os.environ["PORTAL_SERVED_AT"] = listening_url(scheme, host, port)
        return


def on_starting(server) -> None:
    """Empty the metrics folder as the master starts: a previous run's files would be added in.

    Only the files prometheus_client writes and reads there (*.db) are removed.
    """
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        for path in Path(folder).glob("*.db"):
            path.unlink()


def child_exit(server, worker) -> None:
    """A worker ended: drop its live gauges (its counters stay in the totals, as they should)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
