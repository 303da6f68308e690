"""Streamlit glue shared by the app's pages: the model, the corpora on disk, errors, common widgets.

Pages stay thin: they lay out widgets and call these helpers, :mod:`ser.predict` and :mod:`ser.viz`.
Only what needs Streamlit (caches, session state, widgets) and the app's own wording live here; the
plain logic behind it lives where its job is: bundle folders in :mod:`ser.bundle`, bundle summaries in
:mod:`ser.card`, corpus folders in :mod:`ser.corpora`, batch tables in :mod:`ser.results`, WebRTC and
secure-context checks in :mod:`ser.rtc`.

* One :class:`~ser.predict.Predictor` per bundle folder and process (``st.cache_resource``), shared by
  every session. The bundle is ``st.session_state["bundle_dir"]`` (set by the sidebar selector in
  ``app.py``), else ``$SER_MODEL_DIR``, else ``models/default`` (:func:`ser.bundle.default_bundle_dir`).
* Corpora are looked for in :func:`ser.corpora.data_dirs`; scans are cached with ``st.cache_data``.
* Every :class:`~ser.errors.SERError` is shown as ``st.error(str(err))`` and the page keeps working.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import streamlit as st

from . import card, corpora, results, rtc, viz
from .bundle import ModelBundle, available_bundles, default_bundle_dir, load_bundle
from .errors import SERError

if TYPE_CHECKING:
    from .adapt import SpeakerProfile
    from .live import Headline, LiveAnalyzer, LiveResult
    from .predict import Prediction, Predictor

#: Session-state key of the selected bundle folder (a str path).
BUNDLE_KEY = "bundle_dir"
#: File types the uploaders accept.
AUDIO_TYPES = ["wav", "flac", "ogg", "mp3", "webm", "m4a"]
DOWNLOAD_HINT = (
    "Download a corpus into `data/` with `ser data download ravdess --dest data` (RAVDESS, about 200 MB; "
    "non-commercial licence), or point `SER_DATA_DIR` at folders that hold RAVDESS, EMO-DB, TESS, "
    "CREMA-D or SAVEE clips."
)
_MIME = {
    "wav": "audio/wav", "flac": "audio/flac", "ogg": "audio/ogg", "mp3": "audio/mpeg", "webm": "audio/webm",
    "m4a": "audio/mp4",
}


# -- errors --------------------------------------------------------------------------------------


def show_error(err: BaseException, hint: str | None = None) -> None:
    """Show a package error as ``st.error(str(err))`` (plus an optional hint); never raises."""
    st.error(str(err), icon=":material/error:")
    if hint:
        st.caption(hint)


# -- routing -------------------------------------------------------------------------------------


def ensure_entrypoint() -> None:
    """Make sure a page runs under ``app.py``'s ``st.navigation``.

    Streamlit falls back to its legacy ``pages/`` folder routing for a deep link (``/analyze``) opened
    before ``app.py`` ran once in the server process: the page script then runs on its own, without the
    app's layout, navigation and sidebar. Called at the top of every page (and by :func:`current_bundle` /
    :func:`current_predictor`), this switches the fallback off and reruns through ``app.py``.
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # pragma: no cover - internal module moved
        return
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def emotion_md(label: str) -> str:
    """``label`` as coloured Streamlit markdown with its Material icon (renders without emoji fonts)."""
    icon = viz.EMOTION_ICONS.get(label, "record_voice_over")
    color = viz.EMOTION_MD_COLORS.get(label, "gray")
    return f":{color}[:material/{icon}: {label}]"


# -- secure context (microphone access) ----------------------------------------------------------


def page_url() -> str | None:
    """The page's URL as the browser sees it (``st.context.url``), or ``None`` outside a browser session."""
    try:
        return st.context.url
    except Exception:  # no session (bare script, tests): nothing to check
        return None


SECURE_CONTEXT_HINT = (
    "Browsers give the microphone only to a secure page: **https://…**, or **http://localhost** on the "
    "machine running the app. Over plain http from another machine the recorder stays silent or asks for "
    "no permission at all. Serve the app over HTTPS (see *Serving a demo to a room* in the README: "
    "`streamlit run app.py --server.sslCertFile cert.pem --server.sslKeyFile key.pem`), or open it on the "
    "server itself."
)


def secure_context_notice(what: str = "The microphone") -> bool:
    """Warn (``st.warning``) when this page is not a secure context, so ``what`` cannot work; returns
    whether the warning was shown."""
    url = page_url()
    if rtc.is_secure_origin(url) is not False:
        return False
    st.warning(f"{what} needs a secure connection, and this page is `{url}`. " + SECURE_CONTEXT_HINT,
               icon=":material/lock_open:")
    return True


# -- model bundles -------------------------------------------------------------------------------


def selected_bundle_dir() -> str:
    """The bundle folder this session uses (sidebar choice, else the default)."""
    chosen = st.session_state.get(BUNDLE_KEY)
    return str(chosen) if chosen else str(default_bundle_dir())


@st.cache_resource(show_spinner=False, max_entries=8)
def get_bundle(bundle_dir: str) -> ModelBundle:
    """The bundle's JSON parts (config, metrics, history, EDA, card), read once per process.

    Raises :class:`~ser.errors.BundleError` (not cached) for a missing or broken bundle.
    """
    return load_bundle(bundle_dir)


@st.cache_resource(show_spinner="Loading the emotion model…", max_entries=4)
def get_predictor(bundle_dir: str | None = None) -> Predictor:
    """One thread-safe :class:`~ser.predict.Predictor` per bundle folder, shared by all sessions.

    ``bundle_dir``: a bundle folder; default ``$SER_MODEL_DIR`` else ``models/default``. The Keras model is
    loaded here, once, and warmed up (:meth:`~ser.predict.Predictor.warm_up`: its networks loaded, the whisper
    graph built on a machine's first run) under the spinner, not in a user's first prediction. Raises
    :class:`~ser.errors.BundleError` (not cached) for a missing/broken bundle.
    """
    from .predict import Predictor

    path = str(bundle_dir) if bundle_dir else str(default_bundle_dir())
    predictor = Predictor(get_bundle(path))
    predictor.warm_up()
    return predictor


def _bundle_hint() -> str:
    return (
        f"The app looks for a model bundle in `{default_bundle_dir()}` (set `SER_MODEL_DIR` to use another "
        "folder). A bundle is written by `ser train`; the shipped one lives in `models/default`."
    )


def _guarded(load, what: str):
    """``load(selected_bundle_dir())``, or ``None`` after showing a clear error (the page goes on rendering)."""
    ensure_entrypoint()
    try:
        return load(selected_bundle_dir())
    except SERError as err:
        show_error(err, _bundle_hint())
    except OSError as err:
        show_error(SERError(f"cannot {what}: {err}"), _bundle_hint())
    return None


def current_bundle() -> ModelBundle | None:
    """The selected bundle, or ``None`` after showing a clear error (the page goes on rendering)."""
    return _guarded(get_bundle, "read the model bundle")


def current_predictor() -> Predictor | None:
    """The selected bundle's predictor (model loaded), or ``None`` after showing a clear error."""
    return _guarded(get_predictor, "load the model")


def model_selector() -> None:
    """Sidebar: choose the bundle when several exist; the choice is kept in ``st.session_state``."""
    bundles = [str(p) for p in available_bundles()]
    current = st.session_state.get(BUNDLE_KEY)
    label = functools.partial(card.bundle_label, load=get_bundle)
    if len(bundles) > 1:
        index = bundles.index(current) if current in bundles else 0
        choice = st.sidebar.selectbox("Model", bundles, index=index, format_func=label,
                                      key="_model_choice", help="Model bundles found in models/ (and SER_MODEL_DIR)")
        st.session_state[BUNDLE_KEY] = choice
    else:
        st.session_state[BUNDLE_KEY] = bundles[0] if bundles else str(default_bundle_dir())
        if bundles:
            st.sidebar.caption(f"Model: {label(bundles[0])}")


# -- corpora on disk -----------------------------------------------------------------------------


@st.cache_data(show_spinner="Looking for corpora on disk…", ttl=600, max_entries=8)
def cached_scan(dirs: Sequence[str]) -> corpora.ScanResult:
    """:func:`ser.corpora.scan_folders` of ``dirs``, cached for ten minutes."""
    return corpora.scan_folders(dirs)


def corpus_manifest() -> pd.DataFrame | None:
    """The manifest of every corpus clip on disk, or ``None`` when there is none."""
    dirs = tuple(str(d) for d in corpora.data_dirs())
    if not dirs:
        return None
    try:
        res = cached_scan(dirs)
    except SERError as err:
        show_error(err)
        return None
    return res.manifest if len(res.manifest) else None


@st.cache_data(show_spinner=False, max_entries=64)
def load_clip(path: str, sr: int = 16000) -> np.ndarray:
    """A corpus clip as mono float32 ``[shape=(n,)]`` at ``sr`` Hz (cached)."""
    from .audio import load

    return load(path, sr=sr)


@st.cache_data(show_spinner="Averaging features per emotion…", max_entries=16)
def emotion_averages(paths_by_emotion: dict[str, tuple[str, ...]], sr: int = 16000) -> dict[str, dict[str, list]]:
    """:func:`ser.viz.average_profiles` of the given clips (paths grouped by emotion), cached."""
    from .audio import load

    clips = {emo: [load(p, sr=sr) for p in paths] for emo, paths in paths_by_emotion.items()}
    return viz.average_profiles(clips, sr)


def clip_label(row: pd.Series) -> str:
    """One line describing a manifest row: ``03-01-05-01-01-01-12 · ravdess_12 · angry · strong``."""
    parts = [Path(str(row["path"])).stem, str(row["speaker"]), str(row["emotion"])]
    if row.get("intensity") not in (None, "", "unspecified"):
        parts.append(str(row["intensity"]))
    return " · ".join(parts)


def mime_for(name: str, fallback: str = "audio/wav") -> str:
    """The audio MIME type for a file name (for ``st.audio``)."""
    return _MIME.get(Path(name).suffix.lower().lstrip("."), fallback)


# -- charts --------------------------------------------------------------------------------------


def chart(fig, *, key: str | None = None, caption: str | None = None) -> None:
    """Show a :mod:`ser.viz` figure as designed (its own template and colour scales, no mode bar)."""
    st.plotly_chart(fig, theme=None, key=key, config={"displayModeBar": False, "displaylogo": False})
    if caption:
        st.caption(caption)


# -- predictions ---------------------------------------------------------------------------------


@dataclass
class Analysis:
    """One analysed input: its identity key, name, signal at the model rate and the prediction (or error)."""

    key: tuple
    name: str
    y: np.ndarray | None = None
    sr: int = 16000
    prediction: Any = None
    error: str | None = None
    figures: dict | None = None
    earlier: tuple[int, float] | None = None  # the voice profile before this clip: (clips, seconds)


def analyse(predictor, key: tuple, name: str, data: bytes, *, state_key: str = "analysis",
            profile: SpeakerProfile | None = None) -> Analysis:
    """Predict ``data`` (encoded audio) once per input identity ``key``; the latest result lives in
    ``st.session_state[state_key]``, so a new input always replaces the old result.

    ``profile``: the session's voice profile (see :func:`voice_profile`): the clip is predicted adapted
    to the speech the profile heard before, then added to it, once per input (an input analysed again,
    e.g. after the profile toggle went off and on, does not count twice).
    """
    cache_key = key + (profile is not None,)
    cur = st.session_state.get(state_key)
    if isinstance(cur, Analysis) and cur.key == cache_key:
        return cur
    st.session_state.pop(state_key, None)  # never show a stale result while the new one is computed
    from .audio import info, load

    res = Analysis(key=cache_key, name=name, sr=predictor.sample_rate)  # the bytes are not kept in the session
    with st.spinner(f"Analysing {name}…"):
        try:
            res.y = load(data, sr=predictor.sample_rate)
            facts = info(data)  # the original rate (narrowband check) and a cut-short file's warning
            sr, warn = facts.get("samplerate"), tuple(facts.get("warnings", ()))
            if profile is None:
                res.prediction = predictor.predict(res.y, source=name, source_sr=sr, warnings=warn)
            else:
                with profile_lock():  # no st call inside: a rerun cannot stop it half-way
                    update = not _profile_has(key)
                    res.earlier = (int(profile.clips), float(profile.seconds))
                    res.prediction = predictor.predict(res.y, source=name, profile=profile, update_profile=update,
                                                       source_sr=sr, warnings=warn)
                    if update:
                        _profile_inputs()[key] = None
        except SERError as err:
            res.error = str(err)
    st.session_state[state_key] = res
    return res


def prediction_json(prediction: Prediction) -> str:
    """The prediction as pretty JSON (for downloads)."""
    return json.dumps(prediction.to_dict(), indent=2)


def shares_text(shares: dict[str, float], *, top: int = 4, min_share: float = 0.05) -> str:
    """``"Angry 40 % · Calm 35 % · Sad 20 % · other 5 %"``: the largest ``top`` shares of at least
    ``min_share`` (0–1), the rest summed as "other"."""
    items = sorted(shares.items(), key=lambda kv: -kv[1])
    shown = [(k, v) for k, v in items[:top] if v >= min_share] or items[:1]
    rest = 1.0 - sum(v for _, v in shown) if shares else 0.0
    parts = [f"{k.capitalize()} {v:.0%}".replace("%", " %") for k, v in shown]
    if rest >= 0.005:
        parts.append(f"other {rest:.0%}".replace("%", " %"))
    return " · ".join(parts)


def show_prediction(prediction: Prediction, *, threshold: float, earlier: tuple[int, float] | None = None,
                    name: str | None = None) -> None:
    """Top emotion with confidence (or the "uncertain" state) next to the probability bar chart.

    A long clip whose windows disagree (no emotion holds 60 % of the time, :func:`ser.viz.is_mixed`) is
    summarised as the share of time per emotion ("Angry 40 % · Calm 35 % · …", with a bar) instead of one
    uncertain label. Input-quality warnings (narrowband, clipped, very noisy) are shown under the result;
    a result adapted to a voice profile says how many earlier clips it drew on and what the general
    model said. ``earlier``: ``(clips, seconds)`` the profile held before this clip (default: the
    prediction's ``profile_clips``, in clips' worth of speech). ``name``: the input's full file name,
    shown with the result.
    """
    left, right = st.columns([2, 3], vertical_alignment="center")
    unadapted = prediction.unadapted if prediction.unadapted else None
    shares = viz.emotion_shares(prediction.timeline) if prediction.timeline else {}
    mixed = viz.is_mixed(shares, n_windows=len(prediction.timeline))
    with left:
        icon = viz.EMOTION_ICONS.get(prediction.label, "record_voice_over")
        color = viz.EMOTION_MD_COLORS.get(prediction.label, "gray")
        with st.container(border=True):
            if name:
                st.caption(f":material/audio_file: `{name}`")
            if mixed:
                st.caption("Mixed recording: share of the time per emotion")
                st.markdown(f"#### :material/stacked_bar_chart: {shares_text(shares)}")
                chart(viz.emotion_share_bar(shares), key="prediction_shares")
                st.caption(f"Whole clip ({prediction.duration:.1f} s): {emotion_md(prediction.label)} "
                           f"{prediction.confidence:.0%} — no single emotion holds most of the time.")
            else:
                st.caption("Predicted emotion")
                st.markdown(f"## :{color}[:material/{icon}:] {prediction.label.capitalize()}")
                st.markdown(f"**{prediction.confidence:.0%}** confidence · clip of {prediction.duration:.1f} s")
                if shares and len(shares) > 1:
                    st.caption("Over time: " + shares_text(shares))
            note = adaptation_note(prediction, earlier=earlier)
            if note:
                st.caption(note)
        if prediction.uncertain and not mixed:
            if prediction.confidence < threshold:
                st.warning(
                    f"Uncertain: the top probability ({prediction.confidence:.0%}) is below the model's threshold "
                    f"({threshold:.0%}). Treat **{prediction.label}** as a weak guess.", icon=":material/help:")
            else:
                st.warning(f"Uncertain: the input's quality makes **{prediction.label}** a weak guess (see below).",
                           icon=":material/help:")
        for text in quality_warnings(prediction):
            st.warning(text, icon=":material/warning:")
    with right:
        chart(viz.probability_bars(prediction.probabilities, threshold=threshold,
                                   compare=unadapted if prediction.adapted else None))
        st.caption("Probability of each emotion for the whole clip (calibrated; they sum to 100%). "
                   "The dashed line is the confidence threshold."
                   + (" Hollow diamonds: the same clip without your voice profile." if prediction.adapted else ""))


AFFECT_CAPTION = (
    "**Derived from the class probabilities**, not measured: each emotion sits at a conventional place of "
    "the arousal/valence circle (Russell's circumplex), sized by its probability; the dot is their "
    "probability-weighted mean. The model was never trained on arousal or valence ratings."
)


def show_affect(probabilities: dict[str, float] | None, *, trail: Sequence[tuple[float, float] | None] = (),
                key: str = "affect", caption: str | None = None, title: str | None = None) -> None:
    """The arousal/valence view (:func:`ser.viz.circumplex`, its default title unless ``title``) with its
    "derived from the class probabilities" caption (``caption`` is added to it)."""
    fig = viz.circumplex(probabilities, trail=trail) if title is None else viz.circumplex(
        probabilities, trail=trail, title=title)
    chart(fig, key=key)
    st.caption(AFFECT_CAPTION + (f" {caption}" if caption else ""))


def quality_warnings(prediction: Prediction) -> list[str]:
    """One line per input-quality warning of ``prediction`` (empty for clean input)."""
    lowered = getattr(prediction, "reliability", 1.0) < 1.0
    suffix = f" — confidences lowered (reliability {prediction.reliability:.0%})" if lowered else ""
    return [f"Input quality: {w}{suffix}" for w in getattr(prediction, "warnings", ())]


def top_label(probabilities: dict[str, float] | None) -> tuple[str, float] | None:
    """``(label, probability)`` of the most likely class (``None`` for no probabilities)."""
    if not probabilities:
        return None
    lab = max(probabilities, key=probabilities.get)
    return lab, float(probabilities[lab])


def clips_text(n: float, seconds: float | None = None) -> str:
    """``"1 earlier clip"``, ``"3 earlier clips (41 s)"``, ``"2.5 earlier clips"`` (clips' worth of speech)."""
    n = float(n)
    num = f"{n:.0f}" if abs(n - round(n)) < 0.05 else f"{n:.1f}"
    return f"{num} earlier clip{'' if num == '1' else 's'}" + (f" ({seconds:.0f} s)" if seconds else "")


def adaptation_note(prediction: Prediction, *, earlier: tuple[int, float] | None = None) -> str:
    """A short line on how the voice profile shaped ``prediction`` (``""`` when no profile was used).

    ``earlier``: ``(clips, seconds)`` the profile held before the clip (default: ``profile_clips``)."""
    if prediction.unadapted is None and not prediction.adapted:
        return ""
    if not prediction.adapted:
        return ("Your voice profile was still empty, so the general model answered; this clip now starts "
                "the profile.")
    top = top_label(prediction.unadapted)
    held = clips_text(*earlier) if earlier else clips_text(prediction.profile_clips)
    text = f":material/record_voice_over: Adapted to {held} of your voice."
    if top is not None:
        same = " (the same)" if top[0] == prediction.label else ""
        text += f" Without the profile: **{top[0]}** {top[1]:.0%}{same}."
    return text


def show_clip_views(y: np.ndarray, sr: int, *, figures: dict | None = None, spectrum: bool = False,
                    key: str = "views") -> dict:
    """Tabs with the clip's waveform, spectrogram, mel spectrogram, chroma, MFCC (and Fourier spectrum).

    Returns the figures so a caller can keep them with its result instead of recomputing.
    """
    figs = figures if figures is not None else viz.clip_figures(y, sr)
    tabs = {
        "Waveform": ("waveform", "Amplitude over time. Loud, energetic emotions (angry, happy) show larger peaks."),
        "Spectrogram": ("spectrogram", "Energy per frequency over time (dB). Horizontal stripes are the voice's "
                        "harmonics; their spacing follows the pitch."),
        "Mel spectrogram": ("mel", "The same energy on the mel scale, which spaces frequencies as the ear does. "
                            "This is what the model listens to."),
        "Chroma": ("chroma", "Energy per musical pitch class; traces the intonation of the voice."),
        "MFCC": ("mfcc", "Mel-frequency cepstral coefficients: a compact description of the timbre of each "
                 "10 ms frame."),
    }
    if spectrum:
        tabs["Fourier spectrum"] = ("spectrum", "Average magnitude per frequency over the whole clip.")
    for tab, (name, caption) in zip(st.tabs(list(tabs)), tabs.values(), strict=True):
        with tab:
            chart(figs[name], key=f"{key}_{name}")
            st.caption(caption)
    return figs


def batch_display(df: pd.DataFrame, *, one_speaker: bool = False) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A batch table (:mod:`ser.results` rows) ready for ``st.dataframe``: ``(frame, column_config)``.

    Missing text cells become ``""`` (not "None"), missing numbers stay empty; the file name is pinned and
    wide enough for full RAVDESS names; probability columns are titled by their emotion (``p_surprised`` →
    "surprised") and wide enough to show it. The frame keeps every column of the schema; without
    ``one_speaker`` the speaker-adaptation ones (``profile_clips``, ``unadapted_label``) are hidden.
    """
    out = results.blank_text(df)
    cfg: dict[str, Any] = {
        "file": st.column_config.TextColumn("file", width="large", pinned=True),
        "label": st.column_config.TextColumn("emotion", width="small"),
        "confidence": st.column_config.ProgressColumn("confidence", format="percent", min_value=0.0, max_value=1.0,
                                                      width="small"),
        "error": st.column_config.TextColumn("error", width="medium"),
        "uncertain": st.column_config.CheckboxColumn("uncertain", width="small"),
        "duration": st.column_config.NumberColumn("duration (s)", format="%.2f", width="small"),
        "duration_s": st.column_config.NumberColumn("duration (s)", format="%.2f", width="small"),
        "reliability": st.column_config.NumberColumn(
            "reliability", format="%.2f", width="small",
            help="1 = clean input; lower values have softened the confidences"),
        "adapted": st.column_config.CheckboxColumn("adapted", help="predicted relative to the files before it",
                                                   width="small"),
        "profile_clips": st.column_config.NumberColumn("earlier clips", format="%.1f", width="small",
                                                       help="clips' worth of this speaker the profile held"),
        "unadapted_label": st.column_config.TextColumn("general model", width="small",
                                                       help="the answer without the voice profile"),
        "warnings": st.column_config.TextColumn("warnings", width="medium",
                                                help="input quality (confidences lowered)"),
    }
    if not one_speaker:  # these columns only mean something with "one speaker" (the CSV keeps them)
        cfg.update({"profile_clips": None, "unadapted_label": None})
    for c in out.columns:
        if c.startswith("p_"):
            cfg[c] = st.column_config.ProgressColumn(c[2:], format="percent", min_value=0.0, max_value=1.0,
                                                     width=max(100, 9 * len(c[2:]) + 40),
                                                     help=f"probability of {c[2:]}")
    return out, {k: v for k, v in cfg.items() if k in out.columns}  # None = hidden


# -- speaker adaptation --------------------------------------------------------------------------

#: Session-state key of the Analyze page's voice profile (a :class:`~ser.adapt.SpeakerProfile`).
PROFILE_KEY = "voice_profile"
#: Session-state key of the inputs already added to it: ``{input key: error message or None}``.
PROFILE_INPUTS_KEY = "voice_profile_inputs"
#: Session-state key of the Live page's voice profile (kept across START/STOP).
LIVE_PROFILE_KEY = "live_voice_profile"
#: Seconds of speech a calibration should have.
CALIBRATION_S = 20.0
NO_ADAPT_HINT = (
    "This model cannot adapt to a voice: its bundle has no adaptation prior (retrain it with this version "
    "of ser). Predictions come from the general model."
)


def can_adapt(predictor) -> bool:
    """Whether ``predictor``'s bundle carries an adaptation prior."""
    return bool(getattr(predictor, "adaptive", False))


def voice_profile(predictor, *, key: str = PROFILE_KEY) -> SpeakerProfile | None:
    """This session's voice profile for ``predictor`` (created empty on first use), or ``None`` when the
    model cannot adapt. A stored profile the model cannot use (other features) is replaced by an empty one."""
    if not can_adapt(predictor):
        return None
    profile = st.session_state.get(key)
    if profile is not None:
        try:
            profile.check(predictor.prior)
        except SERError:
            profile = None
    if profile is None:
        profile = predictor.new_profile("you")
        st.session_state[key] = profile
        if key == PROFILE_KEY:
            st.session_state.pop(PROFILE_INPUTS_KEY, None)
    return profile


_LOCK_GUARD = threading.Lock()


def profile_lock() -> threading.Lock:
    """This session's lock around voice-profile updates.

    Streamlit's fast reruns can start a new run of the page while the previous one is still inside a
    prediction, so two runs could add the same clip to the profile; whoever adds a clip holds this lock
    from "is it new?" to "mark it heard" (with no Streamlit call in between).
    """
    with _LOCK_GUARD:
        lock = st.session_state.get("_voice_profile_lock")
        if lock is None:
            lock = st.session_state["_voice_profile_lock"] = threading.Lock()
        return lock


def _profile_inputs() -> dict:
    return st.session_state.setdefault(PROFILE_INPUTS_KEY, {})


def _profile_has(key: tuple) -> bool:
    return key in st.session_state.get(PROFILE_INPUTS_KEY, {})


def calibrate(predictor, key: tuple, name: str, data: bytes) -> str | None:
    """Add a calibration clip (encoded audio) to the session's voice profile, once per input ``key``.

    Returns the error message of that input (``None`` when it was added), also on later reruns.
    """
    profile = voice_profile(predictor)
    if profile is None:
        return NO_ADAPT_HINT
    seen = _profile_inputs()
    if key not in seen:
        with st.spinner(f"Learning your voice from {name}…"), profile_lock():
            if key not in seen:  # another run of the page may have learnt it while we waited
                try:
                    profile.enrolled = True  # deliberate calibration: the mood guard does not apply
                    predictor.predict_file(data, name=name, profile=profile, update_profile=True)
                    seen[key] = None
                except SERError as err:
                    seen[key] = str(err)
    return seen[key]


def voice_profile_section(predictor) -> SpeakerProfile | None:
    """The Analyze page's "Calibrate to my voice" section: a status line and an expander to record or upload
    about ``CALIBRATION_S`` s of free speech, a "Use my voice profile" toggle, a reset and a JSON download.

    Returns the profile later clips are predicted with (and added to), or ``None`` when the model cannot
    adapt or the toggle is off.
    """
    adaptive = can_adapt(predictor)
    profile = voice_profile(predictor) if adaptive else None
    use = False
    status = st.empty()  # the profile's state, filled in once this run's calibration clips are in
    label = "Calibrate to my voice" + ("" if profile is not None else " (not available with this model)")
    with st.expander(f":material/record_voice_over: {label}"):
        if profile is None:
            st.caption(NO_ADAPT_HINT)
            return None
        st.caption(f"Voices and microphones differ. Give the model about {CALIBRATION_S:.0f} s of your ordinary, "
                   "free speech (say anything) and later clips are judged against *your* normal voice instead of "
                   "the studio voices it was trained on. Each clip analysed with the profile on refines it. It "
                   "lives in this browser session only.")
        c1, c2 = st.columns(2)
        rec = c1.audio_input(f"Record about {CALIBRATION_S:.0f} s of free speech", key="calibrate_record")
        up = c2.file_uploader("…or upload a clip of your voice", type=AUDIO_TYPES, key="calibrate_upload")
        for clip, kind in ((rec, "record"), (up, "upload")):
            if clip is not None:
                err = calibrate(predictor, ("calibrate", kind, clip.file_id), clip.name or "recording.wav",
                                clip.getvalue())
                if err:
                    show_error(SERError(err), "Calibrate with a few seconds of clear speech.")
        if profile.heard > 0:
            st.success(f"Voice profile: {profile_status(profile)}.", icon=":material/check_circle:")
            if profile.seconds < CALIBRATION_S / 2:
                st.caption(f"A little more speech (about {CALIBRATION_S:.0f} s in all) makes it steadier.")
        else:
            st.caption("Not calibrated yet: record or upload a clip above (or just analyse your own clips with the "
                       "profile on: each one teaches it your voice).")
        t1, t2, t3 = st.columns([2, 1, 1], vertical_alignment="center")
        use = t1.toggle("Use my voice profile", value=True, key="analyze_use_profile",
                        help="On: your clips are predicted relative to your voice and added to the profile. "
                             "Off: the general model answers and the profile is left as it is.")
        t2.button("Reset voice profile", key="analyze_profile_reset", on_click=reset_voice_profile,
                  icon=":material/restart_alt:", disabled=profile.heard <= 0)
        t3.download_button("Profile (JSON)", profile.to_json(), file_name="voice_profile.json",
                           mime="application/json", on_click="ignore", icon=":material/download:",
                           disabled=profile.heard <= 0)
    state = profile_status(profile)
    status.caption(f":material/record_voice_over: Voice profile: {state[0].upper() + state[1:]}"
                   + (" · used for your clips" if use else " · off (general model)"))
    return profile if use else None


def reset_voice_profile(key: str = PROFILE_KEY) -> None:
    """Forget the session's voice profile (a button callback); the next new clip starts a new one."""
    profile = st.session_state.get(key)
    analyzer = st.session_state.get("live_analyzer") if key == LIVE_PROFILE_KEY else None
    if analyzer is not None and getattr(analyzer, "profile", None) is profile:
        analyzer.reset_profile()  # under the analyzer's lock: its worker may be adding a window
    elif profile is not None:
        with profile_lock():
            profile.reset()
    # the inputs already heard stay marked: a clip still in a widget is not learned again


def profile_status(profile: SpeakerProfile | None) -> str:
    """``"calibrated on 21 s of your voice (2 clips)"``, or ``"not calibrated"`` for an empty/no profile (a running
    profile whose clips are all still held back says it is listening)."""
    if profile is None or profile.heard <= 0:
        return "not calibrated"
    if profile.n <= 0:
        return (f"listening: {profile.seconds:.0f} s of your voice so far ({profile.clips} clip"
                f"{'s' * (profile.clips != 1)}), used once a few more clips follow")
    return f"calibrated on {profile.seconds:.0f} s of your voice ({profile.clips} clip{'s' * (profile.clips != 1)})"


def one_speaker_toggle(predictor) -> bool:
    """The Batch page's "These files are one speaker" toggle (disabled, with the reason, when the model
    cannot adapt); returns whether it is on."""
    adaptive = predictor is not None and can_adapt(predictor)
    on = st.toggle("These files are one speaker", value=False, key="batch_one_speaker", disabled=not adaptive,
                   help="One voice profile runs through the batch in upload order: each file is predicted "
                        "relative to the speaker's voice in the files before it.")
    if predictor is not None and not adaptive:
        st.caption(NO_ADAPT_HINT)
    return bool(on and adaptive)


def live_analyzer(predictor, **kwargs) -> LiveAnalyzer:
    """A new :class:`~ser.live.LiveAnalyzer` that learns into this session's live voice profile, so the
    adaptation carries over from one stream (START … STOP) to the next."""
    from .live import LiveAnalyzer

    analyzer = LiveAnalyzer(predictor, **kwargs)
    profile = voice_profile(predictor, key=LIVE_PROFILE_KEY)
    if profile is not None:
        analyzer.profile = profile
    return analyzer


def live_headline_text(headline: Headline | None) -> str:
    """The Live page's headline as markdown: Material icon and colour of the steady label, its smoothed
    confidence and "(uncertain)"; a muted line while quiet; ``""`` before the first result."""
    if headline is None:
        return ""
    if headline.quiet:
        return "### :gray[:material/volume_off:] Quiet — no speech"
    icon = viz.EMOTION_ICONS.get(headline.label, "record_voice_over")
    color = viz.EMOTION_MD_COLORS.get(headline.label, "gray")
    hedge = " (uncertain)" if headline.uncertain else ""
    return f"### :{color}[:material/{icon}:] Emotion: **{headline.label}** — {headline.confidence:.0%}{hedge}"


def live_adaptation_text(adaptive: bool, adapt: bool, seconds: float, *, after_s: float = 0.0) -> str:
    """The Live page's adaptation state line, e.g. ``"Adapted to 12 s of your voice"``; ``after_s``: seconds of
    speech the profile needs before it adapts (:attr:`ser.predict.Predictor.adapt_after_s`)."""
    if not adaptive:
        return ":material/person_off: " + NO_ADAPT_HINT
    if not adapt:
        return (f":material/person_off: Adaptation off: the general model answers (the voice profile keeps "
                f"listening: {seconds:.0f} s of your voice so far).")
    if seconds <= 0:
        return ":material/record_voice_over: Not adapted yet: the model learns your voice as you speak."
    if seconds < after_s - 1e-6:
        return (f":material/record_voice_over: Learning your voice: {seconds:.0f} s so far; the model adapts after "
                f"about {after_s:.0f} s of speech.")
    return f":material/record_voice_over: Adapted to {seconds:.0f} s of your voice."


def live_comparison_text(result: LiveResult | None) -> str:
    """Both top labels of an adapted live result (``""`` when it was not adapted or quiet)."""
    if result is None or result.quiet or not result.adapted:
        return ""
    plain = top_label(result.plain_probabilities)
    if plain is None:
        return ""
    return (f"Adapted to your voice: **{result.label}** {result.confidence:.0%} · "
            f"general model: **{plain[0]}** {plain[1]:.0%}")


__all__ = [
    "AUDIO_TYPES",
    "CALIBRATION_S",
    "LIVE_PROFILE_KEY",
    "NO_ADAPT_HINT",
    "PROFILE_KEY",
    "Analysis",
    "analyse",
    "batch_display",
    "adaptation_note",
    "cached_scan",
    "calibrate",
    "can_adapt",
    "clips_text",
    "chart",
    "clip_label",
    "corpus_manifest",
    "current_bundle",
    "current_predictor",
    "emotion_averages",
    "emotion_md",
    "ensure_entrypoint",
    "get_bundle",
    "get_predictor",
    "live_adaptation_text",
    "live_analyzer",
    "live_comparison_text",
    "live_headline_text",
    "load_clip",
    "model_selector",
    "one_speaker_toggle",
    "prediction_json",
    "profile_status",
    "quality_warnings",
    "page_url",
    "reset_voice_profile",
    "secure_context_notice",
    "selected_bundle_dir",
    "shares_text",
    "show_affect",
    "show_clip_views",
    "show_error",
    "show_prediction",
    "top_label",
    "voice_profile",
    "voice_profile_section",
]
