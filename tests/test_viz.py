"""Figure builders of ser.viz on generated signals: sane traces, bounded sizes for long clips."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from support import speechlike

from ser import affect, viz
from ser.labels import EMOTIONS
from ser.predict import Segment

SR = 16_000
LABELS = EMOTIONS[:8]


def _points(fig: go.Figure) -> int:
    """Values a figure sends to the browser (heatmap cells + scatter/bar points)."""
    n = 0
    for tr in fig.data:
        z = getattr(tr, "z", None)
        if z is not None:
            n += int(np.size(z))
        elif getattr(tr, "x", None) is not None:
            n += len(tr.x)
    return n


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return speechlike(3.0)


def test_envelope_short_and_long():
    y = speechlike(0.05)  # 800 samples: returned as is
    t, lo, hi = viz.envelope(y, SR, max_points=2000)
    assert t.size == y.size and lo is hi
    long = np.tile(speechlike(10.0), 6)  # 60 s
    t, lo, hi = viz.envelope(long, SR, max_points=1000)
    assert t.size == lo.size == hi.size <= 1001
    assert np.all(lo <= hi)
    assert hi.max() == pytest.approx(long.max()) and lo.min() == pytest.approx(long.min())
    assert t[-1] < long.size / SR


def test_waveform_short_clip(clip):
    fig = viz.waveform(clip, SR)
    assert fig.layout.xaxis.title.text == "time (s)"
    assert _points(fig) <= 2000
    assert float(max(fig.data[0].x)) == pytest.approx(3.0, abs=0.01)


def test_long_clip_is_downsampled():
    """A 10-minute clip must not send millions of points to the browser."""
    long = np.tile(speechlike(10.0, seed=1), 60)
    assert long.size == 9_600_000
    figs = viz.clip_figures(long, SR)
    assert _points(figs["waveform"]) <= 2000
    assert figs["spectrogram"].data[0].z.shape[1] <= 600
    for name in ("mel", "chroma", "mfcc"):
        assert np.shape(figs[name].data[0].z)[1] <= 800
    assert _points(figs["spectrum"]) <= 2000
    assert sum(len(f.to_json()) for f in figs.values()) < 4_000_000
    # the time axis still spans the whole clip
    assert float(figs["waveform"].data[0].x[-1]) > 590
    assert float(figs["mel"].data[0].x[-1]) > 590


def test_clip_figures_shapes(clip):
    figs = viz.clip_figures(clip, SR)
    assert set(figs) == {"waveform", "spectrogram", "mel", "chroma", "mfcc", "spectrum"}
    spec = figs["spectrogram"].data[0]
    assert np.shape(spec.z) == (257, 301)  # n_fft 512 → 257 bins; 3 s at 10 ms hop
    assert float(spec.y[-1]) == pytest.approx(8000.0)
    assert np.max(spec.z) == pytest.approx(0.0) and np.min(spec.z) >= -80.0
    assert np.shape(figs["mel"].data[0].z) == (64, 301)
    assert np.shape(figs["chroma"].data[0].z) == (12, 301)
    assert list(figs["chroma"].data[0].y) == list(viz.PITCH_CLASSES)
    assert np.shape(figs["mfcc"].data[0].z) == (20, 301)
    assert all(np.isfinite(np.asarray(figs[k].data[0].z, dtype=float)).all() for k in ("mel", "chroma", "mfcc"))


def test_fourier_spectrum_peaks_at_tone():
    t = np.arange(SR) / SR
    y = (0.5 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    fig = viz.fourier_spectrum(y, SR)
    x, db = np.asarray(fig.data[0].x), np.asarray(fig.data[0].y)
    assert x[np.argmax(db)] == pytest.approx(440.0, abs=10.0)
    assert x.max() <= SR / 2 and len(x) <= 2000


def test_probability_bars_sorted_and_highlighted():
    probs = {lab: 0.05 for lab in LABELS}
    probs["sad"] = 0.65
    fig = viz.probability_bars(probs, threshold=0.4)
    bar = fig.data[0]
    assert list(bar.y)[-1] == "sad"  # horizontal bars: last = top of the chart
    assert list(bar.x) == sorted(bar.x)
    assert bar.marker.color[-1] == viz.EMOTION_COLORS["sad"]
    assert set(bar.marker.color[:-1]) == {viz.MUTED}
    assert any(s.x0 == 0.4 for s in fig.layout.shapes)
    # the percentages stand in a column right of the plot (paper x >= 1), off the bars, line and markers
    pct = [a for a in fig.layout.annotations if a.text.endswith("%")]
    assert len(pct) == len(LABELS) and all(a.xref == "paper" and a.x >= 1.0 for a in pct)
    assert {a.y: a.text for a in pct}["sad"] == "65%"
    assert not bar.text  # no text on the bars themselves


def _live_result(t: float, probs: dict[str, float] | None):
    from ser.gate import GateResult
    from ser.live import LiveResult

    top = max(probs, key=probs.get) if probs else None
    return LiveResult(0, t, 0.0, top, probs[top] if probs else 0.0, dict(probs or {}), False, probs is None,
                      -20.0, GateResult(-20.0, 1.0, 0.9, 0.1, probs is None), 0.01, 2.5)


def test_live_probability_bars_keep_the_label_order():
    from ser.live import update_headline

    labels = ["angry", "calm", "sad"]
    probs = {"angry": 0.2, "calm": 0.1, "sad": 0.7}
    for shown in (_live_result(1.0, probs), update_headline(None, probs, 1.0)):
        bar = viz.live_probability_bars(shown, labels).data[0]
        assert list(bar.y) == labels and list(bar.x) == [0.2, 0.1, 0.7]  # fixed order: bars never jump
        assert list(bar.marker.color) == [viz.MUTED, viz.MUTED, viz.EMOTION_COLORS["sad"]]
        assert list(bar.text) == ["20%", "10%", "70%"]
    for empty in (None, _live_result(1.0, None), update_headline(None, None, 1.0)):
        bar = viz.live_probability_bars(empty, labels).data[0]
        assert list(bar.x) == [0.0] * 3 and set(bar.marker.color) == {viz.MUTED}


def test_live_timeline_scrolls_and_marks_quiet_updates():
    labels = ["angry", "sad"]
    history = [_live_result(0.5 * i, None if i % 4 == 0 else {"angry": 0.6, "sad": 0.4}) for i in range(1, 101)]
    fig = viz.live_timeline(history, labels, span_s=30.0)
    lines, quiet = fig.data[:2], fig.data[2]
    assert [tr.name for tr in lines] == labels and quiet.name == "quiet"
    assert tuple(fig.layout.xaxis.range) == (20.0, 50.0)  # the last 30 s of stream time
    assert min(lines[0].x) >= 20.0 and len(lines[0].x) == 61
    assert None in lines[0].y  # quiet windows break the lines ...
    assert set(quiet.y) == {0.0} and len(quiet.x) == 16  # ... and sit on the baseline
    assert lines[0].line.color == viz.EMOTION_COLORS["angry"]
    empty = viz.live_timeline([], labels)
    assert len(empty.data) == 2 and tuple(empty.layout.xaxis.range) == (0.0, 30.0)


def test_per_speaker_values_are_not_drawn_over_the_mean_line():
    fig = viz.per_speaker_accuracy({"s1": 0.5, "s2": 0.55})
    assert not fig.data[0].text and list(fig.layout.xaxis.ticktext) == ["s1<br><b>50%</b>", "s2<br><b>55%</b>"]


def _segments(labels_per_window: list[str], hop: float = 1.0, win: float = 3.0) -> list[Segment]:
    segs = []
    for i, top in enumerate(labels_per_window):
        p = {lab: 0.02 for lab in LABELS}
        p[top] = 1 - 0.02 * (len(LABELS) - 1)
        segs.append(Segment(i * hop, i * hop + win, top, p[top], p))
    return segs


def test_emotion_timeline_runs_and_shared_time_axis():
    y = speechlike(8.0)
    segs = _segments(["angry"] * 3 + ["happy"] * 3)
    fig = viz.emotion_timeline(y, SR, segs, labels=LABELS)
    assert fig.layout.xaxis.matches == fig.layout.xaxis2.matches == "x3"  # one shared time axis
    stacked = [tr for tr in fig.data if getattr(tr, "stackgroup", None)]
    assert [tr.name for tr in stacked] == list(LABELS)
    xs = list(stacked[0].x)  # steps: each window's values over the stretch it owns
    assert xs[0] == 0.0 and xs[-1] == 8.0 and xs[1] == xs[2] == 2.0 and len(xs) == 12
    runs = viz.timeline_runs(segs)
    assert [r[2] for r in runs] == ["angry", "happy"]
    assert runs[0][0] == 0.0 and runs[-1][1] == 8.0 and runs[0][1] == pytest.approx(runs[1][0])
    # the runs ribbon: one bar trace per emotion, each run one bar, labelled inside only where it fits
    ribbon = [tr for tr in fig.data if tr.type == "bar"]
    assert [tr.name for tr in ribbon] == ["happy", "angry"] or [tr.name for tr in ribbon] == ["angry", "happy"]
    assert all(tr.textposition == "inside" for tr in ribbon)
    assert fig.layout.uniformtext.mode == "hide" and fig.layout.uniformtext.minsize >= 9
    assert not fig.layout.shapes  # no per-run shapes (thousands of them would stall a 10-minute file)


def test_timeline_merges_windows_into_runs_and_stays_small_for_long_files():
    # 76 s with short runs: the ribbon holds one bar per run, never one label per window
    pattern = ["angry", "calm", "disgust", "disgust", "sad", "sad", "sad"]
    segs = _segments([pattern[i % len(pattern)] for i in range(74)])
    runs = viz.timeline_runs(segs)
    assert len(runs) == 74 // 7 * 4 + 3 and all(b[0] == pytest.approx(a[1]) for a, b in zip(runs, runs[1:], strict=False))
    assert all(a[2] != b[2] for a, b in zip(runs, runs[1:], strict=False))  # merged: neighbours differ
    fig = viz.emotion_timeline(speechlike(76.0), SR, segs, labels=LABELS)
    assert sum(len(tr.x) for tr in fig.data if tr.type == "bar") == len(runs)
    assert fig.layout.xaxis.tickvals is None  # up to 90 s: plain seconds
    # 10 minutes: m:ss ticks, bounded size
    segs = _segments(["angry" if (i // 40) % 2 else "calm" for i in range(598)])
    fig = viz.emotion_timeline(np.zeros(SR * 600, np.float32), SR, segs, labels=LABELS)
    axis = fig.layout.xaxis3
    assert list(axis.ticktext[:3]) == ["0:00", "1:00", "2:00"] and len(axis.ticktext) <= 12
    assert _points(fig) < 2000 + 598 * 2 * len(LABELS) + 100


def test_shares_and_mixed_recordings():
    segs = _segments(["angry"] * 4 + ["calm"] * 3 + ["sad"] * 3, hop=1.0, win=2.0)  # 11 s, stretches 4.5/3/3.5
    shares = viz.emotion_shares(segs)
    assert list(shares) == ["angry", "sad", "calm"] and sum(shares.values()) == pytest.approx(1.0)
    assert shares["angry"] == pytest.approx(4.5 / 11)
    assert viz.is_mixed(shares, n_windows=len(segs))
    assert not viz.is_mixed(viz.emotion_shares(_segments(["angry"] * 9 + ["sad"])), n_windows=10)
    assert not viz.is_mixed(shares, n_windows=2)  # too few windows to call it mixed
    assert viz.emotion_shares([]) == {} and not viz.is_mixed({})
    bar = viz.emotion_share_bar(shares)
    assert [tr.name for tr in bar.data] == list(shares) and bar.layout.barmode == "stack"
    assert bar.data[0].text[0] == "angry 41%" and bar.layout.uniformtext.mode == "hide"
    assert viz.clock(75) == "1:15" and viz.clock(3723) == "1:02:03" and viz.time_ticks(60) == {}


def test_affect_point_is_the_probability_weighted_mean():
    for lab, (v, a) in affect.AFFECT_COORDS.items():
        assert -1 <= v <= 1 and -1 <= a <= 1
        assert affect.affect_point({lab: 1.0}) == pytest.approx((v, a))
    assert set(EMOTIONS) <= set(affect.AFFECT_COORDS)  # every emotion the package knows has a place
    # conventional quadrants: angry/fearful unpleasant+activated, happy pleasant+activated, sad/bored deactivated
    assert affect.quadrant(*affect.AFFECT_COORDS["angry"]) == "unpleasant, activated"
    assert affect.quadrant(*affect.AFFECT_COORDS["happy"]) == "pleasant, activated"
    assert affect.quadrant(*affect.AFFECT_COORDS["sad"]) == "unpleasant, deactivated"
    assert affect.quadrant(*affect.AFFECT_COORDS["calm"]) == "pleasant, deactivated"
    (va, aa), (vh, ah) = affect.AFFECT_COORDS["angry"], affect.AFFECT_COORDS["happy"]
    assert affect.affect_point({"angry": 0.25, "happy": 0.75}) == pytest.approx((0.25 * va + 0.75 * vh,
                                                                                 0.25 * aa + 0.75 * ah))
    # unknown labels are left out and the rest renormalised; nothing known -> None
    assert affect.affect_point({"angry": 0.5, "mystery": 0.5}) == pytest.approx((va, aa))
    assert affect.affect_point({"mystery": 1.0}) is None and affect.affect_point({}) is None
    assert affect.affect_path([{"angry": 1.0}, None]) == [pytest.approx((va, aa)), None]


def test_circumplex_figure():
    probs = {lab: 0.01 for lab in LABELS}
    probs["angry"] = 1 - 0.01 * (len(LABELS) - 1)
    fig = viz.circumplex(probs, trail=[(0.0, 0.0), None, (-0.3, 0.4), (-0.5, 0.7)])
    assert "derived from the class probabilities" in fig.layout.title.text
    emotions, trail, now = fig.data
    assert list(emotions.text) == list(LABELS)  # every class at its place
    sizes = dict(zip(emotions.text, emotions.marker.size, strict=True))
    assert sizes["angry"] == max(sizes.values())  # sized by probability
    assert len(trail.x) == 3  # quiet (None) points are left out
    assert (now.x[0], now.y[0]) == pytest.approx(affect.affect_point(probs))
    assert fig.layout.yaxis.scaleanchor == "x"  # a circle stays a circle
    empty = viz.circumplex(None)  # no probabilities: the plane and the classes, an empty trail and point
    assert len(empty.data) == 3 and not empty.data[1].x and not empty.data[2].x


def test_confusion_matrix_counts_and_normalised():
    cm = [[8, 2, 0], [1, 4, 5], [0, 0, 0]]
    labels = ["angry", "happy", "sad"]
    counts = viz.confusion_matrix(cm, labels)
    assert np.asarray(counts.data[0].z).tolist() == cm
    norm = viz.confusion_matrix(cm, labels, normalise=True)
    z = np.asarray(norm.data[0].z)
    assert z[0].tolist() == pytest.approx([0.8, 0.2, 0.0])
    assert z[2].tolist() == [0.0, 0.0, 0.0]  # empty row stays 0
    assert list(norm.data[0].x) == labels and norm.layout.yaxis.autorange == "reversed"


def test_training_curves():
    hist = {"loss": [2.0, 1.5, 1.2], "val_loss": [2.1, 1.8, 1.7], "accuracy": [0.2, 0.4, 0.5],
            "val_accuracy": [0.2, 0.3, 0.35], "folds": [{"loss": [1.0]}]}
    fig = viz.training_curves(hist)
    assert len(fig.data) == 4
    assert {tr.name for tr in fig.data} == {"training", "validation"}
    assert list(fig.data[0].x) == [1, 2, 3]
    assert len(viz.training_curves({"loss": [1.0, 0.9]}).data) == 1


def test_per_class_speaker_fold_calibration():
    per_class = {lab: {"precision": 0.5, "recall": 0.6, "f1": 0.55, "support": 10} for lab in LABELS}
    fig = viz.per_class_metrics(per_class)
    assert [tr.name for tr in fig.data] == ["precision", "recall", "F1"] and len(fig.data[0].x) == 8
    fig = viz.per_speaker_accuracy({"ravdess_02": 0.5, "ravdess_01": 0.7})
    assert list(fig.data[0].x) == ["ravdess_01", "ravdess_02"]
    folds = [{"fold": 1, "uar": 0.5, "accuracy": 0.55, "test_speakers": ["a"]},
             {"fold": 2, "uar": 0.6, "accuracy": 0.62, "test_speakers": ["b"]}]
    assert list(viz.fold_scores(folds).data[0].y) == [0.5, 0.6]
    fig = viz.calibration({"temperature": 1.4, "ece_before": 0.12, "ece_after": 0.04})
    assert list(fig.data[0].y) == [0.12, 0.04]
    rel = viz.calibration({"reliability": {"confidence": [0.1, 0.5, 0.9], "accuracy": [0.2, 0.5, 0.8]}})
    assert len(rel.data) == 2


def test_dataset_figures():
    manifest = pd.DataFrame({
        "corpus": ["ravdess", "ravdess", "emodb", "emodb", "emodb"],
        "emotion": ["angry", "sad", "angry", "boredom", "angry"],
        "duration": [3.2, 3.5, 2.0, np.nan, 4.0],
    })
    counts = viz.class_counts(manifest)
    assert counts == {"emodb": {"angry": 2, "boredom": 1}, "ravdess": {"angry": 1, "sad": 1}}
    fig = viz.class_balance(counts)
    assert len(fig.data) == 2 and list(fig.data[0].x) == ["sad", "angry", "boredom"]
    assert len(viz.class_balance({"angry": 3, "sad": 1}).data) == 1
    hist = viz.duration_histogram(manifest["duration"].to_numpy(), bins=4)
    assert sum(hist.data[0].y) == 4  # NaN left out
    pre = viz.duration_histogram(hist={"edges": [1.0, 2.0, 3.0], "counts": [5, 7]})
    assert list(pre.data[0].y) == [5, 7] and list(pre.data[0].x) == [1.5, 2.5]
    assert viz.class_counts(manifest.iloc[:0]) == {}


def test_profiles_and_side_by_side():
    clips = {"angry": [speechlike(1.0, f0=220.0, seed=1)], "sad": [speechlike(1.0, f0=110.0, seed=2) * 0.2]}
    per_emotion = viz.average_profiles(clips, SR)
    assert set(per_emotion) == {"angry", "sad"}
    assert [len(per_emotion["angry"][k]) for k in ("mel", "chroma", "mfcc")] == [64, 12, 20]
    for feature in ("mel", "chroma", "mfcc"):
        fig = viz.emotion_profiles(per_emotion, feature)
        assert [tr.name for tr in fig.data] == ["sad", "angry"]
    rel = viz.emotion_profiles(per_emotion, "mel", relative=True)
    total = np.asarray(rel.data[0].y) + np.asarray(rel.data[1].y)
    assert np.allclose(total, 0.0, atol=1e-6)  # differences from the mean of two cancel out
    with pytest.raises(ValueError):
        viz.emotion_profiles(per_emotion, "contrast")
    pairs = [(e, ys[0]) for e, ys in clips.items()]
    fig = viz.emotions_side_by_side(pairs, SR)
    assert len(fig.data) == 2 and [a.text for a in fig.layout.annotations] == ["angry", "sad"]
    fig = viz.emotions_side_by_side(pairs, SR, kind="waveform")
    assert all(tr.type == "scatter" for tr in fig.data)


def test_label_counts():
    fig = viz.label_counts(["sad", "angry", "sad"])
    assert list(fig.data[0].x) == ["sad", "angry"] and list(fig.data[0].y) == [2, 1]


def test_no_streamlit_placeholder_colours(clip):
    """Streamlit's chart frontend repaints "#000001"…"#000010" (theme placeholders): never use them."""
    figs = list(viz.clip_figures(clip, SR).values())
    figs.append(viz.emotions_side_by_side([("angry", clip)], SR))
    for fig in figs:
        text = fig.to_json().lower()
        assert not any(f'"#0000{i:02d}"' in text for i in range(1, 11))


def test_clip_figures_share_one_stft(clip, monkeypatch):
    """One STFT serves the spectrogram, mel, chroma and MFCC views of a clip; ``S=`` changes no number."""
    from ser import dsp

    calls = []
    real = dsp.stft_magnitude
    monkeypatch.setattr(dsp, "stft_magnitude", lambda *a, **k: calls.append(1) or real(*a, **k))
    figs = viz.clip_figures(clip, SR)
    assert len(calls) == 1
    S = viz.display_stft(clip, SR)
    for a, b in zip(viz.stft_db(clip, SR, S=S), viz.stft_db(clip, SR), strict=True):
        np.testing.assert_array_equal(a, b)
    with_s, without = viz.feature_maps(clip, SR, S=S), viz.feature_maps(clip, SR)
    assert all(np.array_equal(with_s[k], without[k]) for k in without)
    for name, build in (("mel", viz.mel_spectrogram), ("chroma", viz.chroma), ("mfcc", viz.mfcc)):
        np.testing.assert_array_equal(np.asarray(figs[name].data[0].z), np.asarray(build(clip, SR).data[0].z))
        np.testing.assert_array_equal(np.asarray(build(clip, SR, S=S).data[0].z), np.asarray(figs[name].data[0].z))
    np.testing.assert_array_equal(np.asarray(figs["spectrogram"].data[0].z),
                                  np.asarray(viz.spectrogram(clip, SR).data[0].z))
