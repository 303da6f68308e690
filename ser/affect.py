"""Arousal and valence derived from the class probabilities (no second model).

The emotion classes sit at conventional places of Russell's circumplex of affect (Russell 1980, "A
circumplex model of affect", J. Pers. Soc. Psychol. 39(6)): valence on the x axis (unpleasant -1 …
pleasant +1), arousal on the y axis (deactivated -1 … activated +1). A prediction becomes one point:
the probability-weighted mean of its classes' coordinates. The placements are approximate and only
a way to *show* the class probabilities; the model was never trained on arousal or valence ratings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

#: ``{emotion: (valence, arousal)}`` in [-1, 1]; conventional circumplex placements.
AFFECT_COORDS: dict[str, tuple[float, float]] = {
    "neutral": (0.0, 0.0),
    "calm": (0.45, -0.6),
    "happy": (0.8, 0.45),
    "sad": (-0.7, -0.45),
    "angry": (-0.55, 0.75),
    "fearful": (-0.75, 0.5),
    "disgust": (-0.7, 0.15),
    "surprised": (0.3, 0.8),
    "boredom": (-0.35, -0.75),
}


def affect_point(probabilities: Mapping[str, float]) -> tuple[float, float] | None:
    """``(valence, arousal)`` in [-1, 1]: the probability-weighted mean of the classes' coordinates.

    Labels without a placement in :data:`AFFECT_COORDS` are left out and the remaining weights are
    renormalised; ``None`` when no known label has a positive probability.
    """
    known = [(AFFECT_COORDS[k], float(p)) for k, p in probabilities.items() if k in AFFECT_COORDS and p > 0]
    total = sum(p for _, p in known)
    if total <= 0:
        return None
    xy = np.array([c for c, _ in known], dtype=np.float64)
    w = np.array([p for _, p in known], dtype=np.float64) / total
    v, a = (w[:, None] * xy).sum(axis=0)
    return float(v), float(a)


def affect_path(probabilities: Iterable[Mapping[str, float] | None]) -> list[tuple[float, float] | None]:
    """:func:`affect_point` of each item of a sequence (``None`` for a missing/quiet item): a trail."""
    return [None if p is None else affect_point(p) for p in probabilities]


def quadrant(valence: float, arousal: float) -> str:
    """A plain-words name of the circumplex quadrant a point falls in (e.g. ``"unpleasant, activated"``)."""
    return f"{'pleasant' if valence >= 0 else 'unpleasant'}, {'activated' if arousal >= 0 else 'deactivated'}"


__all__ = ["AFFECT_COORDS", "affect_path", "affect_point", "quadrant"]
