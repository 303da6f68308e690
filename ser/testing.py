"""Helpers for tests and demos: a tiny real bundle built in seconds (random weights, not trained)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .bundle import BundleConfig, write_bundle
from .features import FeatureConfig, input_shape
from .labels import EMOTIONS
from .models import MODEL_INPUTS, ModelConfig, build_model


def make_tiny_bundle(dest: str | Path, *, model_type: str = "mlp", labels: tuple[str, ...] = EMOTIONS[:8],
                     inputs: np.ndarray | None = None, speakers: np.ndarray | None = None) -> Path:
    """Write an untrained bundle of ``model_type`` to ``dest``; its metrics say it is untrained.

    ``inputs`` ``[shape=(n, cfg.n_stats)]`` (stats models only): real model inputs, e.g. of a few
    clips of each of ``speakers`` ``[shape=(n,)]``, to fit the standardisation and the adaptation
    prior on, so that the random model sees inputs of its own scale (its probabilities are then not
    saturated). Default: random normal "inputs" of random "speakers".
    """
    fcfg = FeatureConfig()
    kind = MODEL_INPUTS[model_type]
    shape = input_shape(fcfg, kind)
    model = build_model(ModelConfig(model_type=model_type, width=8), input_shape=shape, n_classes=len(labels))
    prior = None
    if model_type in ("mlp", "linear"):
        rng = np.random.default_rng(0)
        if inputs is None:
            x_std, x = rng.normal(size=(8, *shape)), rng.normal(size=(48, *shape))
            speakers = np.arange(48) // 12
        else:
            x_std = x = np.asarray(inputs, dtype=np.float64)
            speakers = np.arange(len(x)) // 12 if speakers is None else np.asarray(speakers)
        if "level" in fcfg.blocks:  # an adaptation prior from the "speakers", so profiles work
            from .adapt import fit_prior

            prior = fit_prior(x, np.arange(len(x)) % len(labels), speakers, tuple(labels),
                              level_index=fcfg.n_stats - 1, digest=fcfg.digest())
            if inputs is not None:  # standardise what the model sees, as training does
                from .adapt import speaker_normalised

                x_std = np.concatenate([prior.normalise(x, None), speaker_normalised(x, speakers, prior)])
        model.get_layer("standardise").adapt(np.asarray(x_std, dtype="float32"))
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
    return write_bundle(dest, model=model, config=cfg, history=history, metrics=metrics, eda=eda, card=card,
                        adaptation=prior)
