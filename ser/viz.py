"""Plotly figure builders for the app: signals, features, predictions, training reports, datasets.

Every builder takes plain numpy arrays / dicts (no Streamlit) and returns a ``plotly.graph_objects.Figure``.
Signals are mono float32 ``[shape=(n,)]`` at ``sr`` Hz; time axes are in seconds, frequency axes in Hz.
The amount of data sent to the browser is bounded whatever the clip length: waveforms become a
min/max envelope of at most ``max_points`` bins, time-frequency maps are averaged down to at most
``max_frames`` columns, spectra to at most ``max_points`` bins.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .features import FeatureConfig, display_maps, extract, per_emotion_profiles, remove_dc
from .features import spectrogram as _stft_mag
from .labels import EMOTIONS

if TYPE_CHECKING:
    from .live import Headline, LiveResult

#: One colour per emotion, used by every chart so that "angry" is always the same red.
EMOTION_COLORS: dict[str, str] = {
    "neutral": "#94a3b8",
    "calm": "#2dd4bf",
    "happy": "#facc15",
    "sad": "#3b82f6",
    "angry": "#ef4444",
    "fearful": "#a855f7",
    "disgust": "#65a30d",
    "surprised": "#f97316",
    "boredom": "#a16207",
}
#: Material Symbols icon per emotion (``:material/<name>:`` in Streamlit markdown; bundled with Streamlit, so
#: it renders without an emoji font).
EMOTION_ICONS: dict[str, str] = {
    "neutral": "sentiment_neutral",
    "calm": "sentiment_calm",
    "happy": "sentiment_very_satisfied",
    "sad": "sentiment_sad",
    "angry": "sentiment_extremely_dissatisfied",
    "fearful": "sentiment_stressed",
    "disgust": "sick",
    "surprised": "sentiment_excited",
    "boredom": "bedtime",
}
#: Streamlit markdown colour per emotion (``:red[...]``), close to :data:`EMOTION_COLORS`.
EMOTION_MD_COLORS: dict[str, str] = {
    "neutral": "gray",
    "calm": "green",
    "happy": "orange",
    "sad": "blue",
    "angry": "red",
    "fearful": "violet",
    "disgust": "green",
    "surprised": "orange",
    "boredom": "gray",
}
ACCENT = "#4f46e5"
MUTED = "#cbd5e1"
TRAIN_COLOR = "#4f46e5"
VAL_COLOR = "#f97316"
PITCH_CLASSES = ("C", "C♯", "D", "D♯", "E", "F", "F♯", "G", "G♯", "A", "A♯", "B")
#: Magma without its first stop "#000004": Streamlit's chart frontend treats "#000001"…"#000010" as theme
#: placeholders and repaints them (the darkest cells turned purple).
MAGMA = [[i / 8, c] for i, c in enumerate(
    ["#03020b", "#1c1044", "#4f127b", "#812581", "#b5367a", "#e55064", "#fb8761", "#fec287", "#fcfdbf"])]
_TEMPLATE = "plotly_white"
_FONT = {"family": "Inter, Source Sans Pro, sans-serif", "size": 13}


def emotion_color(label: str) -> str:
    """The chart colour of an emotion (a neutral grey for unknown labels)."""
    return EMOTION_COLORS.get(label, "#64748b")


def _rgba(hex_color: str, alpha: float) -> str:
    """``"#rrggbb"`` → ``"rgba(r, g, b, alpha)"``."""
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r}, {g}, {b}, {alpha:g})"


def clock(seconds: float) -> str:
    """``75.0`` → ``"1:15"``; ``3723`` → ``"1:02:03"`` (whole seconds)."""
    s = int(round(max(0.0, float(seconds))))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def time_ticks(end_s: float, *, max_ticks: int = 12) -> dict[str, list]:
    """Axis settings for a time axis of ``end_s`` seconds: ticks in ``m:ss`` at a round step (5 s … 10 min),
    at most ``max_ticks`` of them; an empty dict (plain seconds) up to 90 s."""
    if end_s <= 90:
        return {}
    step = next((st for st in (5, 10, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600) if end_s / st <= max_ticks), 3600)
    vals = [float(v) for v in np.arange(0.0, end_s + 1e-9, step)]
    return {"tickvals": vals, "ticktext": [clock(v) for v in vals]}


def _layout(fig: go.Figure, *, title: str | None = None, height: int = 320, **kw: Any) -> go.Figure:
    fig.update_layout(
        template=_TEMPLATE,
        title={"text": title, "x": 0.0, "xanchor": "left"} if title else None,
        height=height,
        margin={"l": 10, "r": 10, "t": 50 if title else 20, "b": 10},
        font=_FONT,
        **kw,
    )
    return fig


def order_emotions(labels: Iterable[str]) -> list[str]:
    """Emotion names in the package's fixed order, unknown names after them alphabetically."""
    labels = list(dict.fromkeys(labels))
    known = [e for e in EMOTIONS if e in labels]
    return known + sorted(x for x in labels if x not in EMOTIONS)


# -- signal helpers ------------------------------------------------------------------------------


def envelope(y: np.ndarray, sr: int, max_points: int = 2000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Min/max envelope of ``y [shape=(n,)]`` in at most ``max_points`` bins.

    Returns ``(t, lo, hi)``, each ``[shape=(m,)]`` with ``m <= max_points``: bin start times (s) and
    the minimum/maximum sample of each bin. A signal shorter than ``max_points`` comes back as is
    (``lo == hi == y``).
    """
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    n = y.size
    if n <= max_points:
        t = np.arange(n, dtype=np.float64) / sr
        return t, y, y
    size = math.ceil(n / max_points)
    m = n // size
    body = y[: m * size].reshape(m, size)
    lo, hi = body.min(axis=1), body.max(axis=1)
    if n > m * size:  # the tail that does not fill a bin
        lo = np.append(lo, y[m * size :].min())
        hi = np.append(hi, y[m * size :].max())
    t = np.arange(lo.size, dtype=np.float64) * size / sr
    return t, lo, hi


def _pool_columns(m: np.ndarray, max_cols: int) -> tuple[np.ndarray, int]:
    """Average ``m [shape=(rows, t)]`` over groups of columns so that at most ``max_cols`` remain.

    Returns the pooled matrix and the group size (1 when nothing was pooled).
    """
    t = m.shape[1]
    if t <= max_cols:
        return m, 1
    size = math.ceil(t / max_cols)
    pad = (-t) % size
    if pad:
        m = np.concatenate([m, np.repeat(m[:, -1:], pad, axis=1)], axis=1)
    return m.reshape(m.shape[0], -1, size).mean(axis=2), size


def _hz_label(hz: float) -> str:
    return f"{hz / 1000:.1f}k".replace(".0k", "k") if hz >= 1000 else f"{hz:.0f}"


def _mel_ticks(hz: np.ndarray, n: int = 6) -> dict[str, list]:
    """Axis settings that label mel band indices with their centre frequencies."""
    idx = np.linspace(0, len(hz) - 1, n).round().astype(int) if len(hz) else np.zeros(0, dtype=int)
    return {"tickvals": idx.tolist(), "ticktext": [_hz_label(float(hz[i])) for i in idx]}


def _display_config(sr: int) -> FeatureConfig:
    return FeatureConfig(sample_rate=int(sr), fmax=min(8000.0, sr / 2.0), blocks=("mfcc", "chroma", "mel"), level_db=None)


def stft_db(y: np.ndarray, sr: int, *, max_frames: int = 800,
            S: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Linear-frequency spectrogram in dB (re. the clip's peak), pooled to at most ``max_frames`` frames.

    ``S``: the clip's magnitude STFT under the display config (:func:`display_stft`), if already computed.
    Returns ``(S_db [shape=(n_fft/2 + 1, t)], freqs_hz [shape=(n_fft/2 + 1,)], times_s [shape=(t,)])``.
    """
    cfg = _display_config(sr)
    mag = S if S is not None else _stft_mag(remove_dc(np.asarray(y, dtype=np.float32)), cfg)
    power = mag.astype(np.float64) ** 2
    ref = max(float(power.max()), 1e-20)
    s_db = 10.0 * np.log10(np.maximum(power, ref * 1e-8) / ref)  # 0 dB at the peak, floor -80 dB
    s_db, size = _pool_columns(s_db, max_frames)
    freqs = np.fft.rfftfreq(cfg.n_fft, 1.0 / sr)
    times = np.arange(s_db.shape[1]) * size * cfg.hop_length / sr
    return s_db.astype(np.float32), freqs, times


def display_stft(y: np.ndarray, sr: int) -> np.ndarray:
    """Magnitude STFT ``[shape=(n_fft/2 + 1, t)]`` float32 of ``y`` under the display config: the ``S=`` that
    lets :func:`stft_db`, :func:`feature_maps` and the figures of one clip share one STFT (of ``y`` less its mean,
    as the model hears it)."""
    return _stft_mag(remove_dc(np.asarray(y, dtype=np.float32)), _display_config(sr))


def feature_maps(y: np.ndarray, sr: int, *, max_frames: int = 800, S: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The frame features the model family uses, for display (one STFT, via :func:`ser.features.display_maps`:
    the numbers of :func:`ser.features.extract`).

    ``S``: the clip's magnitude STFT (:func:`display_stft`), if already computed.
    Returns ``{"mel": [shape=(64, t)] dB, "chroma": [shape=(12, t)] in [0, 1], "mfcc": [shape=(20, t)],
    "times": [shape=(t,)] s, "mel_hz": [shape=(64,)] band centre frequencies}``, pooled to at most
    ``max_frames`` frames. Silence is not trimmed, so the time axis matches the waveform.
    """
    from .dsp import mel_frequencies  # librosa's numbers without librosa's 1.5-3 s import

    cfg = _display_config(sr)
    maps = display_maps(y, cfg, S=S)
    out: dict[str, np.ndarray] = {}
    size = 1
    for block in ("mel", "chroma", "mfcc"):
        out[block], size = _pool_columns(maps[block], max_frames)
    out["times"] = np.arange(out["mel"].shape[1]) * size * cfg.hop_length / sr
    out["mel_hz"] = mel_frequencies(cfg.n_mels + 2, fmin=cfg.fmin, fmax=cfg.fmax)[1:-1]
    return out


# -- clip views ----------------------------------------------------------------------------------


def _envelope_traces(y: np.ndarray, sr: int, max_points: int, color: str = ACCENT) -> list[go.Scatter]:
    t, lo, hi = envelope(y, sr, max_points)
    if lo is hi:  # short clip: the samples themselves
        return [go.Scatter(x=t, y=hi, mode="lines", line={"color": color, "width": 1}, name="waveform",
                           hovertemplate="%{x:.3f} s<br>%{y:.3f}<extra></extra>", showlegend=False)]
    return [
        go.Scatter(x=t, y=hi, mode="lines", line={"color": color, "width": 0.6}, name="max",
                   hoverinfo="skip", showlegend=False),
        go.Scatter(x=t, y=lo, mode="lines", line={"color": color, "width": 0.6}, fill="tonexty",
                   fillcolor=color, name="min", hoverinfo="skip", showlegend=False),
    ]


def waveform(y: np.ndarray, sr: int, *, max_points: int = 2000, title: str | None = None) -> go.Figure:
    """Amplitude vs time (s) of ``y [shape=(n,)]``; long clips are drawn as a min/max envelope.

    At most ``max_points`` points reach the browser, whatever the clip length.
    """
    fig = go.Figure(_envelope_traces(y, sr, max_points // 2 if y.size > max_points else max_points))
    fig.update_xaxes(title_text="time (s)")
    fig.update_yaxes(title_text="amplitude", range=[-1.05, 1.05] if np.abs(y).max(initial=0) > 0.5 else None)
    return _layout(fig, title=title, height=220)


def _heatmap_fig(z, x, y, *, title, y_title, colorscale=MAGMA, colorbar=None, height=300, **hm) -> go.Figure:
    fig = go.Figure(go.Heatmap(z=z, x=x, y=y, colorscale=colorscale, colorbar=colorbar or {}, **hm))
    fig.update_xaxes(title_text="time (s)")
    fig.update_yaxes(title_text=y_title)
    return _layout(fig, title=title, height=height)


def spectrogram(y: np.ndarray, sr: int, *, max_frames: int = 600, title: str | None = None,
                S: np.ndarray | None = None) -> go.Figure:
    """Linear-frequency spectrogram of ``y``: time (s) × frequency (Hz), colour = dB re. the clip peak.

    ``S``: the clip's magnitude STFT (:func:`display_stft`), if already computed."""
    s_db, freqs, times = stft_db(y, sr, max_frames=max_frames, S=S)
    return _heatmap_fig(
        s_db, times, freqs, title=title, y_title="frequency (Hz)", zmin=-80, zmax=0,
        colorbar={"title": {"text": "dB"}},
        hovertemplate="%{x:.2f} s · %{y:.0f} Hz<br>%{z:.1f} dB<extra></extra>",
    )


def mel_spectrogram(y: np.ndarray, sr: int, *, max_frames: int = 800, title: str | None = None,
                    maps: Mapping[str, np.ndarray] | None = None, S: np.ndarray | None = None) -> go.Figure:
    """Mel spectrogram (64 bands, 50 Hz–8 kHz) of ``y``: time (s) × band centre (Hz), colour = dB.

    ``maps`` (:func:`feature_maps`) or ``S`` (:func:`display_stft`): the clip's maps or STFT, if already computed."""
    m = maps or feature_maps(y, sr, max_frames=max_frames, S=S)
    mel, hz = m["mel"], m["mel_hz"]
    fig = _heatmap_fig(
        mel, m["times"], np.arange(mel.shape[0]), title=title, y_title="mel band centre (Hz)",
        zmin=float(mel.max()) - 80.0, zmax=float(mel.max()), colorbar={"title": {"text": "dB"}},
        hovertemplate="%{x:.2f} s · mel band %{y}<br>%{z:.1f} dB<extra></extra>",
    )
    fig.update_yaxes(**_mel_ticks(hz))
    return fig


def chroma(y: np.ndarray, sr: int, *, max_frames: int = 800, title: str | None = None,
           maps: Mapping[str, np.ndarray] | None = None, S: np.ndarray | None = None) -> go.Figure:
    """Chromagram of ``y``: time (s) × pitch class (C…B), colour = relative energy in [0, 1].

    ``maps`` (:func:`feature_maps`) or ``S`` (:func:`display_stft`): the clip's maps or STFT, if already computed."""
    m = maps or feature_maps(y, sr, max_frames=max_frames, S=S)
    return _heatmap_fig(
        m["chroma"], m["times"], list(PITCH_CLASSES), title=title, y_title="pitch class", colorscale="Viridis",
        zmin=0, zmax=1, colorbar={"title": {"text": "rel."}},
        hovertemplate="%{x:.2f} s · %{y}<br>%{z:.2f}<extra></extra>",
    )


def mfcc(y: np.ndarray, sr: int, *, max_frames: int = 800, title: str | None = None,
         maps: Mapping[str, np.ndarray] | None = None, S: np.ndarray | None = None) -> go.Figure:
    """MFCCs of ``y``: time (s) × coefficient (0…19), colour = coefficient value (coefficient 0 ≈ loudness).

    ``maps`` (:func:`feature_maps`) or ``S`` (:func:`display_stft`): the clip's maps or STFT, if already computed."""
    m = maps or feature_maps(y, sr, max_frames=max_frames, S=S)
    c = m["mfcc"]
    lim = float(np.percentile(np.abs(c[1:]), 99)) if c.shape[0] > 1 else float(np.abs(c).max())
    return _heatmap_fig(
        c, m["times"], np.arange(c.shape[0]), title=title, y_title="coefficient", colorscale="RdBu_r",
        zmin=-lim, zmax=lim, colorbar={"title": {"text": "value"}},
        hovertemplate="%{x:.2f} s · MFCC %{y}<br>%{z:.1f}<extra></extra>",
    )


def fourier_spectrum(y: np.ndarray, sr: int, *, max_points: int = 2000, title: str | None = None) -> go.Figure:
    """Magnitude spectrum of the whole clip (FFT): frequency (Hz) vs level (dB re. the peak).

    The ``n/2 + 1`` FFT bins are averaged (in power) into at most ``max_points`` bins.
    """
    y = np.asarray(y, dtype=np.float32)
    spec = np.abs(np.fft.rfft(y * np.hanning(y.size).astype(np.float32))) ** 2
    freqs = np.fft.rfftfreq(y.size, 1.0 / sr)
    if spec.size > max_points:
        size = math.ceil(spec.size / max_points)
        m = spec.size // size
        spec = spec[: m * size].reshape(m, size).mean(axis=1)
        freqs = freqs[: m * size].reshape(m, size).mean(axis=1)
    ref = max(float(spec.max()), 1e-20)
    db = 10.0 * np.log10(np.maximum(spec, ref * 1e-10) / ref)
    fig = go.Figure(go.Scatter(x=freqs, y=db, mode="lines", line={"color": ACCENT, "width": 1.2},
                               hovertemplate="%{x:.0f} Hz<br>%{y:.1f} dB<extra></extra>"))
    fig.update_xaxes(title_text="frequency (Hz)")
    fig.update_yaxes(title_text="magnitude (dB re. peak)", range=[max(float(db.min()), -100.0), 3])
    return _layout(fig, title=title, height=280)


def clip_figures(y: np.ndarray, sr: int, *, max_frames: int = 800) -> dict[str, go.Figure]:
    """All single-clip views at once (one STFT serves the spectrogram, mel, chroma and MFCC views): keys
    ``waveform``, ``spectrogram``, ``mel``, ``chroma``, ``mfcc``, ``spectrum``."""
    S = display_stft(y, sr)
    maps = feature_maps(y, sr, max_frames=max_frames, S=S)
    return {
        "waveform": waveform(y, sr),
        "spectrogram": spectrogram(y, sr, max_frames=min(max_frames, 600), S=S),
        "mel": mel_spectrogram(y, sr, maps=maps),
        "chroma": chroma(y, sr, maps=maps),
        "mfcc": mfcc(y, sr, maps=maps),
        "spectrum": fourier_spectrum(y, sr),
    }


# -- predictions ---------------------------------------------------------------------------------


def probability_bars(probabilities: Mapping[str, float], *, threshold: float | None = None,
                     title: str | None = None, compare: Mapping[str, float] | None = None,
                     compare_name: str = "without your voice profile") -> go.Figure:
    """Horizontal bars of class probabilities (0–1), sorted, the top class in its emotion colour.

    ``threshold`` (0–1) is drawn as a dashed line: a top probability under it means "uncertain".
    ``compare``: other probabilities of the same classes (e.g. the unadapted ones), drawn as hollow
    markers over the bars and named ``compare_name`` in the legend. The percentages stand in a column
    right of the plot, so they never collide with the bars' ends, the threshold line or the markers.
    """
    items = sorted(probabilities.items(), key=lambda kv: kv[1])  # ascending: top bar drawn last = on top
    labels = [k for k, _ in items]
    values = [float(v) for _, v in items]
    top = labels[-1] if labels else None
    colors = [emotion_color(k) if k == top else MUTED for k in labels]
    fig = go.Figure(go.Bar(
        x=values, y=labels, orientation="h", marker_color=colors,
        hovertemplate="%{y}: %{x:.1%}<extra></extra>",
    ))
    for lab, v in zip(labels, values, strict=True):
        fig.add_annotation(x=1.0, xref="paper", xanchor="left", xshift=8, y=lab, yref="y", text=f"{v:.0%}",
                           showarrow=False, font={"size": 12, "color": "#1e293b" if lab == top else "#64748b"})
    if compare:
        fig.data[0].name = "this result"
        fig.add_trace(go.Scatter(
            x=[float(compare.get(k, 0.0)) for k in labels], y=labels, mode="markers", name=compare_name,
            marker=dict(symbol="diamond-open", size=11, color="#334155", line=dict(width=2)),
            hovertemplate="%{y}: %{x:.1%} " + compare_name + "<extra></extra>",
        ))
    if threshold is not None:
        fig.add_vline(x=threshold, line_dash="dash", line_color="#64748b",
                      annotation_text="uncertain below", annotation_position="top",
                      annotation_font_size=11, annotation_font_color="#64748b")
    fig.update_xaxes(range=[0, 1.0], tickformat=".0%", title_text="probability")
    fig.update_yaxes(ticksuffix="  ")
    fig = _layout(fig, title=title, height=max(220, 34 * len(labels) + 70), bargap=0.25)
    fig.update_layout(margin_r=56)
    if compare:
        fig.update_layout(showlegend=True, height=fig.layout.height + 40, margin_b=50,
                          legend=dict(orientation="h", yanchor="top", y=-0.2, x=0))
    return fig


def _window_bounds(timeline: Sequence[Any]) -> list[float]:
    """Boundaries (s) of the stretch each window owns: half-way between window centres, the first window
    from its start, the last to its end (``len(timeline) + 1`` values)."""
    centres = [(s.start + s.end) / 2 for s in timeline]
    inner = [(a + b) / 2 for a, b in zip(centres[:-1], centres[1:], strict=True)]
    return [timeline[0].start, *inner, timeline[-1].end]


def timeline_runs(timeline: Sequence[Any]) -> list[tuple[float, float, str]]:
    """Non-overlapping ``(start_s, end_s, label)`` runs from overlapping windows (``start``/``end``/``label``).

    Each window owns the stretch around its centre (boundaries half-way between centres); consecutive
    windows with the same top label merge into one run.
    """
    if not timeline:
        return []
    bounds = _window_bounds(timeline)
    runs: list[tuple[float, float, str]] = []
    for i, seg in enumerate(timeline):
        if runs and runs[-1][2] == seg.label:
            runs[-1] = (runs[-1][0], bounds[i + 1], seg.label)
        else:
            runs.append((bounds[i], bounds[i + 1], seg.label))
    return runs


def emotion_shares(timeline: Sequence[Any]) -> dict[str, float]:
    """Share (0–1) of the analysed time each emotion is the top one, largest first (sums to 1).

    Computed from :func:`timeline_runs`, so every window counts for the stretch it owns.
    """
    totals: dict[str, float] = {}
    for x0, x1, lab in timeline_runs(timeline):
        totals[lab] = totals.get(lab, 0.0) + max(0.0, x1 - x0)
    whole = sum(totals.values())
    if whole <= 0:
        return {}
    return dict(sorted(((k, v / whole) for k, v in totals.items()), key=lambda kv: (-kv[1], kv[0])))


def is_mixed(shares: Mapping[str, float], *, dominant: float = 0.6, min_windows: int = 3,
             n_windows: int | None = None) -> bool:
    """Whether a recording is better summarised by its shares than by one label: no emotion holds
    ``dominant`` (0–1) of the time, over at least ``min_windows`` windows (``n_windows``, when given)."""
    if not shares or (n_windows is not None and n_windows < min_windows):
        return False
    return max(shares.values()) < dominant


def emotion_timeline(y: np.ndarray, sr: int, timeline: Sequence[Any], *, labels: Sequence[str] | None = None,
                     max_points: int = 2000, title: str | None = None) -> go.Figure:
    """Emotion runs, waveform and per-window emotion probabilities on one shared time axis (s).

    ``timeline``: the :class:`ser.predict.Segment` windows of a prediction (``start``/``end`` s, ``label``,
    ``probabilities``). Top: a ribbon of :func:`timeline_runs` (consecutive windows with the same top
    emotion merged), each run labelled only where its name fits at the rendered width (plotly hides the
    rest; hover shows every run). Middle: the waveform. Bottom: stacked areas of every emotion's
    probability (they sum to 1), each window's values held over the stretch around its centre. Past
    90 s the time axis reads ``m:ss``.
    """
    labels = list(labels) if labels else order_emotions(timeline[0].probabilities) if timeline else []
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.04, row_heights=[0.1, 0.34, 0.56])
    runs = timeline_runs(timeline)
    for lab in order_emotions({r[2] for r in runs}):
        mine = [r for r in runs if r[2] == lab]
        fig.add_trace(go.Bar(
            x=[x1 - x0 for x0, x1, _ in mine], base=[x0 for x0, _, _ in mine], y=["runs"] * len(mine),
            orientation="h", name=lab, showlegend=False, width=0.9,
            marker={"color": _rgba(emotion_color(lab), 0.8), "line": {"width": 1, "color": "white"}},
            text=[lab] * len(mine), textposition="inside", insidetextanchor="middle", textangle=0,
            textfont={"color": "#0f172a", "size": 12}, constraintext="inside",
            customdata=[[clock(x0), clock(x1)] for x0, x1, _ in mine],
            hovertemplate=f"{lab}: %{{customdata[0]}}–%{{customdata[1]}}<extra></extra>",
        ), row=1, col=1)
    for tr in _envelope_traces(y, sr, max_points // 2):
        fig.add_trace(tr, row=2, col=1)
    # each window's probabilities hold over the stretch it owns (steps), so the areas line up with the runs
    bounds = _window_bounds(timeline) if timeline else []
    xs = [x for i in range(len(timeline)) for x in (bounds[i], bounds[i + 1])]
    for lab in labels:
        fig.add_trace(go.Scatter(
            x=xs, y=[s.probabilities.get(lab, 0.0) for s in timeline for _ in (0, 1)], name=lab, mode="lines",
            stackgroup="p", line={"width": 0.5, "color": emotion_color(lab)}, fillcolor=emotion_color(lab),
            hovertemplate=f"{lab}: %{{y:.0%}}<extra></extra>",
        ), row=3, col=1)
    fig.update_yaxes(showticklabels=False, showgrid=False, fixedrange=True, row=1, col=1)
    fig.update_yaxes(title_text="amplitude", row=2, col=1)
    fig.update_yaxes(title_text="probability", range=[0, 1], tickformat=".0%", row=3, col=1)
    end = max(y.size / sr, timeline[-1].end if timeline else 0.0)
    fig.update_xaxes(range=[0, end], **time_ticks(end))
    fig.update_xaxes(title_text="time (m:ss)" if end > 90 else "time (s)", row=3, col=1)
    return _layout(fig, title=title, height=470, hovermode="x unified", barmode="overlay",
                   uniformtext={"minsize": 10, "mode": "hide"},
                   legend={"orientation": "h", "y": -0.16, "x": 0, "traceorder": "normal"})


def emotion_share_bar(shares: Mapping[str, float], *, title: str | None = None) -> go.Figure:
    """One 100 % bar split into each emotion's share (0–1) of a recording, largest first; a segment is
    labelled ("angry 40%") only where the text fits, every share is in the hover."""
    fig = go.Figure()
    for lab, v in shares.items():
        fig.add_trace(go.Bar(
            x=[float(v)], y=["share"], orientation="h", name=lab, marker={"color": emotion_color(lab),
                                                                          "line": {"width": 1, "color": "white"}},
            text=[f"{lab} {v:.0%}"], textposition="inside", insidetextanchor="middle", textangle=0,
            textfont={"color": "#0f172a"}, hovertemplate=f"{lab}: %{{x:.0%}} of the time<extra></extra>",
        ))
    fig.update_xaxes(range=[0, 1], tickformat=".0%", showgrid=False)
    fig.update_yaxes(showticklabels=False, fixedrange=True)
    fig = _layout(fig, title=title, height=110 if not title else 140, barmode="stack", showlegend=False,
                  uniformtext={"minsize": 10, "mode": "hide"})
    fig.update_layout(margin={"l": 10, "r": 10, "t": 40 if title else 6, "b": 26})
    return fig


def circumplex(probabilities: Mapping[str, float] | None, *, trail: Sequence[tuple[float, float] | None] = (),
               title: str | None = "Arousal and valence<br><sup>derived from the class probabilities</sup>",
               ) -> go.Figure:
    """Valence (x: unpleasant → pleasant) × arousal (y: calm → activated) plane, **derived from the class
    probabilities** (:func:`ser.affect.affect_point`): each emotion at its conventional place, sized by
    its probability; the point is their probability-weighted mean. ``trail``: earlier points (oldest first,
    ``None`` = quiet), drawn as a faint line. ``probabilities`` ``None``/empty: the plane with no point.
    Always three traces (classes, trail, point; the last two possibly empty), so a chart redrawn in place
    every half second keeps each trace's styling.
    """
    from .affect import AFFECT_COORDS, affect_point

    probs = dict(probabilities or {})
    fig = go.Figure()
    fig.add_shape(type="circle", x0=-1, y0=-1, x1=1, y1=1, line={"color": "#cbd5e1", "width": 1}, layer="below")
    for x0, y0, x1, y1 in ((-1.1, 0, 1.1, 0), (0, -1.1, 0, 1.1)):
        fig.add_shape(type="line", x0=x0, y0=y0, x1=x1, y1=y1, line={"color": "#cbd5e1", "width": 1},
                      layer="below")
    shown = [k for k in order_emotions(probs or AFFECT_COORDS) if k in AFFECT_COORDS]
    fig.add_trace(go.Scatter(
        x=[AFFECT_COORDS[k][0] for k in shown], y=[AFFECT_COORDS[k][1] for k in shown], mode="markers+text",
        text=shown, textposition="top center", textfont={"size": 11, "color": "#475569"}, name="emotions",
        marker={"size": [8 + 34 * float(probs.get(k, 0.0)) for k in shown],
                "color": [emotion_color(k) for k in shown], "opacity": 0.9, "line": {"width": 0}},
        customdata=[float(probs.get(k, 0.0)) for k in shown],
        hovertemplate="%{text}: %{customdata:.0%}<extra></extra>", showlegend=False,
    ))
    pts = [p for p in trail if p is not None]
    fig.add_trace(go.Scatter(
        x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines+markers", name="recent",
        line={"color": _rgba(ACCENT, 0.3), "width": 2}, marker={"size": 4, "color": _rgba(ACCENT, 0.45)},
        hoverinfo="skip", showlegend=False,
    ))
    point = affect_point(probs) if probs else None
    fig.add_trace(go.Scatter(
        x=[point[0]] if point else [], y=[point[1]] if point else [], mode="markers", name="now",
        marker={"size": 18, "color": ACCENT, "symbol": "circle", "line": {"width": 2, "color": "white"}},
        hovertemplate="valence %{x:+.2f}<br>arousal %{y:+.2f}<extra></extra>", showlegend=False,
    ))
    # axis-end words: the x ones under the axis line (the classes' names sit above their markers)
    for x, y, text, xanchor, yanchor in ((1.18, -0.03, "pleasant", "right", "top"),
                                         (-1.18, -0.03, "unpleasant", "left", "top"),
                                         (0.03, 1.12, "activated", "left", "bottom"),
                                         (0.03, -1.12, "calm / deactivated", "left", "top")):
        fig.add_annotation(x=x, y=y, text=text, showarrow=False, xanchor=xanchor, yanchor=yanchor,
                           font={"size": 11, "color": "#94a3b8"})
    fig.update_xaxes(range=[-1.2, 1.2], title_text="valence", zeroline=False, showgrid=False, tickvals=[-1, 0, 1])
    fig.update_yaxes(range=[-1.2, 1.2], title_text="arousal", zeroline=False, showgrid=False, tickvals=[-1, 0, 1],
                     scaleanchor="x", scaleratio=1)
    return _layout(fig, title=title, height=400)


# -- live microphone -----------------------------------------------------------------------------

#: Marker colour of quiet updates on :func:`live_timeline`.
QUIET_MARKER = "#94a3b8"


def live_probability_bars(result: LiveResult | Headline | None, labels: Sequence[str]) -> go.Figure:
    """The Live page's bars: the current probabilities (0–1) of a window result or of the steady
    :class:`~ser.live.Headline` (smoothed), horizontal, in the fixed order of ``labels``.

    Unlike :func:`probability_bars` the order never changes, so the bars do not jump between updates
    twice a second; the shown label's bar is in its emotion colour, the others muted. All bars are zero
    when ``result`` is ``None`` (no result yet) or quiet.
    """
    labels = list(labels)
    empty = result is None or result.quiet
    probs = [0.0] * len(labels) if empty else [result.probabilities.get(k, 0.0) for k in labels]
    top = None if empty else result.label
    colors = [emotion_color(k) if k == top else MUTED for k in labels]
    fig = go.Figure(go.Bar(
        x=probs, y=labels, orientation="h", marker_color=colors, text=[f"{p:.0%}" for p in probs],
        textposition="outside", cliponaxis=False, hovertemplate="%{y}: %{x:.1%}<extra></extra>",
    ))
    fig.update_layout(
        template=_TEMPLATE, height=60 + 30 * len(labels), margin=dict(l=10, r=30, t=10, b=10),
        xaxis=dict(range=[0, 1.12], tickformat=".0%", title="probability"),
        yaxis=dict(autorange="reversed"), showlegend=False, bargap=0.25,
    )
    return fig


def live_timeline(history: Sequence[LiveResult], labels: Sequence[str], span_s: float = 30.0) -> go.Figure:
    """The Live page's scrolling timeline: each label's probability (0–1) per window result over the last
    ``span_s`` seconds of stream time (x, s). Quiet updates break the lines and show as grey squares on
    the baseline."""
    fig = go.Figure()
    end = history[-1].t if history else 0.0
    start = max(0.0, end - span_s)
    items = [r for r in history if r.t >= start]
    ts = [r.t for r in items]
    for lab in labels:
        ys = [None if r.quiet else r.probabilities.get(lab) for r in items]
        fig.add_trace(go.Scatter(x=ts, y=ys, mode="lines", name=lab, connectgaps=False,
                                 line=dict(width=2, color=emotion_color(lab))))
    quiet_t = [r.t for r in items if r.quiet]
    if quiet_t:
        fig.add_trace(go.Scatter(x=quiet_t, y=[0.0] * len(quiet_t), mode="markers", name="quiet",
                                 marker=dict(color=QUIET_MARKER, size=7, symbol="square")))
    fig.update_layout(
        template=_TEMPLATE, height=300, margin=dict(l=10, r=10, t=10, b=10),
        xaxis=dict(range=[start, start + span_s], title="stream time (s)"),
        yaxis=dict(range=[0, 1.02], tickformat=".0%", title=None),
        legend=dict(orientation="h", y=-0.25),
    )
    return fig


def label_counts(labels: Sequence[str], *, title: str | None = None) -> go.Figure:
    """Bars of how many clips got each predicted emotion (batch summary)."""
    counts: dict[str, int] = {}
    for lab in labels:
        counts[lab] = counts.get(lab, 0) + 1
    order = order_emotions(counts)
    fig = go.Figure(go.Bar(x=order, y=[counts[k] for k in order], marker_color=[emotion_color(k) for k in order],
                           text=[counts[k] for k in order], textposition="outside", cliponaxis=False,
                           hovertemplate="%{x}: %{y} clips<extra></extra>"))
    fig.update_yaxes(title_text="clips")
    return _layout(fig, title=title, height=300)


# -- model report --------------------------------------------------------------------------------


def confusion_matrix(confusion: Sequence[Sequence[float]], labels: Sequence[str], *, normalise: bool = False,
                     title: str | None = None) -> go.Figure:
    """Confusion matrix heatmap; rows = true emotion, columns = predicted.

    ``confusion [shape=(k, k)]`` counts. ``normalise=True`` divides each row by its total (recall on the
    diagonal, shown as %); empty rows stay 0.
    """
    cm = np.asarray(confusion, dtype=float)
    if normalise:
        totals = cm.sum(axis=1, keepdims=True)
        z = np.divide(cm, totals, out=np.zeros_like(cm), where=totals > 0)
        text = [[f"{v:.0%}" if v else "" for v in row] for row in z]
        hover = "true %{y} → predicted %{x}<br>%{z:.1%} of the row<extra></extra>"
    else:
        z = cm
        text = [[f"{int(v)}" if v else "" for v in row] for row in z]
        hover = "true %{y} → predicted %{x}<br>%{z:.0f} clips<extra></extra>"
    labels = list(labels)
    fig = go.Figure(go.Heatmap(z=z, x=labels, y=labels, colorscale="Blues", text=text, texttemplate="%{text}",
                               hovertemplate=hover, zmin=0, zmax=1 if normalise else None,
                               colorbar={"title": {"text": "share" if normalise else "clips"}}))
    fig.update_xaxes(title_text="predicted", side="bottom", tickangle=-30)
    fig.update_yaxes(title_text="true", autorange="reversed")
    return _layout(fig, title=title, height=max(360, 44 * len(labels) + 120))


def training_curves(history: Mapping[str, Any], *, title: str | None = None) -> go.Figure:
    """Loss and accuracy per epoch, training vs validation (two panels; x = epoch, starting at 1).

    ``history``: Keras-style ``{"loss": [...], "val_loss": [...], "accuracy": [...], "val_accuracy": [...]}``;
    missing series are skipped.
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Loss", "Accuracy"), horizontal_spacing=0.1)
    for col, key in ((1, "loss"), (2, "accuracy")):
        for name, k, color in (("training", key, TRAIN_COLOR), ("validation", f"val_{key}", VAL_COLOR)):
            vals = history.get(k)
            if not isinstance(vals, list | tuple) or not vals:
                continue
            fig.add_trace(go.Scatter(
                x=list(range(1, len(vals) + 1)), y=[float(v) for v in vals], mode="lines+markers" if len(vals) < 30
                else "lines", name=name, line={"color": color, "width": 2}, showlegend=col == 1, legendgroup=name,
                hovertemplate=f"{name} {key}<br>epoch %{{x}}: %{{y:.3f}}<extra></extra>",
            ), row=1, col=col)
        n = max((len(v) for v in (history.get(key), history.get(f"val_{key}")) if isinstance(v, list | tuple)),
                default=1)
        fig.update_xaxes(title_text="epoch", dtick=max(1, math.ceil(n / 10)), tick0=1, row=1, col=col)
    fig.update_yaxes(tickformat=".0%", row=1, col=2)
    return _layout(fig, title=title, height=340, legend={"orientation": "h", "y": -0.25, "x": 0})


def per_class_metrics(per_class: Mapping[str, Mapping[str, float]], *, title: str | None = None) -> go.Figure:
    """Grouped bars of precision, recall and F1 (0–1) per emotion; support (clips) in the hover."""
    labels = list(per_class)
    fig = go.Figure()
    for metric, color in (("precision", "#93c5fd"), ("recall", ACCENT), ("f1", "#f59e0b")):
        fig.add_trace(go.Bar(
            x=labels, y=[float(per_class[k].get(metric, 0.0)) for k in labels], name=metric.upper()
            if metric == "f1" else metric, marker_color=color,
            customdata=[per_class[k].get("support", 0) for k in labels],
            hovertemplate=f"%{{x}} {metric}: %{{y:.2f}}<br>%{{customdata}} clips<extra></extra>",
        ))
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%")
    return _layout(fig, title=title, height=340, barmode="group",
                   legend={"orientation": "h", "y": 1.1, "x": 0})


def per_speaker_accuracy(per_speaker: Mapping[str, float], *, title: str | None = None) -> go.Figure:
    """Accuracy (0–1) per held-out speaker, with the mean as a dashed line. The values are printed under
    the speaker names (not over the bars), so they never sit on the mean line."""
    names = sorted(per_speaker)
    vals = [float(per_speaker[s]) for s in names]
    fig = go.Figure(go.Bar(x=names, y=vals, marker_color=ACCENT, hovertemplate="%{x}: %{y:.1%}<extra></extra>"))
    fig.update_xaxes(tickvals=names, ticktext=[f"{n}<br><b>{v:.0%}</b>" for n, v in zip(names, vals, strict=True)])
    if vals:
        mean = float(np.mean(vals))
        fig.add_hline(y=mean, line_dash="dash", line_color="#64748b", annotation_text=f"mean {mean:.0%}",
                      annotation_position="top left", annotation_bgcolor="rgba(255,255,255,0.85)")
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%", title_text="accuracy")
    fig.update_xaxes(title_text="speaker")
    return _layout(fig, title=title, height=320)


def fold_scores(per_fold: Sequence[Mapping[str, Any]], *, title: str | None = None) -> go.Figure:
    """UAR and accuracy (0–1) per cross-validation fold; each fold held out different speakers."""
    folds = [f"fold {f.get('fold', i + 1)}" for i, f in enumerate(per_fold)]
    fig = go.Figure()
    for key, color in (("uar", ACCENT), ("accuracy", "#93c5fd")):
        fig.add_trace(go.Bar(
            x=folds, y=[float(f.get(key, 0.0)) for f in per_fold], name=key.upper() if key == "uar" else key,
            marker_color=color, customdata=[", ".join(f.get("test_speakers", [])) for f in per_fold],
            hovertemplate=f"%{{x}} {key}: %{{y:.1%}}<br>test speakers: %{{customdata}}<extra></extra>",
        ))
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%")
    return _layout(fig, title=title, height=320, barmode="group", legend={"orientation": "h", "y": 1.1, "x": 0})


def calibration(calib: Mapping[str, Any], *, title: str | None = None) -> go.Figure:
    """Expected calibration error before and after temperature scaling (lower is better).

    ``calib``: ``{"temperature", "ece_before", "ece_after", ...}`` from the bundle's metrics. When it also
    holds a reliability table ``{"reliability": {"confidence": [...], "accuracy": [...]}}`` that is drawn.
    """
    rel = calib.get("reliability")
    if isinstance(rel, Mapping) and rel.get("confidence") and rel.get("accuracy"):
        fig = go.Figure([
            go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dash", "color": "#94a3b8"},
                       name="perfect calibration"),
            go.Scatter(x=rel["confidence"], y=rel["accuracy"], mode="lines+markers", name="model",
                       line={"color": ACCENT}),
        ])
        fig.update_xaxes(title_text="confidence", range=[0, 1])
        fig.update_yaxes(title_text="accuracy", range=[0, 1])
        return _layout(fig, title=title, height=340)
    names, vals = [], []
    for key, name in (("ece_before", "before"), ("ece_after", f"after (T = {calib.get('temperature', 1.0):.2f})")):
        if calib.get(key) is not None:
            names.append(name)
            vals.append(float(calib[key]))
    fig = go.Figure(go.Bar(x=names, y=vals, marker_color=[MUTED, ACCENT][: len(vals)],
                           text=[f"{v:.3f}" for v in vals], textposition="outside", cliponaxis=False,
                           hovertemplate="%{x}: ECE %{y:.3f}<extra></extra>"))
    fig.update_yaxes(title_text="expected calibration error", rangemode="tozero")
    return _layout(fig, title=title, height=300)


# -- datasets ------------------------------------------------------------------------------------


def class_counts(manifest) -> dict[str, dict[str, int]]:
    """``{corpus: {emotion: clips}}`` from a corpus manifest (a DataFrame with corpus/emotion columns)."""
    out: dict[str, dict[str, int]] = {}
    if len(manifest) == 0:
        return out
    for (corpus, emo), n in manifest.groupby(["corpus", "emotion"]).size().items():
        out.setdefault(str(corpus), {})[str(emo)] = int(n)
    return out


def class_balance(counts: Mapping[str, Any], *, title: str | None = None) -> go.Figure:
    """Clips per emotion, stacked by corpus.

    ``counts``: ``{corpus: {emotion: n}}`` (eda.json ``class_counts``, :func:`class_counts`) or a flat
    ``{emotion: n}``.
    """
    if counts and all(isinstance(v, int | float) for v in counts.values()):
        counts = {"clips": counts}
    emotions = order_emotions(e for per in counts.values() for e in per)
    palette = ["#4f46e5", "#f97316", "#14b8a6", "#e11d48", "#84cc16", "#0ea5e9"]
    fig = go.Figure()
    for i, (corpus, per) in enumerate(counts.items()):
        fig.add_trace(go.Bar(x=emotions, y=[per.get(e, 0) for e in emotions], name=corpus,
                             marker_color=palette[i % len(palette)],
                             hovertemplate=f"{corpus} · %{{x}}: %{{y}} clips<extra></extra>"))
    fig.update_yaxes(title_text="clips")
    return _layout(fig, title=title, height=320, barmode="stack", showlegend=len(counts) > 1,
                   legend={"orientation": "h", "y": 1.12, "x": 0})


def duration_histogram(durations: Sequence[float] | np.ndarray | None = None, *,
                       hist: Mapping[str, Sequence[float]] | None = None, bins: int = 30,
                       title: str | None = None) -> go.Figure:
    """Histogram of clip durations (s): from raw ``durations`` or a precomputed ``hist``
    ``{"edges": [b + 1], "counts": [b]}`` (eda.json)."""
    if hist is not None and hist.get("edges") and hist.get("counts"):
        edges = np.asarray(hist["edges"], dtype=float)
        counts = np.asarray(hist["counts"], dtype=float)
    else:
        d = np.asarray([] if durations is None else durations, dtype=float)
        d = d[np.isfinite(d)]
        counts, edges = np.histogram(d, bins=bins) if d.size else (np.zeros(0), np.zeros(1))
    centres = (edges[:-1] + edges[1:]) / 2
    fig = go.Figure(go.Bar(x=centres, y=counts, width=np.diff(edges), marker_color=ACCENT,
                           marker_line={"width": 0.5, "color": "white"},
                           hovertemplate="%{x:.2f} s: %{y} clips<extra></extra>"))
    fig.update_xaxes(title_text="duration (s)")
    fig.update_yaxes(title_text="clips")
    return _layout(fig, title=title, height=300, bargap=0)


_PROFILE_AXES = {
    "mel": "mel band centre (Hz)",
    "chroma": "pitch class",
    "mfcc": "MFCC coefficient",
}


def emotion_profiles(per_emotion: Mapping[str, Mapping[str, Sequence[float]]], feature: str = "mel", *,
                     relative: bool = False, sr: int = 16000, title: str | None = None) -> go.Figure:
    """Per-emotion average feature profile, one line per emotion.

    ``per_emotion``: ``{emotion: {"mel": [64] dB, "chroma": [12] 0–1, "mfcc": [20]}}`` (eda.json or
    :func:`average_profiles`). ``relative=True`` plots each emotion minus the mean of all emotions, which
    shows how the emotions differ (e.g. angry speech is louder in the upper mel bands).
    """
    if feature not in _PROFILE_AXES:
        raise ValueError(f"feature must be one of {sorted(_PROFILE_AXES)}, got {feature!r}")
    emotions = [e for e in order_emotions(per_emotion) if per_emotion[e].get(feature)]
    mat = np.array([per_emotion[e][feature] for e in emotions], dtype=float) if emotions else np.zeros((0, 0))
    if relative and mat.size:
        mat = mat - mat.mean(axis=0, keepdims=True)
    n = mat.shape[1] if mat.size else 0
    axis: dict[str, Any] = {}
    if feature == "mel":
        from .dsp import mel_frequencies

        cfg = _display_config(sr)
        x = list(range(n))
        axis = _mel_ticks(mel_frequencies(n + 2, fmin=cfg.fmin, fmax=cfg.fmax)[1:-1]) if n else {}
    elif feature == "chroma":
        x = list(PITCH_CLASSES[:n])
    else:
        x = list(range(n))
    fig = go.Figure()
    for e, row in zip(emotions, mat, strict=True):
        fig.add_trace(go.Scatter(x=x, y=row, mode="lines", name=e, line={"color": emotion_color(e), "width": 2},
                                 hovertemplate=f"{e}: %{{y:.2f}}<extra></extra>"))
    unit = {"mel": "dB", "chroma": "relative energy", "mfcc": "value"}[feature]
    fig.update_yaxes(title_text=("difference from the average, " if relative else "mean ") + unit)
    fig.update_xaxes(title_text=_PROFILE_AXES[feature], **axis)
    if relative:
        fig.add_hline(y=0, line_color="#94a3b8", line_width=1)
    return _layout(fig, title=title, height=360, hovermode="x unified")


def average_profiles(clips_by_emotion: Mapping[str, Sequence[np.ndarray]], sr: int) -> dict[str, dict[str, list]]:
    """Mean mel (dB), chroma and MFCC frame of each emotion's clips (silence trimmed), in eda.json's format.

    ``clips_by_emotion``: ``{emotion: [signal [shape=(n,)], ...]}`` at ``sr`` Hz. Returns
    ``{emotion: {"mel": [64], "chroma": [12], "mfcc": [20]}}``.
    """
    cfg = _display_config(sr)
    frames = {emo: [extract(np.asarray(y, dtype=np.float32), cfg) for y in clips if np.asarray(y).size]
              for emo, clips in clips_by_emotion.items()}
    return per_emotion_profiles(frames, cfg, blocks=("mel", "chroma", "mfcc"))


def emotions_side_by_side(clips: Sequence[tuple[str, np.ndarray]], sr: int, *, kind: str = "mel",
                          max_frames: int = 400, title: str | None = None) -> go.Figure:
    """One row per emotion (same speaker and sentence): the mel spectrogram (``kind="mel"``, dB re. each
    clip's peak) or the waveform (``kind="waveform"``) of each ``(emotion, signal [shape=(n,)])`` clip, on a
    shared time axis (s)."""
    if kind not in ("mel", "waveform"):
        raise ValueError(f"kind must be 'mel' or 'waveform', got {kind!r}")
    n = max(len(clips), 1)
    titles = [e for e, _ in clips]
    fig = make_subplots(rows=n, cols=1, shared_xaxes=True, vertical_spacing=min(0.04, 0.3 / n),
                        subplot_titles=titles)
    for i, (emo, y) in enumerate(clips, start=1):
        if kind == "mel":
            m = feature_maps(y, sr, max_frames=max_frames)
            mel = m["mel"] - m["mel"].max()
            fig.add_trace(go.Heatmap(z=mel, x=m["times"], y=np.arange(mel.shape[0]), coloraxis="coloraxis",
                                     hovertemplate=f"{emo}<br>%{{x:.2f}} s · mel band %{{y}}<br>%{{z:.1f}} dB"
                                     "<extra></extra>"), row=i, col=1)
            fig.update_yaxes(row=i, col=1, **_mel_ticks(m["mel_hz"], 3))
        else:
            for tr in _envelope_traces(y, sr, 600, color=emotion_color(emo)):
                fig.add_trace(tr, row=i, col=1)
            fig.update_yaxes(range=[-1, 1], showticklabels=False, row=i, col=1)
    fig.update_xaxes(title_text="time (s)", row=n, col=1)
    fig.update_annotations(font_size=12, x=0, xanchor="left")
    layout: dict[str, Any] = {}
    if kind == "mel":
        layout["coloraxis"] = {"colorscale": MAGMA, "cmin": -80, "cmax": 0, "colorbar": {"title": {"text": "dB"}}}
    return _layout(fig, title=title, height=60 + 115 * n, **layout)


__all__ = [
    "EMOTION_COLORS",
    "EMOTION_ICONS",
    "EMOTION_MD_COLORS",
    "average_profiles",
    "calibration",
    "chroma",
    "circumplex",
    "clock",
    "class_balance",
    "class_counts",
    "clip_figures",
    "confusion_matrix",
    "duration_histogram",
    "emotion_color",
    "emotion_profiles",
    "emotion_share_bar",
    "emotion_shares",
    "emotion_timeline",
    "display_stft",
    "emotions_side_by_side",
    "envelope",
    "feature_maps",
    "fold_scores",
    "fourier_spectrum",
    "is_mixed",
    "label_counts",
    "live_probability_bars",
    "live_timeline",
    "mel_spectrogram",
    "mfcc",
    "order_emotions",
    "per_class_metrics",
    "per_speaker_accuracy",
    "probability_bars",
    "spectrogram",
    "stft_db",
    "time_ticks",
    "timeline_runs",
    "training_curves",
    "waveform",
]
