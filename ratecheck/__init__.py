"""ratecheck: numerical verification of convergence-rate theorems for distributed optimization."""

__version__ = "0.1.0"
