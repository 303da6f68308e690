"""ser — speech emotion recognition from corpora to a Streamlit studio.

The public API is small: load audio, extract features, load a model bundle, predict.

>>> from ser import Predictor
>>> Predictor().predict_file("clip.wav").label  # doctest: +SKIP
'angry'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import AudioError, BundleError, CorpusError, DownloadError, SERError, TrainingError

if TYPE_CHECKING:
    from .audio import SAMPLE_RATE, load
    from .bundle import DEFAULT_MODEL_DIR, ModelBundle, list_bundles, load_bundle
    from .features import FeatureConfig, extract
    from .labels import EMOTIONS
    from .predict import Prediction, Predictor, Segment

__version__ = "0.1.0"

#: Public names and the submodule each lives in, imported on first use (``import ser`` stays cheap:
#: the CLI imports only what a subcommand needs, and nothing on the prediction path imports TensorFlow).
_LAZY = {
    "SAMPLE_RATE": "audio", "load": "audio",
    "DEFAULT_MODEL_DIR": "bundle", "ModelBundle": "bundle", "list_bundles": "bundle", "load_bundle": "bundle",
    "FeatureConfig": "features", "extract": "features", "EMOTIONS": "labels",
    "Prediction": "predict", "Predictor": "predict", "Segment": "predict",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ser' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

__all__ = [
    "DEFAULT_MODEL_DIR", "EMOTIONS", "SAMPLE_RATE", "AudioError", "BundleError", "CorpusError", "DownloadError",
    "FeatureConfig", "ModelBundle", "Prediction", "Predictor", "SERError", "Segment", "TrainingError", "extract",
    "list_bundles", "load", "load_bundle",
]
