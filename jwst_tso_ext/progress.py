"""Progress reporting on long exposures.

Steps and the simulator process integrations in chunks; `IntegrationProgress` logs
one INFO line each time another ~10 % of the integrations is done, when there are
more than `MIN_INTEGRATIONS` of them (short runs stay quiet). The command line
draws a bar instead when attached to a terminal (`progress_bar`).
"""

import sys
import time

__all__ = ["MIN_INTEGRATIONS", "IntegrationProgress", "progress_bar"]

#: Fewer integrations than this log no progress lines.
MIN_INTEGRATIONS = 2000

#: Fraction of the integrations between two progress lines.
STEP_FRACTION = 0.1


class IntegrationProgress:
    """Log ``<what>: 1000/10000 integrations (10 %), 12 s`` every ~10 % of the work.

    Parameters
    ----------
    logger : logging.Logger
        Logger of the module doing the work.
    what : str
        What is being done, e.g. ``"wavelength_drift: measuring shifts"``.
    total : int
        Number of integrations.
    minimum : int, optional
        No lines for fewer integrations than this.

    Examples
    --------
    >>> progress = IntegrationProgress(log, "extracting", nints)  # doctest: +SKIP
    >>> for start in range(0, nints, chunk):  # doctest: +SKIP
    ...     work(start)
    ...     progress.advance(min(chunk, nints - start))
    """

    def __init__(self, logger, what, total, minimum=MIN_INTEGRATIONS):
        self.logger = logger
        self.what = what
        self.total = int(total)
        self.done = 0
        self.enabled = self.total >= max(int(minimum), 1)
        self._reported = 0  # tenths reported so far
        self._started = time.monotonic()

    def advance(self, count):
        """Record ``count`` more integrations done; log if another tenth is complete."""
        self.done = min(self.done + int(count), self.total)
        if not self.enabled:
            return
        tenths = int(self.done / self.total / STEP_FRACTION + 1e-9)
        if tenths > self._reported:
            self._reported = tenths
            self.logger.info(
                "%s: %d/%d integrations (%.0f %%), %.0f s",
                self.what,
                self.done,
                self.total,
                100.0 * self.done / self.total,
                time.monotonic() - self._started,
            )


def progress_bar(total, description, unit="int", stream=None):
    """A tqdm bar on ``stream`` (default stderr) if it is a terminal, else None.

    Parameters
    ----------
    total : int
        Number of units of work.
    description : str
        Text before the bar.
    unit : str, optional
        Unit shown in the rate.
    stream : file-like, optional
        Where the bar is drawn; default ``sys.stderr``.

    Returns
    -------
    tqdm.tqdm or None
        None when ``stream`` is not a terminal: callers then log plain lines.
    """
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    if not (isatty and isatty()):
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=description, unit=unit, file=stream, dynamic_ncols=True)
