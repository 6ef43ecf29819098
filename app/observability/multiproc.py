"""prometheus-client's multiprocess mode for ``axon serve --workers N`` (no prometheus import here:
the serving parent only prepares the directory its workers inherit)."""

import logging
import os
import shutil
import tempfile
from collections.abc import Generator
from contextlib import contextmanager

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
logger = logging.getLogger("axon.metrics")


@contextmanager
def shared_metrics(workers: int) -> Generator[str | None]:
    """Around uvicorn serving ``workers`` processes: one empty directory they all write their values to.

    A directory the operator set in ``PROMETHEUS_MULTIPROC_DIR`` is used, emptied of an earlier
    server's files first (old values must not count twice); otherwise, with more than one worker, a
    temporary one is made and removed afterwards. One worker and no variable: plain in-process metrics.
    """
    folder = os.environ.get(MULTIPROC_ENV)
    if folder:
        os.makedirs(folder, exist_ok=True)
        for name in os.listdir(folder):
            if name.endswith(".db"):
                os.remove(os.path.join(folder, name))
        logger.info("metrics of all workers are kept in %s", folder)
        yield folder
    elif workers > 1:
        folder = tempfile.mkdtemp(prefix="axon-metrics-")
        os.environ[MULTIPROC_ENV] = folder
        logger.info("metrics of all workers are kept in %s", folder)
        try:
            yield folder
        finally:
            del os.environ[MULTIPROC_ENV]
            shutil.rmtree(folder, ignore_errors=True)
    else:
        yield None
