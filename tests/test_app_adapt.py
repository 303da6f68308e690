"""Speaker adaptation and input-quality warnings in the app ("Hear the person, not the studio").

AppTest (no browser) runs the pages through ``app.py`` as ``tests/test_app_pages.py`` does: a tiny bundle
with an adaptation prior (``ser.testing.make_tiny_bundle``, mlp) exercises the adaptive controls, a copy
without ``adaptation.json`` the fallback of a model that cannot adapt (as the shipped one, until it is
retrained). The Live page's WebRTC component cannot run under AppTest: a stand-in (``fake_webrtc``) plays a
generated voice as real ``av.AudioFrame`` objects through the page's own audio sink instead.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from fake_webrtc import FakeWebRtc, settle, voice_frames
from streamlit.testing.v1 import AppTest
from support import RAVDESS, ROOT, requires_data, speechlike
from support import app_texts as _texts
from support import wav_bytes as _wav

from ser import bundle, ui, viz
from ser.adapt import PRIOR_FILE

APP = str(ROOT / "app.py")
TIMEOUT = 90




def _clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _start(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    _clean(at)
    at.switch_page(page).run()
    _clean(at)
    return at


@pytest.fixture(scope="module")
def fixed_bundle(tiny_bundle, tmp_path_factory) -> Path:
    """The tiny bundle without its adaptation prior: a model that cannot adapt."""
    dest = tmp_path_factory.mktemp("fixed") / "fixed"
    shutil.copytree(tiny_bundle, dest)
    (dest / PRIOR_FILE).unlink()
    return dest


@pytest.fixture
def env(monkeypatch, tiny_bundle, tmp_path):
    """The adaptive tiny bundle and no corpus by default; ``env(model=...)`` switches the bundle."""
    assert (tiny_bundle / PRIOR_FILE).exists(), "make_tiny_bundle(mlp) should write an adaptation prior"
    empty = tmp_path / "no-data"
    empty.mkdir()

    def set_env(model: Path | str = tiny_bundle, data: Path | str = empty) -> None:
        monkeypatch.setenv("SER_MODEL_DIR", str(model))
        monkeypatch.setenv("SER_DATA_DIR", str(data))

    set_env()
    monkeypatch.setattr(bundle, "MODELS_DIR", tmp_path / "no-models")
    return set_env


def _voice(seconds: float, seed: int = 0, sr: int = 16_000) -> bytes:
    return _wav(speechlike(seconds, sr=sr, f0=120.0, seed=seed), sr)


# -- helpers (no Streamlit run) ------------------------------------------------------------------


def test_text_helpers():
    from ser.gate import GateResult
    from ser.live import LiveResult
    from ser.predict import Prediction

    assert ui.clips_text(1) == "1 earlier clip" and ui.clips_text(4.0, 21.4) == "4 earlier clips (21 s)"
    assert ui.clips_text(2.5) == "2.5 earlier clips"
    assert "Adapted to 12 s of your voice" in ui.live_adaptation_text(True, True, 12.3)
    assert "Not adapted yet" in ui.live_adaptation_text(True, True, 0.0)
    assert "Adaptation off" in ui.live_adaptation_text(True, False, 5.0)
    assert "cannot adapt" in ui.live_adaptation_text(False, True, 0.0)
    # a model that adapts only after a few clips says so while it is still learning the voice
    assert "Learning your voice: 4 s so far; the model adapts after about 9 s" in ui.live_adaptation_text(
        True, True, 4.2, after_s=9.0)
    assert "Adapted to 9 s of your voice" in ui.live_adaptation_text(True, True, 9.0, after_s=9.0)

    g = GateResult(-20.0, 2.0, 0.9, 0.1, False)
    adapted = LiveResult(3, 2.5, 0.0, "angry", 0.6, {"angry": 0.6, "sad": 0.4}, False, False, -20.0, g, 0.01, 2.5,
                         plain_probabilities={"angry": 0.3, "sad": 0.7}, adapted=True, profile_s=2.0)
    assert ui.live_comparison_text(adapted) == ("Adapted to your voice: **angry** 60% · general model: "
                                                "**sad** 70%")
    plain = LiveResult(1, 1.0, 0.0, "sad", 0.7, {"angry": 0.3, "sad": 0.7}, False, False, -20.0, g, 0.01, 1.0,
                       plain_probabilities={"angry": 0.3, "sad": 0.7})
    assert ui.live_comparison_text(plain) == "" and ui.live_comparison_text(None) == ""

    p = Prediction("angry", 0.55, {"angry": 0.55, "sad": 0.45}, True, 3.0,
                   warnings=("narrowband input (8 kHz source)",), reliability=0.5, adapted=True,
                   profile_clips=4.0, unadapted={"angry": 0.4, "sad": 0.6})
    assert ui.quality_warnings(p) == ["Input quality: narrowband input (8 kHz source) — confidences lowered "
                                      "(reliability 50%)"]
    note = ui.adaptation_note(p)
    assert "Adapted to 4 earlier clips of your voice" in note and "Without the profile: **sad** 60%" in note
    assert "1 earlier clip (20 s)" in ui.adaptation_note(p, earlier=(1, 20.0))
    assert ui.adaptation_note(Prediction("sad", 0.6, {"sad": 0.6}, False, 2.0)) == ""
    assert ui.top_label({"a": 0.2, "b": 0.8}) == ("b", 0.8) and ui.top_label({}) is None


def test_probability_bars_compare_markers():
    fig = viz.probability_bars({"angry": 0.6, "sad": 0.4}, threshold=0.5, compare={"angry": 0.3, "sad": 0.7})
    assert len(fig.data) == 2 and fig.layout.showlegend
    marks = dict(zip(fig.data[1].y, fig.data[1].x, strict=True))
    assert marks == {"angry": 0.3, "sad": 0.7}
    assert len(viz.probability_bars({"angry": 0.6, "sad": 0.4}).data) == 1


# -- analyze -------------------------------------------------------------------------------------


def test_analyze_calibrate_then_adapted_upload(env):
    at = _start("pages/analyze.py")
    assert "Voice profile: Not calibrated" in _texts(at)
    assert at.toggle(key="analyze_use_profile").value is True
    assert at.button(key="analyze_profile_reset").disabled

    # calibrate with ~20 s of free speech (uploaded), then a recording
    at.file_uploader(key="calibrate_upload").set_value(("me.wav", _voice(20.0), "audio/wav")).run()
    _clean(at)
    prof = at.session_state[ui.PROFILE_KEY]
    assert prof.clips == 1 and prof.seconds == pytest.approx(20.0, abs=1.0) and prof.n > 0
    assert "calibrated on 20 s of your voice (1 clip)" in _texts(at)
    at.run()  # a rerun with the same clip in the widget does not learn it again
    assert at.session_state[ui.PROFILE_KEY].clips == 1
    assert not at.button(key="analyze_profile_reset").disabled
    assert '"format": 1' in at.session_state[ui.PROFILE_KEY].to_json()

    # a later upload is adapted to the calibration, shows the unadapted answer, and refines the profile
    at.file_uploader(key="analyze_upload").set_value(("later.wav", _voice(3.0, seed=1), "audio/wav")).run()
    _clean(at)
    res = at.session_state["analysis"]
    pred = res.prediction
    assert res.error is None and pred.adapted and pred.unadapted and set(pred.unadapted) == set(pred.probabilities)
    assert res.earlier == (1, pytest.approx(20.0, abs=1.0))
    text = _texts(at)
    assert "Adapted to 1 earlier clip (20 s) of your voice" in text and "Without the profile:" in text
    assert at.session_state[ui.PROFILE_KEY].clips == 2
    assert len(at.get("plotly_chart")[0].proto.spec) > 0

    # toggle off: the general model answers and the profile is left alone
    at.toggle(key="analyze_use_profile").set_value(False).run()
    _clean(at)
    pred_off = at.session_state["analysis"].prediction
    assert not pred_off.adapted and pred_off.unadapted is None and "Adapted to" not in _texts(at)
    assert "off (general model)" in _texts(at)
    assert at.session_state[ui.PROFILE_KEY].clips == 2
    # on again: adapted, but the clip is not learned a second time
    at.toggle(key="analyze_use_profile").set_value(True).run()
    assert at.session_state["analysis"].prediction.adapted and at.session_state[ui.PROFILE_KEY].clips == 2

    # a recording adds to the profile too
    at.audio_input(key="calibrate_record").set_value(("recording.wav", _voice(6.0, seed=2), "audio/wav")).run()
    _clean(at)
    assert at.session_state[ui.PROFILE_KEY].clips == 3

    # reset: empty profile; the clips still in the widgets are not learned again
    at.button(key="analyze_profile_reset").click().run()
    _clean(at)
    assert at.session_state[ui.PROFILE_KEY].n == 0 and "Voice profile: Not calibrated" in _texts(at)
    at.run()
    assert at.session_state[ui.PROFILE_KEY].n == 0

    # a new upload after the reset: predicted by the general model and starts the profile again
    at.file_uploader(key="analyze_upload").set_value(("next.wav", _voice(2.5, seed=3), "audio/wav")).run()
    _clean(at)
    pred = at.session_state["analysis"].prediction
    assert not pred.adapted and pred.unadapted is not None and "still empty" in _texts(at)
    assert at.session_state[ui.PROFILE_KEY].clips == 1


def test_analyze_calibration_error_is_shown(env):
    at = _start("pages/analyze.py")
    at.file_uploader(key="calibrate_upload").set_value(("silence.wav", _wav(np.zeros(32_000)), "audio/wav")).run()
    _clean(at)
    assert at.error and "silent" in at.error[0].value
    assert at.session_state[ui.PROFILE_KEY].n == 0


def test_analyze_model_without_adaptation(env, fixed_bundle):
    env(model=fixed_bundle)
    at = _start("pages/analyze.py")
    assert "cannot adapt to a voice" in _texts(at)
    assert not at.get("toggle") and ui.PROFILE_KEY not in at.session_state
    at.file_uploader(key="analyze_upload").set_value(("a.wav", _voice(2.5), "audio/wav")).run()
    _clean(at)
    pred = at.session_state["analysis"].prediction
    assert not pred.adapted and pred.unadapted is None and "Adapted to" not in _texts(at)


def test_analyze_shows_input_quality_warning(env):
    at = _start("pages/analyze.py")
    y8k = speechlike(3.0, sr=8_000, f0=130.0)
    at.file_uploader(key="analyze_upload").set_value(("phone.wav", _wav(y8k, 8_000), "audio/wav")).run()
    _clean(at)
    pred = at.session_state["analysis"].prediction
    assert any("narrowband" in w for w in pred.warnings) and pred.reliability < 1
    warnings = [w.value for w in at.warning]
    assert any("Input quality: narrowband" in w and "confidences lowered" in w for w in warnings), warnings


# -- batch ---------------------------------------------------------------------------------------


def test_batch_one_speaker_running_profile(env):
    at = _start("pages/batch.py")
    files = [("1.wav", _voice(3.0, seed=1), "audio/wav"), ("2.wav", _voice(2.0, seed=2), "audio/wav"),
             ("bad.wav", b"RIFF0000WAVEnope", "audio/wav"),
             ("3.wav", _wav(speechlike(2.5, sr=8_000), 8_000), "audio/wav")]
    at.file_uploader(key="batch_files").set_value(files).run()
    _clean(at)
    df = at.dataframe[0].value
    assert {"adapted", "warnings"} <= set(df.columns) and (df["unadapted_label"] == "").all()  # no profile: empty
    assert df["adapted"].tolist()[:2] == [False, False] and df["adapted"].iloc[3] == False  # noqa: E712
    assert "8 kHz source" in df["warnings"].iloc[3] and "8 kHz source" not in df["warnings"].iloc[0]

    at.toggle(key="batch_one_speaker").set_value(True).run()
    _clean(at)
    df = at.dataframe[0].value
    assert list(df["file"]) == ["1.wav", "2.wav", "bad.wav", "3.wav"]  # upload order
    assert df["adapted"].tolist()[:2] == [False, True] and df["adapted"].iloc[3] == True  # noqa: E712
    assert df["error"].iloc[2] and df["unadapted_label"].iloc[1] in df.filter(like="p_").columns.str[2:].tolist()
    assert "adapted to the voice of the files above it" in _texts(at)
    assert np.allclose(df.filter(like="p_").iloc[[0, 1, 3]].sum(axis=1), 1.0)


def test_batch_one_speaker_disabled_without_adaptation(env, fixed_bundle):
    env(model=fixed_bundle)
    at = _start("pages/batch.py")
    assert at.toggle(key="batch_one_speaker").disabled and "cannot adapt to a voice" in _texts(at)
    at.file_uploader(key="batch_files").set_value([("1.wav", _voice(2.0), "audio/wav")]).run()
    _clean(at)
    df = at.dataframe[0].value
    assert df["adapted"].tolist() == [False] and isinstance(df["warnings"].iloc[0], str)


# -- live ----------------------------------------------------------------------------------------


@pytest.fixture
def fake_webrtc(monkeypatch) -> FakeWebRtc:
    """Replace ``webrtc_streamer`` (the page imports it at each run) by a :class:`FakeWebRtc`."""
    import streamlit_webrtc

    fake = FakeWebRtc()
    monkeypatch.setattr(streamlit_webrtc, "webrtc_streamer", fake)
    return fake


def _real_voice(seconds: float, sr: int = 48_000) -> np.ndarray:
    """``seconds`` of real RAVDESS speech (actor 1's clips one after another) at ``sr`` Hz: the live page
    gates with a voice-activity detector, which a generated tone complex need not pass."""
    from ser import audio

    clips, total = [], 0
    for path in sorted((RAVDESS / "Actor_01").glob("*.flac")):
        clips.append(audio.load(path, sr=sr))
        total += clips[-1].size
        if total >= seconds * sr:
            break
    return np.concatenate(clips)[: int(seconds * sr)]


def _stream(at: AppTest, fake: FakeWebRtc, seconds: float) -> None:
    """START, ``seconds`` of real speech through the page's audio sink, then STOP (a run each)."""
    fake.state.playing = True
    at.run(timeout=120)
    _clean(at)
    fake.play(voice_frames(_real_voice(seconds))).wait()
    settle(at.session_state["live_analyzer"])
    at.run(timeout=120)  # the results fragment's next draw
    _clean(at)
    fake.state.playing = False
    at.run(timeout=120)
    _clean(at)


@requires_data
def test_live_adaptation_state_reset_and_toggle(env, fake_webrtc):
    at = _start("pages/live.py")
    assert at.toggle(key="live_adapt").value is True and not at.toggle(key="live_adapt").disabled
    assert not at.button(key="live_reset").disabled
    assert "Not adapted yet" in _texts(at) and "Press **START**" in _texts(at)

    # a stream of 8 s of voice through the page's sink and a real LiveAnalyzer, then STOP
    _stream(at, fake_webrtc, 8.0)
    analyzer = at.session_state["live_analyzer"]
    assert not analyzer.running and analyzer.adapt
    assert analyzer.profile is at.session_state[ui.LIVE_PROFILE_KEY]  # the session's profile
    heard = analyzer.profile_seconds
    assert heard >= 2.0, analyzer.stats()
    assert any(r.adapted for r in analyzer.history()) and analyzer.history()[0].adapted is False

    # stopped: the last results stay, with the adaptation state and both top labels
    text = _texts(at)
    assert f"Adapted to {heard:.0f} s of your voice" in text and "Stream stopped" in text
    assert "Emotion: **" in text
    if analyzer.latest().adapted:
        assert "general model: **" in text

    # the next stream goes on learning into the same profile
    _stream(at, fake_webrtc, 3.0)
    assert at.session_state["live_analyzer"] is not analyzer
    assert at.session_state["live_analyzer"].profile_seconds > heard

    # reset: the profile is empty again
    at.button(key="live_reset").click().run()
    _clean(at)
    assert at.session_state[ui.LIVE_PROFILE_KEY].seconds == 0 and "Not adapted yet" in _texts(at)

    # adaptation off: the headline is the general model's; the profile keeps listening
    at.toggle(key="live_adapt").set_value(False).run()
    _clean(at)
    assert "Adaptation off" in _texts(at)
    _stream(at, fake_webrtc, 4.0)
    a = at.session_state["live_analyzer"]
    assert not a.adapt and a.profile_seconds > 0
    assert all(not r.adapted and r.probabilities == r.plain_probabilities for r in a.history() if not r.quiet)


@requires_data
def test_live_model_without_adaptation(env, fixed_bundle, fake_webrtc):
    env(model=fixed_bundle)
    at = _start("pages/live.py")
    assert at.toggle(key="live_adapt").disabled and at.toggle(key="live_adapt").value is False
    assert at.button(key="live_reset").disabled
    assert "cannot adapt to a voice" in _texts(at)
    _stream(at, fake_webrtc, 3.0)
    analyzer = at.session_state["live_analyzer"]
    assert analyzer.profile is None and analyzer.latest() is not None


@requires_data
def test_analyze_corpus_example_is_not_adapted(env, tmp_path):
    data = tmp_path / "data" / "ravdess" / "Actor_01"
    data.mkdir(parents=True)
    for f in sorted((RAVDESS / "Actor_01").glob("*.flac"))[:8]:
        (data / f.name).symlink_to(f)
    env(data=tmp_path / "data")
    at = _start("pages/analyze.py")
    at.file_uploader(key="calibrate_upload").set_value(("me.wav", _voice(6.0), "audio/wav")).run()
    clips = at.session_state[ui.PROFILE_KEY].clips
    at.radio(key="analyze_method").set_value("example").run()
    _clean(at)
    pred = at.session_state["analysis"].prediction
    assert not pred.adapted and pred.unadapted is None and "other people's voices" in _texts(at)
    assert at.session_state[ui.PROFILE_KEY].clips == clips  # an actor's clip does not teach "your" voice
