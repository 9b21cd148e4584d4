"""Facts about MIRI LRS slitless (SLITLESSPRISM) shared by the simulator and the references.

Everything that the simulator injects and the synthetic reference files must undo
(gain, read noise, dark, non-linearity, flat, flux conversion, PSF width, geometry)
is defined here once, so that both sides agree by construction.
"""
