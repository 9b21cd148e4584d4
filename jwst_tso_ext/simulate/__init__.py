"""Simulator of MIRISim-like MIRI LRS slitless TSO exposures with known injected truth."""

from jwst_tso_ext.simulate.config import SimulationConfig
from jwst_tso_ext.simulate.simulator import (
    TRUTH_COLUMNS,
    make_outliers,
    make_truth,
    noiseless_rates,
    output_paths,
    simulate_exposure,
)

__all__ = [
    "SimulationConfig",
    "TRUTH_COLUMNS",
    "make_outliers",
    "make_truth",
    "noiseless_rates",
    "output_paths",
    "simulate_exposure",
]
