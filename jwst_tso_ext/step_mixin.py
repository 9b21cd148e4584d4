"""What every Step and Pipeline of this package adds to stpipe's base classes.

* stpipe configures logging (level, format, log files, ``strun`` output) only for the
  logger names a class returns from ``get_stpipe_loggers``; jwst's list holds ``jwst``
  but not this package.
* stpipe reads an input file's header before ``process`` (``build_config`` for
  ``Step.call``, ``get_config_from_reference`` for ``strun``) and swallows the errors
  of a truncated or corrupt file, which then fails deep inside a reader (``KeyError:
  "Extension 'ASDF' not found."``) or is even read silently. Input files are checked
  first, in those public hooks and in ``run``, and a bad one is a `ValueError` naming
  the file.
"""

import os
import warnings

from astropy.io import fits
from astropy.utils.exceptions import AstropyUserWarning

from jwst_tso_ext.lightcurve.tables import is_table_file

__all__ = ["PACKAGE_LOGGER", "PackageStepMixin", "check_input_file"]

#: Root logger of the package (every module logs under ``jwst_tso_ext.*``).
PACKAGE_LOGGER = "jwst_tso_ext"


def check_input_file(path):
    """Check that ``path`` is a complete JWST FITS product before a step opens it.

    Parameters
    ----------
    path : str or os.PathLike
        Input file.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it is not FITS, is truncated (an HDU extends past the end of the file), or has
        no ASDF extension (not written by the JWST pipeline); the message names the file.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"input file not found: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", AstropyUserWarning)  # VerifyWarning, truncation
            with fits.open(path, lazy_load_hdus=False) as hdul:
                size = os.path.getsize(path)
                for index in range(len(hdul)):
                    info = hdul.fileinfo(index)
                    if info["datLoc"] + info["datSpan"] > size:
                        raise OSError(f"HDU {index} extends past the end of the file")
                if "ASDF" not in hdul:
                    raise OSError("no ASDF extension (not written by the JWST pipeline)")
    except (OSError, ValueError, KeyError, AstropyUserWarning) as error:
        raise ValueError(
            f"{path}: cannot be read as a JWST product ({type(error).__name__}: {error}); "
            "the file is truncated, corrupt or not FITS: re-create or re-download it"
        ) from error


def _is_product_path(value):
    """A file argument that should be a FITS product (not an association, model or table)."""
    return (isinstance(value, (str, os.PathLike)) and not os.fspath(value).endswith(".json")
            and not is_table_file(value))


class PackageStepMixin:
    """Mixin for our Step and Pipeline classes; put it first among the bases."""

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

    @classmethod
    def build_config(cls, input, **kwargs):  # noqa: A002 - stpipe's name
        """
        Check an input file, then build the configuration as stpipe does.

        ``Step.call`` reads the input's header here for CRDS parameters.

        Parameters
        ----------
        input : str, model or None
            The input (``Step.call``'s first argument).
        **kwargs
            As in `stpipe.Step.build_config`.

        Returns
        -------
        config, config_file
            As `stpipe.Step.build_config`.
        """
        if _is_product_path(input):
            check_input_file(input)
        return super().build_config(input, **kwargs)

    @classmethod
    def get_config_from_reference(cls, dataset, disable=None, crds_observatory=None):
        """
        Check an input file, then look up the step's CRDS parameters as stpipe does.

        ``strun`` reads the input's header here for CRDS parameters.

        Parameters
        ----------
        dataset, disable, crds_observatory
            As in `stpipe.Step.get_config_from_reference`.

        Returns
        -------
        configobj.ConfigObj
            As `stpipe.Step.get_config_from_reference`.
        """
        if _is_product_path(dataset):
            check_input_file(dataset)
        return super().get_config_from_reference(
            dataset, disable=disable, crds_observatory=crds_observatory
        )

    def run(self, *args):
        """Check an input file, then run the step as its base class does."""
        if args and _is_product_path(args[0]):
            check_input_file(args[0])
        return super().run(*args)
