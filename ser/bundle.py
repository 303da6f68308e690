"""The model bundle: the one format the predictor, the CLI and the app read.

A bundle is a folder::

    model.keras      the Keras 3 model (loaded with safe_mode=True): training, ``ser export``
    model.onnx       the same model for ONNX Runtime, what prediction runs (see :mod:`ser.export`);
                     a bundle without it (or whose model.onnx came from another model.keras) uses Keras
    config.json      feature config, model config, labels, corpora, speakers per split, versions
    history.json     Keras training history (per-epoch loss/accuracy, train and validation)
    metrics.json     held-out metrics: uar, accuracy, per_class, confusion, per_speaker, folds, calibration
    eda.json         training-data summary: class counts, durations, per-emotion average mel/chroma/MFCC
    MODEL_CARD.md    human-readable model card
    adaptation.json  speaker-adaptation prior (optional; stats models): see :mod:`ser.adapt`

:func:`write_bundle` builds it in a temp folder next to the destination and renames it into place,
so an interrupted training run never leaves a half-written bundle and keeps the previous one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .adapt import PRIOR_FILE, AdaptationPrior
from .errors import BundleError
from .export import ADAPT_INPUT, ONNX_FILE, SOURCE_KEY, file_sha1
from .features import FeatureConfig, input_shape

FORMAT_VERSION = 1
MODEL_FILE = "model.keras"
CONFIG_FILE = "config.json"
HISTORY_FILE = "history.json"
METRICS_FILE = "metrics.json"
EDA_FILE = "eda.json"
CARD_FILE = "MODEL_CARD.md"
REQUIRED = (MODEL_FILE, CONFIG_FILE)

#: Where the shipped model lives (``models/default`` next to the package).
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
DEFAULT_MODEL_DIR = MODELS_DIR / "default"
#: Environment variable naming the bundle folder the app uses by default.
MODEL_DIR_ENV = "SER_MODEL_DIR"


@dataclass(frozen=True)
class BundleConfig:
    """Parsed ``config.json``."""

    labels: tuple[str, ...]
    model_type: str
    input_kind: str
    features: FeatureConfig
    model: dict[str, Any] = field(default_factory=dict)
    corpora: tuple[str, ...] = ()
    split: dict[str, list[str]] = field(default_factory=dict)
    temperature: float = 1.0
    threshold: float = 0.4
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def label_map(self) -> dict[str, str]:
        """Corpus label → the model label it counts as (``{"calm": "neutral"}`` in the core label space;
        empty for bundles of the ``all`` space and those made before label spaces)."""
        m = self.extra.get("label_map") or {}
        return {str(k): str(v) for k, v in m.items()} if isinstance(m, dict) else {}

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "labels": list(self.labels),
            "model_type": self.model_type,
            "input_kind": self.input_kind,
            "features": self.features.to_dict(),
            "model": self.model,
            "corpora": list(self.corpora),
            "split": self.split,
            "temperature": self.temperature,
            "threshold": self.threshold,
            **self.extra,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, source: str = "config.json") -> BundleConfig:
        missing = [k for k in ("labels", "model_type", "input_kind", "features") if k not in d]
        if missing:
            raise BundleError(f"{source} lacks required keys: {', '.join(missing)}")
        if d.get("format_version", FORMAT_VERSION) > FORMAT_VERSION:
            raise BundleError(f"{source} has format_version {d['format_version']}; this ser reads up to {FORMAT_VERSION}")
        labels = d["labels"]
        if not isinstance(labels, list) or len(labels) < 2 or not all(isinstance(x, str) for x in labels):
            raise BundleError(f"{source}: 'labels' must be a list of at least two emotion names")
        try:
            features = FeatureConfig.from_dict(d["features"])
        except (TypeError, ValueError) as exc:
            raise BundleError(f"{source}: invalid feature settings: {exc}") from None
        known = {"format_version", "labels", "model_type", "input_kind", "features", "model", "corpora", "split",
                 "temperature", "threshold"}
        return cls(
            labels=tuple(labels),
            model_type=str(d["model_type"]),
            input_kind=str(d["input_kind"]),
            features=features,
            model=dict(d.get("model", {})),
            corpora=tuple(d.get("corpora", ())),
            split={k: list(v) for k, v in d.get("split", {}).items()},
            temperature=float(d.get("temperature", 1.0)),
            threshold=float(d.get("threshold", 0.4)),
            extra={k: v for k, v in d.items() if k not in known},
        )


def _read_json(path: Path, default: Any = None) -> Any:
    if not path.exists():
        return default
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{path} is not valid JSON: {exc}") from None


class ModelBundle:
    """A loaded bundle. JSON parts are read at construction; the models on first use."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise BundleError(f"model bundle not found: {self.path} (expected a folder with {', '.join(REQUIRED)})")
        missing = [f for f in REQUIRED if not (self.path / f).exists()]
        if missing:
            raise BundleError(f"model bundle {self.path} is incomplete: missing {', '.join(missing)}")
        raw = _read_json(self.path / CONFIG_FILE)
        if not isinstance(raw, dict):
            raise BundleError(f"{self.path / CONFIG_FILE} must hold a JSON object")
        try:
            self.config = BundleConfig.from_dict(raw, source=str(self.path / CONFIG_FILE))
        except (TypeError, ValueError, AttributeError) as exc:  # a value of the wrong type
            raise BundleError(f"{self.path / CONFIG_FILE} holds an invalid value: {exc}") from None
        self.history: dict[str, list[float]] = _read_json(self.path / HISTORY_FILE, {}) or {}
        self.metrics: dict[str, Any] = _read_json(self.path / METRICS_FILE, {}) or {}
        self.eda: dict[str, Any] = _read_json(self.path / EDA_FILE, {}) or {}
        card = self.path / CARD_FILE
        self.card: str = card.read_text(encoding="utf-8") if card.exists() else ""
        self._model = None
        self._onnx = None  # the ONNX Runtime session once loaded; False: no usable model.onnx
        self._lock = threading.Lock()
        prior = self.path / PRIOR_FILE
        self.adaptation: AdaptationPrior | None = AdaptationPrior.load(prior) if prior.exists() else None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def labels(self) -> tuple[str, ...]:
        return self.config.labels

    @property
    def features(self) -> FeatureConfig:
        return self.config.features

    @property
    def model(self):
        """The Keras model, loaded once (safe mode: no arbitrary code is deserialised)."""
        with self._lock:
            if self._model is None:
                self._model = self._load_model()
            return self._model

    @property
    def onnx(self):
        """The ONNX Runtime session of ``model.onnx``, loaded once and checked against config.json; None
        when the bundle has no model.onnx or its model.onnx was exported from another model.keras."""
        with self._lock:
            if self._onnx is None:
                self._onnx = self._load_onnx() or False
            return self._onnx or None

    def _load_onnx(self):
        path = self.path / ONNX_FILE
        if not path.exists():
            return None
        from .export import session

        threads = 1 if self.config.input_kind == "stats" else 2  # a matrix-vector product vs convolutions
        try:
            sess = session(path, threads=threads)
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types
            raise BundleError(f"cannot load {path}: {exc}") from None
        source = sess.get_modelmeta().custom_metadata_map.get(SOURCE_KEY)
        if source != file_sha1(self.path / MODEL_FILE):  # model.keras was replaced after the export
            warnings.warn(f"{path} was not exported from this bundle's model.keras: using Keras instead "
                          f"(run `ser export {self.path}` to refresh it)", stacklevel=3)
            return None
        inputs, outputs = sess.get_inputs(), sess.get_outputs()
        if len(inputs) not in (1, 2, 3) or len(outputs) != 1 or any(i.type != "tensor(float)" for i in inputs):
            raise BundleError(f"{path} must have one float32 input (two or three for a blend) and one output")
        n_out = outputs[0].shape[-1]
        if n_out != len(self.labels):
            raise BundleError(
                f"model bundle {self.path} is inconsistent: the model has {n_out} outputs but config.json "
                f"lists {len(self.labels)} labels"
            )
        for inp in inputs:
            if ADAPT_INPUT not in inp.name:  # the adapted member's share is one number per row
                self._check_input(tuple(d if isinstance(d, int) else None for d in inp.shape[1:]))
        return sess

    def _check_input(self, got: tuple[int | None, ...]) -> None:
        expected = _input_shape(self.config)
        if len(got) != len(expected) or any(g is not None and g != e for g, e in zip(got, expected, strict=False)):
            raise BundleError(
                f"model bundle {self.path} is inconsistent: the model takes inputs of shape {got} but the "
                f"feature settings in config.json give {expected}"
            )

    def _load_model(self):
        import keras

        from . import models as _models  # noqa: F401  (registers the custom layers)

        try:
            model = keras.models.load_model(self.path / MODEL_FILE, compile=False, safe_mode=True)
        except Exception as exc:  # keras raises ValueError/OSError/zipfile errors
            raise BundleError(f"cannot load {self.path / MODEL_FILE}: {exc}") from None
        n_out = model.output_shape[-1]
        if n_out != len(self.labels):
            raise BundleError(
                f"model bundle {self.path} is inconsistent: the model has {n_out} outputs but config.json "
                f"lists {len(self.labels)} labels"
            )
        for t in model.inputs[:2]:  # one, two for a blend (model input + unadapted input), three with an adapted
            self._check_input(tuple(t.shape[1:]))  # member (then also its share, one number per row)
        return model

    def summary(self) -> dict[str, Any]:
        """Headline facts for the app/CLI: name, labels, corpora, held-out figures, licence."""
        from .corpora import languages  # pandas: not on the prediction path

        test = self.metrics.get("test", {})
        adapted = (self.metrics.get("adaptation") or {}).get("random", {})  # running protocol, random order
        return {
            "name": self.name,
            "model_type": self.config.model_type,
            "labels": list(self.labels),
            "corpora": list(self.config.corpora),
            "uar": test.get("uar"),
            "accuracy": test.get("accuracy"),
            "n_test": test.get("n"),
            "test_speakers": self.config.split.get("test", []),
            "folds": self.metrics.get("folds", {}).get("summary"),
            "licence": self.config.extra.get("licence", ""),
            "languages": languages(self.config.corpora),
            "adapted_uar": adapted.get("uar"),
            "unadapted_uar": adapted.get("unadapted_uar"),
            "adapted_orders": adapted.get("orders"),  # over several seeded clip orders (mean, min, max), if recorded
        }


def _input_shape(config: BundleConfig) -> tuple[int, ...]:
    """The model input shape (no batch axis) that ``config``'s feature settings produce."""
    try:
        return input_shape(config.features, config.input_kind)
    except ValueError as err:
        raise BundleError(f"config.json: {err}") from None


def load_bundle(path: str | Path | None = None) -> ModelBundle:
    """Open a bundle folder (default: the shipped ``models/default``)."""
    return ModelBundle(path if path is not None else DEFAULT_MODEL_DIR)


def list_bundles(models_dir: str | Path = MODELS_DIR) -> list[Path]:
    """Bundle folders directly under ``models_dir`` (those holding a config.json and model)."""
    root = Path(models_dir)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir()  # hidden: write_bundle's temp/old folders of an interrupted run
                  if p.is_dir() and not p.name.startswith(".") and all((p / f).exists() for f in REQUIRED))


def default_bundle_dir() -> Path:
    """The app's default bundle folder: ``$SER_MODEL_DIR`` if set, else the shipped ``models/default``."""
    env = os.environ.get(MODEL_DIR_ENV)
    return Path(env).expanduser() if env else DEFAULT_MODEL_DIR


def available_bundles(models_dir: str | Path | None = None) -> list[Path]:
    """Bundle folders to choose from: ``$SER_MODEL_DIR`` (if set and holding a config.json), then those
    :func:`list_bundles` finds under ``models_dir`` (default :data:`MODELS_DIR`); each folder once."""
    found: list[Path] = []
    env = os.environ.get(MODEL_DIR_ENV)
    candidates = ([Path(env).expanduser()] if env else []) + list_bundles(MODELS_DIR if models_dir is None else models_dir)
    seen: set[Path] = set()
    for p in candidates:
        key = p.resolve()
        if key in seen or not (p / "config.json").exists():
            continue
        seen.add(key)
        found.append(p)
    return found


def _dump_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def write_bundle(
    dest: str | Path,
    *,
    model,
    config: BundleConfig,
    history: dict[str, list[float]],
    metrics: dict[str, Any],
    eda: dict[str, Any],
    card: str,
    adaptation: AdaptationPrior | None = None,
    onnx: bool = True,
) -> Path:
    """Write a complete bundle to ``dest`` atomically (temp folder + rename); returns ``dest``.

    An existing bundle at ``dest`` is replaced only once the new one is complete. ``onnx``: also export
    ``model.onnx`` for prediction (see :mod:`ser.export`); a model that cannot be exported keeps the
    Keras path, and config.json says why under ``onnx_export_error``.
    """
    dest = Path(dest).resolve()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    try:
        model.save(tmp / MODEL_FILE)
        if onnx:
            from .export import export_model

            extra = {k: v for k, v in config.extra.items() if k != "onnx_export_error"}
            try:
                export_model(model, tmp / ONNX_FILE, source_sha1=file_sha1(tmp / MODEL_FILE))
            except BundleError as err:
                warnings.warn(f"{dest.name}: no model.onnx, prediction will use Keras: {err}", stacklevel=2)
                extra["onnx_export_error"] = str(err)
            config = replace(config, extra=extra)
        _dump_json(tmp / CONFIG_FILE, config.to_dict())
        _dump_json(tmp / HISTORY_FILE, history)
        _dump_json(tmp / METRICS_FILE, metrics)
        _dump_json(tmp / EDA_FILE, eda)
        (tmp / CARD_FILE).write_text(card, encoding="utf-8")
        if adaptation is not None:
            _dump_json(tmp / PRIOR_FILE, adaptation.to_dict())
        old = None
        if dest.exists():
            old = dest.parent / f".{dest.name}.old-{os.getpid()}"
            os.replace(dest, old)
        os.replace(tmp, dest)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest
