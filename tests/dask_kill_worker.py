"""Dask worker preload for the tests: kill the worker (SIGKILL) while it saves a product.

The Dask tests set ``DASK_DISTRIBUTED__WORKER__PRELOAD`` to this file for the
``strun lrs_tso`` they start, and ``JWST_TSO_EXT_TEST_KILL_WORKER`` to ``"<text>"`` or
``"<text>|<marker file>"``: a worker about to rename a file whose name contains
``<text>`` into place (the last move of `jwst_tso_ext.pipeline.products.atomic_write`)
kills itself instead; with a marker file only while the marker does not exist (it is
created first, so the retry on a fresh worker succeeds). Only the workers load it; the
package has no test hook.
"""

import os
import signal
from pathlib import Path

KILL_WORKER_ENV = "JWST_TSO_EXT_TEST_KILL_WORKER"


def dask_setup(worker):
    """Replace ``os.replace`` in this worker process by one that dies on the named file."""
    spec = os.environ.get(KILL_WORKER_ENV)
    if not spec:
        return
    text, _, marker = spec.partition("|")
    replace = os.replace

    def replace_or_die(source, destination, *args, **kwargs):
        if text in Path(destination).name and not (marker and Path(marker).exists()):
            if marker:
                Path(marker).touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return replace(source, destination, *args, **kwargs)

    os.replace = replace_or_die
