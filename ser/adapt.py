"""Speaker adaptation: hear the person, not the studio.

A :class:`SpeakerProfile` holds running statistics of the model's input (the stats vector of
:func:`ser.features.model_input`, ``[shape=(d,)]``) over one speaker's speech. The bundle's
:class:`AdaptationPrior` turns a profile into a normalised model input:

    x' = x - w(n) * (m - mu0),   w(n) = n / (n + tau)

``m`` is the profile's mean, ``mu0`` the mean of the training speakers, ``n`` how much speech the
profile has seen (in clips of about one model window), so with few clips the statistics are shrunk
towards the training prior. These safeguards make the adaptation safe when a speaker stays in one
mood (a stretch of anger) rather than mixing emotions:

* **emotion-compensated updates**: each clip enters the profile as ``x - sum_c p_c * delta_c``,
  where ``p`` is the *unadapted* prediction and ``delta_c`` the average offset of emotion ``c``
  from a training speaker's own mean, so a run of angry clips does not teach the profile that
  this speaker's normal voice is angry;
* **shrinkage** ``tau`` (clips), so that one or two clips move the input only a little;
* **a mood guard** ``mood`` (kappa): the profile also sums the unadapted posteriors of its clips; while
  their mean ``q`` sits on few emotions (a stretch of one mood rather than a mix), the profile counts as
  ``n_eff = n * exp(-kappa * f(n) * KL(q || uniform))`` clips, so statistics of one mood barely move the
  input. The guard fades over a long session, ``f(n) = 1 / (1 + (n / N0)^2)`` (``mood_clips`` N0): a mood
  seldom lasts dozens of clips, whereas a new corpus, room or microphone makes the *unadapted* model hear one
  emotion in every clip for good — exactly when adaptation matters most. Enrolment profiles (deliberate
  calibration: ``ser enrol``, "calibrate to my voice") skip the guard;
* **the guard lets a mix through**: a stretch of one mood and a mix of moods differ in how the clips spread along
  the emotions' directions (the prior's ``mood_axes``: each emotion's offset, in units of each input's spread over
  the training clips). A training speaker's clips spread about twice as far along them over all their clips as
  within one emotion (``mood_spread``); the profile's own spread, shrunk towards one mood's while few clips are
  known (``mix_shrink`` clips' worth) and counted only from ``mix_clips`` clips on, says how mixed its clips are
  (:meth:`AdaptationPrior.mixedness`, 0 = one mood, 1 = as mixed as a whole training session), and the guard's
  strength is multiplied by ``1 - mixedness``. So the guard can be strong for one mood (a stretch of anger) and
  still let a new corpus or microphone, whose clips are many emotions all *heard* as one, adapt;
* **a minimum** ``min_clips``: a running profile of fewer clips moves nothing (one or two clips of a session
  gained nothing in random order and cost up to 0.02 UAR when they shared one mood);
* **the newest speech held back** ``lag`` (clips' worth; off by default): a running profile takes a clip in only
  once ``lag`` clips' worth of newer speech has followed it. A mood lasts over consecutive clips, so the clips just
  before the present one are the likeliest to share its mood. Held back 3 clips, the K-fold's blocked order gained
  0.005 and its random order lost 0.002, but across corpora random order lost 0.008 (0.047 after 8-15 earlier clips),
  where adaptation pays most, and the worst blocked order was no better (benchmarks/EXPERIMENTS.md, session 29).
  Enrolment profiles take every clip at once.

The input level (the ``level`` column, the dBFS that level normalisation removed) is only ever used
relative to the speaker: without a profile it is set to the prior, so unadapted predictions do not
depend on the input gain. One model serves both modes: training sees every clip unadapted and
normalised by its own speaker's statistics.

A profile is used for *later* clips: :meth:`ser.predict.Predictor.predict` predicts with the
statistics of the speaker's earlier clips and only then adds the clip (the running protocol of
``ser evaluate --adapt running``).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import BundleError, SERError
from .fileio import write_text_atomic

#: File of a bundle that holds the adaptation prior.
PRIOR_FILE = "adaptation.json"
#: Default shrinkage at inference: clips of speech before the profile's mean gets half weight.
DEFAULT_TAU = 1.0
#: Default mood guard (kappa): a profile whose clips all sound like one emotion counts for fewer clips (strong: a
#: profile whose clips spread like a mix of emotions lifts the guard, see :meth:`AdaptationPrior.mixedness`).
DEFAULT_MOOD = 50.0
#: Default clips a running profile must hold before its spread may count as a mix of emotions (fewer: one mood).
DEFAULT_MIX_CLIPS = 8.0
#: Default shrinkage of a profile's spread towards one mood's (clips' worth of the training speakers' spread).
DEFAULT_MIX_SHRINK = 4.0
#: Default fade of the mood guard (N0, clips): a mood rarely lasts a whole session, a new microphone, room
#: or corpus does; after about N0 clips the guard gives way, 1 / (1 + (n / N0)^2) of its strength.
DEFAULT_MOOD_CLIPS = 12.0
#: Default shrinkage of training speakers' statistics (the adapted half of training).
DEFAULT_TRAIN_TAU = 12.0
#: Default clips a running profile must hold before it moves the input at all: with one or two clips of a
#: session adaptation gained nothing in random order and lost up to 0.02 UAR when those clips shared one mood.
DEFAULT_MIN_CLIPS = 3.0
#: Default clips' worth of the newest speech a running profile holds back: none (every clip counts at once). Holding
#: back 3 traded random order, across corpora above all, for blocked order (benchmarks/EXPERIMENTS.md, session 29).
DEFAULT_LAG = 0.0
PROFILE_FORMAT = 1


@dataclass(frozen=True)
class AdaptationPrior:
    """What a bundle knows about speakers in general (fitted on its training speakers).

    ``mean`` ``[shape=(d,)]``: mean model input over training speakers' means; ``offsets``
    ``[shape=(k, d)]``: per emotion, the mean offset of its clips from their speaker's own mean;
    ``tau``: shrinkage in clips; ``level_index``: column of the input level (or -1).
    """

    mean: np.ndarray
    offsets: np.ndarray
    labels: tuple[str, ...]
    tau: float = DEFAULT_TAU
    level_index: int = -1
    digest: str = ""
    emotion_ratio: np.ndarray | None = None  # [shape=(d,)] emotion / speaker variance of each input
    ratio_scale: float = 1.0
    mood: float = 0.0  # kappa of the mood guard (0: off, as in bundles made before it)
    mood_clips: float = 0.0  # N0: the guard fades over a long session, 1 / (1 + (n / N0)^2) (0: never fades)
    min_clips: float = 0.0  # a running profile of fewer clips does not adapt (0: any clip does, as in older bundles)
    mood_axes: np.ndarray | None = None  # [shape=(a, d)] emotion directions in units of each input's spread (None: none)
    mood_spread: np.ndarray | None = None  # [shape=(2, a)] a training session's variance along them: one emotion, all
    mix_clips: float = DEFAULT_MIX_CLIPS  # fewer clips than this always count as one mood
    mix_shrink: float = DEFAULT_MIX_SHRINK  # clips' worth of one mood's spread a profile's spread is shrunk towards
    lag: float = 0.0  # clips' worth of the newest speech a running profile holds back (0: none, as in older bundles)

    @property
    def dim(self) -> int:
        return int(self.mean.size)

    def weight(self, n: float) -> np.ndarray | float:
        """How far a profile of ``n`` clips moves each input: ``n / (n + tau * (1 + s * r_d))``.

        ``r_d`` is how much input ``d`` moves with emotion relative to how much it differs between
        speakers: inputs that mostly carry emotion are adapted slowly, inputs that mostly carry the
        voice or the channel quickly. Returns ``[shape=(d,)]`` (a float without ``emotion_ratio``).
        """
        if n <= 0:
            return 0.0
        if self.emotion_ratio is None:
            return float(n / (n + self.tau))
        return n / (n + self.tau * (1.0 + self.ratio_scale * self.emotion_ratio))

    def ready(self, profile: SpeakerProfile) -> bool:
        """Whether ``profile`` may move the input at all: an enrolment profile at once, a running one from
        ``min_clips`` clips on."""
        return profile.enrolled or float(profile.n) >= self.min_clips

    def project(self, x: np.ndarray) -> np.ndarray | None:
        """Where a clip of window inputs ``x [shape=(w, d)]`` lies along the emotion axes: ``[shape=(a,)]`` (None
        for a prior without axes)."""
        if self.mood_axes is None:
            return None
        return self.mood_axes @ np.asarray(x, np.float64).reshape(-1, self.dim).mean(axis=0)

    def mixedness(self, profile: SpeakerProfile) -> float:
        """How far the profile's clips spread along the emotion axes like a mix of emotions, in [0, 1]: 0 for the
        spread within one emotion (or fewer than ``mix_clips`` clips, or a prior or profile without axes), 1 for the
        spread of a training speaker's whole session. The profile's variance is shrunk towards one mood's by
        ``mix_shrink`` clips' worth, so a few clips that happen to differ do not count as a mix."""
        n = float(profile.spread_n)
        if (self.mood_axes is None or self.mood_spread is None or profile.spread is None
                or profile.spread.shape != self.mood_spread.shape or n < max(self.mix_clips, 2.0)):
            return 0.0
        within, mixed = self.mood_spread
        mean = profile.spread[0] / n
        var = np.maximum(profile.spread[1] / n - mean**2, 0.0) * n / (n - 1.0)
        var = ((n - 1.0) * var + self.mix_shrink * within) / (n - 1.0 + self.mix_shrink)
        return float(np.mean(np.clip((var - within) / np.maximum(mixed - within, 1e-12), 0.0, 1.0)))

    def effective_n(self, profile: SpeakerProfile) -> float:
        """Clips' worth of evidence the profile counts for: ``n``, shrunk by the mood guard while the
        mean unadapted posterior of its clips sits on few emotions (not for enrolment profiles), less so the more
        its clips spread like a mix of emotions (:meth:`mixedness`); the guard fades once the profile holds more
        than about ``mood_clips`` clips. 0 while a running profile holds fewer than ``min_clips`` clips."""
        n = float(profile.n)
        if not self.ready(profile):
            return 0.0
        if n <= 0 or self.mood <= 0 or profile.enrolled or profile.posterior is None:
            return max(n, 0.0)
        q = np.clip(profile.posterior / max(profile.posterior.sum(), 1e-12), 1e-9, 1.0)
        kl = float(np.sum(q * np.log(q * q.size)))
        fade = 1.0 / (1.0 + (n / self.mood_clips) ** 2) if self.mood_clips > 0 else 1.0
        return n * float(np.exp(-self.mood * fade * max(kl, 0.0) * (1.0 - self.mixedness(profile))))

    def share(self, profile: SpeakerProfile | None) -> float:
        """How far ``profile`` moves the input, in [0, 1): the mean over inputs of :meth:`weight` at its
        :meth:`effective_n` (0 without a profile or while it may not adapt). A bundle's adapted member answers with
        this share (:class:`ser.models.AdaptedBlend`)."""
        if profile is None or profile.n <= 0:
            return 0.0
        n_eff = self.effective_n(profile)
        return float(np.mean(self.weight(n_eff))) if n_eff > 1e-6 else 0.0

    def normalise(self, x: np.ndarray, profile: SpeakerProfile | None) -> np.ndarray:
        """Model input ``x [shape=(n, d)]`` normalised by ``profile`` (None: unadapted)."""
        x = np.array(x, dtype=np.float32, copy=True)
        n_eff = self.effective_n(profile) if profile is not None and profile.n > 0 else 0.0
        if profile is not None and n_eff > 1e-6:
            profile.check(self)
            w = self.weight(n_eff)
            m = profile.mean
            i = self.level_index
            raw_level = x[:, i].copy() if i >= 0 else None
            x -= (w * (m - self.mean)).astype(np.float32)
            if i >= 0:  # the level counts only relative to this speaker's, so the input gain cancels
                w_level = w[i] if isinstance(w, np.ndarray) else w
                x[:, i] = self.mean[i] + w_level * (raw_level - m[i])
        elif self.level_index >= 0:
            x[:, self.level_index] = self.mean[self.level_index]
        return x

    def contribution(self, x: np.ndarray, probs: np.ndarray) -> np.ndarray:
        """What one clip adds to a profile: its mean input ``[shape=(d,)]`` less the expected emotion
        offset under the unadapted probabilities ``probs [shape=(n, k)]`` of its windows."""
        return np.asarray(x, np.float64).mean(axis=0) - np.asarray(probs, np.float64).mean(axis=0) @ self.offsets

    def to_dict(self) -> dict[str, Any]:
        return {"format": 1, "tau": self.tau, "level_index": self.level_index, "labels": list(self.labels),
                "digest": self.digest, "ratio_scale": self.ratio_scale, "mood": self.mood,
                "mood_clips": self.mood_clips, "min_clips": self.min_clips,
                "mix_clips": self.mix_clips, "mix_shrink": self.mix_shrink, "lag": self.lag,
                "mood_axes": None if self.mood_axes is None else [[float(v) for v in row] for row in
                                                                  self.mood_axes.astype(np.float32)],
                "mood_spread": None if self.mood_spread is None else [[float(v) for v in row] for row in
                                                                      self.mood_spread],
                "mean": [float(v) for v in self.mean.astype(np.float32)],
                "emotion_ratio": None if self.emotion_ratio is None else [float(v) for v in
                                                                          self.emotion_ratio.astype(np.float32)],
                "offsets": [[float(v) for v in row] for row in self.offsets.astype(np.float32)]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AdaptationPrior:
        return cls(mean=np.asarray(d["mean"], dtype=np.float64), offsets=np.asarray(d["offsets"], dtype=np.float64),
                   labels=tuple(d["labels"]), tau=float(d.get("tau", DEFAULT_TAU)),
                   level_index=int(d.get("level_index", -1)), digest=str(d.get("digest", "")),
                   emotion_ratio=None if d.get("emotion_ratio") is None else np.asarray(d["emotion_ratio"], np.float64),
                   ratio_scale=float(d.get("ratio_scale", 1.0)), mood=float(d.get("mood", 0.0)),
                   mood_clips=float(d.get("mood_clips", 0.0)), min_clips=float(d.get("min_clips", 0.0)),
                   mood_axes=None if d.get("mood_axes") is None else np.asarray(d["mood_axes"], np.float64),
                   mood_spread=None if d.get("mood_spread") is None else np.asarray(d["mood_spread"], np.float64),
                   mix_clips=float(d.get("mix_clips", DEFAULT_MIX_CLIPS)),
                   mix_shrink=float(d.get("mix_shrink", DEFAULT_MIX_SHRINK)), lag=float(d.get("lag", 0.0)))

    @classmethod
    def load(cls, path: str | Path) -> AdaptationPrior:
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BundleError(f"cannot read the adaptation prior {path}: {exc}") from None


def fit_prior(x: np.ndarray, y: np.ndarray, speakers: np.ndarray, labels: tuple[str, ...], *,
              tau: float = DEFAULT_TAU, level_index: int = -1, digest: str = "",
              ratio_scale: float = 1.0, mood: float = 0.0, mood_clips: float = 0.0,
              min_clips: float = 0.0, mix_clips: float = DEFAULT_MIX_CLIPS, lag: float = 0.0) -> AdaptationPrior:
    """Fit the prior on training clips: ``x [shape=(n, d)]`` clip inputs, ``y [shape=(n,)]`` label
    indices, ``speakers [shape=(n,)]`` speaker ids (one speaker = one voice in one channel). ``mix_clips`` 0: no
    emotion axes (the mood guard is never lifted for a mix, as in bundles made before). ``lag``: clips' worth of the
    newest speech a running profile holds back."""
    x = np.asarray(x, np.float64)
    speakers = np.asarray(speakers)
    y = np.asarray(y)
    spk_means = {s: x[speakers == s].mean(axis=0) for s in np.unique(speakers)}
    mean = np.mean(list(spk_means.values()), axis=0)
    dev = x - np.stack([spk_means[s] for s in speakers])
    offsets = np.zeros((len(labels), x.shape[1]))
    for c in range(len(labels)):
        if (y == c).any():
            offsets[c] = dev[y == c].mean(axis=0)
    between = np.var(np.stack(list(spk_means.values())), axis=0)
    present = [c for c in range(len(labels)) if (y == c).any()]
    ratio = np.var(offsets[present], axis=0) / np.maximum(between, 1e-12)
    axes, spread = _mood_axes(x, y, speakers, offsets[present]) if mix_clips > 0 else (None, None)
    return AdaptationPrior(mean=mean, offsets=offsets, labels=tuple(labels), tau=float(tau),
                           level_index=level_index, digest=digest, emotion_ratio=np.minimum(ratio, 1e3),
                           ratio_scale=float(ratio_scale), mood=float(mood), mood_clips=float(mood_clips),
                           min_clips=float(min_clips), mood_axes=axes, mood_spread=spread,
                           mix_clips=float(mix_clips) if mix_clips > 0 else DEFAULT_MIX_CLIPS, lag=float(lag))


def _mood_axes(x: np.ndarray, y: np.ndarray, speakers: np.ndarray,
               offsets: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The emotion axes of :meth:`AdaptationPrior.mixedness` and a training speaker's spread along them.

    ``offsets [shape=(a, d)]``: the emotions' mean offsets; each axis is one offset in units of each input's spread
    over ``x [shape=(n, d)]``, of unit length, scaled so that ``axes @ x`` projects a raw input. Returns ``(axes
    [shape=(a, d)], spread [shape=(2, a)])``: the mean over speakers of their variance along each axis within one
    emotion and over all their clips; ``(None, None)`` when no speaker has two emotions of two clips each.
    """
    sd = x.std(axis=0) + 1e-6
    unit = offsets / sd
    norm = np.linalg.norm(unit, axis=1, keepdims=True)
    if not len(unit) or (norm <= 0).any():
        return None, None
    axes = unit / norm / sd
    proj = x @ axes.T
    within, mixed = [], []
    for s in np.unique(speakers):
        m = speakers == s
        parts = [proj[m & (y == c)] for c in np.unique(y[m])]
        parts = [p for p in parts if len(p) >= 2]
        if len(parts) >= 2:
            within.append(np.mean([p.var(axis=0, ddof=1) for p in parts], axis=0))
            mixed.append(proj[m].var(axis=0, ddof=1))
    if not within:
        return None, None
    return axes, np.stack([np.mean(within, axis=0), np.mean(mixed, axis=0)])


def speaker_normalised(x: np.ndarray, speakers: np.ndarray, prior: AdaptationPrior, *,
                       tau: float | None = None) -> np.ndarray:
    """Training inputs ``[shape=(n, d)]`` normalised as a profile of each speaker's whole set of
    clips would normalise them (the adapted half of training); ``tau``: the shrinkage to use (default the
    prior's; training may shrink more than inference, so the model also learns partly adapted inputs)."""
    if tau is not None:
        prior = dataclasses.replace(prior, tau=float(tau), mood=0.0, min_clips=0.0)
    out = np.array(x, dtype=np.float32, copy=True)
    speakers = np.asarray(speakers)
    for s in np.unique(speakers):
        m = speakers == s
        profile = SpeakerProfile(n=float(m.sum()), total=x[m].astype(np.float64).sum(axis=0), digest=prior.digest)
        out[m] = prior.normalise(x[m], profile)
    return out


@dataclass
class SpeakerProfile:
    """Running statistics of one speaker's model inputs. JSON-serialisable; updated online.

    ``n``: clips seen (a live window counts as the share of a clip it adds); ``total``
    ``[shape=(d,)]``: sum of the clips' emotion-compensated mean inputs; ``seconds``: speech heard;
    ``posterior`` ``[shape=(k,)]``: sum of the clips' unadapted probabilities (for the mood guard);
    ``spread`` ``[shape=(2, a)]``: sums of the clips' positions along the prior's emotion axes and of their squares,
    over ``spread_n`` clips (how mixed the clips are: :meth:`AdaptationPrior.mixedness`);
    ``enrolled``: made by deliberate calibration (the mood guard does not apply);
    ``pending``: the newest clips, heard but held back from the statistics (:attr:`AdaptationPrior.lag`), oldest
    first, each ``{"contribution", "weight", "probs", "projection"}``. ``clips`` and ``seconds`` count every clip heard,
    ``n`` only those in the statistics.
    """

    n: float = 0.0
    total: np.ndarray | None = None
    seconds: float = 0.0
    name: str = ""
    digest: str = ""
    clips: int = 0
    meta: dict[str, Any] = field(default_factory=dict)
    posterior: np.ndarray | None = None
    enrolled: bool = False
    spread: np.ndarray | None = None
    spread_n: float = 0.0
    pending: list[dict[str, Any]] = field(default_factory=list)

    @property
    def held(self) -> float:
        """Clips' worth of speech heard but held back from the statistics."""
        return float(sum(item["weight"] for item in self.pending))

    @property
    def heard(self) -> float:
        """Clips' worth of speech heard: in the statistics (``n``) or held back."""
        return float(self.n) + self.held

    @property
    def mean(self) -> np.ndarray:
        if self.total is None or self.n <= 0:
            raise SERError("the speaker profile is empty")
        return self.total / self.n

    def check(self, prior: AdaptationPrior) -> None:
        """Raise if this profile was made with features another bundle's prior cannot use."""
        if self.total is not None and self.total.size != prior.dim:
            raise SERError(f"this speaker profile has {self.total.size} features, the model's adaptation "
                           f"expects {prior.dim}: enrol again with this model")
        if self.digest and prior.digest and self.digest != prior.digest:
            raise SERError("this speaker profile was made with other feature settings: enrol again with this model")

    def update(self, contribution: np.ndarray, *, weight: float = 1.0, seconds: float = 0.0,
               probs: np.ndarray | None = None, projection: np.ndarray | None = None, hold: float = 0.0) -> None:
        """Add one clip's contribution ``[shape=(d,)]`` (see :meth:`AdaptationPrior.contribution`), its
        unadapted probabilities ``probs [shape=(k,)]`` (mean over its windows) and its position along the emotion
        axes ``projection [shape=(a,)]`` (:meth:`AdaptationPrior.project`), as ``weight`` clips. ``hold``: clips' worth
        of the newest speech kept out of the statistics (:attr:`AdaptationPrior.lag`); older held clips enter them,
        oldest first, as newer speech pushes them out."""
        self.seconds += float(seconds)
        self.clips += 1
        self.pending.append({"contribution": np.asarray(contribution, np.float64), "weight": float(weight),
                             "probs": None if probs is None else np.asarray(probs, np.float64),
                             "projection": None if projection is None else np.asarray(projection, np.float64)})
        while self.pending and self.held - self.pending[0]["weight"] >= hold - 1e-9:  # newer speech >= hold
            item = self.pending.pop(0)
            self._add(item["contribution"], weight=item["weight"], probs=item["probs"], projection=item["projection"])

    def _add(self, contribution: np.ndarray, *, weight: float, probs: np.ndarray | None,
             projection: np.ndarray | None) -> None:
        """Put one clip into the statistics."""
        c = np.asarray(contribution, np.float64)
        self.total = c * weight if self.total is None else self.total + c * weight
        if probs is not None:
            q = np.asarray(probs, np.float64) * weight
            self.posterior = q if self.posterior is None or self.posterior.size != q.size else self.posterior + q
        if projection is not None:
            z = np.asarray(projection, np.float64)
            add = np.stack([z, z**2]) * weight
            same = self.spread is not None and self.spread.shape == add.shape
            self.spread, self.spread_n = (self.spread + add, self.spread_n + weight) if same else (add, float(weight))
        self.n += float(weight)

    def reset(self) -> None:
        self.n, self.total, self.seconds, self.clips, self.posterior = 0.0, None, 0.0, 0, None
        self.spread, self.spread_n, self.pending = None, 0.0, []

    def copy(self) -> SpeakerProfile:
        return dataclasses.replace(self, total=None if self.total is None else self.total.copy(), meta=dict(self.meta),
                                   posterior=None if self.posterior is None else self.posterior.copy(),
                                   spread=None if self.spread is None else self.spread.copy(),
                                   pending=[dict(item) for item in self.pending])

    def to_dict(self) -> dict[str, Any]:
        return {"format": PROFILE_FORMAT, "name": self.name, "n": self.n, "clips": self.clips,
                "seconds": round(self.seconds, 3), "digest": self.digest, "meta": self.meta,
                "enrolled": self.enrolled,
                "posterior": None if self.posterior is None else [float(v) for v in self.posterior],
                "spread": None if self.spread is None else [[float(v) for v in row] for row in self.spread],
                "spread_n": self.spread_n,
                "pending": [{key: (v if v is None or isinstance(v, float) else [float(e) for e in v])
                             for key, v in item.items()} for item in self.pending],
                "total": None if self.total is None else [float(v) for v in self.total]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SpeakerProfile:
        bad = SERError("not a ser speaker profile (expected the JSON written by `ser enrol`)")
        if not isinstance(d, dict) or d.get("format") != PROFILE_FORMAT or "n" not in d:
            raise bad
        try:
            total = d.get("total")
            total = None if total is None else np.asarray(total, dtype=np.float64)
            if total is not None and (total.ndim != 1 or not np.isfinite(total).all()):
                raise ValueError("total")
            post = d.get("posterior")
            post = None if post is None else np.asarray(post, dtype=np.float64)
            if post is not None and (post.ndim != 1 or not np.isfinite(post).all() or (post < 0).any()):
                raise ValueError("posterior")
            spread = d.get("spread")
            spread = None if spread is None else np.asarray(spread, dtype=np.float64)
            if spread is not None and (spread.ndim != 2 or spread.shape[0] != 2 or not np.isfinite(spread).all()):
                raise ValueError("spread")
            pending = [_pending_item(item) for item in d.get("pending") or []]
            return cls(n=float(d["n"]), total=total, seconds=float(d.get("seconds", 0.0)),
                       name=str(d.get("name", "")), digest=str(d.get("digest", "")), clips=int(d.get("clips", 0)),
                       meta=dict(d.get("meta", {})), posterior=post, enrolled=bool(d.get("enrolled", False)),
                       spread=spread, spread_n=float(d.get("spread_n", 0.0)), pending=pending)
        except (ValueError, TypeError, KeyError, AttributeError):
            raise bad from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> SpeakerProfile:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise SERError(f"the speaker profile is not valid JSON: {exc}") from None

    def save(self, path: str | Path) -> Path:
        """Write atomically (temp file + rename)."""
        return write_text_atomic(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> SpeakerProfile:
        p = Path(path)
        if not p.is_file():
            raise SERError(f"speaker profile not found: {p}")
        return cls.from_json(p.read_text(encoding="utf-8"))





def _pending_item(d: dict[str, Any]) -> dict[str, Any]:
    """One held-back clip of a profile's JSON, checked (ValueError, KeyError or TypeError when malformed)."""
    c = np.asarray(d["contribution"], np.float64)
    w = float(d["weight"])
    if c.ndim != 1 or not np.isfinite(c).all() or not (np.isfinite(w) and w > 0):
        raise ValueError("pending")
    out: dict[str, Any] = {"contribution": c, "weight": w}
    for key in ("probs", "projection"):
        v = d.get(key)
        v = None if v is None else np.asarray(v, np.float64)
        if v is not None and (v.ndim != 1 or not np.isfinite(v).all()):
            raise ValueError(key)
        out[key] = v
    return out


def session_order(emotions: np.ndarray, *, order: str, rng: np.random.Generator) -> np.ndarray:
    """Indices ``[shape=(n,)]`` of one speaker's clips in session order.

    ``random``: a seeded shuffle. ``blocked``: grouped by emotion, the emotions in a seeded random
    order (a stretch of anger, then of sadness...: the sustained-mood case that running statistics
    must survive).
    """
    emotions = np.asarray(emotions)
    idx = np.arange(emotions.size)
    if order == "random":
        return rng.permutation(idx)
    if order == "blocked":
        groups = [rng.permutation(idx[emotions == e]) for e in rng.permutation(np.unique(emotions))]
        return np.concatenate(groups) if groups else idx
    raise ValueError(f"unknown order {order!r}: use random or blocked")


def step(x: np.ndarray, infer, prior: AdaptationPrior, profile: SpeakerProfile | None, *, update: bool = True,
         weight: float = 1.0, seconds: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """One clip through the running protocol: the one place adaptation happens.

    ``x [shape=(w, d)]``: the clip's window inputs; ``infer(x, plain, share) -> [shape=(w, k)]`` for model input
    ``x`` (adapted or not), the same windows' unadapted input ``plain`` (which a blend's gates judge) and the
    profile's :meth:`AdaptationPrior.share` (an adapted member's part of the answer; 0 unadapted):
    :func:`ser.models.feed`. Predicts with the profile of the *earlier* speech, then (``update``) adds the clip as
    ``weight`` clips and ``seconds``. Returns ``(adapted, unadapted)`` window probabilities (the same array without
    a profile).
    """
    x_plain = prior.normalise(x, None)
    probs = infer(prior.normalise(x, profile), x_plain, prior.share(profile))
    plain = probs if profile is None or profile.n <= 0 else infer(x_plain, x_plain, 0.0)
    if profile is not None and update:
        profile.update(prior.contribution(x, plain), weight=weight, seconds=seconds, probs=plain.mean(axis=0),
                       projection=prior.project(x), hold=0.0 if profile.enrolled else prior.lag)
    return probs, plain


def session_probs(clips: list[np.ndarray], infer, prior: AdaptationPrior, *,
                  weights: list[float] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run one speaker's clips in order through the running protocol (:func:`step`).

    ``clips``: model inputs ``[shape=(w_i, d)]`` per clip (its windows); ``infer(x, plain, share) -> [shape=(w, k)]``
    (see :func:`step`).
    Each clip is predicted with a profile of the *earlier* clips only, then added to it. Returns
    ``(adapted [shape=(n, k)], unadapted [shape=(n, k)], clips_before [shape=(n,)])``, the last counting the clips
    heard before each (those held back included).
    """
    profile = SpeakerProfile(digest=prior.digest)
    adapted, plain, before = [], [], []
    for i, x in enumerate(clips):
        before.append(profile.heard)
        a, p = step(x, infer, prior, profile, weight=weights[i] if weights else 1.0)
        adapted.append(a.mean(axis=0))
        plain.append(p.mean(axis=0))
    return np.asarray(adapted), np.asarray(plain), np.asarray(before)


def enrolled_profile(clips: list[np.ndarray], infer, prior: AdaptationPrior) -> SpeakerProfile:
    """A profile from enrolment clips (model inputs ``[shape=(w_i, d)]`` per clip)."""
    profile = SpeakerProfile(digest=prior.digest, enrolled=True)
    for x in clips:
        x_plain = prior.normalise(x, None)
        plain = infer(x_plain, x_plain, 0.0)
        profile.update(prior.contribution(x, plain), probs=plain.mean(axis=0), projection=prior.project(x))
    return profile


__all__ = ["DEFAULT_LAG", "DEFAULT_MIN_CLIPS", "DEFAULT_MIX_CLIPS", "DEFAULT_MIX_SHRINK", "DEFAULT_MOOD", "DEFAULT_TAU", "DEFAULT_TRAIN_TAU", "PRIOR_FILE", "AdaptationPrior", "SpeakerProfile", "enrolled_profile", "fit_prior",
           "session_order", "session_probs", "speaker_normalised", "step"]
