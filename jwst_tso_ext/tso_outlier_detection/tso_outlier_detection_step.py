"""Flag pixels that jump in one integration, as ``outlier_detection`` does for TSO data."""

import logging

import numpy as np
from jwst.lib.pipe_utils import match_nans_and_flags
from jwst.resample.resample_utils import build_mask
from jwst.stpipe import Step
from stdatamodels.jwst import datamodels
from stdatamodels.jwst.datamodels import dqflags

from jwst_tso_ext.step_mixin import PackageStepMixin
from jwst_tso_ext.tso_outlier_detection import rolling

__all__ = ["TsoOutlierDetectionStep"]

log = logging.getLogger(__name__)

#: DQ bits set on a flagged pixel (as jwst's outlier_detection sets them).
OUTLIER_BITS = np.uint32(dqflags.pixel["DO_NOT_USE"] | dqflags.pixel["OUTLIER"])


class TsoOutlierDetectionStep(PackageStepMixin, Step):
    """Flag time-domain outliers in a calibrated TSO cube (jwst's TSO mode, vectorised)."""

    class_alias = "tso_outlier_detection"

    spec = """
        snr = float(min=0, default=5.0)  # Threshold in units of ERR (outlier_detection's first snr value)
        rolling_window_width = integer(min=0, default=25)  # Integrations in the rolling median; <= 1 or >= nints: one median of the whole segment (as outlier_detection)
        maskpt = float(default=0.7)  # Pixels with weight below maskpt times the mean good weight are left out of the median (as outlier_detection)
        good_bits = string(default="~DO_NOT_USE")  # DQ flags of pixels used in the median (as outlier_detection)
        ignore_nan_in_window = boolean(default=True)  # A rolling window holding bad values uses the median of its valid ones (if a majority); False: no flags in that window, as outlier_detection
        suffix = string(default='crfints')  # Suffix of the saved product (as calwebb_tso3)
    """  # noqa: E501

    reference_file_types = []

    def process(self, step_input, context=None):
        """
        Flag outliers against a rolling median over integrations.

        Parameters
        ----------
        step_input : str or `~stdatamodels.jwst.datamodels.CubeModel`
            Calibrated cube (calints), one segment or a whole exposure.
        context : `~jwst_tso_ext.tso_outlier_detection.rolling.SegmentContext`, optional
            The end of the previous segment of the exposure (`rolling.chain_context`
            makes it from the segments' saved ends), used when it directly precedes
            this segment; not changed. None (default): the input is a whole exposure.

        Returns
        -------
        result : `~stdatamodels.jwst.datamodels.CubeModel`
            A copy of the input with ``DO_NOT_USE | OUTLIER`` set on the outliers, their
            data, error and variances set to NaN (``match_nans_and_flags``), and
            ``outlier_counts`` (``int_num``, ``n_outliers``) attached;
            ``meta.cal_step.tso_outlier_detection`` COMPLETE, or SKIPPED for input that
            is not a cube of several integrations.
        """
        result = self.prepare_output(step_input)
        if not isinstance(result, datamodels.CubeModel) or result.data.ndim != 3:
            log.warning(
                "tso_outlier_detection needs a cube of integrations (CubeModel), got %s: "
                "step skipped",
                type(result).__name__,
            )
            result.meta.cal_step.tso_outlier_detection = "SKIPPED"
            return result
        nints = result.data.shape[0]
        if nints < 2:
            log.warning("Only %d integration: no time series to compare with, step skipped", nints)
            result.meta.cal_step.tso_outlier_detection = "SKIPPED"
            return result

        first = int(result.meta.exposure.integration_start or 1)
        if context is not None and context.data is not None:
            if context.usable_for(first, result.data.shape[1:]):
                # a copy: detect_outliers replaces its data by this segment's end
                context = rolling.SegmentContext(context.data, context.last_int_num)
            else:
                log.info(
                    "Previous segment does not end at integration %d: no context used", first - 1
                )
                context = None
        else:
            context = None
        if context is not None:
            log.info(
                "Integrations %d-%d of the previous segment are the context of this one",
                context.last_int_num - context.data.shape[0] + 1,
                context.last_int_num,
            )
        err = result.err if result.err is not None else np.zeros_like(result.data)
        good = build_mask(result.dq, self.good_bits).astype(bool)
        outliers = rolling.detect_outliers(
            result.data,
            err,
            good,
            snr=self.snr,
            window=self.rolling_window_width,
            maskpt=self.maskpt,
            context=context,
            ignore_nan=self.ignore_nan_in_window,
        )
        result.dq |= outliers * OUTLIER_BITS
        match_nans_and_flags(result)

        counts = outliers.sum(axis=(1, 2))
        table = np.zeros(nints, dtype=[("int_num", "i4"), ("n_outliers", "i4")])
        table["int_num"] = np.arange(first, first + nints)
        table["n_outliers"] = counts
        result.outlier_counts = table
        total = int(counts.sum())
        log.info(
            "%d pixels marked as outliers in %d of %d integrations (at most %d in one)",
            total,
            int(np.count_nonzero(counts)),
            nints,
            int(counts.max()),
        )
        result.meta.cal_step.tso_outlier_detection = "COMPLETE"
        return result
