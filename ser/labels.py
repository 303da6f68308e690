"""The unified emotion vocabulary and each corpus's mapping onto it.

Every corpus parser maps its own codes onto these names, so corpora combine into one manifest
("hybrid") and a model trained on one corpus can be evaluated on another's shared emotions.
"""

from __future__ import annotations

#: Unified labels, in a fixed order (RAVDESS's 8 first, then EMO-DB's extra "boredom").
EMOTIONS: tuple[str, ...] = (
    "neutral",
    "calm",
    "happy",
    "sad",
    "angry",
    "fearful",
    "disgust",
    "surprised",
    "boredom",
)

#: RAVDESS emotion code (3rd field of ``MM-VV-EE-II-SS-RR-AA``).
RAVDESS = {
    "01": "neutral",
    "02": "calm",
    "03": "happy",
    "04": "sad",
    "05": "angry",
    "06": "fearful",
    "07": "disgust",
    "08": "surprised",
}

#: EMO-DB emotion letter (German initial: Wut, Langeweile, Ekel, Angst, Freude, Trauer, Neutral).
EMODB = {
    "W": "angry",
    "L": "boredom",
    "E": "disgust",
    "A": "fearful",
    "F": "happy",
    "T": "sad",
    "N": "neutral",
}

#: TESS file-name suffix (``OAF_back_angry.wav``; ``ps`` = pleasant surprise).
TESS = {
    "angry": "angry",
    "disgust": "disgust",
    "fear": "fearful",
    "happy": "happy",
    "neutral": "neutral",
    "ps": "surprised",
    "sad": "sad",
}

#: CREMA-D emotion code (3rd field of ``1001_DFA_ANG_XX.wav``).
CREMAD = {
    "ANG": "angry",
    "DIS": "disgust",
    "FEA": "fearful",
    "HAP": "happy",
    "NEU": "neutral",
    "SAD": "sad",
}

#: SAVEE emotion prefix of the clip name (``DC_a01.wav``, ``JE_sa01.wav``).
SAVEE = {
    "a": "angry",
    "d": "disgust",
    "f": "fearful",
    "h": "happy",
    "n": "neutral",
    "sa": "sad",
    "su": "surprised",
}
