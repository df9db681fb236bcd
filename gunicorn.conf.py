"""Gunicorn server hooks for Prometheus's multiprocess mode; nothing else.

Gunicorn reads ./gunicorn.conf.py from its working directory by itself. Both hooks do nothing
unless the environment variable PROMETHEUS_MULTIPROC_DIR is set (see METRICS_ENABLED in
portal/config.py); the command line still decides everything else.
"""

import os
from pathlib import Path


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
