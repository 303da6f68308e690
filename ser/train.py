"""Training: corpora → speaker-independent split(s) → features → Keras model → model bundle.

``train(TrainConfig(...))`` is what ``ser train`` runs. Without folds, one model is trained and
tested on a held-out split of speakers. With ``folds=K`` it trains one model per fold of speakers
and reports mean ± std UAR; the reported figures are the out-of-fold predictions (every clip
predicted by the fold model that never heard its speaker), the temperature is fitted on them, and
the shipped model is one more model trained on every speaker, or (``ensemble=True``) the average of
the K fold models.
"""

from __future__ import annotations

import dataclasses
import hashlib
import platform
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import dataset
from .adapt import (
    DEFAULT_LAG,
    DEFAULT_MIN_CLIPS,
    DEFAULT_MIX_CLIPS,
    DEFAULT_MOOD,
    DEFAULT_MOOD_CLIPS,
    DEFAULT_TAU,
    DEFAULT_TRAIN_TAU,
    AdaptationPrior,
    fit_prior,
    session_order,
    session_probs,
    speaker_normalised,
)
from .bundle import BundleConfig, write_bundle
from .calibration import calibrate_held_out, calibrate_out_of_fold  # the latter also imported from here
from .corpus_facts import licence_text
from .errors import TrainingError
from .evaluate import adaptation_summary, clip_metrics, over_orders
from .features import FeatureConfig, model_input, per_emotion_profiles, window_stats
from .labels import EMOTIONS, LabelSpace
from .models import MODEL_INPUTS, ModelConfig, emphasise, feed, recipe_defaults

#: Set by the CLI's Ctrl-C handler while ``model.fit`` runs: training then stops at the next batch boundary that
#: Python sees (every :data:`ser.models.STEPS_PER_EXECUTION` batches for stats models, at most an epoch of the shipped
#: recipe's, under a second). (A KeyboardInterrupt raised inside TensorFlow's C++ code can corrupt the heap.)
INTERRUPT = threading.Event()
#: A fit ends once ReduceLROnPlateau has halved Adam's learning rate below this: each step then moves a weight by about
#: the rate or less, so the rest of the epochs change nothing that matters (the shipped recipe's members reach it after
#: 120-150 of 200 epochs with the training loss within 1e-4 of the 200th epoch's; benchmarks/EXPERIMENTS.md, session 16)
DEFAULT_MIN_LR = 1e-6
IN_FIT = threading.Event()


#: Augmented copies whose narrowband versions (besides the originals') train the narrowband member. With the third
#: channel copy's too, the held-out telephone band gained nothing (EMO-DB 0.609 against 0.628, RAVDESS 0.565 against
#: 0.567) and the member's fits grew by a third (benchmarks/EXPERIMENTS.md, session 13).
NARROWBAND_COPIES = 2


@dataclass(frozen=True)
class TrainConfig:
    """What ``ser train`` was asked to do (saved in ``config.json``).

    ``epochs``, ``batch_size``, ``patience`` and ``n_val_speakers`` left ``None`` take the model type's
    recipe (:func:`ser.models.recipe_defaults`; the default model, ``linear``: 200, 256, 25 and 0).
    """

    data: tuple[str, ...]
    out: str
    model: ModelConfig = field(default_factory=ModelConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    epochs: int | None = None
    batch_size: int | None = None
    patience: int | None = None
    min_lr: float = DEFAULT_MIN_LR  # a fit ends once the halving learning rate falls below this (0: all epochs)
    folds: int = 0
    ensemble: bool = False
    test_speakers: tuple[str, ...] = ()
    val_speakers: tuple[str, ...] = ()
    n_test_speakers: int = 4
    n_val_speakers: int | None = None
    # augmented copies per training clip, each copy of a speaker through its own recording channel; four copies with
    # the originals counting twice keep clean speech at a third of the weight while the channel member hears twice as
    # many channels (benchmarks/EXPERIMENTS.md, session 17)
    augment: int = 4
    augment_strength: float = 1.0
    original_weight: float = 2.0  # weight of an original clip's windows relative to an augmented copy's
    channels: bool = True  # augmented copies also pass a random recording channel (ser.channels)
    mic: bool = False  # ... whose chain includes a random microphone response (measured, not shipped: EXPERIMENTS s15)
    device_chains: float = 0.0  # ... which is a whole device (room + noise + AGC + codec) with this probability
    babble_talkers: tuple[int, int] = (6, 6)  # ... whose babble has this many voices (drawn uniformly)
    big_rooms: float = 0.0  # ... whose room is a large one (rt60 0.8-1.6 s) with this probability
    mains: float = 0.0  # ... which carries mains hum (50/60 Hz and harmonics, 5-30 dB below the speech; session 30)
    studio_weight: float = 0.8  # with augmented copies: most weight of a second model trained on the original clips only
    studio_power: float = 2.0  # its share is studio_weight * g**studio_power, g = the gate's P(studio-clean input)
    studio_l2: float = 0.05  # weight penalty of the studio member (linear models)
    channel_l2: float = 0.05  # weight penalty of the channel member (linear models; gate and narrowband: the recipe's)
    channel_hidden: tuple[int, ...] = ()  # linear models: the channel member an MLP with these hidden widths (() = linear)
    channel_epochs: int = 0  # ... trained for at most this many epochs (0: the recipe's)
    channel_speech_weight: float | None = None  # stats models: the channel member's speech weight (None: the model's)
    narrowband: bool = True  # with augmented copies: a member trained on telephone-band copies, and its detector
    narrow_bands: bool = True  # ... half of whose lines are narrower (upper edge 2.4-3.4 kHz, lower 150-500 Hz; session 27)
    babble_copies: int = 0  # with augmented copies: copies of each clip in babble of other training speakers (5-20 dB)
    mic_copies: int = 2  # with augmented copies: copies of each clip through one random microphone per speaker and copy
    # ... a session of which also passes a random recording channel, or is clipped (1-35 % of each clip's samples),
    # with these probabilities (session 28: a laptop's microphone colours what its room and codec deliver)
    mic_chains: float = 0.5
    mic_clips: float = 0.3
    voice_copies: int = 2  # with augmented copies: copies of each clip as another voice (formants and F0 rescaled, one virtual speaker per
    # speaker and copy; dataset.change_voice): more voices for every member, the gate's studio side and the prior (session 31)
    adapt: bool = True  # stats models: fit a speaker-adaptation prior, train unadapted + adapted halves
    adapt_tau: float = DEFAULT_TAU  # shrinkage of a speaker profile at inference (clips)
    adapt_ratio: float = 1.0  # inputs that move with emotion more than between speakers adapt slower
    adapt_mood: float = DEFAULT_MOOD  # mood guard: a profile of one mood counts for fewer clips (ser.adapt)
    adapt_mood_clips: float = DEFAULT_MOOD_CLIPS  # the guard fades after about this many clips of a session
    adapt_min_clips: float = DEFAULT_MIN_CLIPS  # a running profile adapts only once it holds this many clips
    adapt_lag: float = DEFAULT_LAG  # a running profile holds back this many clips' worth of the newest speech
    adapt_mix_clips: float = DEFAULT_MIX_CLIPS  # the mood guard lifts for clips that spread like a mix, from this many on
    adapt_train_tau: float = DEFAULT_TRAIN_TAU  # shrinkage of the training speakers' statistics (adapted half of training)
    adapt_orders: int = 5  # the running protocol on held-out speakers over this many seeded clip orders per mode
    adapted_member: bool = False  # stats models that adapt: a member fitted on speaker-normalised input only
    labels: tuple[str, ...] = ()
    label_space: str = LabelSpace.CORE.value  # core: the 7 emotions most corpora share (calm → neutral); all: the union
    seed: int = 0
    cache_dir: str | None = None
    use_cache: bool = True
    workers: int | None = None
    fit_threads: int = 2  # members of a fold fitted at once (the weights do not depend on it)
    verbose: int = 2
    command: str = ""

    def __post_init__(self) -> None:
        recipe = recipe_defaults(self.model.model_type)
        for name, key in (("epochs", "epochs"), ("batch_size", "batch_size"), ("patience", "patience"),
                          ("n_val_speakers", "n_val")):
            if getattr(self, name) is None:
                object.__setattr__(self, name, int(recipe[key]))
        if not 0.0 <= self.studio_weight <= 1.0:
            raise TrainingError(f"--studio-weight must be in [0, 1], got {self.studio_weight}")
        if self.fit_threads < 1:
            raise TrainingError(f"--fit-threads must be 1 or more, got {self.fit_threads}")
        if self.studio_power not in (1.0, 2.0):
            raise TrainingError(f"--studio-power must be 1 or 2, got {self.studio_power}")
        if not self.studio_l2 >= 0:
            raise TrainingError(f"--studio-l2 must be 0 or more, got {self.studio_l2}")
        if not self.channel_l2 >= 0:
            raise TrainingError(f"--channel-l2 must be 0 or more, got {self.channel_l2}")
        object.__setattr__(self, "channel_hidden", tuple(int(u) for u in self.channel_hidden))
        if any(u < 1 for u in self.channel_hidden):
            raise TrainingError(f"--channel-hidden widths must be positive, got {self.channel_hidden}")
        if self.channel_speech_weight is not None and not self.channel_speech_weight > 0:
            raise TrainingError(f"--channel-speech-weight must be positive, got {self.channel_speech_weight}")
        if self.channel_epochs < 0:
            raise TrainingError(f"--channel-epochs must be 0 or more, got {self.channel_epochs}")
        if not self.min_lr >= 0:
            raise TrainingError(f"--min-lr must be 0 or more, got {self.min_lr}")
        if self.adapt_orders < 1:
            raise TrainingError(f"--adapt-orders must be 1 or more, got {self.adapt_orders}")
        if self.augment < 0:
            raise TrainingError(f"--augment must be 0 or more, got {self.augment}")
        if self.babble_copies < 0:
            raise TrainingError(f"--babble-copies must be 0 or more, got {self.babble_copies}")
        if self.mic_copies < 0:
            raise TrainingError(f"--mic-copies must be 0 or more, got {self.mic_copies}")
        if self.voice_copies < 0:
            raise TrainingError(f"--voice-copies must be 0 or more, got {self.voice_copies}")
        lo, hi = (int(n) for n in self.babble_talkers)
        object.__setattr__(self, "babble_talkers", (lo, hi))  # a list from a JSON config reads as the tuple
        if not 1 <= lo <= hi:
            raise TrainingError(f"--babble-talkers must be N or LO-HI with 1 <= LO <= HI, got {lo}-{hi}")
        if not 0.0 <= self.mains <= 1.0:
            raise TrainingError(f"--mains must be in [0, 1], got {self.mains}")
        if not 0.0 <= self.big_rooms <= 1.0:
            raise TrainingError(f"--big-rooms must be in [0, 1], got {self.big_rooms}")
        if not self.adapt_lag >= 0.0:
            raise TrainingError(f"--adapt-lag must be 0 or more, got {self.adapt_lag}")
        if not 0.0 <= self.mic_chains <= 1.0:
            raise TrainingError(f"--mic-chains must be in [0, 1], got {self.mic_chains}")
        if not 0.0 <= self.mic_clips <= 1.0:
            raise TrainingError(f"--mic-clips must be in [0, 1], got {self.mic_clips}")
        if not 0.0 <= self.device_chains <= 1.0:
            raise TrainingError(f"--device-chains must be in [0, 1], got {self.device_chains}")


@dataclass
class _Data:
    """Per-clip features for one manifest (original clips, plus augmented copies on demand)."""

    manifest: pd.DataFrame
    frames: list[list[np.ndarray]]  # per clip, per window [shape=(t, d)]


def _labels(manifest: pd.DataFrame, wanted: tuple[str, ...], space: LabelSpace = LabelSpace.ALL) -> tuple[str, ...]:
    """The labels to train on: ``wanted`` (checked), else every label of ``space`` present in ``manifest``
    (whose emotions already went through ``space.merges``)."""
    present = set(manifest["emotion"])
    if wanted:
        outside = sorted(set(wanted) - set(space.allowed()))
        if outside:
            merged = [f"{w} counts as {space.merges[w]}" for w in outside if w in space.merges]
            raise TrainingError(f"labels outside the {space.value} label space: {', '.join(outside)}"
                                + (f" ({'; '.join(merged)})" if merged else "")
                                + ": pass --label-space all to train on them")
        unknown = set(wanted) - present
        if unknown:
            raise TrainingError(f"labels not in the data: {', '.join(sorted(unknown))}")
        return tuple(e for e in EMOTIONS if e in wanted)
    return tuple(e for e in space.allowed() if e in present)


def _sample_weights(ys: np.ndarray, original: np.ndarray, k: int, original_weight: float = 1.0) -> np.ndarray:
    """Per-window training weights ``[shape=(n,)]``: originals (``original``, bool ``[shape=(n,)]``) count
    ``original_weight`` times an augmented window, and every class gets the same total weight, the total of
    Keras's balanced class weights (so the weight penalty keeps its strength). With ``original_weight`` 1
    these are Keras's balanced class weights."""
    w = np.where(original, float(original_weight), 1.0)  # the per-class totals below fix the scale
    totals = np.bincount(ys, weights=w, minlength=k)
    per_class = np.where(totals > 0, w.size / (k * np.maximum(totals, 1e-12)), 0.0)
    return (w * per_class[ys]).astype("float32")


def _expand(frames: list[list[np.ndarray]], y: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Flatten clips → windows; returns (window frames, window labels, window → clip index)."""
    flat, ys, owner = [], [], []
    for i, (fr, lab) in enumerate(zip(frames, y, strict=True)):
        for w in fr:
            flat.append(w)
            ys.append(lab)
            owner.append(i)
    return flat, np.asarray(ys), np.asarray(owner)


class _InputCache:
    """:func:`ser.features.model_input` of ``stats`` windows, each window's row computed once per training run: the
    folds of a K-fold share most of their windows, and a fold's test windows come back for every use. Windows are
    known by identity (the feature store holds them for the run; the cache keeps each window it saw, so no id is
    reused); one run has one feature configuration. Other input kinds (whole sequences) are not kept, nor a window the
    store already keeps as its stats row (a copy's, :class:`_FeatureStore`): it is its own input."""

    def __init__(self) -> None:
        self._rows: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # id(window) → (window, its model-input row)

    def __call__(self, windows: list[np.ndarray], cfg: FeatureConfig, kind: str) -> np.ndarray:
        if kind != "stats" or not windows:
            return model_input(windows, cfg, kind)
        missing = list({id(w): w for w in windows
                        if w.ndim == 2 and self._rows.get(id(w), (None,))[0] is not w}.values())
        if missing:
            for w, row in zip(missing, model_input(missing, cfg, kind), strict=True):
                self._rows[id(w)] = (w, row)
        return np.stack([w if w.ndim == 1 else self._rows[id(w)][1] for w in windows])


def _clip_probs(model, frames: list[list[np.ndarray]], cfg: FeatureConfig, kind: str,
                prior: AdaptationPrior | None = None, inputs=model_input) -> np.ndarray:
    """Unadapted clip probabilities ``[shape=(n_clips, k)]``: the mean over each clip's windows (``inputs``:
    :func:`ser.features.model_input` or an :class:`_InputCache`)."""
    if not frames:
        return np.zeros((0, int(model.output_shape[-1])))
    flat, _, owner = _expand(frames, np.zeros(len(frames)))
    x = inputs(flat, cfg, kind)
    if prior is not None:
        x = prior.normalise(x, None)
    p = model.predict(feed(model, x), batch_size=128, verbose=0)
    out = np.zeros((len(frames), p.shape[1]))
    np.add.at(out, owner, p)
    return out / np.bincount(owner, minlength=len(frames))[:, None]


def _fit_one(
    tc: TrainConfig,
    labels: tuple[str, ...],
    train: _Data,
    train_aug: list[list[list[np.ndarray]]],
    val: _Data,
    *,
    seed: int,
    tag: str,
    watch: _Data | None = None,
    train_nb: list[list[list[np.ndarray]]] | None = None,
    inputs=model_input,
    train_voice: list[list[list[np.ndarray]]] | None = None,
):
    """Train one model; returns (model, history dict, seconds, adaptation prior or None).

    ``train_nb``: narrowband copies of the training clips (of the originals and of up to
    :data:`NARROWBAND_COPIES` augmented copies), for the narrowband member and its detector.

    With validation clips, training stops early on validation loss (best weights restored); without
    (``n_val_speakers=0``), the learning rate follows the training loss. Either way a fit ends once that rate has
    been halved below ``tc.min_lr`` (at most ``tc.epochs``).
    ``train_voice``: voice copies of the training clips (other virtual speakers, studio-clean), which train like the
    originals (the studio member, the gate's studio side, sessions of their own) at an augmented copy's weight.
    ``watch`` (a K-fold's test speakers, when there is no validation) is only scored after each epoch
    for the curves in the report: nothing is chosen on it. ``inputs``: :func:`ser.features.model_input` or a run's
    :class:`_InputCache`."""
    import keras

    kind = MODEL_INPUTS[tc.model.model_type]
    cfg = tc.features
    lab_idx = {lab: i for i, lab in enumerate(labels)}
    y_tr = train.manifest["emotion"].map(lab_idx).to_numpy()
    all_frames = list(train.frames)
    all_y = [y_tr]
    n_voice = len(train_voice or [])
    for copy in [*(train_voice or []), *train_aug]:  # voice copies first: with the originals, the studio-clean rows
        all_frames += copy
        all_y.append(y_tr)
    flat, ys, owner = _expand(all_frames, np.concatenate(all_y))
    x_tr = inputs(flat, cfg, kind)
    k = len(labels)
    prior = None
    n_plain = len(x_tr)  # rows of x_tr that are unadapted input
    if _adapts(tc):  # one model for both modes: every window unadapted and normalised by its session
        spk = train.manifest["speaker"].to_numpy()
        sessions = np.concatenate([np.char.add(spk.astype(str), f"#{c}") for c in range(len(all_y))])[owner]
        prior = fit_prior(x_tr, ys, sessions, labels, tau=tc.adapt_tau, level_index=cfg.n_stats - 1,
                          digest=cfg.digest(), ratio_scale=tc.adapt_ratio, mood=tc.adapt_mood,
                          mood_clips=tc.adapt_mood_clips, min_clips=tc.adapt_min_clips,
                          mix_clips=tc.adapt_mix_clips, lag=tc.adapt_lag)
        x_tr = np.concatenate([prior.normalise(x_tr, None),
                               speaker_normalised(x_tr, sessions, prior, tau=tc.adapt_train_tau)])
        ys = np.concatenate([ys, ys])
        owner = np.concatenate([owner, owner])
        n_plain = len(x_tr) // 2  # the unadapted half comes first
    original = owner < len(train.frames)
    studio_rows = owner < (1 + n_voice) * len(train.frames)  # originals and voice copies
    weights = _sample_weights(ys, original, k, tc.original_weight)

    def batch(d: _Data) -> tuple[np.ndarray, np.ndarray]:
        flat_d, ys_d, _ = _expand(d.frames, d.manifest["emotion"].map(lab_idx).to_numpy())
        x = inputs(flat_d, cfg, kind)
        return (prior.normalise(x, None) if prior is not None else x), keras.utils.to_categorical(ys_d, k)

    early = bool(len(val.frames))
    shown = val if early else watch
    validation = batch(shown) if shown is not None and len(shown.frames) else None
    linear = tc.model.model_type == "linear"
    # the channel member (originals + augmented copies) of a linear model has its own weight penalty: a stronger one makes
    # it less sure of itself, so in the blend it pulls a new corpus' studio-clean speech less away from the studio
    # member, and alone it transfers better to another corpus (benchmarks/EXPERIMENTS.md, session 14)
    tc_channel = _with_l2(tc, tc.channel_l2) if linear and train_aug else tc
    if tc.channel_speech_weight is not None and train_aug:
        # the speech block (speech_embedding, 1,536 functionals) is what noise corrupts most for the channel member:
        # restoring its clean values alone wins back about half of the laptop chain's loss, so the member that answers
        # for noisy input may lean on it less than the others (measured, not shipped: it trades the laptop chain for
        # steady noise and low-bitrate MP3; benchmarks/EXPERIMENTS.md, session 25)
        tc_channel = dataclasses.replace(
            tc_channel, model=dataclasses.replace(tc_channel.model, speech_weight=tc.channel_speech_weight))
    if linear and tc.channel_hidden:
        # capacity for the channel member: one linear model over every kind of recording channel trades one channel
        # for another whenever the training channels change (benchmarks/EXPERIMENTS.md, sessions 14-24); an MLP
        # (the mlp recipe's L2 on its hidden layers, dropout after each) could give each kind of input its own
        # boundary, but it learns the training voices and lost 0.01 over the channel table (session 25)
        tc_channel = dataclasses.replace(
            tc_channel, epochs=tc.channel_epochs or tc.epochs,
            model=dataclasses.replace(tc_channel.model, model_type="mlp", hidden=tc.channel_hidden,
                                      l2=float(recipe_defaults("mlp")["l2"])))
    # every member is built here, one after the other (each seeds the global generators), and then fitted, up to
    # tc.fit_threads of them at once (_run_fits): a linear member's fit keeps about one core busy
    fits = {"main": _prepare_fit(tc_channel, x_tr, ys, weights, validation, early=early, k=k, seed=seed,
                                 what=f"[{tag}] {len(train.frames)} clips + {len(train_aug)} augmented copies")}
    if prior is not None and tc.adapted_member:
        # a member fitted on the speaker-normalised half only: the both-modes model above is the better unadapted
        # model (its normalised rows act as one more augmentation), a model of adapted input alone the better
        # adapted one; it answers with the profile's share (ser.models.AdaptedBlend), so a young profile leaves the
        # answer to the both-modes model. Off by default: on a corpus never heard it takes the answer from the studio
        # member and gates, and adapted RAVDESS -> EMO-DB fell by 0.04 (benchmarks/EXPERIMENTS.md, session 19)
        fits["adapted"] = _prepare_fit(
            tc_channel, x_tr[n_plain:], ys[n_plain:], weights[n_plain:], None, early=False, k=k, seed=seed + 3571,
            what=f"[{tag}] adapted member: the speaker-normalised windows")
    if tc.studio_weight > 0 and train_aug:
        # a second model on the original clips only: clean studio speech of a corpus the model never heard is
        # recognised far better by a model that never saw a degraded channel, but noise, a telephone band or a
        # low-bitrate codec make it confidently wrong. A gate (original clip vs augmented copy, logistic
        # regression on the unadapted input) gives it a say only while the input sounds like the studio
        # (benchmarks/EXPERIMENTS.md, session 10). A linear studio member (a quarter of the windows) gets a stronger
        # weight penalty: alone it then transfers better to another corpus, and in the blend new speakers of the
        # corpora heard gain (session 13)
        tc_studio = _with_l2(tc, tc.studio_l2) if linear else tc
        fits["studio"] = _prepare_fit(
            tc_studio, x_tr[studio_rows], ys[studio_rows],
            _sample_weights(ys[studio_rows], original[studio_rows], k, tc.original_weight), validation,
            early=early, k=k, seed=seed + 7919, what=f"[{tag}] studio member: {len(train.frames)} original clips")
        # the gate judges the unadapted input, also when the members get an adapted one; babble copies do not train
        # it (it tells studio clips from recording channels): they come last in train_aug, so their windows end the
        # unadapted half and the gate's rows stay one slice (a view, no copy of the inputs). Microphone copies do:
        # a coloured recording the gate took for studio speech went to the studio member, which never heard one
        # (benchmarks/EXPERIMENTS.md, session 26)
        gate_copies = n_voice + tc.augment + tc.mic_copies  # every copy but the babble copies, which come last
        plain = slice(0, int(np.count_nonzero(owner[:n_plain] < (1 + gate_copies) * len(train.frames))))
        is_orig = studio_rows[plain].astype(int)
        fits["gate"] = _prepare_fit(
            dataclasses.replace(tc, epochs=max(1, tc.epochs // 4)), x_tr[plain], is_orig,
            _sample_weights(is_orig, studio_rows[plain], 2), None, early=False, k=2, seed=seed + 104729,
            what=f"[{tag}] studio gate: original clip or augmented copy")
    if train_nb:
        # a member for telephone-band input (a phone line or 8 kHz audio has nothing above 4 kHz, which every
        # wideband model misreads), answering as far as a detector (narrowband copy vs wideband clip, logistic
        # regression on the unadapted input) hears a narrowband input (benchmarks/EXPERIMENTS.md, session 11)
        spk = train.manifest["speaker"].to_numpy()
        flat_nb, ys_nb, owner_nb = _expand([fr for copy in train_nb for fr in copy],
                                           np.concatenate([y_tr] * len(train_nb)))
        x_nb = inputs(flat_nb, cfg, kind)
        n_nb = len(x_nb)
        if prior is not None:
            sess_nb = np.concatenate([np.char.add(spk.astype(str), f"#nb{c}") for c in range(len(train_nb))])
            x_nb = np.concatenate([prior.normalise(x_nb, None),
                                   speaker_normalised(x_nb, sess_nb[owner_nb], prior, tau=tc.adapt_train_tau)])
            ys_nb = np.concatenate([ys_nb, ys_nb])
        fits["narrowband"] = _prepare_fit(
            tc, x_nb, ys_nb, _sample_weights(ys_nb, np.ones(len(ys_nb), bool), k), None, early=False, k=k,
            seed=seed + 15485863, what=f"[{tag}] narrowband member: {len(train_nb)} telephone-band copies")
        x_det = np.concatenate([x_tr[:n_plain], x_nb[:n_nb]])
        is_nb = np.r_[np.zeros(n_plain, int), np.ones(n_nb, int)]
        fits["detector"] = _prepare_fit(
            dataclasses.replace(tc, epochs=max(1, tc.epochs // 4)), x_det, is_nb,
            _sample_weights(is_nb, np.ones(len(is_nb), bool), 2), None, early=False, k=2, seed=seed + 32452843,
            what=f"[{tag}] narrowband detector: telephone-band copy or wideband clip")
    done = _run_fits(fits, threads=tc.fit_threads)
    model, history, secs = done.pop("main")
    secs = sum(s for _, _, s in done.values()) + secs
    parts: dict[str, Any] = {name: m for name, (m, _, _) in done.items()}
    history = history | {_HISTORY_KEYS[name]: h for name, (_, h, _) in done.items()}
    if "studio" in parts:
        parts |= {"weight": tc.studio_weight, "power": tc.studio_power}
    if parts:
        from .models import blend

        model = blend(model, **parts)
    return model, history, secs, prior


def _with_l2(tc: TrainConfig, l2: float) -> TrainConfig:
    """``tc`` with the model's weight penalty set to ``l2`` (a member with its own penalty)."""
    return dataclasses.replace(tc, model=dataclasses.replace(tc.model, l2=l2))


#: The history key of each member besides the main one (``_fit_one``'s names).
_HISTORY_KEYS = {"adapted": "adapted_member", "studio": "studio_member", "gate": "studio_gate",
                 "narrowband": "narrowband_member", "detector": "narrowband_detector"}
#: Guards the count of fits running (:data:`IN_FIT` is set while it is above 0).
_FIT_LOCK = threading.Lock()
_FITS_RUNNING = 0


def _shuffled(x: np.ndarray, y: np.ndarray, weights: np.ndarray, *, batch_size: int, seed: int):
    """A ``tf.data.Dataset`` of one pass over ``(x, y, weights)`` in batches, in a new order each time it is iterated
    (each epoch). The order is drawn by the dataset's own generator, seeded by ``seed`` and TensorFlow's global seed
    at creation (:func:`ser.models.build_model` sets it to the model's seed just before), so it depends on nothing
    else: not on other fits running at the same time. The last batch may be smaller. ``x [shape=(n, ...)]``."""
    import tensorflow as tf

    n = len(x)
    data = tf.data.Dataset.from_tensors((tf.constant(x), tf.constant(y), tf.constant(weights))).repeat()
    order = (tf.data.Dataset.range(n).shuffle(n, seed=seed, reshuffle_each_iteration=True).batch(batch_size))
    options = tf.data.Options()
    options.experimental_optimization.apply_default_optimizations = False  # no graph rewrites of a large constant
    return (tf.data.Dataset.zip((order, data))
            .map(lambda i, d: tuple(tf.gather(t, i, axis=0) for t in d), num_parallel_calls=tf.data.AUTOTUNE)
            .with_options(options).prefetch(2))


@dataclass
class _Fit:
    """One model built (and seeded) by :func:`_prepare_fit`, ready to be fitted in any thread by :meth:`run`."""

    model: Any
    tc: TrainConfig
    data: Any  # tf.data.Dataset of one epoch's batches (_shuffled)
    validation: tuple[np.ndarray, np.ndarray] | None
    callbacks: list
    what: str

    def run(self, *, verbose: int | None = None) -> tuple[Any, dict[str, list[float]], float]:
        """Fit; returns (model, history dict, seconds). ``verbose``: Keras' progress output (default the config's)."""
        global _FITS_RUNNING
        tc = self.tc
        t0 = time.time()
        with _FIT_LOCK:
            if _FITS_RUNNING == 0:
                INTERRUPT.clear()
            _FITS_RUNNING += 1
            IN_FIT.set()
        try:
            hist = self.model.fit(self.data, validation_data=self.validation, epochs=tc.epochs,
                                  callbacks=self.callbacks, verbose=tc.verbose if verbose is None else verbose,
                                  shuffle=False)  # the dataset shuffles itself
        finally:
            with _FIT_LOCK:
                _FITS_RUNNING -= 1
                if _FITS_RUNNING == 0:
                    IN_FIT.clear()
        history = {key: [float(v) for v in vals] for key, vals in hist.history.items()}
        return self.model, history, time.time() - t0


def _prepare_fit(tc: TrainConfig, x: np.ndarray, ys: np.ndarray, weights: np.ndarray,
                 validation: tuple[np.ndarray, np.ndarray] | None, *, early: bool, k: int, seed: int,
                 what: str) -> _Fit:
    """Build one model of ``tc.model`` for inputs ``x`` and labels ``ys [shape=(n,)]`` (seeded by ``seed``) and its
    callbacks; :meth:`_Fit.run` fits it. ``early``: ``validation`` holds validation speakers and training stops early
    on its loss (best weights restored); otherwise it is only scored after each epoch for the curves."""
    import keras

    from .models import build_model

    kind = MODEL_INPUTS[tc.model.model_type]
    cfg = tc.features
    model = build_model(tc.model, input_shape=x.shape[1:], n_classes=k, seed=seed)
    if kind == "stats":
        model.get_layer("standardise").adapt(x)
        for block in ("prosody", "voice", "speech", "whisper"):  # ModelConfig.<block>_weight
            if block in cfg.blocks:
                emphasise(model, cfg.stats_columns(block), getattr(tc.model, f"{block}_weight"))
    monitor = "val_loss" if early else "loss"
    callbacks = [keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=0.5, patience=max(2, tc.patience // 3))]
    if validation is not None and not early:  # watched only: scored by one forward pass, not Keras' evaluation loop
        callbacks.insert(0, _watch(*validation))
        validation = None
    if early:
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=tc.patience,
                                                       restore_best_weights=True))
    print(f"{what}: training {tc.model.model_type} on {len(x)} windows, "
          + (f"validating on {len(validation[0])}" if early else f"at most {tc.epochs} epochs, no validation"),
          file=sys.stderr)

    class _StopOnInterrupt(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if INTERRUPT.is_set():
                raise KeyboardInterrupt

        on_test_batch_end = on_train_batch_end

    class _StopAtMinLearningRate(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)) < tc.min_lr:
                self.model.stop_training = True

    callbacks.append(_StopOnInterrupt())
    if tc.min_lr > 0:  # after ReduceLROnPlateau (which lowers the rate at the end of the same epoch)
        callbacks.append(_StopAtMinLearningRate())
    data = _shuffled(x, keras.utils.to_categorical(ys, k), np.asarray(weights, np.float32), batch_size=tc.batch_size,
                     seed=seed)
    return _Fit(model, tc, data, validation, callbacks, what)


def _run_fits(fits: dict[str, _Fit], *, threads: int) -> dict[str, tuple[Any, dict[str, list[float]], float]]:
    """Fit every prepared model, up to ``threads`` at once (in the order given; 1: one after the other, with Keras'
    progress output). Each fit's batches depend on its own seed only (:func:`_shuffled`) and TensorFlow's CPU kernels
    split their work by the size of its thread pool, not by who else runs, so the weights do not depend on
    ``threads``. Returns ``{name: (model, history, seconds)}``."""
    if threads <= 1 or len(fits) <= 1:
        return {name: f.run() for name, f in fits.items()}
    from concurrent.futures import ThreadPoolExecutor

    def run(item: tuple[str, _Fit]):
        name, f = item
        out = f.run(verbose=0)  # two fits' progress lines would interleave: one line per fit instead
        hist = out[1]
        last = f", loss {hist['loss'][-1]:.4f}" if hist.get("loss") else ""
        print(f"{f.what}: {len(hist.get('loss', []))} epochs{last}, {out[2]:.0f} s", file=sys.stderr, flush=True)
        return name, out

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ser-fit") as pool:
        return dict(pool.map(run, fits.items()))


def _watch(x: np.ndarray, y: np.ndarray):
    """A Keras callback that scores watched clips after each epoch into the history (``val_loss``, ``val_accuracy``)
    with one forward pass: the loss of :func:`ser.models.build_model` (cross-entropy with its label smoothing, plus
    the weight penalty), as Keras' validation reports it. Keras' own validation loop builds a dataset and an iterator
    every epoch, about a minute of a cold K-fold run (several hundred epochs per fold); nothing trains on these
    numbers. ``x [shape=(n, ...)]``, ``y [shape=(n, k)]`` one-hot."""
    import keras

    from .models import LABEL_SMOOTHING

    inputs, truth = keras.ops.convert_to_tensor(np.asarray(x, np.float32)), np.asarray(y, np.float64)
    smooth = truth * (1.0 - LABEL_SMOOTHING) + LABEL_SMOOTHING / truth.shape[1]

    class Watch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if logs is None:
                return
            p = np.asarray(keras.ops.convert_to_numpy(self.model(inputs, training=False)), np.float64)
            penalty = sum(float(keras.ops.convert_to_numpy(v)) for v in self.model.losses)
            logs["val_loss"] = float(-np.sum(smooth * np.log(np.clip(p, 1e-7, 1.0)), axis=1).mean() + penalty)
            logs["val_accuracy"] = float(np.mean(p.argmax(axis=1) == truth.argmax(axis=1)))

    return Watch()


def _adapts(tc: TrainConfig) -> bool:
    return bool(tc.adapt and MODEL_INPUTS[tc.model.model_type] == "stats" and "level" in tc.features.blocks)


class _FeatureStore:
    """Extracts (or reads cached) features for clips and augmented copies, once per run. A window of a copy is kept
    as its frames ``[shape=(t, d)]`` or, for a window-stats model, as its stats row ``[shape=(n_stats,)]``
    (:func:`ser.features.window_stats`); the originals always keep their frames."""

    def __init__(self, tc: TrainConfig) -> None:
        self.tc = tc
        self._orig: dict[str, list[np.ndarray]] = {}
        self._aug: dict[tuple[str, int], list[np.ndarray]] = {}
        self._nb: dict[tuple[str, int], list[np.ndarray]] = {}
        self._bab: dict[tuple[str, int], list[np.ndarray]] = {}
        self._mic: dict[tuple[str, int], list[np.ndarray]] = {}
        self._voice: dict[tuple[str, int], list[np.ndarray]] = {}
        self.seconds = 0.0
        self.groups: dict[str, int] = {}  # speaker → fold group (babble stays within a group)
        self.inputs = _InputCache()  # model inputs of the windows above, once per run
        self._collect: list[tuple[dict, Any, dataset.Job]] | None = None  # jobs gathered by prefetch()

    def _extract(self, todo: list[tuple[dict, Any, dataset.Job]], desc: str) -> None:
        """Extract (or read from the cache) ``(store, key, job)`` items into their stores, in one pool of workers;
        while :meth:`prefetch` gathers, only collect them."""
        if self._collect is not None:
            self._collect.extend(todo)
            return
        if not todo:
            return
        t0 = time.time()
        cfg = self.tc.features
        keep = None
        if MODEL_INPUTS[self.tc.model.model_type] == "stats":
            # a copy is only ever model input: keep each of its windows as its stats row (ser.features.model_input
            # takes it as it is), not its frames, which held most of a K-fold run's memory (19 GB with the whisper
            # block). The originals keep their frames (the EDA summary's per-emotion profiles).
            def keep(i: int, frames: list[np.ndarray]) -> list[np.ndarray]:
                return frames if todo[i][0] is self._orig else [window_stats(w, cfg) for w in frames]

        frames = dataset.extract_all([job for _, _, job in todo], cfg, cache_dir=self.tc.cache_dir,
                                     use_cache=self.tc.use_cache, workers=self.tc.workers, desc=desc, keep=keep)
        for (store, key, _), fr in zip(todo, frames, strict=True):
            store[key] = fr
        self.seconds += time.time() - t0

    def prefetch(self, originals: pd.DataFrame, copies: pd.DataFrame) -> None:
        """Extract what a split needs (the clips of ``originals``, :meth:`training_copies` of the clips of ``copies``)
        in one pool of workers: each pool costs its workers' start-up (loading the encoders) and an idle worker at its
        end, and a cold run would otherwise start a dozen."""
        self._extract(self._gather(originals, copies), "features and copies")

    def jobs(self, originals: pd.DataFrame, copies: pd.DataFrame) -> list[dataset.Job]:
        """The feature jobs :meth:`prefetch` would extract (or read from the cache) for these clips, in its order,
        without running them (what the store holds already is left out)."""
        return [job for _, _, job in self._gather(originals, copies)]

    def _gather(self, originals: pd.DataFrame, copies: pd.DataFrame) -> list[tuple[dict, Any, dataset.Job]]:
        self._collect = []
        try:
            self.training_copies(copies)
            self.originals(originals)
        finally:
            todo, self._collect = self._collect, None
        return todo

    def training_copies(self, man: pd.DataFrame) -> tuple[list[list[list[np.ndarray]]], list[list[list[np.ndarray]]] |
                                                           None, list[list[list[np.ndarray]]] | None]:
        """What :func:`_fit_one` takes of the training clips ``man`` besides the originals: ``(channel copies
        [augmented, microphone, babble, in that order], narrowband copies or None, voice copies or None)``, each as
        ``[copy][clip]`` lists of windows. (:func:`ser.dataset.extract_all` hands all of a clip's jobs to one worker,
        so its voice copies share the vocoder analysis and its narrowband copies the augmented signals.)"""
        tc = self.tc
        if not tc.augment:
            return [], None, None
        voice = self.voices(man) if tc.voice_copies else None
        aug = self.augmented(man)
        if tc.mic_copies:
            aug += self.mics(man)
        if tc.babble_copies:
            aug += self.babble(man)
        nb = self.narrow(man) if tc.narrowband else None
        return aug, nb, voice

    def originals(self, man: pd.DataFrame) -> _Data:
        need = list(dict.fromkeys(p for p in man["path"] if p not in self._orig))
        self._extract([(self._orig, p, dataset.Job(p, 0, self.tc.seed, self.tc.augment_strength)) for p in need],
                      "features")
        if self._collect is not None:
            return _Data(man, [])
        return _Data(man, [self._orig[p] for p in man["path"]])

    def _babble(self, paths: np.ndarray, speakers: np.ndarray, groups: np.ndarray, path: str, speaker: str,
                copy: int) -> tuple[str, ...]:
        """Up to 6 clips of other speakers of the same fold group (so K-fold test voices never leak
        into training babble), chosen deterministically per clip and copy."""
        group = self.groups.get(speaker, 0)
        pool = paths[(speakers != speaker) & (groups == group)]
        if not pool.size:
            return ()
        rng = np.random.default_rng(dataset._seed(f"{path}-{copy}"))
        return tuple(sorted(rng.choice(pool, size=min(6, len(pool)), replace=False).tolist()))

    def _copies(self, store: dict[tuple[str, int], list[np.ndarray]], man: pd.DataFrame, copies: range, job,
                desc: str) -> list[list[list[np.ndarray]]]:
        """Copies ``copies`` of every clip of ``man`` as ``[copy][clip]`` lists of windows, extracted (or read from
        the cache) once per run into ``store``; ``job(path, copy, speaker, babble)`` makes one :class:`dataset.Job`, where
        ``babble(copy)`` picks that copy's babble voices (:meth:`_babble`)."""
        # a clip's copies one after the other: they land in one worker, which reuses what they share (a voice copy's
        # vocoder analysis, dataset._world_analysis)
        need = [(p, c) for p in man["path"] for c in copies if (p, c) not in store]
        if need:
            spk = dict(zip(man["path"], man["speaker"], strict=True))
            arrays = (man["path"].to_numpy(), man["speaker"].to_numpy(),
                      man["speaker"].map(lambda s: self.groups.get(s, 0)).to_numpy())
            self._extract([(store, (p, c), job(p, c, spk[p], lambda copy, p=p: self._babble(*arrays, p, spk[p], copy)))
                           for p, c in need], desc)
        if self._collect is not None:
            return []
        return [[store[(p, c)] for p in man["path"]] for c in copies]

    def augmented(self, man: pd.DataFrame) -> list[list[list[np.ndarray]]]:
        """The augmented copies 1..``augment``: voice and, with ``channels``, a random recording channel."""
        tc = self.tc
        return self._copies(self._aug, man, range(1, tc.augment + 1), lambda p, c, spk, babble: dataset.Job(
            p, c, tc.seed, tc.augment_strength, channel=spk if tc.channels else "",
            babble=babble(c) if tc.channels else (), mic=tc.mic, device=tc.device_chains,
            talkers=tc.babble_talkers, big_rooms=tc.big_rooms, mains=tc.mains), "augmented features")

    def babble(self, man: pd.DataFrame) -> list[list[list[np.ndarray]]]:
        """Babble copies: each clip itself in the babble of 6 other speakers of its fold group (the voices of other
        people in the room, the condition the random channel copies handle worst), as ``[copy][clip]`` lists of
        windows (a clip with no such speaker — a one-speaker group — stays as it is)."""
        tc = self.tc
        return self._copies(self._bab, man, range(1, tc.babble_copies + 1), lambda p, c, spk, babble: dataset.Job(
            p, 0, tc.seed + c - 1, tc.augment_strength, babble=babble(1000 + c), babble_only=True),
            "babble features")

    def mics(self, man: pd.DataFrame) -> list[list[list[np.ndarray]]]:
        """Microphone copies: each clip itself through a random microphone response (:func:`ser.channels.microphone`),
        one microphone per speaker and copy (a session on one device), as ``[copy][clip]`` lists of windows. With
        ``mic_chains`` P, a share P of these sessions also passes a random recording channel after the microphone
        (:func:`dataset.mic_chain_fires`; half of those chains a whole device), babble from the fold group's voices;
        with ``mic_clips`` P, a share P of them is clipped (:func:`dataset.mic_clip_fires`, an input gain set too high)."""
        tc = self.tc
        return self._copies(self._mic, man, range(1, tc.mic_copies + 1), lambda p, c, spk, babble: dataset.Job(
            p, 0, tc.seed + c - 1, tc.augment_strength, channel=spk, mic_only=True, mic_chain=tc.mic_chains, mic_clip=tc.mic_clips,
            babble=babble(2000 + c) if tc.mic_chains else ()), "microphone features")

    def voices(self, man: pd.DataFrame) -> list[list[list[np.ndarray]]]:
        """Voice copies: each clip itself as another voice (:func:`dataset.change_voice`), one virtual speaker (formant
        ratio and F0 scale, :func:`dataset.voice_draw`) per speaker and copy, as ``[copy][clip]`` lists of windows."""
        tc = self.tc
        return self._copies(self._voice, man, range(1, tc.voice_copies + 1), lambda p, c, spk, babble: dataset.Job(
            p, 0, tc.seed + c - 1, tc.augment_strength, channel=spk, voice_only=True), "voice features")

    def narrow(self, man: pd.DataFrame) -> list[list[list[np.ndarray]]]:
        """Narrowband copies: each original clip and each of its first :data:`NARROWBAND_COPIES` augmented copies
        through a random narrowband line (:func:`ser.channels.narrowband`), as ``[copy][clip]`` lists of windows
        (copy 0: the originals')."""
        tc = self.tc
        copies = range(0, min(tc.augment, NARROWBAND_COPIES) + 1)
        return self._copies(self._nb, man, copies, lambda p, c, spk, babble: dataset.Job(
            p, c, tc.seed, tc.augment_strength, channel=spk if tc.channels and c else "",
            babble=babble(c) if tc.channels and c else (), narrow=True, mic=tc.mic, device=tc.device_chains,
            talkers=tc.babble_talkers, big_rooms=tc.big_rooms, narrow_bands=tc.narrow_bands, mains=tc.mains),
            "narrowband features")


def training_jobs(tc: TrainConfig, man: pd.DataFrame) -> list[dataset.Job]:
    """Every feature job a run of ``tc`` extracts for the clips of ``man`` (columns ``path``, ``speaker``) as training
    clips: each original and its copies (voice, augmented, microphone, babble, narrowband, as ``tc`` asks), in the
    order a run sends them to :func:`ser.dataset.extract_all`; babble voices come from ``man``'s other speakers (one
    fold group). What the benchmarks time as the training feature stage."""
    return _FeatureStore(tc).jobs(man, man)


def _run_split(tc, labels, man, split, store, *, seed, tag):
    sel = lambda speakers: man[man["speaker"].isin(speakers)].reset_index(drop=True)  # noqa: E731
    tr, va, te = sel(split.train), sel(split.val), sel(split.test)
    store.prefetch(pd.concat([tr, va, te], ignore_index=True), tr)  # one pool of workers for what is not cached
    train, val, test = store.originals(tr), store.originals(va), store.originals(te)
    aug, nb, voice = store.training_copies(tr)
    model, history, secs, prior = _fit_one(tc, labels, train, aug, val, seed=seed, tag=tag, watch=test, train_nb=nb,
                                           inputs=store.inputs, train_voice=voice)
    kind = MODEL_INPUTS[tc.model.model_type]
    lab_idx = {lab: i for i, lab in enumerate(labels)}
    out = {
        "prior": prior,
        "val_probs": _clip_probs(model, val.frames, tc.features, kind, prior, store.inputs),
        "val_y": va["emotion"].map(lab_idx).to_numpy(),
        "adapted": (_adapted_runs(model, test, tc, prior, lab_idx, seed, store.inputs)
                    if prior is not None and len(te) else {}),
        "test_probs": _clip_probs(model, test.frames, tc.features, kind, prior, store.inputs),
        "test_y": te["emotion"].map(lab_idx).to_numpy(),
        "test_speakers": te["speaker"].tolist(),
        "test_corpora": te["corpus"].tolist(),
        "test_paths": te["path"].tolist(),
    }
    return model, history, secs, out


def _adapted_runs(model, test: _Data, tc: TrainConfig, prior: AdaptationPrior, lab_idx: dict[str, int],
                  seed: int, inputs=model_input) -> dict[str, list[dict[str, np.ndarray]]]:
    """The running protocol on a fold's test speakers, in random and in blocked (sustained-mood) order, each over
    ``tc.adapt_orders`` seeded clip orders (the first seeded by ``seed`` alone): each clip predicted with statistics
    of its speaker's earlier clips only. One order's bins rest on few clips, so the many-order mean says whether
    adaptation ever falls below unadapted (benchmarks/EXPERIMENTS.md, session 14)."""
    unadapted: dict[bytes, np.ndarray] = {}  # a clip's unadapted probabilities are the same in every order

    def infer(x: np.ndarray, plain: np.ndarray | None = None, share: float = 0.0) -> np.ndarray:  # a small batch per clip
        if plain is None or share > 0 or not np.array_equal(x, plain):
            return np.asarray(model.predict_on_batch(feed(model, x, plain, share)))
        key = hashlib.sha1(x.tobytes()).digest()
        if key not in unadapted:
            unadapted[key] = np.asarray(model.predict_on_batch(feed(model, x, plain)))
        return unadapted[key]

    man = test.manifest
    y = man["emotion"].map(lab_idx).to_numpy()
    clips = [inputs(fr, tc.features, "stats") for fr in test.frames]
    out: dict[str, list[dict[str, np.ndarray]]] = {}
    for order in ("random", "blocked"):
        out[order] = []
        for j in range(tc.adapt_orders):
            rng = np.random.default_rng(seed if j == 0 else [seed, j])
            rows = {"index": [], "adapted": [], "plain": [], "before": []}
            for spk in sorted(set(man["speaker"])):
                idx = np.flatnonzero(man["speaker"].to_numpy() == spk)
                idx = idx[session_order(y[idx], order=order, rng=rng)]
                a, p, b = session_probs([clips[i] for i in idx], infer, prior)
                rows["index"].append(idx)
                rows["adapted"].append(a)
                rows["plain"].append(p)
                rows["before"].append(b)
            out[order].append({key: np.concatenate(v) for key, v in rows.items()})
    return out


def _with_orders(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The first clip order's :func:`adaptation_summary`, plus ``orders`` (:func:`over_orders`; its ``seeds`` are the
    orders' indices, each fold seeding its own) when there are more."""
    first = dict(runs[0])
    if len(runs) > 1:
        first["orders"] = over_orders(runs, list(range(len(runs))))
    return first


def eda_summary(store: _FeatureStore, man: pd.DataFrame, cfg: FeatureConfig) -> dict[str, Any]:
    """Training-data summary for the app (no audio): counts, durations, per-emotion feature means."""
    data = store.originals(man)
    counts: dict[str, dict[str, int]] = {}
    for (corpus, emo), n in man.groupby(["corpus", "emotion"]).size().items():
        counts.setdefault(corpus, {})[emo] = int(n)
    dur = man["duration"].to_numpy(dtype=float)
    hist, edges = np.histogram(dur, bins=30)
    emotion = man["emotion"].to_numpy()
    present = set(emotion)
    per_emotion = per_emotion_profiles({
        emo: [w for i in np.flatnonzero(emotion == emo) for w in data.frames[i]] for emo in EMOTIONS if emo in present
    }, cfg)
    return {
        "n_clips": int(len(man)),
        "corpora": sorted(set(man["corpus"])),
        "speakers": sorted(set(man["speaker"])),
        "class_counts": counts,
        "gender_counts": {str(k): int(v) for k, v in man.groupby("gender")["speaker"].nunique().items()},
        "durations": {
            "mean": float(dur.mean()), "std": float(dur.std()), "min": float(dur.min()), "max": float(dur.max()),
            "total_hours": float(dur.sum() / 3600), "hist": {"edges": edges.tolist(), "counts": hist.tolist()},
        },
        "per_emotion": per_emotion,
        "feature_frame_hop_s": cfg.hop_length / cfg.sample_rate,
    }


def _versions() -> dict[str, str]:
    import keras
    import librosa
    import tensorflow as tf

    return {"python": platform.python_version(), "keras": keras.__version__, "tensorflow": tf.__version__,
            "librosa": librosa.__version__, "numpy": np.__version__}


@dataclass
class _Outcome:
    """What a training protocol hands to the bundle: the shipped model and what was measured."""

    model: Any  # keras.Model
    prior: AdaptationPrior | None
    temperature: float
    metrics: dict[str, Any]
    history: dict[str, Any]
    split: dict[str, Any]


@dataclass
class _OutOfFold:
    """Per-fold figures and the pooled out-of-fold predictions of a K-fold run."""

    per_fold: list[dict[str, Any]] = field(default_factory=list)
    probs: list[np.ndarray] = field(default_factory=list)  # per fold [shape=(n_f, k)]
    y: list[np.ndarray] = field(default_factory=list)  # per fold [shape=(n_f,)]
    fold: list[np.ndarray] = field(default_factory=list)  # per fold [shape=(n_f,)], the fold index
    corpora: list[list[str]] = field(default_factory=list)
    speakers: list[str] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    runs: dict[str, list[list[dict[str, Any]]]] = field(default_factory=dict)  # order -> per clip order -> per fold

    def add(self, f: int, k: int, split: dataset.Split, hist: dict[str, Any], secs: float, out: dict[str, Any],
            labels: tuple[str, ...]) -> None:
        """Record fold ``f`` (0-based) of ``k``: its test figures (printed), predictions and running protocol."""
        m = clip_metrics(out["test_y"], out["test_probs"], labels, speakers=out["test_speakers"])
        self.per_fold.append({"fold": f + 1, "test_speakers": list(split.test), "val_speakers": list(split.val),
                              "uar": m["uar"], "accuracy": m["accuracy"], "n": m["n"], "epochs": len(hist["loss"]),
                              "train_seconds": round(secs, 1)})
        print(f"[fold {f + 1}/{k}] UAR {m['uar']:.3f} accuracy {m['accuracy']:.3f} "
              f"on {', '.join(split.test)}", file=sys.stderr)
        self.probs.append(out["test_probs"])
        self.y.append(out["test_y"])
        self.fold.append(np.full(len(out["test_y"]), f))
        self.corpora.append(out["test_corpora"])
        self.speakers += out["test_speakers"]
        self.history.append(hist)
        for order, runs in out["adapted"].items():
            slots = self.runs.setdefault(order, [[] for _ in runs])
            for slot, r in zip(slots, runs, strict=True):
                ix = r["index"]
                slot.append({"y": out["test_y"][ix], "adapted": r["adapted"], "plain": r["plain"],
                             "before": r["before"], "corpus": [out["test_corpora"][i] for i in ix]})


def _scan(tc: TrainConfig) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """The manifest of ``tc.data`` restricted to the labels trained on, and those labels."""
    from .corpora import relabel, scan

    res = scan(list(tc.data))
    man = res.manifest
    if man.empty:
        raise TrainingError(f"no labelled clips found in {', '.join(tc.data)}")
    if res.skipped:
        print(f"skipped {len(res.skipped)} unrecognised or unreadable files", file=sys.stderr)
    space = _space(tc)
    man = relabel(man, space.merges)
    labels = _labels(man, tc.labels, space)
    left_out = man.loc[~man["emotion"].isin(labels), "emotion"].value_counts()
    if len(left_out):
        print(f"left out {int(left_out.sum())} clips of emotions the model does not learn ("
              + ", ".join(f"{e}: {n}" for e, n in left_out.items()) + f"; label space {space.value})", file=sys.stderr)
    man = man[man["emotion"].isin(labels)].reset_index(drop=True)
    if len(labels) < 2:
        raise TrainingError("need at least two emotions to train")
    if tc.folds and (tc.test_speakers or tc.val_speakers):
        raise TrainingError("--test-speakers/--val-speakers cannot be combined with --folds: the folds choose "
                            "the speakers (use --n-val for validation speakers per fold)")
    return man, labels


def _space(tc: TrainConfig) -> LabelSpace:
    try:
        return LabelSpace(tc.label_space)
    except ValueError:
        raise TrainingError(f"unknown label space {tc.label_space!r}: use "
                            + " or ".join(s.value for s in LabelSpace)) from None


def _kfold_metrics(tc: TrainConfig, labels: tuple[str, ...], oof: _OutOfFold) -> tuple[float, dict[str, Any]]:
    """Mean ± std and pooled out-of-fold figures, the out-of-fold temperature, per-corpus and adapted
    figures (printed); returns ``(temperature, metrics)``."""
    metrics: dict[str, Any] = {}
    uars = np.array([p["uar"] for p in oof.per_fold])
    all_p, all_y = np.concatenate(oof.probs), np.concatenate(oof.y)
    pooled = clip_metrics(all_y, all_p, labels, speakers=oof.speakers)
    metrics["folds"] = {
        "k": tc.folds,
        "summary": {"uar_mean": float(uars.mean()), "uar_std": float(uars.std(ddof=1)),
                    "accuracy_mean": float(np.mean([p["accuracy"] for p in oof.per_fold])),
                    "pooled_uar": pooled["uar"], "pooled_accuracy": pooled["accuracy"]},
        "per_fold": oof.per_fold,
    }
    print(f"K-fold UAR {uars.mean():.3f} ± {uars.std(ddof=1):.3f} (pooled {pooled['uar']:.3f})", file=sys.stderr)
    temperature, metrics["calibration"] = calibrate_out_of_fold(all_y, all_p, np.concatenate(oof.fold))
    metrics["test"] = {**pooled, "protocol": f"{tc.folds}-fold by speaker, out-of-fold: each clip predicted by "
                       "the fold model that never heard its speaker"}
    oof_corpus = np.concatenate([np.asarray(o) for o in oof.corpora])
    metrics["per_corpus"] = {c: clip_metrics(all_y[oof_corpus == c], all_p[oof_corpus == c], labels)
                             for c in sorted(set(oof_corpus.tolist()))}
    for c, m in metrics["per_corpus"].items():
        print(f"  {c}: UAR {m['uar']:.3f} ({m['n']} clips)", file=sys.stderr)
    if oof.runs:
        def pooled_run(rs: list[dict[str, Any]], order: str) -> dict[str, Any]:  # one clip order, every fold
            return adaptation_summary(
                np.concatenate([r["y"] for r in rs]), np.concatenate([r["adapted"] for r in rs]),
                np.concatenate([r["plain"] for r in rs]), np.concatenate([r["before"] for r in rs]), labels,
                corpora=[c for r in rs for c in r["corpus"]], protocol=f"running, {order} order, out-of-fold")

        metrics["adaptation"] = {order: _with_orders([pooled_run(rs, order) for rs in per_order])
                                 for order, per_order in oof.runs.items()}
        for order, a in metrics["adaptation"].items():
            print(f"  adapted ({order}): UAR {a['uar']:.3f} vs unadapted {a['unadapted_uar']:.3f}; by earlier "
                  "clips " + ", ".join(f"{b['clips']}: {b['delta']:+.3f}" for b in a["by_earlier_clips"]),
                  file=sys.stderr)
    return temperature, metrics


def _kfold(tc: TrainConfig, labels: tuple[str, ...], man: pd.DataFrame, store: _FeatureStore) -> _Outcome:
    """K-fold by speaker: out-of-fold figures and temperature, then the shipped model: one more model on
    every speaker (but validation speakers, when early stopping is on), or the average of the fold models."""
    splits = dataset.kfold_splits(man, k=tc.folds, seed=tc.seed, n_val=tc.n_val_speakers)
    oof = _OutOfFold()
    fold_models = []
    for f, split in enumerate(splits):
        model, hist, secs, out = _run_split(tc, labels, man, split, store, seed=tc.seed + f,
                                            tag=f"fold {f + 1}/{tc.folds}")
        oof.add(f, tc.folds, split, hist, secs, out, labels)
        if tc.ensemble:
            fold_models.append(model)
    temperature, metrics = _kfold_metrics(tc, labels, oof)
    if tc.ensemble:
        from .models import ensemble

        model = ensemble(fold_models)
        prior = None  # the fold models' priors differ: an ensemble does not adapt
        history = oof.history[0] | {"folds": oof.history}
        split_d: dict[str, Any] = {"train": sorted(set(man["speaker"])), "val": [], "test": []}
    else:
        split = dataset.speaker_split(man, n_test=0, n_val=tc.n_val_speakers, seed=tc.seed)
        model, history, _, out = _run_split(tc, labels, man, split, store, seed=tc.seed, tag="final")
        prior = out["prior"]
        history = history | {"folds": oof.history}
        split_d = split.to_dict()
    split_d["cross_validated"] = sorted(set(oof.speakers))
    calib = metrics["calibration"]
    print(f"out-of-fold calibration: temperature {temperature:.2f}, ECE {calib['ece_before']:.3f}"
          f" → {calib['ece_after']:.3f}", file=sys.stderr)
    return _Outcome(model, prior, temperature, metrics, history, split_d)


def _held_out(tc: TrainConfig, labels: tuple[str, ...], man: pd.DataFrame, store: _FeatureStore) -> _Outcome:
    """One model on a speaker split: figures on the held-out test speakers, temperature from the
    validation speakers (none without them)."""
    split = dataset.speaker_split(man, test=tc.test_speakers or None, val=tc.val_speakers or None,
                                  n_test=tc.n_test_speakers, n_val=tc.n_val_speakers, seed=tc.seed)
    model, history, _, out = _run_split(tc, labels, man, split, store, seed=tc.seed, tag="final")
    metrics: dict[str, Any] = {}
    if out["adapted"]:
        metrics["adaptation"] = {order: _with_orders([adaptation_summary(
            out["test_y"][r["index"]], r["adapted"], r["plain"], r["before"], labels,
            corpora=[out["test_corpora"][i] for i in r["index"]], protocol=f"running, {order} order, held-out")
            for r in runs]) for order, runs in out["adapted"].items()}
    temperature, calib = calibrate_held_out(out["val_y"], out["val_probs"], out["test_y"], out["test_probs"])
    if len(out["test_y"]):
        metrics["test"] = clip_metrics(out["test_y"], out["test_probs"], labels, speakers=out["test_speakers"])
        metrics["test"]["protocol"] = "held-out speakers: " + ", ".join(split.test)
        print(f"held-out UAR {metrics['test']['uar']:.3f} accuracy {metrics['test']['accuracy']:.3f}",
              file=sys.stderr)
    if len(out["val_y"]):
        metrics["val"] = clip_metrics(out["val_y"], out["val_probs"], labels)
    if calib:
        metrics["calibration"] = calib
    return _Outcome(model, out["prior"], temperature, metrics, history, split.to_dict())


def _bundle_config(tc: TrainConfig, labels: tuple[str, ...], man: pd.DataFrame, outcome: _Outcome) -> BundleConfig:
    """The bundle's ``config.json``: labels, model and feature settings, split, temperature, provenance."""
    corpora = tuple(sorted(set(man["corpus"])))
    space = _space(tc)
    return BundleConfig(
        labels=labels, model_type=tc.model.model_type, input_kind=MODEL_INPUTS[tc.model.model_type],
        features=tc.features, model=dataclasses.asdict(tc.model), corpora=corpora, split=outcome.split,
        temperature=outcome.temperature, threshold=0.4,
        extra={
            "licence": licence_text(corpora),
            "label_space": space.value,
            "label_map": space.merges,
            "ensemble_of_folds": bool(tc.folds and tc.ensemble),
            "training": {k: v for k, v in dataclasses.asdict(tc).items() if k not in ("model", "features")},
            "train_command": tc.command,
            "versions": _versions(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
    )


def train(tc: TrainConfig) -> Path:
    """Run training as configured and write the bundle to ``tc.out``; returns its path."""
    from .card import model_card

    t_start = time.time()
    if tc.augment and tc.voice_copies and not dataset.can_change_voice():
        raise TrainingError("voice copies need the WORLD vocoder: pip install pyworld (it builds with a C++ compiler "
                            "and the Python headers: apt-get install g++ python3-dev), or train with --voice-copies 0")
    man, labels = _scan(tc)
    store = _FeatureStore(tc)
    # babble comes from other speakers of the same group; the groups of a 5-fold split unless --folds says
    # otherwise, so a held-out-split run reuses the K-fold run's cached augmented copies
    store.groups = dataset.speaker_groups(man, k=tc.folds or 5, seed=tc.seed)
    outcome = (_kfold if tc.folds else _held_out)(tc, labels, man, store)
    metrics = outcome.metrics
    metrics["train_seconds"] = round(time.time() - t_start, 1)
    metrics["feature_seconds"] = round(store.seconds, 1)
    cfg = _bundle_config(tc, labels, man, outcome)
    eda = eda_summary(store, man, tc.features)
    card = model_card(cfg, metrics, eda)
    path = write_bundle(tc.out, model=outcome.model, config=cfg, history=outcome.history, metrics=metrics, eda=eda,
                        card=card, adaptation=outcome.prior)
    print(f"wrote model bundle {path} in {time.time() - t_start:.0f} s", file=sys.stderr)
    return path
