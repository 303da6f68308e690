"""Features on generated signals: shapes, determinism, config round-trip, cache."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from support import speechlike

from ser import features as F


def test_extract_shapes_and_blocks():
    cfg = F.FeatureConfig()
    y = speechlike(2.0)
    fr = F.extract(y, cfg)
    assert fr.dtype == np.float32 and fr.shape[1] == cfg.n_features
    assert abs(fr.shape[0] - (1 + y.size // cfg.hop_length)) <= 1
    assert np.isfinite(fr).all()
    chroma = fr[:, cfg.block_slice("chroma")]
    assert chroma.shape[1] == 12 and chroma.max() <= 1.0 + 1e-6
    assert np.array_equal(fr, F.extract(y, cfg))


def test_config_roundtrip_and_validation():
    cfg = F.FeatureConfig(n_mfcc=13, blocks=("mel", "mfcc"))
    assert cfg.blocks == ("mfcc", "mel")
    assert F.FeatureConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.digest() != F.FeatureConfig().digest()
    with pytest.raises(ValueError):
        F.FeatureConfig(blocks=("mfcc", "wavelets"))
    with pytest.raises(ValueError):
        F.FeatureConfig.from_dict({"n_mfcc": 13, "bogus": 1})
    with pytest.raises(ValueError, match="level_db"):
        F.FeatureConfig(level_db=None)  # the level block records what level_db removed


def test_old_config_has_no_level_normalisation():
    """A bundle written before level normalisation: raw level, no level block, stats of every feature."""
    new = F.FeatureConfig()
    old = {k: v for k, v in new.to_dict().items() if k != "level_db"}
    old["blocks"] = [b for b in old["blocks"] if b != "level"]
    cfg = F.FeatureConfig.from_dict(old)
    assert cfg.level_db is None and "level" not in cfg.blocks
    n_voice = cfg.block_sizes["voice"]  # the voice block contributes its means only
    assert cfg.n_stats == len(cfg.functionals) * (cfg.n_features - n_voice) + n_voice == F.input_shape(cfg, "stats")[0]
    assert cfg.digest() != new.digest()
    minimal = F.FeatureConfig.from_dict({"n_mfcc": 20})  # the oldest bundles: four functionals, no level
    assert minimal.level_db is None and "level" not in minimal.blocks and minimal.functionals == F.BASIC_FUNCTIONALS
    y = speechlike(2.0)
    quiet, loud = F.extract(0.05 * y, cfg), F.extract(0.5 * y, cfg)  # the raw level reaches the features ...
    assert abs(float(np.mean(loud[:, cfg.block_slice("energy")] - quiet[:, cfg.block_slice("energy")])) - 20) < 0.5
    quiet, loud = F.extract(0.05 * y, new), F.extract(0.5 * y, new)  # ... the new config removes it
    assert np.allclose(quiet[:, new.block_slice("energy")], loud[:, new.block_slice("energy")], atol=1e-3)
    assert float(np.mean(loud[:, new.block_slice("level")] - quiet[:, new.block_slice("level")])) == pytest.approx(20, abs=0.01)


def test_trim_removes_silence():
    cfg = F.FeatureConfig()
    y = np.concatenate([np.zeros(16000, np.float32), speechlike(1.0), np.zeros(8000, np.float32)])
    start, end = F.trim_bounds(y, cfg)
    assert 15000 < start <= 16000 and 32000 <= end < 33500


def test_a_dc_offset_changes_nothing_the_model_sees():
    """``remove_dc`` (the default): a constant offset is no sound. Before it, an offset as loud as the speech filled
    the silence around it with power, so nothing was trimmed and the level and every block moved; now the windows,
    their spans and the model input are those of the clean clip. Bundles written before read as off (their digest)."""
    new, old = F.FeatureConfig(remove_hum=False), F.FeatureConfig(remove_dc=False, remove_hum=False)
    assert new.remove_dc and new.digest() != old.digest()
    assert F.FeatureConfig.from_dict({k: v for k, v in new.to_dict().items() if k != "remove_dc"}) == old
    assert F.remove_dc(np.zeros(0, np.float32)).size == 0
    silence = np.zeros(8000, np.float32)
    clean = np.concatenate([silence, 0.1 * speechlike(5.0), silence])
    shifted = clean + np.float32(0.05)
    assert F.remove_dc(shifted).dtype == np.float32 and abs(float(F.remove_dc(shifted).mean())) < 1e-6
    frames, spans = F.clip_windows(clean, new)
    frames_dc, spans_dc = F.clip_windows(shifted, new)
    assert len(frames) >= 2 and spans_dc == spans and spans[0][0] >= 0.45  # trimmed as the clean clip
    x, x_dc = F.model_input(frames, new, "stats"), F.model_input(frames_dc, new, "stats")
    voice = np.asarray(new.stats_columns("voice"))  # int8 encoder: one quantisation step may flip (test_adapt)
    rest = np.setdiff1d(np.arange(new.n_stats), voice)
    # float32 rounding of the offset's removal moves a few higher moments (kurtosis) by about 0.1 %
    np.testing.assert_allclose(x_dc[:, rest], x[:, rest], rtol=2e-3, atol=2e-3)
    np.testing.assert_allclose(x_dc[:, voice], x[:, voice], rtol=1e-4, atol=1e-2)
    frames_old, spans_old = F.clip_windows(shifted, old)  # the old rule: the offset kept the silence
    assert spans_old[0][0] == 0.0 and spans_old[-1][1] == pytest.approx(shifted.size / 16000)
    stream = F.extract(shifted[8000:56000], new, trimmed=True)  # a long file's windows: extract removes it too
    np.testing.assert_allclose(stream[:, new.block_slice("mel")],
                               F.extract(clean[8000:56000], new, trimmed=True)[:, new.block_slice("mel")], atol=1e-2)


def test_trim_noise_drops_steady_noise_at_the_ends():
    """``trim_noise`` (the default): noise 20 dB below the speech sits within the 30 dB the peak rule keeps, so a
    noisy clip kept its noisy ends (half of a short clip); the rule trims them as well, gain-invariantly; clean clips
    trim as before; bundles written before it keep the peak rule (and their cache digests)."""
    cfg, tn = F.FeatureConfig(trim_noise=False), F.FeatureConfig()
    assert tn.trim_noise and cfg.digest() != tn.digest() and F.FeatureConfig.from_dict(tn.to_dict()) == tn
    assert F.FeatureConfig.from_dict({k: v for k, v in tn.to_dict().items() if k != "trim_noise"}) == cfg
    speech = speechlike(1.0)
    clean = np.concatenate([np.zeros(16000, np.float32), speech, np.zeros(8000, np.float32)])
    assert F.trim_bounds(clean, tn) == F.trim_bounds(clean, cfg)  # silent ends: the peak rule alone
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(clean.size).astype(np.float32) * 10 ** (-20 / 20) * np.sqrt(np.mean(speech**2))
    noisy = clean + noise
    start, end = F.trim_bounds(noisy, cfg)
    assert start < 1600 and end > clean.size - 1600  # the peak rule keeps (almost) all the noise
    start, end = F.trim_bounds(noisy, tn)
    assert 14500 < start <= 16500 and 31500 <= end < 34000  # the speech, give or take a frame or two
    for gain in (0.01, 10.0):  # relative to the clip's own noise and peak: the input gain changes nothing
        assert F.trim_bounds(gain * noisy, tn) == (start, end)
    speech_only = speech + noise[:speech.size]  # noise under the speech, no noisy ends: at most a faint syllable's tail
    assert F.trim_bounds(speech_only, tn)[1] - F.trim_bounds(speech_only, tn)[0] > 0.8 * speech.size
    t = np.arange(4000) / 16000  # a reverberant tail (60 dB in 0.5 s, from the speech's level) is no steady noise
    tail = 10 * noise[:4000] * np.exp(-t * np.log(1000) / 0.5)
    reverberant = np.concatenate([np.zeros(8000, np.float32), speech, tail.astype(np.float32)])
    assert F.trim_bounds(reverberant, tn) == F.trim_bounds(reverberant, cfg)  # the peak rule, as before
    assert not F.FeatureConfig(trim_db=None).trim_noise  # no trimming at all
    from ser.cli import build_parser

    assert build_parser().parse_args(["train", "--data", "x", "--out", "y"]).trim_noise
    assert not build_parser().parse_args(["train", "--data", "x", "--out", "y", "--no-trim-noise"]).trim_noise


def test_trim_noise_min_s_keeps_the_soft_ends_of_a_clip_cut_to_its_speech():
    """``trim_noise_min_s``: a clip cut to its speech (a corpus's tight clips, a stream's window) that starts and ends
    on 0.2 s of a steady, quiet voiced sound looks like steady noise at its ends, so ``trim_noise`` alone cut both
    away; lasting less than ``trim_noise_min_s`` they stay. A second of noise before and after the speech is trimmed
    as before, whatever the gain; the setting is in the cache digest only when set, and off without ``trim_noise``."""
    old, new = F.FeatureConfig(), F.FeatureConfig(trim_noise_min_s=0.3)
    assert old.trim_noise_min_s is None and old.digest() != new.digest()
    assert F.FeatureConfig.from_dict(new.to_dict()) == new
    assert F.FeatureConfig.from_dict({k: v for k, v in new.to_dict().items() if k != "trim_noise_min_s"}) == old
    speech = speechlike(1.0)
    t = np.arange(3200) / 16000
    soft = 0.02 * sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 8))  # ~20 dB below the speech, steady
    cut = np.concatenate([soft, speech, soft[::-1]]).astype(np.float32)
    start, end = F.trim_bounds(cut, old)
    assert start > 2000 and end < cut.size - 2000  # the soft ends taken for noise
    for gain in (0.01, 1.0, 10.0):
        assert F.trim_bounds(gain * cut, new) == (0, cut.size)
    noise = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1 * np.sqrt(np.mean(speech**2))
    noisy = np.concatenate([noise, speech + noise[:speech.size], noise[::-1]])
    assert F.trim_bounds(noisy, new) == F.trim_bounds(noisy, old)
    assert 14500 < F.trim_bounds(noisy, new)[0] <= 16500  # the noise before the speech still goes
    assert F.FeatureConfig(trim_noise=False, trim_noise_min_s=0.3).trim_noise_min_s is None
    with pytest.raises(ValueError, match="trim_noise_min_s"):
        F.FeatureConfig(trim_noise_min_s=-0.1)
    from ser.cli import build_parser

    parse = build_parser().parse_args
    assert parse(["train", "--data", "x", "--out", "y"]).trim_noise_min_s == 0  # off: measured, not shipped
    assert parse(["train", "--data", "x", "--out", "y", "--trim-noise-min-s", "0.3"]).trim_noise_min_s == 0.3


def test_trim_talker_drops_a_quieter_voice_at_the_ends():
    """``trim_talker_db``: another voice 20 dB below the talker before and after the speech starts and stops like
    speech (no steady noise), so both the peak rule and ``trim_noise`` keep it; the rule keeps the talker's speech and
    at most ``trim_talker_s`` on either side, whatever the input gain. Clips with silent ends trim as before; the
    setting is in the cache digest only when on, so bundles and caches written without it are unchanged."""
    off, on = F.FeatureConfig(), F.FeatureConfig(trim_talker_db=15.0)
    assert off.trim_talker_db is None and off.digest() != on.digest()
    assert F.FeatureConfig.from_dict(on.to_dict()) == on
    assert F.FeatureConfig.from_dict({k: v for k, v in on.to_dict().items() if not k.startswith("trim_talker")}) == off
    speech, other = speechlike(1.0), 0.1 * speechlike(0.8, f0=220.0, seed=1)
    quiet = 0.0005 * np.random.default_rng(2).standard_normal(3200).astype(np.float32)
    mix = np.concatenate([quiet, other, speech, other[::-1], quiet]).astype(np.float32)  # speech: samples 16000-32000
    start, end = F.trim_bounds(mix, off)
    assert start < 4000 and end > 44000  # the other voice is kept
    ext = int(on.trim_talker_s * 16000) + 512  # the rule's margin, and a trimming frame
    start, end = F.trim_bounds(mix, on)
    assert 16000 - ext <= start <= 16000 and 32000 - 1024 <= end <= 32000 + ext
    for gain in (0.01, 10.0):
        assert F.trim_bounds(gain * mix, on) == (start, end)
    clean = np.concatenate([np.zeros(16000, np.float32), speech, np.zeros(8000, np.float32)])
    assert F.trim_bounds(clean, on) == F.trim_bounds(clean, off)
    assert F.FeatureConfig(trim_db=None, trim_talker_db=15.0).trim_talker_db is None  # no trimming at all
    with pytest.raises(ValueError, match="trim_talker_db"):
        F.FeatureConfig(trim_talker_db=-3.0)
    from ser.cli import build_parser

    assert build_parser().parse_args(["train", "--data", "x", "--out", "y"]).trim_talker_db == 15  # the shipped recipe
    assert build_parser().parse_args(["train", "--data", "x", "--out", "y", "--trim-talker-db", "0"]).trim_talker_db == 0


def test_windows_and_model_inputs():
    cfg = F.FeatureConfig()
    frames, spans = F.clip_windows(speechlike(2.0), cfg)
    assert len(frames) == 1
    frames, spans = F.clip_windows(speechlike(10.0), cfg)
    assert len(frames) == 8 and spans[0][0] == 0.0 and spans[-1][1] == pytest.approx(10.0, abs=0.01)
    # stats: functionals of every frame feature but the voice and level blocks, the voice block's means, then
    # the window's input level once; sequences leave the level out
    n_voice = cfg.block_sizes["voice"]
    assert "level" in cfg.blocks and cfg.n_stats == len(cfg.functionals) * (cfg.n_features - 1 - n_voice) + n_voice + 1
    for kind, shape in [("stats", (8, cfg.n_stats)), ("sequence", (8, cfg.window_frames, cfg.n_features - 1)),
                        ("logmel", (8, cfg.window_frames, cfg.n_mels))]:
        assert F.model_input(frames, cfg, kind).shape == shape
        assert F.input_shape(cfg, kind) == shape[1:]
    x = F.model_input(frames, cfg, "stats")
    assert np.allclose(x[:, -1], [f[0, -1] for f in frames]) and np.all(x[:, -1] < 0)  # the level in dBFS
    plain = len(cfg.functionals) * cfg.n_plain
    assert np.array_equal(x[0, :plain], F.stats(frames[0][:, : cfg.n_plain], cfg.functionals))
    assert np.allclose(x[0, plain:-1], frames[0][:, cfg.block_slice("voice")].mean(axis=0))
    short = F.model_input([frames[0][:50]], cfg, "sequence")
    assert np.all(short[0, 50:] == 0) and np.any(short[0, :50] != 0)


def test_feature_cache_roundtrip(tmp_path):
    cfg = F.FeatureConfig()
    cache = F.FeatureCache(tmp_path)
    frames = [np.ones((5, 3), np.float32), np.zeros((2, 3), np.float32)]
    assert cache.get("abc123", cfg) is None
    cache.put("abc123", cfg, "", frames)
    got = cache.get("abc123", cfg)
    assert [g.shape for g in got] == [(5, 3), (2, 3)] and cache.hits == 1
    assert cache.get("abc123", cfg, "aug1") is None
    assert not list(tmp_path.rglob("*.tmp"))


def _write_clips(folder, seconds: list[float], sr: int) -> list[str]:
    """Speech-like WAV clips ``clip{i}.wav`` in ``folder``, one per entry of ``seconds`` (its length), seeded by i."""
    import soundfile as sf

    paths = []
    for i, secs in enumerate(seconds):
        p = folder / f"clip{i}.wav"
        sf.write(p, speechlike(seconds=secs, seed=i), sr)
        paths.append(str(p))
    return paths


def test_extract_all_reads_hits_in_process_and_sends_only_misses_to_workers(tmp_path, monkeypatch):

    from ser import dataset

    cfg = F.FeatureConfig()
    paths = _write_clips(tmp_path, [1.0] * 10, cfg.sample_rate)
    jobs = [dataset.Job(p, 0, 0, 1.0) for p in paths]
    cache = tmp_path / "cache"
    first = dataset.extract_all(jobs[:2], cfg, cache_dir=cache, workers=1)  # two cached, eight not

    spawned = []

    class RecordingPool(dataset.ProcessPoolExecutor):
        def map(self, fn, items, **kw):
            items = list(items)
            spawned.append(len(items))
            return super().map(fn, items, **kw)

    monkeypatch.setattr(dataset, "ProcessPoolExecutor", RecordingPool)
    got = dataset.extract_all(jobs, cfg, cache_dir=cache, workers=2)
    assert spawned == [8]  # only the misses went to the workers
    assert all(np.array_equal(a, b) for a, b in zip(got[0], first[0], strict=True))
    assert [len(g) for g in got] == [1] * 10 and got[5][0].shape[1] == cfg.n_features
    again = dataset.extract_all(jobs, cfg, cache_dir=cache, workers=2)
    assert spawned == [8]  # everything cached now: no worker process at all
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(again, got, strict=True))


def test_extract_all_gives_a_clips_jobs_to_one_worker_and_a_narrowband_copy_reuses_its_augmented_copy(
        tmp_path, monkeypatch):
    """The jobs of one clip are one worker task, in their order; a narrowband copy of augmented copy k is made from the
    augmented signal the job of copy k made just before (the voice stage runs once), and equals one made from scratch."""

    from ser import dataset

    cfg = F.FeatureConfig()
    a, b = _write_clips(tmp_path, [1.0, 1.0], cfg.sample_rate)
    jobs = [dataset.Job(a, 1, 0, 1.0), dataset.Job(b, 1, 0, 1.0), dataset.Job(a, 0, 0, 1.0),
            dataset.Job(a, 1, 0, 1.0, narrow=True), dataset.Job(b, 1, 0, 1.0, narrow=True)]
    made = []
    real = dataset.augment
    monkeypatch.setattr(dataset, "augment", lambda y, **kw: made.append(kw["seed"]) or real(y, **kw))
    dataset._augmented_kept.cache_clear()
    got = dataset.extract_all(jobs, cfg, use_cache=False, workers=1)
    assert len(made) == 2  # once per clip and copy, not once per job
    dataset._augmented_kept.cache_clear()
    alone = dataset._work(jobs[3], cfg, None, False)  # the narrowband copy from scratch
    assert len(made) == 3
    assert all(np.array_equal(x, y) for x, y in zip(got[3], alone, strict=True))
    assert not np.array_equal(got[3][0], got[0][0])  # and the narrowband line did apply

    sent = []

    class RecordingPool(dataset.ProcessPoolExecutor):
        def map(self, fn, items, **kw):
            items = list(items)
            sent.extend(items)
            return super().map(fn, items, **kw)

    monkeypatch.setattr(dataset, "ProcessPoolExecutor", RecordingPool)
    pooled = dataset.extract_all(jobs * 2, cfg, use_cache=False, workers=2)  # 10 jobs: workers start
    assert [[args[0] for args in task] for task in sent] == [[jobs[0], jobs[2], jobs[3]] * 2, [jobs[1], jobs[4]] * 2]
    for x, y in zip(pooled, got * 2, strict=True):
        assert all(np.array_equal(u, v) for u, v in zip(x, y, strict=True))


def test_extract_all_keeps_what_keep_returns_of_hits_and_misses(tmp_path):
    """``keep(i, frames)`` reduces each job as it arrives, read from the cache or computed: a window kept as its stats
    row is the same model input as its frames."""

    from ser import dataset

    cfg = F.FeatureConfig()
    paths = _write_clips(tmp_path, [1.0, 2.0, 3.0], cfg.sample_rate)
    jobs = [dataset.Job(p, 0, 0, 1.0) for p in paths]
    cache = tmp_path / "cache"
    frames = dataset.extract_all(jobs[:1], cfg, cache_dir=cache, workers=1)  # clip 0 cached, 1 and 2 not
    seen = []

    def keep(i, fr):
        seen.append(i)
        return [F.window_stats(w, cfg) for w in fr] if i else fr

    got = dataset.extract_all(jobs, cfg, cache_dir=cache, workers=1, keep=keep)
    assert sorted(seen) == [0, 1, 2]
    assert all(np.array_equal(a, b) for a, b in zip(got[0], frames[0], strict=True))  # kept as it came
    assert all(w.shape == (cfg.n_stats,) for g in got[1:] for w in g)
    full = dataset.extract_all(jobs, cfg, cache_dir=cache, workers=1)
    for rows, fr in zip(got[1:], full[1:], strict=True):
        assert np.array_equal(F.model_input(rows, cfg, "stats"), F.model_input(fr, cfg, "stats"))
    mixed = [got[1][0], full[2][0]]  # rows and frames in one batch
    assert np.array_equal(F.model_input(mixed, cfg, "stats"), F.model_input([full[1][0], full[2][0]], cfg, "stats"))


@pytest.mark.parametrize("cfg", [F.FeatureConfig(blocks=("mfcc", "chroma", "mel"), level_db=None),
                                 F.FeatureConfig(n_mfcc=13, n_mels=40, blocks=("mfcc", "chroma", "mel"), level_db=None)])
def test_display_maps_are_extracts_blocks_from_one_stft(cfg):
    """The app's views and the model share one implementation: same numbers, bit for bit."""
    y = speechlike(1.5)
    fr = F.extract(y, cfg, trimmed=True)
    maps = F.display_maps(y, cfg)
    assert set(maps) == {"stft", "mel", "chroma", "mfcc"}
    assert all(m.dtype == np.float32 and m.shape[1] == fr.shape[0] for m in maps.values())
    np.testing.assert_array_equal(maps["stft"], F.spectrogram(F.remove_dc(y), cfg))  # what the model hears
    for block in ("mel", "chroma", "mfcc"):
        np.testing.assert_array_equal(maps[block], fr[:, cfg.block_slice(block)].T)
    again = F.display_maps(None, cfg, S=maps["stft"])  # a precomputed STFT gives the same maps
    assert all(np.array_equal(again[k], maps[k]) for k in maps)
    with pytest.raises(ValueError):
        F.display_maps(None, cfg)


def test_per_emotion_profiles():
    cfg = F.FeatureConfig(blocks=("mfcc", "contrast", "mel", "energy"), level_db=None)
    rng = np.random.default_rng(0)
    a, b = (rng.normal(size=(n, cfg.n_features)).astype(np.float32) for n in (5, 3))
    prof = F.per_emotion_profiles({"sad": [a, b], "angry": [b], "calm": [], "happy": [a[:0]]}, cfg)
    assert list(prof) == ["sad", "angry"]  # input order; emotions without frames left out
    assert list(prof["sad"]) == ["mel", "mfcc", "contrast"]  # PROFILE_BLOCKS order, the config's blocks only
    want = np.concatenate([a, b]).mean(axis=0)
    assert prof["sad"]["mel"] == [round(float(v), 4) for v in want[cfg.block_slice("mel")]]
    assert len(prof["angry"]["contrast"]) == 7
    assert list(F.per_emotion_profiles({"sad": [a]}, cfg, blocks=("mfcc",))["sad"]) == ["mfcc"]


def test_babble_narrowband_and_microphone_jobs_are_seeded_cached_copies(tmp_path, monkeypatch):
    """A babble copy (the clip in other speakers' babble), a narrowband copy and a microphone copy are copies of their
    own, with cache tags of their own, the same on every run, and different from the original's frames; a microphone
    copy's device is its session's (speaker + copy seed): every clip of that session goes through the same one."""
    import soundfile as sf

    from ser import dataset

    cfg = F.FeatureConfig()
    paths = []
    for i, f0 in enumerate((120.0, 210.0, 95.0)):
        p = tmp_path / f"clip{i}.wav"
        sf.write(p, speechlike(seconds=1.5, f0=f0, seed=i), cfg.sample_rate)
        paths.append(str(p))
    plain = dataset.Job(paths[0], 0, 0, 1.0)
    bab = dataset.Job(paths[0], 0, 0, 1.0, babble=tuple(paths[1:]), babble_only=True)
    nb = dataset.Job(paths[0], 0, 0, 1.0, narrow=True)
    mic = dataset.Job(paths[0], 0, 0, 1.0, channel="ravdess_01", mic_only=True)
    tags = {dataset._tag(j) for j in (plain, bab, nb, mic)}
    assert len(tags) == 4 and dataset._tag(plain) == ""
    assert dataset._tag(dataclasses.replace(mic, channel="ravdess_02")) != dataset._tag(mic)
    # a channel copy's tag says whether its chain had the microphone stage (the recipe before it keeps its cache)
    with_mic, without = (dataset.Job(paths[0], 1, 0, 1.0, channel="spk", mic=m) for m in (True, False))
    assert dataset._tag(with_mic) == dataset._tag(without) + "-mic2"
    device = dataset.Job(paths[0], 1, 0, 1.0, channel="spk", device=0.3)
    assert dataset._tag(device) == dataset._tag(without) + "-dev0.3"  # and device=0 keeps the old tag
    few = dataset.Job(paths[0], 1, 0, 1.0, channel="spk", talkers=(1, 6))
    assert dataset._tag(few) == dataset._tag(without) + "-tk1-6"
    big = dataset.Job(paths[0], 1, 0, 1.0, channel="spk", big_rooms=0.25)
    assert dataset._tag(big) == dataset._tag(without) + "-br0.25"  # and big_rooms=0 keeps the old tag
    narrower = dataclasses.replace(nb, narrow_bands=True)  # narrower lines are other copies, the old ones keep theirs
    assert dataset._tag(narrower) == dataset._tag(nb).replace("nb1-", "nb2-") != dataset._tag(nb)
    cache = tmp_path / "cache"
    first = dataset.extract_all([plain, bab, nb, mic], cfg, cache_dir=cache, workers=1)
    again = dataset.extract_all([plain, bab, nb, mic], cfg, cache_dir=tmp_path / "other", workers=1)
    for a, b in zip(first, again, strict=True):  # seeded: the same copy from scratch
        np.testing.assert_allclose(a[0], b[0], rtol=1e-5, atol=1e-5)
    assert all(not np.allclose(first[0][0], first[i][0]) for i in (1, 2, 3))
    # the session's microphone: the same draw for every clip of speaker + copy seed, another for another session
    from ser import channels

    drawn: list[str] = []
    real = channels.microphone

    def spy(y, *, sr, rng):
        out = real(y, sr=sr, rng=rng)
        drawn.append(out[1])  # the description of the microphone drawn
        return out

    monkeypatch.setattr(channels, "microphone", spy)
    for session, clip in (("a", 0), ("a", 1), ("a", 2), ("b", 0)):
        dataset._work(dataset.Job(paths[clip], 0, 0, 1.0, channel=session, mic_only=True), cfg, None, False)
    assert drawn[0] == drawn[1] == drawn[2] != drawn[3]


def test_stats_floor_keeps_the_talkers_loud_frames():
    """``stats_floor_db``: functionals over the frames within that many dB of the window's loud frames, so quiet
    noise that fills a noisy clip's ends no longer makes up half of its statistics; off by default."""
    cfg, floor = F.FeatureConfig(blocks=("mfcc", "energy", "level")), F.FeatureConfig(
        blocks=("mfcc", "energy", "level"), stats_floor_db=20.0)
    assert F.FeatureConfig().stats_floor_db is None and floor.digest() == cfg.digest()  # cached frames are shared
    assert F.FeatureConfig.from_dict(floor.to_dict()) == floor
    speech = speechlike(1.5)
    rng = np.random.default_rng(0)
    noise = (rng.standard_normal(16000) * 10 ** (-35 / 20) * np.sqrt(np.mean(speech**2))).astype(np.float32)
    y = np.concatenate([noise, speech + np.resize(noise, speech.size), noise])
    frames = F.extract(y, cfg, trimmed=True)  # as a noisy clip after trimming: noise at both ends
    e = frames[:, cfg.block_slice("energy")][:, 0]
    kept = F.loud_frames(frames, floor)
    assert len(kept) < 0.7 * len(frames) and kept[:, cfg.block_slice("energy")].min() >= np.percentile(e, 95) - 20
    assert np.array_equal(F.loud_frames(frames, cfg), frames)  # off: every frame
    x, x_floor = F.window_stats(frames, cfg), F.window_stats(frames, floor)
    clean = F.window_stats(F.extract(y[16000:-16000], cfg, trimmed=True), floor)  # the speech without the noisy ends
    mean = slice(0, cfg.n_plain)  # the first functional is the mean of each plain column
    assert np.abs(x_floor[mean] - clean[mean]).sum() < 0.5 * np.abs(x[mean] - clean[mean]).sum()
    assert x_floor[-1] == x[-1] == frames[0, -1]  # the input level is the window's, whichever frames count
    quiet = F.extract(0.01 * y, cfg, trimmed=True)  # relative to the window's own loud frames: gain-invariant
    assert np.allclose(F.window_stats(quiet, floor)[:-1], x_floor[:-1], atol=1e-3)
    few = frames[: F.MIN_LOUD_FRAMES]
    assert np.array_equal(F.loud_frames(few, floor), few)
    with pytest.raises(ValueError, match="stats_floor_db"):
        F.FeatureConfig(stats_floor_db=0.0)
    with pytest.raises(ValueError, match="stats_floor_db"):
        F.FeatureConfig(blocks=("mfcc",), stats_floor_db=20.0)
    from ser.cli import build_parser

    args = build_parser().parse_args(["train", "--data", "x", "--out", "y", "--stats-floor-db", "20"])
    assert args.stats_floor_db == 20.0
    assert build_parser().parse_args(["train", "--data", "x", "--out", "y"]).stats_floor_db is None


def test_centred_blocks_cancel_a_steady_colouring():
    """``centred_blocks``: a block's location functionals (mean, p1 ... p99) as offsets from its window mean, so a
    steady per-band gain (a microphone's or room's colouring) cancels; spread, shape and slope stay as they were;
    the cached frames are shared; old bundles centre nothing; ``ser train`` centres the mel block."""
    from scipy.signal import lfilter

    blocks = ("mfcc", "mel", "energy", "level")
    cfg, cen = F.FeatureConfig(blocks=blocks), F.FeatureConfig(blocks=blocks, centred_blocks=("mel", "prosody"))
    assert cen.centred_blocks == ("mel",) and cen.digest() == cfg.digest()  # not in blocks: left out; frames shared
    assert F.FeatureConfig.from_dict(cen.to_dict()) == cen
    old = cen.to_dict()
    del old["centred_blocks"]
    assert F.FeatureConfig.from_dict(old).centred_blocks == ()
    y = speechlike(2.0)
    frames = F.extract(y, cfg, trimmed=True)
    x, xc = F.window_stats(frames, cfg), F.window_stats(frames, cen)
    n, mel = cfg.n_plain, cfg.block_slice("mel")

    def cols(f: str, s: slice) -> np.ndarray:
        i = cfg.functionals.index(f) * n
        return np.arange(i + s.start, i + s.stop)

    mu = frames[:, mel].astype(np.float64).mean(axis=0)
    assert np.all(xc[cols("mean", mel)] == 0.0)
    for f in ("p1", "p50", "p99"):
        assert np.allclose(xc[cols(f, mel)], x[cols(f, mel)] - mu, atol=1e-4)
    other = np.setdiff1d(np.arange(cfg.n_stats), np.concatenate(
        [cols(f, mel) for f in F.LOCATION_FUNCTIONALS]))
    assert np.array_equal(xc[other], x[other])  # mfcc, energy, level and the mel block's spread and shape
    shifted = frames.copy()
    shifted[:, mel] += np.linspace(-3.0, 2.0, mel.stop - mel.start, dtype=np.float32)  # a fixed gain per band
    assert np.allclose(F.window_stats(shifted, cen)[cols("p90", mel)], xc[cols("p90", mel)], atol=1e-4)
    # a real colouring (a one-pole low-pass): the mel block's location moves far less once centred
    coloured = F.extract(lfilter([0.5], [1.0, -0.5], y).astype(np.float32), cfg, trimmed=True)
    loc = np.concatenate([cols(f, mel) for f in F.LOCATION_FUNCTIONALS])
    moved = np.abs(F.window_stats(coloured, cfg)[loc] - x[loc]).mean()
    assert np.abs(F.window_stats(coloured, cen)[loc] - xc[loc]).mean() < 0.5 * moved
    with pytest.raises(ValueError, match="centred_blocks must be plain"):
        F.FeatureConfig(centred_blocks=("voice",))
    with pytest.raises(ValueError, match="centred_blocks must be plain"):
        F.FeatureConfig(centred_blocks=("loudness",))
    from ser.cli import build_parser

    parse = build_parser().parse_args
    assert parse(["train", "--data", "x", "--out", "y"]).centre_blocks == "mel"  # the shipped recipe
    assert parse(["train", "--data", "x", "--out", "y", "--centre-blocks", ""]).centre_blocks == ""


def test_microphone_chains_fire_per_session_and_keep_other_sessions_cache(tmp_path, monkeypatch):
    """``mic_chain`` P: a share P of the microphone copies' sessions (speaker + copy seed) also pass a random recording
    channel after the microphone, every clip of a session alike; sessions without one keep the old cache tag."""
    import soundfile as sf

    from ser import channels, dataset

    sessions = [f"spk{i}" for i in range(200)]
    fires = [dataset.mic_chain_fires(dataset.Job("x", 0, 0, 1.0, channel=s, mic_only=True, mic_chain=0.5))
             for s in sessions]
    assert 70 < sum(fires) < 130  # about half
    assert not any(dataset.mic_chain_fires(dataset.Job("x", 0, 0, 1.0, channel=s, mic_only=True)) for s in sessions)
    on, off = sessions[fires.index(True)], sessions[fires.index(False)]
    for s, fired in ((on, True), (off, False)):
        plain = dataset.Job("x", 0, 0, 1.0, channel=s, mic_only=True)
        chained = dataclasses.replace(plain, mic_chain=0.5, babble=("o.wav",))
        assert (dataset._tag(chained) != dataset._tag(plain)) is fired
        assert dataset._tag(chained).startswith(dataset._tag(plain))

    cfg = F.FeatureConfig()
    paths = []
    for i, f0 in enumerate((120.0, 210.0)):
        p = tmp_path / f"clip{i}.wav"
        sf.write(p, speechlike(seconds=1.5, f0=f0, seed=i), cfg.sample_rate)
        paths.append(str(p))
    drawn: list[str] = []
    real = channels.random_channel

    def spy(y, **kw):
        out = real(y, **kw)
        drawn.append(out[1])  # the chain drawn
        return out

    monkeypatch.setattr(channels, "random_channel", spy)
    for clip in (0, 1):
        dataset._work(dataset.Job(paths[clip], 0, 0, 1.0, channel=on, mic_only=True, mic_chain=0.5), cfg, None, False)
    dataset._work(dataset.Job(paths[0], 0, 0, 1.0, channel=off, mic_only=True, mic_chain=0.5), cfg, None, False)
    assert len(drawn) == 2 and drawn[0] == drawn[1]  # the session's chain, for each of its clips; none for the other

    # --mic-clips: a share of the sessions clipped (a draw of its own), tagged so the others keep their cache entries
    clips = [dataset.mic_clip_fires(dataset.Job("x", 0, 0, 1.0, channel=s, mic_only=True, mic_clip=0.3))
             for s in sessions]
    assert 35 < sum(clips) < 85 and clips != fires[: len(clips)]
    hot = sessions[clips.index(True)]
    job = dataset.Job(paths[0], 0, 0, 1.0, channel=hot, mic_only=True, mic_clip=0.3)
    assert dataset._tag(job) == dataset._tag(dataclasses.replace(job, mic_clip=0.0)) + "-mcl1"
    y = dataset.audio.load(paths[0], sr=cfg.sample_rate)
    monkeypatch.setattr(dataset, "clip_windows", lambda z, c: ([z], None))  # the copy's samples, not its features
    (z,) = dataset._work(job, cfg, None, False)
    stuck = np.mean((z >= z.max() * 0.9999) | (z <= z.min() * 0.9999))
    assert 0.005 < stuck < 0.4 and z.shape == y.shape  # 1-35 % of the samples at the rails


def _vowel(f0: float, formants: tuple[float, ...], *, sr: int = 16_000, seconds: float = 1.0) -> np.ndarray:
    """A steady vowel ``[shape=(n,)]``: a pulse train at ``f0`` Hz through two-pole resonators at ``formants`` Hz."""
    from scipy.signal import lfilter

    y = np.zeros(int(seconds * sr))
    y[:: int(round(sr / f0))] = 1.0
    for f in formants:
        r, theta = np.exp(-np.pi * 80.0 / sr), 2 * np.pi * f / sr
        y = lfilter([1.0], [1.0, -2 * r * np.cos(theta), r * r], y)
    return (0.1 * y / np.abs(y).max()).astype(np.float32)


def _f0_and_first_formant(y: np.ndarray, sr: int = 16_000) -> tuple[float, float]:
    """F0 (autocorrelation peak in 60-400 Hz) and the first peak of a 12th-order LPC envelope above 250 Hz, of the
    middle half of ``y``."""
    import librosa
    from scipy.signal import freqz

    x = y[y.size // 4 : 3 * y.size // 4].astype(np.float64)
    ac = np.correlate(x, x, "full")[x.size - 1 :]
    lo, hi = sr // 400, sr // 60
    f0 = sr / (lo + int(np.argmax(ac[lo:hi])))
    w, h = freqz([1.0], librosa.lpc(x * np.hanning(x.size), order=12), worN=2048, fs=sr)
    env = np.abs(h)
    peaks = [i for i in range(1, env.size - 1) if env[i] > env[i - 1] and env[i] >= env[i + 1] and w[i] > 250]
    return f0, float(w[peaks[0]])


def test_change_voice_moves_formants_and_pitch_independently():
    """A voice copy (``dataset.change_voice``): the formant ratio moves the spectral envelope and leaves F0, the pitch
    factor moves F0 and leaves the envelope; length and loudness (RMS) are kept; a virtual speaker's draw is seeded."""
    pytest.importorskip("pyworld")
    from ser import dataset

    sr = 16_000
    y = _vowel(120.0, (700.0, 1800.0))
    f0, f1 = _f0_and_first_formant(y)
    assert f0 == pytest.approx(120.0, rel=0.03) and f1 == pytest.approx(700.0, rel=0.08)
    higher = dataset.change_voice(y, sr=sr, formant_ratio=1.15, pitch_factor=1.0)
    f0_h, f1_h = _f0_and_first_formant(higher)
    assert f0_h == pytest.approx(f0, rel=0.03) and f1_h / f1 == pytest.approx(1.15, abs=0.06)
    lower = dataset.change_voice(y, sr=sr, formant_ratio=0.87, pitch_factor=1.0)
    assert _f0_and_first_formant(lower)[1] / f1 == pytest.approx(0.87, abs=0.06)
    up = dataset.change_voice(y, sr=sr, formant_ratio=1.0, pitch_factor=2 ** (3 / 12))
    f0_u, f1_u = _f0_and_first_formant(up)
    assert f0_u / f0 == pytest.approx(2 ** (3 / 12), rel=0.03) and f1_u == pytest.approx(f1, rel=0.06)
    for out in (higher, lower, up):
        assert out.dtype == np.float32 and out.shape == y.shape
        assert np.sqrt(np.mean(out**2)) == pytest.approx(np.sqrt(np.mean(y**2)), rel=1e-3)
    assert dataset.voice_draw(np.random.default_rng(3)) == dataset.voice_draw(np.random.default_rng(3))
    draws = np.array([dataset.voice_draw(np.random.default_rng(s)) for s in range(200)])
    assert draws[:, 0].min() >= 0.87 and draws[:, 0].max() <= 1.15 and draws[:, 0].std() > 0.05
    assert draws[:, 1].min() >= 2 ** (-3 / 12) - 1e-9 and draws[:, 1].max() <= 2 ** (3 / 12) + 1e-9
    silent = np.zeros(sr, dtype=np.float32)  # nothing to analyse: returned as it is
    np.testing.assert_array_equal(dataset.change_voice(silent, sr=sr, formant_ratio=1.1, pitch_factor=1.1), silent)


def test_a_clips_voice_copies_share_one_vocoder_analysis(monkeypatch):
    """The feature store extracts a clip's voice copies one after the other (in one worker), and the second reuses the
    first's WORLD analysis: the same output as a fresh analysis, one analysis per clip."""
    pyworld = pytest.importorskip("pyworld")
    from ser import dataset

    calls = []
    real = pyworld.dio
    monkeypatch.setattr(pyworld, "dio", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(dataset, "_LAST_ANALYSIS", None)
    a, b = _vowel(120.0, (700.0, 1800.0)), _vowel(180.0, (500.0, 1500.0))
    first = dataset.change_voice(a, sr=16_000, formant_ratio=1.1, pitch_factor=0.9)
    second = dataset.change_voice(a, sr=16_000, formant_ratio=0.9, pitch_factor=1.1)
    assert len(calls) == 1 and not np.allclose(first, second)
    dataset.change_voice(b, sr=16_000, formant_ratio=0.9, pitch_factor=1.1)
    assert len(calls) == 2
    monkeypatch.setattr(dataset, "_LAST_ANALYSIS", None)
    np.testing.assert_array_equal(dataset.change_voice(a, sr=16_000, formant_ratio=0.9, pitch_factor=1.1), second)
    assert len(calls) == 3
