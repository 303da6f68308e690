"""Helpers for tests and demos: a tiny real bundle built in seconds (random weights, not trained)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .bundle import BundleConfig, write_bundle
from .features import FeatureConfig, input_shape
from .labels import EMOTIONS
from .models import MODEL_INPUTS, ModelConfig, build_model


def make_tiny_bundle(dest: str | Path, *, model_type: str = "mlp", labels: tuple[str, ...] = EMOTIONS[:8]) -> Path:
    """Write an untrained bundle of ``model_type`` to ``dest``; its metrics say it is untrained."""
    fcfg = FeatureConfig()
    kind = MODEL_INPUTS[model_type]
    shape = input_shape(fcfg, kind)
    model = build_model(ModelConfig(model_type=model_type, width=8), input_shape=shape, n_classes=len(labels))
    if model_type in ("mlp", "linear"):
        model.get_layer("standardise").adapt(np.random.default_rng(0).normal(size=(8, *shape)).astype("float32"))
    k = len(labels)
    confusion = np.eye(k, dtype=int).tolist()
    per_class = {lab: {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1} for lab in labels}
    cfg = BundleConfig(
        labels=tuple(labels), model_type=model_type, input_kind=kind, features=fcfg,
        model={"model_type": model_type}, corpora=("synthetic",),
        split={"train": ["synthetic_1"], "val": ["synthetic_2"], "test": ["synthetic_3"]},
        extra={"untrained": True, "licence": "test fixture, no data"},
    )
    history = {"loss": [2.0, 1.9], "accuracy": [0.1, 0.2], "val_loss": [2.1, 2.0], "val_accuracy": [0.1, 0.15]}
    metrics = {"test": {"uar": 1.0, "accuracy": 1.0, "n": k, "labels": list(labels), "confusion": confusion,
                        "per_class": per_class, "per_speaker": {"synthetic_3": 1.0}}}
    eda = {"n_clips": 0, "class_counts": {}, "durations": {}, "per_emotion": {}}
    card = "# Tiny test bundle\n\nRandom weights; for tests only.\n"
    return write_bundle(dest, model=model, config=cfg, history=history, metrics=metrics, eda=eda, card=card)
