"""The unified emotion vocabulary and each corpus's mapping onto it.

Every corpus parser maps its own codes onto these names, so corpora combine into one manifest
("hybrid") and a model trained on one corpus can be evaluated on another's shared emotions.
:func:`normalise_emotion` maps free-form names (``"Joy"``, ``"Wut"``, ``"rab"``, ``"colère"``) onto them,
for corpora described by a ``manifest.csv``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from enum import Enum
from types import MappingProxyType

from .corpus_facts import CORPUS_FACTS

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

#: The emotions most corpora share (the "big six" and neutral): the labels of the core label space.
CORE_EMOTIONS: tuple[str, ...] = ("neutral", "happy", "sad", "angry", "fearful", "disgust", "surprised")

#: Labels the core label space folds into another: RAVDESS's "calm" is a second, low-arousal neutral
#: (most corpora have only neutral). EMO-DB's "boredom" has no counterpart and is left out.
CORE_MERGES: Mapping[str, str] = MappingProxyType({"calm": "neutral"})


class LabelSpace(str, Enum):
    """Which labels a model is trained on (``ser train --label-space``).

    ``CORE``: :data:`CORE_EMOTIONS`, with :data:`CORE_MERGES` applied (calm counts as neutral) and
    clips of any other emotion (boredom) left out. A corpus-specific label such as calm or boredom
    draws the clips of every corpus that lacks it: a model trained on RAVDESS calls German or unseen
    neutral speech "calm", one trained on EMO-DB calls RAVDESS "boredom" (benchmarks/EXPERIMENTS.md).
    ``ALL``: every label present in the training data (the union of the corpora's labels).
    """

    CORE = "core"
    ALL = "all"

    @property
    def merges(self) -> dict[str, str]:
        """Label → label it counts as, for this space's training and evaluation."""
        return dict(CORE_MERGES) if self is LabelSpace.CORE else {}

    def allowed(self) -> tuple[str, ...]:
        """Labels a model of this space may have, in :data:`EMOTIONS` order."""
        return CORE_EMOTIONS if self is LabelSpace.CORE else EMOTIONS


#: Each corpus's emotion codes -> unified label (read-only views of :data:`ser.corpus_facts.CORPUS_FACTS`).
#: RAVDESS: 3rd field of ``MM-VV-EE-II-SS-RR-AA``.
RAVDESS: Mapping[str, str] = CORPUS_FACTS["ravdess"].emotion_codes
#: EMO-DB: emotion letter (German initial: Wut, Langeweile, Ekel, Angst, Freude, Trauer, Neutral).
EMODB: Mapping[str, str] = CORPUS_FACTS["emodb"].emotion_codes
#: TESS: file-name suffix (``OAF_back_angry.wav``; ``ps`` = pleasant surprise).
TESS: Mapping[str, str] = CORPUS_FACTS["tess"].emotion_codes
#: CREMA-D: 3rd field of ``1001_DFA_ANG_XX.wav``.
CREMAD: Mapping[str, str] = CORPUS_FACTS["cremad"].emotion_codes
#: SAVEE: emotion prefix of the clip name (``DC_a01.wav``, ``JE_sa01.wav``).
SAVEE: Mapping[str, str] = CORPUS_FACTS["savee"].emotion_codes

#: Emotion names and codes seen in other corpora and in hand-made manifests -> unified label. Keys are
#: in the form :func:`normalise_emotion` compares (case-folded, accents removed, ``_``/``-`` as spaces).
#: English words and codes (CREMA-D, IEMOCAP, TESS ``ps``), German (EMO-DB's words), Italian (EMOVO's
#: codes and words), French and Spanish. Deliberately absent: single letters (EMO-DB's ``A`` is fear,
#: SAVEE's ``a`` anger), ``none``, and near-misses such as contempt, frustration or excitement.
SYNONYMS: dict[str, str] = {
    word: label
    for label, words in {
        "neutral": (
            "neutral", "neu", "neutre", "neutro", "neutrale",
        ),
        "calm": ("calm", "calmness", "calme", "calma", "ruhig", "ruhe", "tranquilo", "tranquillo"),
        "happy": (
            "happy", "happiness", "hap", "joy", "joyful", "glad", "gladness",
            "freude", "frohlich", "froehlich", "glucklich", "gluecklich", "gluck", "glueck",
            "gio", "gioia", "felice", "felicita",
            "joie", "heureux", "heureuse", "bonheur",
            "alegria", "feliz", "felicidad",
        ),
        "sad": (
            "sad", "sadness", "sorrow", "sorrowful", "unhappy",
            "trauer", "traurig", "traurigkeit",
            "tri", "tristezza", "triste",
            "tristesse",
            "tristeza",
        ),
        "angry": (
            "angry", "anger", "ang", "mad",
            "wut", "wutend", "wuetend", "arger", "aerger", "argerlich", "aergerlich", "zorn",
            "rab", "rabbia", "arrabbiato", "arrabbiata",
            "colere", "en colere",
            "ira", "enojo", "enfado", "enojado", "enfadado",
        ),
        "fearful": (
            "fearful", "fear", "fea", "afraid", "scared", "anxiety", "anxious",
            "angst", "furcht", "angstlich", "aengstlich",
            "pau", "paura",
            "peur",
            "miedo", "temor",
        ),
        "disgust": (
            "disgust", "disgusted", "dis",
            "ekel", "angeekelt",
            "disgusto", "disgustato",
            "degout", "degoute",
            "asco",
        ),
        "surprised": (
            "surprised", "surprise", "sur", "ps", "pleasant surprise", "pleasant surprised",
            "uberraschung", "ueberraschung", "uberrascht", "ueberrascht",
            "sor", "sorpresa", "sorpreso",
            "surpris",
            "sorprendido",
        ),
        "boredom": (
            "boredom", "bored", "bor", "boring",
            "langeweile", "gelangweilt",
            "noia", "annoiato",
            "ennui",
            "aburrimiento", "aburrido",
        ),
    }.items()
    for word in words
}


def _emotion_key(name: str) -> str:
    """``name`` in :data:`SYNONYMS`' key form: NFKD without accents, case-folded, ``_``/``-`` as spaces."""
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return " ".join(plain.replace("_", " ").replace("-", " ").split())


def normalise_emotion(name: str) -> str | None:
    """The unified label (one of :data:`EMOTIONS`) of an emotion name or code, or ``None``.

    Case, accents, surrounding/inner whitespace and ``_``/``-`` do not matter: ``"Joy"``,
    ``" happiness "``, ``"Freude"``, ``"gio"`` and ``"joie"`` all give ``"happy"``; ``"Colère"`` and
    ``"colere"`` give ``"angry"``; ``"pleasant_surprise"`` gives ``"surprised"``. Unknown names
    (``"contempt"``, ``"none"``, ``""``) give ``None``.
    """
    if not isinstance(name, str):
        return None
    return SYNONYMS.get(_emotion_key(name))
