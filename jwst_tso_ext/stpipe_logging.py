"""Make stpipe configure this package's loggers alongside jwst's."""

__all__ = ["PACKAGE_LOGGER", "PackageLoggersMixin"]

#: Root logger of the package (every module logs under ``jwst_tso_ext.*``).
PACKAGE_LOGGER = "jwst_tso_ext"


class PackageLoggersMixin:
    """Mixin for our Step and Pipeline classes: add ``jwst_tso_ext`` to stpipe's loggers.

    stpipe sets up logging (level, format, log files, ``strun`` output) only for the
    logger names a class returns from ``get_stpipe_loggers``; jwst's list holds
    ``jwst`` but not this package. Put the mixin first among the bases.
    """

    @classmethod
    def get_stpipe_loggers(cls):
        """
        Get the names of the loggers stpipe configures, adding this package's.

        Returns
        -------
        loggers : tuple of str
            The base class's logger names plus ``"jwst_tso_ext"``.
        """
        return (*super().get_stpipe_loggers(), PACKAGE_LOGGER)
