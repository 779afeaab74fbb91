"""perovcalc: GPAW workflows for halide perovskite nanocrystals."""

__version__ = "0.2.0"
