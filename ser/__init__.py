"""ser — speech emotion recognition from corpora to a Streamlit studio.

The public API is small: load audio, extract features, load a model bundle, predict.

>>> from ser import Predictor
>>> Predictor().predict_file("clip.wav").label  # doctest: +SKIP
'angry'
"""

from __future__ import annotations

from .audio import SAMPLE_RATE, load
from .bundle import DEFAULT_MODEL_DIR, ModelBundle, list_bundles, load_bundle
from .errors import AudioError, BundleError, CorpusError, DownloadError, SERError, TrainingError
from .features import FeatureConfig, extract
from .labels import EMOTIONS
from .predict import Prediction, Predictor, Segment

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MODEL_DIR", "EMOTIONS", "SAMPLE_RATE", "AudioError", "BundleError", "CorpusError", "DownloadError",
    "FeatureConfig", "ModelBundle", "Prediction", "Predictor", "SERError", "Segment", "TrainingError", "extract",
    "list_bundles", "load", "load_bundle",
]
