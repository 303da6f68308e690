"""Channel conditions (ser.channels): shapes, determinism, SNR, filters, compressor, codecs, registry."""

from __future__ import annotations

import dataclasses
import re
import time

import numpy as np
import pytest
import scipy.signal
from support import RAVDESS, requires_data, speechlike

from ser import channels as ch
from ser.errors import AudioError

SR = 16_000
CODECS = ch.available_codecs()


def _others() -> list[np.ndarray]:
    return [speechlike(1.3, f0=f0, seed=i + 1) for i, f0 in enumerate((105.0, 180.0, 230.0, 95.0))]


def _active_db(y: np.ndarray, sr: int = SR) -> float:
    """Active speech level, computed independently of the module: 20 ms frames within 40 dB of the top."""
    frame = int(0.02 * sr)
    p = np.mean(y[: y.size // frame * frame].astype(np.float64).reshape(-1, frame) ** 2, axis=1)
    return float(10 * np.log10(p[p >= p.max() * 1e-4].mean()))


def _band_energy(y: np.ndarray, lo: float, hi: float, sr: int = SR) -> float:
    spec = np.abs(np.fft.rfft(y.astype(np.float64))) ** 2
    f = np.fft.rfftfreq(y.size, 1 / sr)
    return float(spec[(f >= lo) & (f < hi)].sum())


def _needs(name: str) -> None:
    for codec in ("opus", "mp3"):
        if name.startswith(codec) and codec not in CODECS:
            pytest.skip(f"{codec} encoding is not available in this PyAV build")


@pytest.mark.parametrize("name", list(ch.CONDITIONS))
def test_every_condition_keeps_length_dtype_and_is_finite(name):
    _needs(name)
    y = speechlike(1.0)
    out = ch.apply(name, y, sr=SR, seed=3, others=_others())
    assert out.shape == y.shape and out.dtype == np.float32
    assert np.isfinite(out).all()
    assert np.any(out != 0)
    if name != "gain+20":  # the one condition documented to keep float headroom above 1
        assert np.abs(out).max() <= 1.0
    odd = speechlike(0.7311)  # odd length, not a multiple of any frame size
    assert ch.apply(name, odd, sr=SR, seed=3, others=_others()).shape == odd.shape


def test_dc_offset_and_hum_sit_where_they_say():
    """``dc_offset``: a constant whose power is ``db`` re the active speech; ``hum``: 50 Hz and harmonics ``snr_db``
    below it (nothing above 250 Hz but the speech)."""
    y = 0.1 * speechlike(2.0)
    p = ch.active_power(y, sr=SR)
    off = ch.dc_offset(y, db=-6.0, sr=SR) - y
    np.testing.assert_allclose(off, np.sqrt(p * 10 ** (-0.6)), rtol=1e-4)
    added = ch.hum(y, hz=50.0, snr_db=10.0, sr=SR).astype(np.float64) - y
    assert 10 * np.log10(p / np.mean(added**2)) == pytest.approx(10.0, abs=0.1)
    spec = np.abs(np.fft.rfft(added))
    f = np.fft.rfftfreq(added.size, 1 / SR)
    assert f[spec.argmax()] == pytest.approx(50.0, abs=1.0) and spec[f > 260].max() < 1e-3 * spec.max()


def test_gain_is_unclipped_unless_asked():
    y = speechlike(1.0)
    loud = ch.gain(y, db=20.0)
    np.testing.assert_allclose(loud, y * 10.0, rtol=1e-5)
    assert np.abs(loud).max() > 1.0
    assert np.abs(ch.gain(y, db=20.0, clip=True)).max() <= 1.0


@pytest.mark.parametrize(
    "f",
    [
        lambda y, s: ch.room(y, sr=SR, rt60=0.5, seed=s),
        lambda y, s: ch.add_noise(y, snr_db=10.0, color="pink", seed=s),
        lambda y, s: ch.add_noise(y, snr_db=10.0, color="white", seed=s),
        lambda y, s: ch.add_babble(y, snr_db=10.0, others=_others(), seed=s),
    ],
    ids=["room", "pink", "white", "babble"],
)
def test_seeded_conditions_are_deterministic(f):
    y = speechlike(1.0)
    np.testing.assert_array_equal(f(y, 7), f(y, 7))
    assert not np.allclose(f(y, 7), f(y, 8))


def test_laptop_is_deterministic():
    if "opus" not in CODECS:
        pytest.skip("opus encoding is not available")
    y = speechlike(1.0)
    np.testing.assert_array_equal(ch.laptop(y, sr=SR, seed=1), ch.laptop(y, sr=SR, seed=1))


@pytest.mark.parametrize("color", ["white", "pink", "brown"])
@pytest.mark.parametrize("snr", [0.0, 10.0, 25.0])
def test_add_noise_hits_the_snr_against_active_speech(color, snr):
    y = speechlike(1.5) * 0.5
    y[: SR // 2] *= 0.0  # a long pause must not lower the measured speech power
    noise = ch.add_noise(y, snr_db=snr, color=color, seed=1).astype(np.float64) - y
    measured = _active_db(y) - 10 * np.log10(np.mean(noise**2))
    assert abs(measured - snr) < 1.0


def test_noise_colors_have_their_slopes():
    y = speechlike(2.0) * 0.1  # quiet enough that the mix is never re-scaled
    low_high = {}
    for color in ("white", "pink", "brown"):
        n = ch.add_noise(y, snr_db=0.0, color=color, seed=2).astype(np.float64) - y
        low_high[color] = 10 * np.log10(_band_energy(n, 100, 200) / _band_energy(n, 4000, 8000))
    # octave 100-200 Hz vs octave 4-8 kHz: white ∝ width (-16 dB), pink equal per octave (0 dB),
    # brown ∝ 1/f² (+16 dB)
    assert abs(low_high["white"] + 16.0) < 2.0
    assert abs(low_high["pink"]) < 2.0
    assert abs(low_high["brown"] - 16.0) < 2.0


def test_add_babble_hits_the_snr_and_needs_others():
    y = speechlike(1.5) * 0.5
    noise = ch.add_babble(y, snr_db=5.0, others=_others(), seed=0, n_talkers=6).astype(np.float64) - y
    assert abs(_active_db(y) - 10 * np.log10(np.mean(noise**2)) - 5.0) < 1.0
    with pytest.raises(ValueError, match="others"):
        ch.add_babble(y, snr_db=5.0, others=[])
    with pytest.raises(ValueError, match="others"):
        ch.apply("babble20", y)


@pytest.mark.parametrize("mulaw", [True, False])
def test_telephone_keeps_only_the_phone_band(mulaw):
    rng = np.random.default_rng(0)
    white = (0.1 * rng.standard_normal(2 * SR)).astype(np.float32)
    out = ch.telephone(white, sr=SR, mulaw=mulaw)
    assert out.shape == white.shape
    ratio = lambda lo, hi: 10 * np.log10(_band_energy(out, lo, hi) / _band_energy(white, lo, hi))  # noqa: E731
    assert ratio(3600, 8001) < -30
    assert ratio(0, 200) < -30
    assert abs(ratio(500, 3000)) < 1.5


def test_bandlimit_removes_highs():
    rng = np.random.default_rng(1)
    white = (0.1 * rng.standard_normal(SR)).astype(np.float32)
    out = ch.bandlimit(white, sr=SR, high_hz=4000)
    assert 10 * np.log10(_band_energy(out, 5000, 8001) / _band_energy(white, 5000, 8001)) < -30
    assert abs(10 * np.log10(_band_energy(out, 300, 3000) / _band_energy(white, 300, 3000))) < 1
    both = ch.bandlimit(white, sr=SR, low_hz=300, high_hz=3400)
    assert 10 * np.log10(_band_energy(both, 0, 150) / _band_energy(white, 0, 150)) < -30
    np.testing.assert_array_equal(ch.bandlimit(white, sr=SR, high_hz=None), white)


def test_compressor_reduces_dynamic_range_like_an_agc():
    y = speechlike(2.0)
    y[SR:] *= 0.03  # quiet second half, 30 dB down
    out = ch.compressor(y, sr=SR)
    before = _active_db(y[:SR]) - _active_db(y[SR:])
    after = _active_db(out[:SR]) - _active_db(out[SR:])
    assert after < before - 10
    assert abs(_active_db(out) - _active_db(y)) < 1.0  # makeup="auto": same level as the input
    quiet = ch.compressor(speechlike(1.0) * 0.01, sr=SR, makeup="target")
    assert abs(_active_db(quiet) - ch.TARGET_DBFS) < 1.0  # quiet speech boosted to -20 dBFS
    loud = ch.compressor(speechlike(1.0) * 1.4, sr=SR, makeup="target")
    assert np.abs(loud).max() <= 1.0


def test_compressor_is_fast_on_a_minute():
    y = speechlike(60.0)
    t = time.process_time()
    ch.compressor(y, sr=SR)
    assert time.process_time() - t < 1.0


def test_room_matches_level_and_honours_drr():
    y = speechlike(1.0)
    out = ch.room(y, sr=SR, rt60=0.6, seed=0)
    assert abs(_active_db(out) - _active_db(y)) < 0.5
    ir = ch.room_impulse_response(sr=SR, rt60=0.6, seed=0, drr_db=4.0)
    assert ir[0] == 1.0
    assert abs(10 * np.log10(1.0 / np.sum(ir[1:].astype(np.float64) ** 2)) - 4.0) < 0.1
    t = np.arange(ir.size) / SR
    early, late = ir[(t > 0.05) & (t < 0.15)], ir[(t > 0.35) & (t < 0.45)]
    decay = 10 * np.log10(np.mean(early**2) / np.mean(late**2))
    assert 15 < decay < 35  # 60 dB per rt60 = 0.6 s → about 30 dB per 0.3 s (highs faster)
    with pytest.raises(ValueError):
        ch.room(y, sr=SR, rt60=0.0)


@pytest.mark.parametrize("codec,kbps", [("opus", 24), ("opus", 12), ("mp3", 32)])
def test_codec_round_trip_is_aligned_and_correlated(codec, kbps):
    _needs(codec)
    y = speechlike(1.5, f0=200.0)
    out = ch.codec(y, sr=SR, codec=codec, bitrate_kbps=kbps)
    assert out.shape == y.shape and out.dtype == np.float32
    corr = float(np.corrcoef(y, out)[0, 1])
    assert corr > (0.8 if kbps >= 24 else 0.6)
    # aligned: the best lag within ±20 ms is within 1 ms of zero
    xc = scipy.signal.correlate(out, y, mode="full", method="fft")[y.size - 1 - 320 : y.size + 320]
    assert abs(int(np.argmax(xc)) - 320) <= 16


def test_missing_codec_raises_audio_error(monkeypatch):
    monkeypatch.setattr(ch, "_encoder", lambda name: None)
    with pytest.raises(AudioError, match="cannot encode mp3"):
        ch.codec(speechlike(0.5), sr=SR, codec="mp3")
    with pytest.raises(ValueError, match="unknown codec"):
        ch.codec(speechlike(0.5), sr=SR, codec="aac")  # type: ignore[arg-type]


def test_unknown_condition_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown channel condition 'radio'.*laptop"):
        ch.apply("radio", speechlike(0.5))


def test_bad_input_is_rejected():
    with pytest.raises(AudioError):
        ch.add_noise(np.zeros((2, 100), np.float32), snr_db=10)
    with pytest.raises(AudioError):
        ch.room(np.array([0.0, np.nan, 0.1], np.float32), sr=SR)


def test_random_channel_is_deterministic_and_varied():
    y = speechlike(1.0)
    others = _others()
    names = set()
    for seed in range(12):
        a, da = ch.random_channel(y, sr=SR, rng=np.random.default_rng(seed), others=others)
        b, db = ch.random_channel(y, sr=SR, rng=np.random.default_rng(seed), others=others)
        np.testing.assert_array_equal(a, b)
        assert da == db
        assert a.shape == y.shape and a.dtype == np.float32 and np.isfinite(a).all()
        assert np.abs(a).max() <= 1.0
        names.add(da)
    assert len(names) >= 8
    rng = np.random.default_rng(0)
    first = ch.random_channel(y, sr=SR, rng=rng)[0]
    assert not np.array_equal(first, ch.random_channel(y, sr=SR, rng=rng)[0])  # the rng advances


def _drawn_twice(draw, y: np.ndarray, seed: int) -> tuple[np.ndarray, str]:
    """``draw(y, sr=, rng=)`` with two generators of the same seed: the same output and description, mono float32
    of ``y``'s length, finite, peaks at most 1."""
    out, desc = draw(y, sr=SR, rng=np.random.default_rng(seed))
    again, desc2 = draw(y, sr=SR, rng=np.random.default_rng(seed))
    np.testing.assert_array_equal(out, again)
    assert desc == desc2 and out.shape == y.shape and out.dtype == np.float32
    assert np.isfinite(out).all() and np.abs(out).max() <= 1.0
    return out, desc


def test_microphone_responses_are_seeded_level_matched_and_do_what_they_say():
    """A random microphone response: deterministic per rng state, level-matched, every stage drawn over a few
    seeds; a drawn high-pass takes the lows below its cutoff away, and a mic_* condition does what its name says."""
    rng = np.random.default_rng(5)
    white = (0.1 * rng.standard_normal(2 * SR)).astype(np.float32)
    stages = set()
    for seed in range(16):
        out, desc = _drawn_twice(ch.microphone, white, seed)
        assert desc.startswith("mic(")
        assert abs(_active_db(out) - _active_db(white)) < 0.5
        parts = desc[4:-1].split("/") if desc != "mic()" else []
        stages |= {p[:2] for p in parts}
        hp = [float(p[2:]) for p in parts if p.startswith("hp")]
        if hp and hp[0] > 120:  # the band an octave below the cutoff loses at least 9 dB against 1-3 kHz
            lows = _band_energy(out, 20, hp[0] / 2) / _band_energy(white, 20, hp[0] / 2)
            mids = _band_energy(out, 1000, 3000) / _band_energy(white, 1000, 3000)
            assert 10 * np.log10(lows / mids) < -9, desc
    assert stages == {"hp", "ls", "hs", "pk"}
    cut = ch.apply("mic_highpass", white, sr=SR)
    assert 10 * np.log10(_band_energy(cut, 50, 150) / _band_energy(white, 50, 150)) < -30
    assert abs(10 * np.log10(_band_energy(cut, 1000, 4000) / _band_energy(white, 1000, 4000))) < 3
    muffled = ch.apply("mic_muffled", white, sr=SR)
    assert _band_energy(muffled, 4000, 8000) / _band_energy(muffled, 200, 1000) < 0.15 * (
        _band_energy(white, 4000, 8000) / _band_energy(white, 200, 1000))
    np.testing.assert_array_equal(ch.apply("mic_eq", white, seed=2), ch.apply("mic_eq", white, seed=2))
    assert not np.allclose(ch.apply("mic_eq", white, seed=2), ch.apply("mic_eq", white, seed=3))


def test_random_channel_draws_a_microphone_when_asked():
    y = speechlike(1.0)
    with_mic = [ch.random_channel(y, sr=SR, rng=np.random.default_rng(s), mic=True)[1] for s in range(24)]
    without = [ch.random_channel(y, sr=SR, rng=np.random.default_rng(s), mic=False)[1] for s in range(24)]
    assert 6 <= sum("mic(" in d for d in with_mic) <= 18 and not any("mic(" in d for d in without)
    # the microphone draws from a generator of its own: every other stage is drawn as without it
    assert [re.sub(r"\+?mic\([^)]*\)", "", d).lstrip("+") or "clean" for d in with_mic] == without


def test_narrowband_lines_keep_nothing_above_4_khz_and_are_seeded():
    """The narrowband member's training copies: a phone line (μ-law or linear) or plain 8 kHz audio, every one
    without energy above 4 kHz; deterministic for a given rng state, all three kinds drawn."""
    rng = np.random.default_rng(3)
    white = (0.1 * rng.standard_normal(2 * SR)).astype(np.float32)
    kinds = set()
    for seed in range(12):
        out, kind = _drawn_twice(ch.narrowband, white, seed)
        assert 10 * np.log10(_band_energy(out, 4200, 8001) / _band_energy(white, 4200, 8001)) < -30
        assert abs(10 * np.log10(_band_energy(out, 500, 3000) / _band_energy(white, 500, 3000))) < 1.5
        if kind == "8k":  # no phone band-pass: the lows stay
            assert abs(10 * np.log10(_band_energy(out, 50, 250) / _band_energy(white, 50, 250))) < 1.5
        kinds.add(kind)
    assert kinds == {"tel", "tel-linear", "8k"}
    empty, _ = ch.narrowband(np.zeros(0, np.float32), sr=SR, rng=np.random.default_rng(0))
    assert empty.size == 0


def test_narrowband_bands_draw_narrower_lines_and_keep_the_kind_of_line():
    """``bands``: half the lines have an upper edge of 2.4-3.4 kHz (and a lower one of 150-500 Hz), drawn on a generator
    of their own, so the kind of line (μ-law, linear, 8 kHz) is the one ``bands=False`` draws from the same seed; the
    narrow lines keep nothing above their edge; the telephone band rejects an impossible edge."""
    rng = np.random.default_rng(4)
    white = (0.1 * rng.standard_normal(2 * SR)).astype(np.float32)
    narrow = 0
    for seed in range(16):
        plain, kind = ch.narrowband(white, sr=SR, rng=np.random.default_rng(seed))
        out, desc = _drawn_twice(lambda y, sr, rng: ch.narrowband(y, sr=sr, rng=rng, bands=True), white, seed)
        assert desc.split("-b")[0] == kind
        if "-b" not in desc:
            np.testing.assert_array_equal(out, plain)
            continue
        narrow += 1
        low, high = (float(v) for v in desc.split("-b")[1].split("-"))
        assert ch.NARROW_LOW_HZ[0] <= low <= ch.NARROW_LOW_HZ[1] and ch.NARROW_HIGH_HZ[0] <= high <= ch.NARROW_HIGH_HZ[1]
        above = 10 * np.log10(_band_energy(out, high + 500, 8001) / _band_energy(white, high + 500, 8001))
        assert above < -25, desc
        assert abs(10 * np.log10(_band_energy(out, 800, 2000) / _band_energy(white, 800, 2000))) < 2.0
    assert 3 <= narrow <= 13
    with pytest.raises(ValueError, match="telephone band"):
        ch.telephone(white, sr=SR, low_hz=300.0, high_hz=4200.0)


def test_random_channel_adds_mains_hum_on_its_own_generator():
    """``mains``: that share of the chains carries 50 or 60 Hz hum 5-30 dB below the speech, after the noise stage;
    every other stage is the one drawn without it, and 0 is the chain from before. A job's cache tag says so."""
    from ser import dataset

    y = speechlike(1.0)
    plain = [ch.random_channel(y, sr=SR, rng=np.random.default_rng(s))[1] for s in range(20)]
    assert [ch.random_channel(y, sr=SR, rng=np.random.default_rng(s), mains=0.0)[1] for s in range(20)] == plain
    for s, p in enumerate(plain):
        out, desc = ch.random_channel(y, sr=SR, rng=np.random.default_rng(s), mains=1.0)
        parts = desc.split("+")
        hums = [i for i, part in enumerate(parts) if part.startswith("hum")]
        assert len(hums) == 1 and out.shape == y.shape and np.isfinite(out).all()
        hz, snr = parts[hums[0]][3:].split("_")
        assert hz in ("50", "60") and 5 <= int(snr) <= 30
        assert parts[: hums[0]] + parts[hums[0] + 1 :] == (p.split("+") if p != "clean" else [])
        assert all(not q.startswith(("room", "white", "pink", "babble")) for q in parts[hums[0] + 1 :])
    job = dataset.Job("a.wav", 1, 0, 1.0, channel="ravdess_01")
    assert "hum" not in dataset._tag(job) and dataset._tag(dataclasses.replace(job, mains=0.3)).endswith("-hum0.3")
    from ser.errors import TrainingError
    from ser.train import TrainConfig

    with pytest.raises(TrainingError, match=r"--mains must be in \[0, 1\]"):
        TrainConfig(data=("x",), out="y", mains=-0.1)


def test_random_channel_draws_big_rooms_on_their_own_generator():
    """``big_rooms``: that share of the chains' rooms has rt60 0.8-1.6 s; every other stage is the one drawn without
    the option (the room's draw comes from a generator of its own), and 0 is the chain from before."""
    y = speechlike(1.0)
    plain = [ch.random_channel(y, sr=SR, rng=np.random.default_rng(s))[1] for s in range(30)]
    assert [ch.random_channel(y, sr=SR, rng=np.random.default_rng(s), big_rooms=0.0)[1] for s in range(30)] == plain
    big = [ch.random_channel(y, sr=SR, rng=np.random.default_rng(s), big_rooms=1.0)[1] for s in range(30)]
    rooms = 0
    for p, b in zip(plain, big, strict=True):
        ps, bs = p.split("+"), b.split("+")
        assert len(ps) == len(bs)
        if ps[0].startswith("room"):
            rooms += 1
            assert ch.BIG_ROOM_RT60[0] <= float(bs[0][4:]) <= ch.BIG_ROOM_RT60[1] and ps[1:] == bs[1:]
        else:
            assert ps == bs
    assert rooms >= 5
    from ser.errors import TrainingError
    from ser.train import TrainConfig

    with pytest.raises(TrainingError, match=r"--big-rooms must be in \[0, 1\]"):
        TrainConfig(data=("x",), out="y", big_rooms=1.5)


@requires_data
def test_laptop_on_a_real_clip():
    from ser import audio

    clips = sorted((RAVDESS / "Actor_01").glob("*.flac"))
    others_files = sorted((RAVDESS / "Actor_02").glob("*.flac"))[:3] + sorted((RAVDESS / "Actor_03").glob("*.flac"))[:3]
    if not clips or not others_files:
        pytest.skip("RAVDESS actors 1-3 are not present")
    if "opus" not in CODECS:
        pytest.skip("opus encoding is not available")
    y = audio.load(clips[len(clips) // 2])
    others = [audio.load(p) for p in others_files]
    for kw in ({}, {"others": others}):
        out = ch.laptop(y, sr=SR, seed=0, **kw)
        assert out.shape == y.shape and out.dtype == np.float32 and np.isfinite(out).all()
        assert np.abs(out).max() <= 1.0
        assert abs(_active_db(out) - ch.TARGET_DBFS) < 3.0  # the AGC sets the level
        assert np.corrcoef(y, out)[0, 1] > 0.2  # degraded but still the same utterance


def test_laptop_room_seed_keeps_one_room_for_a_session(monkeypatch):
    """``room_seed``: clips of one session (other ``seed``s) go through the same room, each with its own noise;
    without it every clip draws its own room."""
    rooms: list[tuple[float, int]] = []
    monkeypatch.setattr(ch, "room", lambda y, *, sr, rt60, seed: rooms.append((rt60, seed)) or y)
    monkeypatch.setattr(ch, "codec", lambda y, **kw: y)
    y = speechlike(1.0)
    a, b = (ch.laptop(y, sr=SR, seed=s, room_seed=5) for s in (1, 2))
    assert rooms[0] == rooms[1] and not np.allclose(a, b)  # one room, other noise
    rooms.clear()
    ch.laptop(y, sr=SR, seed=1)
    ch.laptop(y, sr=SR, seed=2)
    assert rooms[0] != rooms[1]


def test_babble_pool_spans_every_other_speaker_and_never_the_speaker():
    speakers = np.array(["a"] * 30 + ["b"] * 5 + ["c"] * 20 + ["d"] * 12)
    pool = ch.babble_pool(speakers, "c", seed=1, per_speaker=8)
    assert "c" not in set(speakers[pool])
    counts = {s: int((speakers[pool] == s).sum()) for s in "abd"}
    assert counts == {"a": 8, "b": 5, "d": 8}  # all of a short speaker's clips, 8 of the others'
    assert len(set(pool.tolist())) == pool.size
    np.testing.assert_array_equal(pool, ch.babble_pool(speakers, "c", seed=1, per_speaker=8))
    assert not np.array_equal(pool, ch.babble_pool(speakers, "c", seed=2, per_speaker=8))
    assert ch.babble_pool(np.array(["x", "x"]), "x").size == 0


def test_random_channel_stacks_a_whole_device_when_asked():
    """``device``: that share of chains has room, noise, AGC and a codec all at once; the rest are drawn as without it
    (the draw comes from a generator of its own), and device=0 is the chain from before the option."""
    y = speechlike(1.0)
    plain = [ch.random_channel(y, sr=SR, rng=np.random.default_rng(s))[1] for s in range(24)]
    assert [ch.random_channel(y, sr=SR, rng=np.random.default_rng(s), device=0.0)[1] for s in range(24)] == plain
    every = [ch.random_channel(y, sr=SR, rng=np.random.default_rng(s), device=1.0)[1] for s in range(6)]
    for desc in every:
        stages = desc.split("+")
        assert stages[0] == "device" and stages[1].startswith("room") and "agc" in stages
        assert re.match(r"(white|pink)\d+$", stages[2])  # no ``others``: no babble
        if CODECS:
            assert re.match(r"(opus\d+|mp3_\d+)$", stages[-1])
    some = [ch.random_channel(y, sr=SR, rng=np.random.default_rng(s), device=0.3)[1] for s in range(24)]
    assert 2 <= sum(d.startswith("device") for d in some) <= 14
    assert [d for d in some if not d.startswith("device")] == [p for p, d in zip(plain, some, strict=True)
                                                              if not d.startswith("device")]
    a = ch.random_channel(y, sr=SR, rng=np.random.default_rng(5), device=1.0)[0]
    np.testing.assert_array_equal(a, ch.random_channel(y, sr=SR, rng=np.random.default_rng(5), device=1.0)[0])


def test_random_channel_babble_voices_drawn_from_a_range():
    """``talkers``: the babble's voices drawn from the range (its own generator: every other draw as by default)."""
    y = speechlike(1.0)
    others = [speechlike(0.8, f0=f0, seed=i) for i, f0 in enumerate((95.0, 140.0, 190.0, 230.0))]
    plain = [ch.random_channel(y, sr=SR, rng=np.random.default_rng(s), others=others)[1] for s in range(40)]
    few = [ch.random_channel(y, sr=SR, rng=np.random.default_rng(s), others=others, talkers=(1, 2))[1] for s in range(40)]
    voices = [int(m.group(1)) for d in few for m in [re.search(r"babble(\d)x", d)] if m]
    assert voices and set(voices) <= {1, 2} and "babble" in "".join(plain)
    assert [re.sub(r"babble\dx", "babble", d) for d in few] == plain
    assert [ch.random_channel(y, sr=SR, rng=np.random.default_rng(s), others=others, talkers=(6, 6))[1]
            for s in range(40)] == plain


def test_clipping_sticks_that_share_of_samples_at_the_rails_and_keeps_the_peak():
    """``clipping(percent=P)``: about P % of the samples end at the clipping level (both polarities), the peak is the
    input's, and 0 % is the input unchanged."""
    y = speechlike(1.5) * np.float32(0.4)
    for percent in (2.0, 10.0, 30.0):
        z = ch.clipping(y, percent=percent)
        assert z.dtype == np.float32 and z.shape == y.shape
        assert np.abs(z).max() == pytest.approx(np.abs(y).max(), rel=1e-4)
        stuck = np.mean((z >= z.max() * 0.9999) | (z <= z.min() * 0.9999)) * 100  # at either rail
        assert percent * 0.7 <= stuck <= percent * 1.3 + 0.5, (percent, stuck)
    np.testing.assert_array_equal(ch.clipping(y, percent=0.0), y)
    assert not np.any(ch.clipping(np.zeros(100, np.float32), percent=10.0))


def test_channel_benchmark_rerun_keeps_the_rows_it_did_not_run():
    """``benchmarks/channels.py --conditions ...`` into an existing table of the same bundle, clips and draws
    replaces those rows and keeps the others (a re-run of one row once replaced the whole committed table); a table
    of another bundle (or one retrained at the same path) or draw count is replaced whole."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "channels.py"
    spec = importlib.util.spec_from_file_location("channels_benchmark", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    head = {"model": "/b", "bundle": "0123456789ab", "n": 3, "speakers": ["a"], "draws": 3}
    row = lambda u: {"ravdess": {"uar": u}}  # noqa: E731
    earlier = {**head, "conditions": {"clean": row(0.8), "laptop": row(0.6), "tight_cut": row(0.7)}}
    new = {**head, "conditions": {"tight_cut": row(0.75), "babble10": row(0.5)}}
    order = ["clean", "babble10", "laptop", "tight_cut"]
    got = bench.merged(earlier, new, order=order)
    assert list(got["conditions"]) == order
    assert got["conditions"]["tight_cut"] == row(0.75) and got["conditions"]["laptop"] == row(0.6)
    assert bench.merged({**earlier, "draws": 1}, new, order=order) == new
    assert bench.merged({**earlier, "model": "/other"}, new, order=order) == new
    assert bench.merged({**earlier, "bundle": "ba9876543210"}, new, order=order) == new  # retrained at the same path
    assert bench.merged(None, new, order=order) == new
