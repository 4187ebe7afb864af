"""Check kinds on one verdict core (DESIGN.md, "Checks and the statistical method"; README "What a check is").

A theorem imports what it declares from here: ``from ratecheck.checks import BoundHolds, Exponent, Ratio``.
``core`` holds the verdict core (Relation, judge, combine, the Check template, Outcome, Plot); one module
per family holds the kinds: bounds, exponents, comparisons, exact, dynamics, observations.
"""

from ratecheck.checks.bounds import BoundHolds, MeanVersusBound, StepInequality
from ratecheck.checks.comparisons import BoundRatio, Ratio
from ratecheck.checks.core import (
    FAIL,
    INCONCLUSIVE,
    PASS,
    Check,
    Outcome,
    Plot,
    Relation,
    budget,
    clean,
    combine,
    divergence_note,
    judge,
    relation_of,
)
from ratecheck.checks.dynamics import Converges, GeometricRate
from ratecheck.checks.exact import MeanEquals, WithinRounding
from ratecheck.checks.exponents import Exponent, HittingExponent
from ratecheck.checks.observations import Contrast, Observation

__all__ = [
    "FAIL", "INCONCLUSIVE", "PASS", "BoundHolds", "BoundRatio", "Check", "Contrast", "Converges", "Exponent", "GeometricRate",
    "HittingExponent", "MeanEquals", "MeanVersusBound", "Observation", "Outcome", "Plot", "Ratio", "Relation",
    "StepInequality", "WithinRounding", "budget", "clean", "combine", "divergence_note", "judge", "relation_of",
]
