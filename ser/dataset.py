"""From a manifest to cached frame features: speaker splits, augmentation, parallel extraction.

No Keras here, so worker processes start fast. Augmented copies of a clip are made from that clip
only and stay in its split (only the training split is augmented).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd

from . import audio, hum
from .errors import TrainingError
from .features import FeatureCache, FeatureConfig, clip_windows, config_parts, file_digest, join_parts
from .workers import die_with_parent

# -- speaker-independent splits ----------------------------------------------------------------


def _balanced_order(speakers: pd.DataFrame, seed: int) -> list[str]:
    """Speakers shuffled with ``seed`` and interleaved by gender (f, m, f, m, ...)."""
    rng = np.random.default_rng(seed)
    groups = [list(rng.permutation(sorted(g["speaker"].unique()))) for _, g in speakers.groupby("gender")]
    out: list[str] = []
    while any(groups):
        for g in groups:
            if g:
                out.append(str(g.pop(0)))
    return out


@dataclass(frozen=True)
class Split:
    """Speakers per split. No speaker is in two splits."""

    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]

    def __post_init__(self) -> None:
        a, b, c = set(self.train), set(self.val), set(self.test)
        if a & b or a & c or b & c:
            raise TrainingError(f"a speaker is in two splits: {sorted((a & b) | (a & c) | (b & c))}")

    def to_dict(self) -> dict[str, list[str]]:
        return {"train": list(self.train), "val": list(self.val), "test": list(self.test)}


def primary_corpus(manifest: pd.DataFrame) -> str:
    """The corpus test speakers are drawn from: RAVDESS if present, else the largest."""
    corpora = manifest["corpus"].value_counts()
    return "ravdess" if "ravdess" in corpora.index else str(corpora.index[0])


def speaker_split(
    manifest: pd.DataFrame,
    *,
    test: Sequence[str] | None = None,
    val: Sequence[str] | None = None,
    n_test: int = 4,
    n_val: int = 2,
    seed: int = 0,
) -> Split:
    """Hold out whole speakers: ``test``/``val`` given explicitly, else drawn gender-balanced from
    the primary corpus. Every other speaker (all of any other corpus) trains. ``n_test=0`` (after
    K-fold) or ``n_val=0`` (fixed epochs, no early stopping) leave that split empty."""
    all_speakers = set(manifest["speaker"])
    prim = manifest[manifest["corpus"] == primary_corpus(manifest)][["speaker", "gender"]].drop_duplicates()
    order = _balanced_order(prim, seed)
    for name, given in (("test", test), ("val", val)):
        unknown = set(given or ()) - all_speakers
        if unknown:
            raise TrainingError(f"{name} speakers not in the data: {', '.join(sorted(unknown))}")
    test_s = list(test) if test else [s for s in order if s not in set(val or ())][:n_test]
    val_s = list(val) if val else [s for s in order if s not in set(test_s)][:n_val]
    train_s = sorted(all_speakers - set(test_s) - set(val_s))
    if not train_s or (n_test and not test_s) or (n_val and not val_s):
        need = 1 + (n_test > 0) + (n_val > 0)
        raise TrainingError(
            f"need at least {need} speakers of {primary_corpus(manifest)} for train/val/test; got {len(all_speakers)}"
        )
    return Split(tuple(sorted(train_s)), tuple(sorted(val_s)), tuple(sorted(test_s)))


def kfold_splits(manifest: pd.DataFrame, *, k: int, seed: int = 0, n_val: int = 2) -> list[Split]:
    """K folds over speakers, each corpus's speakers spread over the folds (gender-interleaved), so
    every fold tests new speakers of every corpus that has at least ``k`` of them; speakers of smaller
    corpora always train. Each fold's validation speakers come from the next fold's group."""
    groups = speaker_groups(manifest, k=k, seed=seed)
    prim = primary_corpus(manifest)
    n_prim = manifest.loc[manifest["corpus"] == prim, "speaker"].nunique()
    if k < 2 or k > n_prim // 2:
        raise TrainingError(f"--folds must be between 2 and {n_prim // 2} for {n_prim} speakers")
    by_fold = [sorted(s for s, g in groups.items() if g == f) for f in range(k)]
    splits = []
    for f in range(k):
        test = by_fold[f]
        val = by_fold[(f + 1) % k][:n_val]
        train = sorted(set(manifest["speaker"]) - set(test) - set(val))
        splits.append(Split(tuple(sorted(train)), tuple(sorted(val)), tuple(sorted(test))))
    return splits


def speaker_groups(manifest: pd.DataFrame, *, k: int, seed: int = 0) -> dict[str, int]:
    """Speaker → fold group ``0..k-1`` (-1: a corpus with fewer than ``k`` speakers, always trained on)."""
    out: dict[str, int] = {}
    for corpus in sorted(set(manifest["corpus"])):
        spk = manifest[manifest["corpus"] == corpus][["speaker", "gender"]].drop_duplicates()
        order = _balanced_order(spk, seed)
        for i, s in enumerate(order):
            out[s] = i % k if len(order) >= k else -1
    return out


# -- augmentation (audiomentations) --------------------------------------------------------------


def _augmenter(strength: float):
    from audiomentations import AddGaussianSNR, Compose, Gain, PitchShift, TimeStretch

    return Compose(
        [
            AddGaussianSNR(min_snr_db=max(5.0, 30.0 - 20.0 * strength), max_snr_db=40.0, p=0.6),
            PitchShift(min_semitones=-2.5 * strength, max_semitones=2.5 * strength, p=0.6,
                       method="signalsmith_stretch"),
            TimeStretch(min_rate=1 - 0.15 * strength, max_rate=1 + 0.15 * strength, p=0.5,
                        leave_length_unchanged=False, method="signalsmith_stretch"),
            Gain(min_gain_db=-6.0, max_gain_db=6.0, p=0.5),
        ]
    )


def augment(y: np.ndarray, *, sr: int, seed: int, strength: float = 1.0, channel_seed: int | None = None,
            others: Sequence[np.ndarray] | None = None, mic: bool = False, device: float = 0.0,
            talkers: tuple[int, int] = (6, 6), big_rooms: float = 0.0, mains: float = 0.0) -> np.ndarray:
    """One augmented copy of ``y [shape=(n,)]``: voice (pitch shift, time stretch, noise, gain) and,
    with ``channel_seed``, a recording channel (room, noise or babble of ``others``, a microphone's response
    unless ``mic`` is False, band limit, AGC, low-bitrate codec: :func:`ser.channels.random_channel`).
    Deterministic for given seeds."""
    import random

    random.seed(seed)
    np.random.seed(seed % (2**32))
    out = _augmenter(strength)(samples=y, sample_rate=sr)
    if channel_seed is not None:
        from .channels import random_channel

        out, _ = random_channel(out.astype(np.float32), sr=sr, rng=np.random.default_rng(channel_seed),
                                others=list(others) if others else None, mic=mic, device=device, talkers=talkers,
                                big_rooms=big_rooms, mains=mains)
    return _below_full_scale(out)


#: Range of a voice copy's formant ratio (vocal tract 13 % longer to 15 % shorter) and of its F0 shift (semitones).
VOICE_FORMANT_RATIO = (0.87, 1.15)
VOICE_PITCH_SEMITONES = (-3.0, 3.0)


def change_voice(y: np.ndarray, *, sr: int, formant_ratio: float, pitch_factor: float) -> np.ndarray:
    """``y [shape=(n,)]`` as another voice: its spectral envelope (formants) stretched along frequency by
    ``formant_ratio`` (> 1: a shorter vocal tract) and its F0 multiplied by ``pitch_factor``, each independently of the
    other, through the WORLD vocoder (``pyworld``: F0 by DIO + StoneMask, envelope by CheapTrick, aperiodicity by
    D4C, 5 ms frames). Timing and loudness (RMS) are kept. Returns float32 ``[shape=(n,)]``."""
    import pyworld

    x = np.ascontiguousarray(y, dtype=np.float64)
    if x.size < sr // 10 or not np.any(x):
        return y.astype(np.float32)
    f0, sp, ap = _world_analysis(x, sr)
    bins = np.arange(sp.shape[1], dtype=np.float64)
    src = np.clip(bins / formant_ratio, 0.0, bins[-1])  # the new envelope at f is the old one at f / ratio
    i0 = np.minimum(src.astype(np.int64), sp.shape[1] - 2)
    frac = src - i0

    def warp(a: np.ndarray) -> np.ndarray:  # every frame of a [shape=(f, bins)] map, read at the source bins
        return np.ascontiguousarray(a[:, i0] * (1.0 - frac) + a[:, i0 + 1] * frac)

    out = pyworld.synthesize(f0 * pitch_factor, warp(sp), np.clip(warp(ap), 0.0, 1.0), sr, 5.0)
    out = np.pad(out, (0, max(0, x.size - out.size)))[: x.size]
    rms_in, rms_out = float(np.sqrt(np.mean(x**2))), float(np.sqrt(np.mean(out**2)))
    return (out * (rms_in / rms_out) if rms_out > 0 else out).astype(np.float32)


#: The last clip :func:`_world_analysis` analysed (its SHA-1 and rate) and the analysis: a clip's voice copies are
#: extracted one after the other in one worker (:meth:`ser.train._FeatureStore._copies`), so the second one reuses it.
_LAST_ANALYSIS: tuple[str, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None


def _world_analysis(x: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """WORLD analysis of ``x [shape=(n,)]`` float64: F0 ``[shape=(f,)]`` (DIO + StoneMask, 60-600 Hz), spectral
    envelope and aperiodicity ``[shape=(f, bins)]`` (CheapTrick, D4C), 5 ms frames; the last clip's is kept."""
    global _LAST_ANALYSIS
    import pyworld

    key = f"{sr}-" + hashlib.sha1(x.tobytes()).hexdigest()
    if _LAST_ANALYSIS is not None and _LAST_ANALYSIS[0] == key:
        return _LAST_ANALYSIS[1]
    f0, t = pyworld.dio(x, sr, f0_floor=60.0, f0_ceil=600.0, frame_period=5.0)
    f0 = pyworld.stonemask(x, f0, t, sr)
    out = (f0, pyworld.cheaptrick(x, f0, t, sr), pyworld.d4c(x, f0, t, sr))
    _LAST_ANALYSIS = (key, out)
    return out


def can_change_voice() -> bool:
    """Whether :func:`change_voice` can run here: ``pyworld`` (a training-only dependency, built from source) imports."""
    import importlib.util

    return importlib.util.find_spec("pyworld") is not None


def voice_draw(rng: np.random.Generator) -> tuple[float, float]:
    """A virtual speaker: ``(formant_ratio, pitch_factor)`` drawn log-uniformly from :data:`VOICE_FORMANT_RATIO` and
    :data:`VOICE_PITCH_SEMITONES`."""
    lo, hi = np.log(VOICE_FORMANT_RATIO)
    ratio = float(np.exp(rng.uniform(lo, hi)))
    return ratio, float(2.0 ** (rng.uniform(*VOICE_PITCH_SEMITONES) / 12.0))


def _below_full_scale(y: np.ndarray) -> np.ndarray:
    """``y`` as float32, scaled to a peak of 0.99 if it exceeds full scale (a copy must fit a sound file's range)."""
    peak = float(np.abs(y).max()) if y.size else 0.0
    return (y / peak * 0.99 if peak > 1.0 else y).astype(np.float32)


# -- feature extraction with cache ----------------------------------------------------------------


#: SNR range (dB) of the babble copies (``Job.babble_only``).
BABBLE_SNR_DB = (5.0, 20.0)


@dataclass(frozen=True)
class Job:
    path: str
    aug: int  # 0 = original; k >= 1 = k-th augmented copy
    seed: int
    strength: float
    channel: str = ""  # the recording session (speaker + copy): one channel chain per session; "" = none
    babble: tuple[str, ...] = ()  # clips of other speakers (same fold group) to mix as babble
    narrow: bool = False  # then through a random narrowband line (ser.channels.narrowband), seeded per clip
    babble_only: bool = False  # the clip itself plus the babble of ``babble`` at a seeded SNR of 5-20 dB
    mic: bool = False  # with ``channel``: the chain includes a random microphone response (ser.channels.microphone)
    device: float = 0.0  # with ``channel``: probability that the chain is a whole device (room + noise + AGC + codec)
    talkers: tuple[int, int] = (6, 6)  # with ``channel``: range of the babble's number of voices
    mic_only: bool = False  # the clip itself through the random microphone of session ``channel`` (ser.channels.microphone)
    big_rooms: float = 0.0  # with ``channel``: probability that the chain's room is a large one (rt60 0.8-1.6 s)
    narrow_bands: bool = False  # with ``narrow``: half the lines narrower (upper edge 2.4-3.4 kHz; training's default)
    mic_chain: float = 0.0  # with ``mic_only``: probability that the session's microphone also feeds a recording channel
    mic_clip: float = 0.0  # with ``mic_only``: probability that the session's input gain is set too high (clipping)
    mains: float = 0.0  # with ``channel``: probability of mains hum in the chain (ser.channels.hum)
    voice_only: bool = False  # the clip itself as the virtual speaker of session ``channel`` (change_voice, voice_draw)


#: Probability of a whole device (room + noise + AGC + codec) among the chains behind microphone copies.
MIC_CHAIN_DEVICE = 0.5
#: Range of the share (%) of a clip's samples clipped in a microphone copy's clipping session.
MIC_CLIP_PERCENT = (1.0, 35.0)


def _session_draw(job: Job, key: str, p: float) -> bool:
    """One draw per microphone session (speaker + copy) with probability ``p``, from a generator of its own (``key``)."""
    return job.mic_only and p > 0.0 and bool(np.random.default_rng(_seed(f"{job.channel}-{key}-{job.seed}")).random() < p)


def mic_chain_fires(job: Job) -> bool:
    """Whether the microphone copy ``job`` (``mic_only``) also passes its session's recording channel: drawn once per
    session (speaker + copy) with probability ``job.mic_chain``, so one person's clips on one device share it."""
    return _session_draw(job, "micch", job.mic_chain)


def mic_clip_fires(job: Job) -> bool:
    """Whether the microphone copy ``job`` (``mic_only``) is clipped: drawn once per session (speaker + copy) with
    probability ``job.mic_clip`` (a device whose input gain is set too high), independently of its chain."""
    return _session_draw(job, "miccl", job.mic_clip)


def _tag(job: Job) -> str:
    tag = ""
    if job.aug:
        tag = f"aug{job.aug}-s{job.seed}-x{job.strength:g}"
        if job.channel:
            key = "|".join((job.channel, *job.babble))
            tag += "-ch" + hashlib.sha1(key.encode()).hexdigest()[:10]
            tag += f"-dev{job.device:g}" if job.device else ""  # chains without it keep their cache entries
            tag += f"-tk{job.talkers[0]}-{job.talkers[1]}" if tuple(job.talkers) != (6, 6) else ""
            tag += f"-br{job.big_rooms:g}" if job.big_rooms else ""
            tag += f"-hum{job.mains:g}" if job.mains else ""
            tag += "-mic2" if job.mic else ""  # chains without the microphone stage keep their old cache entries (mic1: a
            # draft whose microphone shared the chain's draws, never shipped)
    if job.babble_only:
        tag += ("-" if tag else "") + f"bab1-s{job.seed}-" + hashlib.sha1("|".join(job.babble).encode()).hexdigest()[:10]
    if job.narrow:
        tag += ("-" if tag else "") + (f"nb2-s{job.seed}" if job.narrow_bands else f"nb1-s{job.seed}")
    if job.mic_only:
        tag += ("-" if tag else "") + f"mico1-s{job.seed}-" + hashlib.sha1(job.channel.encode()).hexdigest()[:10]
        if mic_chain_fires(job):  # copies whose session has no chain keep their cache entries
            tag += "-mch1-" + hashlib.sha1("|".join(job.babble).encode()).hexdigest()[:10]
        if mic_clip_fires(job):
            tag += "-mcl1"
    if job.voice_only:
        tag += ("-" if tag else "") + f"voice1-s{job.seed}-" + hashlib.sha1(job.channel.encode()).hexdigest()[:10]
    return tag


def _seed(key: str) -> int:
    """A 32-bit seed from the text ``key`` (the first 8 hex digits of its SHA-1): the same key, the same draw."""
    return int(hashlib.sha1(key.encode()).hexdigest()[:8], 16)


def _augmented(job: Job, content: str, sr: int) -> np.ndarray:
    """The augmented copy ``job.aug`` (>= 1) of ``job``'s clip, ``[shape=(n,)]`` float32 at ``sr``: voice and, with
    ``job.channel``, the session's recording channel (:func:`augment`); a copy of :func:`_augmented_kept`'s array. An
    augmented copy and its narrowband version (``Job.narrow``, the same job otherwise) are the same signal up to the
    narrowband line, and :func:`extract_all` hands a clip's jobs to one worker one after the other, so the second
    reuses the first's (about 60 % of a narrowband copy's work: the voice and channel stages, the babble voices)."""
    return _augmented_kept(dataclasses.replace(job, narrow=False, narrow_bands=False), content, sr).copy()


@functools.lru_cache(maxsize=4)
def _augmented_kept(job: Job, content: str, sr: int) -> np.ndarray:
    """:func:`_augmented` of a job without its narrowband stage, the last few kept in this process (do not write)."""
    seed = _seed(f"{content}-{job.aug}-{job.seed}")
    channel_seed = None
    if job.channel:  # the chain is the session's; the noise differs per clip
        channel_seed = _seed(f"{job.channel}-{job.aug}-{job.seed}")
    others = [audio.load(p, sr=sr) for p in job.babble]
    return augment(audio.load(job.path, sr=sr), sr=sr, seed=seed, strength=job.strength, channel_seed=channel_seed,
                   others=others, mic=job.mic, device=job.device, talkers=tuple(job.talkers),
                   big_rooms=job.big_rooms, mains=job.mains)


def _work(job: Job, cfg: FeatureConfig, cache_root: str | None, use_cache: bool,
          content: str | None = None) -> list[np.ndarray]:
    """Extract one job's frames and store them in the cache (the caller has already looked there)."""
    cache = FeatureCache(cache_root, enabled=use_cache)
    content = content or file_digest(job.path)
    y = _augmented(job, content, cfg.sample_rate) if job.aug else audio.load(job.path, sr=cfg.sample_rate)
    if job.babble_only and job.babble:
        from .channels import add_babble

        rng = np.random.default_rng(_seed(f"{content}-bab-{job.seed}"))
        others = [audio.load(p, sr=cfg.sample_rate) for p in job.babble]
        y = add_babble(y, snr_db=float(rng.uniform(*BABBLE_SNR_DB)), others=others, seed=int(rng.integers(2**31)),
                       sr=cfg.sample_rate)
    if job.mic_only:
        from .channels import microphone

        # one microphone per session (speaker + copy), as a person records every clip through the same device
        rng = np.random.default_rng(_seed(f"{job.channel}-mic-{job.seed}"))
        y, _ = microphone(y, sr=cfg.sample_rate, rng=rng)
        if mic_chain_fires(job):  # ... then the session's room, noise, AGC and codec (a laptop's tinny microphone)
            from .channels import random_channel

            others = [audio.load(p, sr=cfg.sample_rate) for p in job.babble]
            y, _ = random_channel(y, sr=cfg.sample_rate, rng=np.random.default_rng(_seed(f"{job.channel}-micrc-{job.seed}")),
                                  others=others or None, device=MIC_CHAIN_DEVICE)
            y = _below_full_scale(y)
        if mic_clip_fires(job):  # ... and an input gain set too high: the loudest samples stuck at the rails
            from .channels import clipping

            rng = np.random.default_rng(_seed(f"{content}-miccl-{job.channel}-{job.seed}"))
            y = clipping(y, percent=float(rng.uniform(*MIC_CLIP_PERCENT)))
    if job.voice_only:  # one virtual speaker per session (speaker + copy): the same vocal tract and F0 scale in every clip
        ratio, factor = voice_draw(np.random.default_rng(_seed(f"{job.channel}-voice-{job.seed}")))
        y = _below_full_scale(change_voice(y, sr=cfg.sample_rate, formant_ratio=ratio, pitch_factor=factor))
    if job.narrow:
        from .channels import narrowband

        seed = _seed(f"{content}-nb-{job.aug}-{job.seed}")
        y, _ = narrowband(y, sr=cfg.sample_rate, rng=np.random.default_rng(seed), bands=job.narrow_bands)
    tag = _tag(job)
    parts = config_parts(cfg)
    if len(parts) == 1:
        frames, _ = clip_windows(y, cfg)
        cache.put(content, cfg, tag, frames)
        return frames
    # the hum is searched once for the parts that are not cached (clean() would search once per part)
    found = hum.find_hum(audio.remove_dc(y) if cfg.remove_dc else y, sr=cfg.sample_rate) if cfg.remove_hum else None
    got = []
    for part, have in zip(parts, cache.get_parts(content, cfg, tag), strict=True):
        if have is None:  # only the parts the cache lacks (a block added to a config computes that block only)
            have, _ = clip_windows(y, part, found=found)
            cache.put_part(content, part, tag, have)
        got.append(have)
    return join_parts(cfg, parts, got)


def _work_group(args: list[tuple]) -> list[list[np.ndarray]]:
    """Run :func:`_work` on each argument tuple of one clip's jobs, in order (one task of a worker)."""
    return [_work(*a) for a in args]


def extract_all(
    jobs: Sequence[Job],
    cfg: FeatureConfig,
    *,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    workers: int | None = None,
    desc: str = "features",
    keep: Callable[[int, list[np.ndarray]], list[np.ndarray]] | None = None,
) -> list[list[np.ndarray]]:
    """Frame features for every job (list of per-window ``[shape=(t, d)]`` arrays per job), in order.

    Cached jobs are read in this process; only the misses go to ``workers`` processes (default: CPU
    count), so a fully cached run starts no worker at all. Shows a tqdm bar. ``keep(i, frames)``, when given, is
    what is kept of job ``i``'s frames, applied as each job arrives (a training run of a window-stats model keeps
    each copy's stats rows, not its frames: a tenth of the memory).
    """
    from tqdm.auto import tqdm

    root = str(cache_dir) if cache_dir else None
    out: list[list[np.ndarray] | None] = [None] * len(jobs)
    misses: list[tuple[int, tuple]] = []
    with tqdm(total=len(jobs), desc=desc, unit="clip", mininterval=2) as bar:
        cache = FeatureCache(root, enabled=use_cache)
        digests: dict[str, str] = {}  # a clip's many jobs hash its file once
        for i, job in enumerate(jobs):
            if use_cache and job.path not in digests:
                digests[job.path] = file_digest(job.path)
            content = digests.get(job.path)
            hit = cache.get(content, cfg, _tag(job)) if content else None
            if hit is None:
                misses.append((i, (job, cfg, root, use_cache, content)))
            else:
                out[i] = keep(i, hit) if keep else hit
                bar.update()
        # a clip's jobs go to one worker, one after the other: a narrowband copy reuses its augmented copy's signal
        # (_augmented), a clip's second voice copy the first's vocoder analysis (_world_analysis)
        by_clip: dict[str, list[tuple[int, tuple]]] = {}
        for miss in misses:
            by_clip.setdefault(miss[1][0].path, []).append(miss)
        groups = list(by_clip.values())
        n_workers = min(workers or os.cpu_count() or 1, len(groups))
        pool = None
        if n_workers <= 1 or len(misses) < 8:
            results = ([_work(*a) for _, a in group] for group in groups)
        else:
            pool = ProcessPoolExecutor(n_workers, mp_context=get_context("spawn"), initializer=die_with_parent,
                                       initargs=(os.getpid(),))
            results = pool.map(_work_group, [[a for _, a in group] for group in groups])
        try:
            for group, got in zip(groups, results, strict=True):
                for (i, _), frames in zip(group, got, strict=True):
                    out[i] = keep(i, frames) if keep else frames
                bar.update(len(group))
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
    return out  # type: ignore[return-value]
