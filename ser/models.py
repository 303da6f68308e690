"""Keras 3 model builders, chosen by name.

==========  ===============================  ======================================================
name        input                            architecture
==========  ===============================  ======================================================
``linear``  stats ``[shape=(n, n_stats)]``   standardise → softmax (L2-penalised logistic regression;
                                             the default and the shipped model)
``mlp``     stats ``[shape=(n, n_stats)]``   standardise → dense layers (256, 128: seed 002's fast baseline)
``bilstm``  sequence ``[shape=(n, T, d)]``   masking → BiLSTM(128) → BiLSTM(64) → dense (seed 003)
``cnn``     log-mel ``[shape=(n, T, m)]``    SpecAugment → 4 conv blocks → attention pooling → dense
``crnn``    log-mel ``[shape=(n, T, m)]``    SpecAugment → 3 conv blocks → BiGRU → attention pooling
``tdnn``    sequence ``[shape=(n, T, d)]``   SpecAugment → dilated 1-D convs (x-vector style) → mean+max pool
==========  ===============================  ======================================================

``n_stats``: :attr:`ser.features.FeatureConfig.n_stats` utterance functionals of the frame features.

Each type's training recipe (epochs, early-stopping patience, batch size, L2, validation speakers)
is :func:`recipe_defaults`: the defaults of ``ser train`` and of :class:`ser.train.TrainConfig`.

All models end in a softmax over the bundle's labels. Only layers from Keras itself and the four
registered layers below are used, so bundles load with ``safe_mode=True``.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from keras import layers, ops

from .export import ADAPT_INPUT, INPUT_NAMES, UNADAPTED_INPUT

#: Which model input (see :func:`ser.features.model_input`) each model type takes.
MODEL_INPUTS = {"linear": "stats", "mlp": "stats", "bilstm": "sequence", "cnn": "logmel", "crnn": "logmel", "tdnn": "sequence"}
MODEL_TYPES = tuple(MODEL_INPUTS)

#: The model type ``ser train`` and :class:`ModelConfig` default to (the shipped model's).
DEFAULT_MODEL_TYPE = "linear"

#: Training recipe per model type (the linear model needs many cheap epochs, large batches and strong L2,
#: and trains without validation speakers); ``"*"``: every other type. Read through :func:`recipe_defaults`.
_RECIPES: dict[str, dict[str, int | float]] = {
    "linear": {"epochs": 200, "patience": 25, "batch_size": 256, "l2": 0.02, "n_val": 0},
    "*": {"epochs": 60, "patience": 12, "batch_size": 32, "l2": 1e-4, "n_val": 2},
}


def recipe_defaults(model_type: str) -> dict[str, int | float]:
    """Training defaults of ``model_type``: ``epochs``, ``patience`` (epochs), ``batch_size`` (windows),
    ``l2`` (weight penalty) and ``n_val`` (validation speakers for early stopping; 0 = no early stopping)."""
    return dict(_RECIPES.get(model_type, _RECIPES["*"]))


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of the model builders (saved in ``config.json``).

    ``l2=None`` takes the model type's recipe (:func:`recipe_defaults`): 0.02 for ``linear``, else 1e-4.
    """

    model_type: str = DEFAULT_MODEL_TYPE
    dropout: float = 0.3
    l2: float | None = None
    learning_rate: float = 1e-3
    spec_time_mask: int = 30  # max frames masked (SpecAugment), training only
    spec_freq_mask: int = 8  # max mel bands masked, training only
    width: int = 32  # channels of the first conv block / units scale
    hidden: tuple[int, ...] = (256, 128)  # mlp: units of each hidden layer (ReLU, dropout after each)
    prosody_weight: float = 5.0  # stats models: the prosody block's functionals at this scale once standardised
    voice_weight: float = 1.0  # stats models: the voice block's means at this scale once standardised
    speech_weight: float = 1.0  # stats models: the speech block's functionals at this scale once standardised
    whisper_weight: float = 1.0  # stats models: the whisper block's means and spreads at this scale once standardised

    def __post_init__(self) -> None:
        if not self.prosody_weight > 0:
            raise ValueError(f"prosody_weight must be positive, got {self.prosody_weight}")
        if not self.voice_weight > 0:
            raise ValueError(f"voice_weight must be positive, got {self.voice_weight}")
        if not self.speech_weight > 0:
            raise ValueError(f"speech_weight must be positive, got {self.speech_weight}")
        if not self.whisper_weight > 0:
            raise ValueError(f"whisper_weight must be positive, got {self.whisper_weight}")
        object.__setattr__(self, "hidden", tuple(int(u) for u in self.hidden))  # a JSON list reads as the tuple
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"hidden must be one or more positive layer widths, got {self.hidden}")
        if self.l2 is None:
            object.__setattr__(self, "l2", float(recipe_defaults(self.model_type)["l2"]))


@keras.saving.register_keras_serializable(package="ser")
class SpecAugment(layers.Layer):
    """One time mask and one frequency mask per example, in training only.

    Input/output ``[shape=(n, T, F)]``; identity at inference.
    """

    def __init__(self, time_mask: int = 30, freq_mask: int = 8, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.time_mask = time_mask
        self.freq_mask = freq_mask
        self.seed = seed
        self._rng = keras.random.SeedGenerator(seed)

    def call(self, x, training=None):
        if not training:
            return x
        shape = ops.shape(x)
        n, T, F = shape[0], shape[1], shape[2]

        def mask(length, width):
            w = ops.cast(keras.random.uniform((n, 1), 0, width + 1, seed=self._rng), "int32")
            start = ops.cast(
                keras.random.uniform((n, 1), 0, 1, seed=self._rng) * ops.cast(length - w, "float32"), "int32"
            )
            idx = ops.arange(length)[None, :]
            return ops.logical_and(idx >= start, idx < start + w)  # (n, length)

        t_mask = mask(T, self.time_mask)[:, :, None]
        f_mask = mask(F, self.freq_mask)[:, None, :]
        keep = ops.logical_not(ops.logical_or(t_mask, f_mask))
        return x * ops.cast(keep, x.dtype)

    def get_config(self):
        return {**super().get_config(), "time_mask": self.time_mask, "freq_mask": self.freq_mask, "seed": self.seed}


@keras.saving.register_keras_serializable(package="ser")
class AttentionPooling(layers.Layer):
    """Attention-weighted mean over time: ``[shape=(n, T, c)]`` → ``[shape=(n, c)]``."""

    def build(self, input_shape):
        self.score = layers.Dense(1, name="score")
        self.score.build(input_shape)

    def call(self, x):
        w = ops.softmax(self.score(x), axis=1)  # (n, T, 1)
        return ops.sum(w * x, axis=1)


def _conv_block(x, filters: int, cfg: ModelConfig, pool=(2, 2)):
    reg = keras.regularizers.l2(cfg.l2)
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_regularizer=reg)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    if pool:
        x = layers.MaxPooling2D(pool)(x)
    return x


def emphasise(model: keras.Model, columns, weight: float) -> None:
    """Give the stats ``columns`` (indices into ``[shape=(n_stats,)]``) ``weight`` times unit variance after the
    ``standardise`` layer, which is an L2 penalty ``weight**2`` times weaker on their weights: a few informative
    features (the 48 prosody functionals among thousands of spectral ones) are not drowned by the penalty.

    Call after ``standardise.adapt``; the layer's variance is what changes, so bundles load as before.
    """
    if weight == 1.0 or not len(columns):
        return
    layer = model.get_layer("standardise")
    mean, var, *rest = layer.get_weights()
    var = var.copy()
    var[..., np.asarray(columns)] /= weight**2
    layer.set_weights([mean, var, *rest])
    layer.finalize_state()  # the layer computes with tensors derived from its weights at adapt/load time


#: Label smoothing of every model's loss (the target puts this much of its mass evenly on all classes).
LABEL_SMOOTHING = 0.05

#: Batches per call into the compiled training step of the stats models. A linear model's step is microseconds of
#: arithmetic and milliseconds of Python and dispatch around it; running up to an epoch's batches in one call gives the
#: same updates (same batches, same order, epoch-end callbacks unchanged) in about 0.6 times the time
#: (benchmarks/EXPERIMENTS.md, session 20). Models over frames keep one batch per call (their steps are compute).
STEPS_PER_EXECUTION = 64


def build_model(
    cfg: ModelConfig,
    *,
    input_shape: tuple[int, ...],
    n_classes: int,
    seed: int = 0,
) -> keras.Model:
    """Build and compile a model of type ``cfg.model_type`` for inputs of ``input_shape`` (no batch)."""
    if cfg.model_type not in MODEL_INPUTS:
        raise ValueError(f"unknown model type {cfg.model_type!r}; choose one of {', '.join(MODEL_TYPES)}")
    keras.utils.set_random_seed(seed)
    reg = keras.regularizers.l2(cfg.l2)
    inp = keras.Input(shape=input_shape, name="features")
    if cfg.model_type == "linear":  # multinomial logistic regression on standardised functionals
        x = layers.Normalization(name="standardise")(inp)
    elif cfg.model_type == "mlp":
        x = layers.Normalization(name="standardise")(inp)
        x = layers.GaussianNoise(0.1)(x)
        for units in cfg.hidden:
            x = layers.Dense(units, activation="relu", kernel_regularizer=reg)(x)
            x = layers.Dropout(cfg.dropout)(x)
    elif cfg.model_type == "bilstm":
        x = layers.Masking(mask_value=0.0)(inp)
        x = layers.Bidirectional(layers.LSTM(128, return_sequences=True))(x)
        x = layers.Dropout(cfg.dropout)(x)
        x = layers.Bidirectional(layers.LSTM(64))(x)
        x = layers.Dropout(cfg.dropout)(x)
        x = layers.Dense(64, activation="relu", kernel_regularizer=reg)(x)
    elif cfg.model_type == "tdnn":  # 1-D convolutions over frame features, cheap on CPU
        x = SpecAugment(cfg.spec_time_mask, cfg.spec_freq_mask, seed=seed, name="spec_augment")(inp)
        w = 4 * cfg.width
        for i, (k, dil) in enumerate(((5, 1), (3, 2), (3, 3))):
            x = layers.Conv1D(w, k, dilation_rate=dil, padding="same", use_bias=False, kernel_regularizer=reg)(x)
            x = layers.BatchNormalization()(x)
            x = layers.Activation("relu")(x)
            if i == 0:
                x = layers.MaxPooling1D(2)(x)
        x = layers.Conv1D(2 * w, 1, use_bias=False, kernel_regularizer=reg)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.Concatenate()([layers.GlobalAveragePooling1D()(x), layers.GlobalMaxPooling1D()(x)])
        x = layers.Dropout(cfg.dropout)(x)
        x = layers.Dense(w, activation="relu", kernel_regularizer=reg)(x)
        x = layers.Dropout(cfg.dropout)(x)
    else:  # cnn / crnn over log-mel (n, T, mels)
        x = SpecAugment(cfg.spec_time_mask, cfg.spec_freq_mask, seed=seed, name="spec_augment")(inp)
        x = layers.Reshape((*input_shape, 1))(x)
        w = cfg.width
        widths = (w, 2 * w, 4 * w, 4 * w) if cfg.model_type == "cnn" else (w, 2 * w, 4 * w)
        for i, f in enumerate(widths):
            x = _conv_block(x, f, cfg, pool=(2, 2) if i < 3 else (1, 2))
        # (n, T', F', C) → average over frequency → (n, T', C)
        x = _FreqMean(name="freq_mean")(x)
        if cfg.model_type == "crnn":
            x = layers.Bidirectional(layers.GRU(2 * w, return_sequences=True))(x)
        x = layers.Dropout(cfg.dropout)(x)
        x = AttentionPooling(name="attention_pool")(x)
        x = layers.Dense(4 * w, activation="relu", kernel_regularizer=reg)(x)
        x = layers.Dropout(cfg.dropout)(x)
    out = layers.Dense(n_classes, activation="softmax", name="emotion",
                       kernel_regularizer=reg if cfg.model_type == "linear" else None)(x)
    model = keras.Model(inp, out, name=f"ser_{cfg.model_type}")
    model.compile(
        optimizer=keras.optimizers.Adam(cfg.learning_rate),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=LABEL_SMOOTHING),
        metrics=["accuracy"],
        steps_per_execution=STEPS_PER_EXECUTION if MODEL_INPUTS[cfg.model_type] == "stats" else 1,
    )
    return model


@keras.saving.register_keras_serializable(package="ser")
class _FreqMean(layers.Layer):
    """Mean over the frequency axis: ``[shape=(n, T, F, C)]`` → ``[shape=(n, T, C)]``."""

    def call(self, x):
        # keepdims + squeeze: the same numbers as ops.mean(x, axis=2), but tf2onnx's transpose optimiser
        # mis-wires the plain reduction (the ONNX export of cnn would not load)
        return ops.squeeze(ops.mean(x, axis=2, keepdims=True), axis=2)


def feed(model, x: np.ndarray, plain: np.ndarray | None = None, weight: float = 0.0):
    """What ``model`` takes for model inputs ``x [shape=(n, ...)]``: ``x`` itself, ``[x, plain]`` for a
    two-input blend, ``plain`` being the same windows' unadapted input (default ``x``), and ``[x, plain, w]``
    for a blend with an adapted member, ``w [shape=(n, 1)]`` the profile's ``weight`` (0: unadapted)."""
    if len(model.inputs) == 1:
        return x
    both = [x, x if plain is None else plain]
    if len(model.inputs) == 2:
        return both
    return [*both, np.full((len(x), 1), weight, dtype=np.float32)]


@keras.saving.register_keras_serializable(package="ser")
class AdaptedBlend(layers.Layer):
    """Inputs ``[adapted, both, w]``: two softmax outputs ``[shape=(n, k)]`` and the adaptation weight ``w
    [shape=(n, 1)]``; output ``w * adapted + (1 - w) * both``. An adapted member (fitted on speaker-normalised input
    only) answers as far as the speaker profile has moved the input; without a profile (w 0) the both-modes
    blend answers alone (benchmarks/EXPERIMENTS.md, session 19)."""

    def call(self, inputs):
        adapted, both, w = inputs
        w = ops.clip(w, 0.0, 1.0)
        return w * adapted + (1.0 - w) * both


@keras.saving.register_keras_serializable(package="ser")
class GatedBlend(layers.Layer):
    """Blend two models' outputs by a gate.

    Inputs ``[first, second, gate]``: two softmax outputs ``[shape=(n, k)]`` and a gate's softmax
    ``[shape=(n, 2)]`` whose column 1 is the probability ``g`` that the input is the first model's kind (a
    studio member: an original studio clip rather than a degraded copy; a narrowband member: a telephone-band
    input). Output ``w * g**p * first + (1 - w * g**p) * second`` with the fixed ``weight`` ``w`` and ``power``
    ``p``: degraded input (noise, telephone band, low-bitrate codecs) is answered by the channel model alone. A
    power of 2 keeps a member that is useless outside its own kind of input out of the answer while its gate is
    merely unsure (g 0.05 gives it 0.0025)."""

    def __init__(self, weight: float, power: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 < weight <= 1.0:
            raise ValueError(f"GatedBlend weight must be in (0, 1], got {weight}")
        if power not in (1.0, 2.0):
            raise ValueError(f"GatedBlend power must be 1 or 2, got {power}")
        self.weight = float(weight)
        self.power = float(power)

    def call(self, inputs):
        studio, channel, gate = inputs
        g = gate[:, 1:2]
        w = (g * g if self.power == 2.0 else g) * self.weight
        return w * studio + (1.0 - w) * channel

    def get_config(self):
        return {**super().get_config(), "weight": self.weight, "power": self.power}


def blend(channel: keras.Model, *, studio: keras.Model | None = None, gate: keras.Model | None = None,
          weight: float = 0.5, power: float = 1.0, narrowband: keras.Model | None = None,
          detector: keras.Model | None = None, adapted: keras.Model | None = None,
          name: str = "ser_blend") -> keras.Model:
    """One model from the shipped recipe's parts, named ``channel``, ``studio``, ``gate``, ``narrowband`` and
    ``narrowband_detector`` inside it.

    * ``studio`` + ``gate`` (with ``weight`` and ``power``): :class:`GatedBlend` of the studio and channel members
      by how clean the input sounds (the shipped recipe: weight 0.8, power 2);
    * ``narrowband`` + ``detector``: a member trained on telephone-band copies answers with the square of the
      detector's probability ``d`` that the input is narrowband, the rest of the blend otherwise
      (:class:`GatedBlend` with weight 1 and power 2: on a corpus the model never heard, d averages 0.05, and
      the member, useless on wideband speech, cost 0.01 UAR at power 1).

    * ``adapted``: a member fitted on speaker-normalised input only answers with the share ``w`` of a third input,
      the speaker profile's weight (:class:`AdaptedBlend`; 0 without a profile, so unadapted answers are the rest
      of the blend's).

    Two inputs, ``[features, unadapted]``: the members take the model input (normalised by a speaker profile, or
    not), the gates the unadapted one (:func:`feed`); three with ``adapted`` (``adapt_weight [shape=(n, 1)]``).
    Output ``[shape=(n, k)]``."""
    if (studio is None) != (gate is None) or (narrowband is None) != (detector is None):
        raise ValueError("a studio member needs its gate and a narrowband member its detector")
    if studio is None and narrowband is None and adapted is None:
        raise ValueError("blend needs a studio, narrowband or adapted member beside the channel member")
    shape = channel.input_shape[1:]
    inp = keras.Input(shape=shape, name="features")
    plain = keras.Input(shape=shape, name=UNADAPTED_INPUT)
    channel.name = "channel"
    out = channel(inp)
    if studio is not None and gate is not None:
        studio.name, gate.name = "studio", "gate"
        out = GatedBlend(weight, power=power, name="emotion" if narrowband is None and adapted is None else "studio_blend")(
            [studio(inp), out, gate(plain)])
    if narrowband is not None and detector is not None:
        narrowband.name, detector.name = "narrowband", "narrowband_detector"
        out = GatedBlend(1.0, power=2.0, name="narrowband_blend" if adapted is not None else "emotion")(
            [narrowband(inp), out, detector(plain)])
    if adapted is not None:
        adapted.name = "adapted"
        weight_in = keras.Input(shape=(1,), name=ADAPT_INPUT)
        out = AdaptedBlend(name="emotion")([adapted(inp), out, weight_in])
        return keras.Model([inp, plain, weight_in], out, name=name)
    return keras.Model([inp, plain], out, name=name)


def studio_channel(studio: keras.Model, channel: keras.Model, gate: keras.Model, *, weight: float,
                   power: float = 1.0, name: str = "ser_studio_channel") -> keras.Model:
    """The studio/channel blend alone (:func:`blend` without a narrowband member)."""
    return blend(channel, studio=studio, gate=gate, weight=weight, power=power, name=name)


def ensemble(models: list[keras.Model], *, name: str = "ser_ensemble") -> keras.Model:
    """One model averaging the softmax outputs of ``models`` (same inputs: one, or two or three for blends)."""
    inputs = [keras.Input(shape=t.shape[1:], name=n) for t, n in zip(models[0].inputs, INPUT_NAMES, strict=False)]
    outs = []
    for i, m in enumerate(models):
        m.name = f"member_{i}"
        outs.append(m(inputs if len(inputs) > 1 else inputs[0]))
    out = layers.Average(name="emotion")(outs) if len(outs) > 1 else outs[0]
    return keras.Model(inputs if len(inputs) > 1 else inputs[0], out, name=name)
