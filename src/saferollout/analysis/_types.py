"""Shared type aliases and small enums of the analysis package."""

from __future__ import annotations

from enum import StrEnum
from typing import TypeAlias

import numpy as np
from numpy.typing import NDArray

__all__ = ["Alternative", "FloatArray", "FloatOrArray"]

FloatArray: TypeAlias = NDArray[np.float64]
FloatOrArray: TypeAlias = float | FloatArray


class Alternative(StrEnum):
    """Which side a test looks at (the names follow scipy's ``alternative``)."""

    TWO_SIDED = "two-sided"
    """Any difference from the null value."""
    GREATER = "greater"
    """Only values above the null value (harm when higher is worse)."""
    LESS = "less"
    """Only values below the null value (non-inferiority when higher is worse)."""
