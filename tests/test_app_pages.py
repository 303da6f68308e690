"""Every page of the Streamlit app under ``streamlit.testing.v1.AppTest`` (no browser).

The app is driven through ``app.py`` (``st.navigation``) and ``AppTest.switch_page``. A tiny untrained
bundle keeps it fast; a copy "rich" in metrics (folds, calibration, EDA) covers the optional report
sections and the explorer's no-corpus fallback. The shipped bundle is used too when it exists.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest
from support import EMODB, RAVDESS, ROOT, SHIPPED, requires_data, speechlike
from support import app_texts as _texts
from support import wav_bytes as _wav

from ser import bundle, rtc, ui

APP = str(ROOT / "app.py")
PAGES = ["pages/home.py", "pages/analyze.py", "pages/explorer.py", "pages/report.py", "pages/batch.py"]
TIMEOUT = 90




def _clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _start(page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    _clean(at)
    if page:
        at.switch_page(page).run()
        _clean(at)
    return at


@pytest.fixture(scope="module")
def rich_bundle(tiny_bundle, tmp_path_factory) -> Path:
    """The tiny bundle plus folds, calibration, a training-set EDA, and a threshold no result reaches."""
    dest = tmp_path_factory.mktemp("rich") / "rich"
    shutil.copytree(tiny_bundle, dest)
    cfg = json.loads((dest / "config.json").read_text())
    labels = cfg["labels"]
    cfg["threshold"] = 1.5  # every prediction is "uncertain"
    (dest / "config.json").write_text(json.dumps(cfg))
    metrics = json.loads((dest / "metrics.json").read_text())
    metrics["folds"] = {"k": 3, "summary": {"uar_mean": 0.5, "uar_std": 0.05, "accuracy_mean": 0.52,
                                            "pooled_uar": 0.49, "pooled_accuracy": 0.5},
                        "per_fold": [{"fold": i + 1, "uar": 0.45 + 0.05 * i, "accuracy": 0.5, "n": 40,
                                      "test_speakers": [f"s{i}"]} for i in range(3)]}
    metrics["calibration"] = {"temperature": 1.3, "ece_before": 0.12, "ece_after": 0.04,
                              "fitted_on": "validation speakers", "measured_on": "test speakers"}
    (dest / "metrics.json").write_text(json.dumps(metrics))
    history = json.loads((dest / "history.json").read_text())
    history["folds"] = [{"loss": [1.5, 1.2], "val_loss": [1.6, 1.5], "accuracy": [0.4, 0.5],
                         "val_accuracy": [0.3, 0.4]} for _ in range(3)]
    history["studio_member"] = {"loss": [1.4, 1.1], "accuracy": [0.45, 0.55]}
    history["narrowband_member"] = {"loss": [1.6, 1.3], "accuracy": [0.35, 0.45]}
    (dest / "history.json").write_text(json.dumps(history))
    rng = np.random.default_rng(0)
    eda = {
        "n_clips": 160, "corpora": ["ravdess"], "speakers": ["ravdess_01", "ravdess_02"],
        "class_counts": {"ravdess": {lab: 20 for lab in labels}},
        "durations": {"mean": 3.5, "std": 0.3, "min": 2.9, "max": 4.4, "total_hours": 0.16,
                      "hist": {"edges": [2.9, 3.4, 3.9, 4.4], "counts": [50, 90, 20]}},
        "per_emotion": {lab: {"mel": (rng.normal(size=64) - 40).tolist(), "chroma": rng.random(12).tolist(),
                              "mfcc": rng.normal(size=20).tolist()} for lab in labels},
    }
    (dest / "eda.json").write_text(json.dumps(eda))
    return dest


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory) -> Path:
    """Symlinks (no copies) to two RAVDESS actors and one EMO-DB speaker: a small two-corpus data folder."""
    if not RAVDESS.is_dir() or not EMODB.is_dir():
        pytest.skip("../shared/data is not present")
    root = tmp_path_factory.mktemp("data")
    for actor in ("Actor_01", "Actor_02"):
        (root / "ravdess" / actor).mkdir(parents=True)
        for f in sorted((RAVDESS / actor).glob("*.flac")):
            (root / "ravdess" / actor / f.name).symlink_to(f)
    (root / "emodb").mkdir()
    for f in sorted(EMODB.glob("03*.flac")):
        (root / "emodb" / f.name).symlink_to(f)
    return root


@pytest.fixture
def env(monkeypatch, tiny_bundle, tmp_path):
    """Tiny bundle and no corpus by default; tests override with ``env(model=..., data=...)``."""
    empty = tmp_path / "no-data"
    empty.mkdir()

    def set_env(model: Path | str | None = tiny_bundle, data: Path | str | None = empty) -> None:
        monkeypatch.setenv("SER_MODEL_DIR", str(model))
        monkeypatch.setenv("SER_DATA_DIR", str(data))

    set_env()
    monkeypatch.setattr(bundle, "MODELS_DIR", tmp_path / "no-models")  # only SER_MODEL_DIR unless a test adds some
    return set_env


# -- every page renders --------------------------------------------------------------------------


def test_every_page_without_corpus(env):
    at = _start()
    assert "Speech Emotion Studio" in at.title[0].value
    assert at.get("page_link"), "Home needs a 'Try it' link"
    for page in PAGES[1:]:
        at.switch_page(page).run()
        _clean(at)
        assert at.title, page
    at.switch_page("pages/explorer.py").run()
    assert "ser data download ravdess --dest data" in _texts(at)


@requires_data
def test_every_page_with_corpus(env, small_corpus):
    env(data=small_corpus)
    at = _start()
    for page in PAGES[1:]:
        at.switch_page(page).run()
        _clean(at)


def test_missing_bundle_shows_error_on_every_page(env, tmp_path):
    env(model=tmp_path / "missing-bundle")
    at = _start()
    assert at.error and "model bundle not found" in at.error[0].value
    for page in PAGES[1:]:
        at.switch_page(page).run()
        _clean(at)
        assert at.error, f"{page} should explain the missing model"
        assert at.title, page


def test_broken_bundle_shows_error(env, tiny_bundle, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_bundle, broken)
    (broken / "config.json").write_text("{not json")
    env(model=broken)
    at = _start("pages/report.py")
    assert at.error and "not valid JSON" in at.error[0].value


# -- analyze -------------------------------------------------------------------------------------


def test_analyze_upload_prediction_and_replacement(env, rich_bundle):
    env(model=rich_bundle)
    at = _start("pages/analyze.py")
    labels = json.loads((rich_bundle / "config.json").read_text())["labels"]
    assert at.radio(key="analyze_method").value == "upload"
    assert "Predicted emotion" not in _texts(at)

    at.file_uploader(key="analyze_upload").set_value(("long.wav", _wav(speechlike(6.0)), "audio/wav")).run()
    _clean(at)
    text = _texts(at)
    assert "Predicted emotion" in text
    first = at.session_state["analysis"]
    assert first.name == "long.wav" and first.prediction.label in labels and first.error is None
    assert any(first.prediction.label.capitalize() in m.value for m in at.markdown)
    assert at.warning and "Uncertain" in at.warning[0].value  # threshold 1.5: always uncertain
    assert at.get("download_button")
    assert first.prediction.timeline  # 6 s > window: the timeline chart is drawn too
    assert "Emotion over time" in [s.value for s in at.subheader]
    assert "Arousal and valence" in [s.value for s in at.subheader]
    assert "derived from the class probabilities" in _texts(at).lower()
    assert len(at.get("plotly_chart")) >= 8  # probabilities, timeline, arousal/valence, 5 views

    # a new input replaces the old result (keyed by the input's identity)
    at.file_uploader(key="analyze_upload").set_value(("short.wav", _wav(speechlike(2.0, f0=220)), "audio/wav")).run()
    _clean(at)
    second = at.session_state["analysis"]
    assert second.name == "short.wav" and second.key != first.key
    assert not second.prediction.timeline and "Emotion over time" not in [s.value for s in at.subheader]

    assert len(at.get("audio")) == 1 and "`short.wav`" in _texts(at)  # the player, the full file name

    # a bad file: a clear error naming it, no empty 0:00 player above it, the page keeps working
    at.file_uploader(key="analyze_upload").set_value(("bad.wav", b"this is not audio", "audio/wav")).run()
    _clean(at)
    assert at.error and "bad.wav" in at.error[0].value and "Predicted emotion" not in _texts(at)
    assert len(at.get("audio")) == 0

    # no input: no stale result
    at.file_uploader(key="analyze_upload").clear().run()
    _clean(at)
    assert "analysis" not in at.session_state and "Predicted emotion" not in _texts(at)


def test_analyze_recording(env):
    at = _start("pages/analyze.py")
    at.radio(key="analyze_method").set_value("record").run()
    assert at.audio_input(key="analyze_record").sample_rate == 16000
    at.audio_input(key="analyze_record").set_value(("recording.wav", _wav(speechlike(2.5)), "audio/wav")).run()
    _clean(at)
    assert "Predicted emotion" in _texts(at)
    assert at.session_state["analysis"].key[0] == "record"
    # silence is refused with a message, not a traceback
    at.audio_input(key="analyze_record").set_value(("recording.wav", _wav(np.zeros(32000)), "audio/wav")).run()
    _clean(at)
    assert at.error and "silent" in at.error[0].value


def test_analyze_example_without_corpus_says_one_thing(env):
    at = _start("pages/analyze.py")
    at.radio(key="analyze_method").set_value("example").run()
    _clean(at)
    infos = [i.value for i in at.info]
    assert len(infos) == 1 and "No corpus found" in infos[0]  # not also "Choose an input above"


def test_mixed_long_recording_is_summarised_as_shares():
    """A long clip whose windows disagree: the card gives the share of time per emotion, not one label."""

    def page():
        from ser import ui
        from ser.predict import Prediction, Segment

        labels = ["angry", "calm", "sad"]
        tops = ["angry"] * 4 + ["calm"] * 4 + ["sad"] * 2
        timeline = tuple(Segment(float(i), i + 3.0, t, 0.5, {k: 0.5 if k == t else 0.25 for k in labels})
                         for i, t in enumerate(tops))
        pred = Prediction("angry", 0.36, {"angry": 0.36, "calm": 0.34, "sad": 0.30}, True, 12.0, timeline)
        ui.show_prediction(pred, threshold=0.5, name="03-01-05-02-01-01-01.flac")

    at = AppTest.from_function(page, default_timeout=TIMEOUT).run()
    _clean(at)
    text = _texts(at)
    assert "Mixed recording" in text and "Angry 42 % · Calm 33 % · Sad 25 %" in text
    assert "`03-01-05-02-01-01-01.flac`" in text  # the full file name with the result
    assert not at.warning  # no "uncertain" warning: the shares say it better
    assert len(at.get("plotly_chart")) == 2  # the share bar and the probabilities


def test_secure_context_detection_and_notice(env, monkeypatch):
    for url, secure in (("https://demo.example.org/analyze", True), ("http://localhost:8501/live", True),
                        ("http://127.0.0.1:8501", True), ("http://[::1]:8501/", True),
                        ("http://app.localhost:8501", True), ("http://192.168.1.20:8501/live", False),
                        ("http://demo.example.org:8501", False), (None, None), ("", None)):
        assert rtc.is_secure_origin(url) is secure, url
    at = _start("pages/analyze.py")
    at.radio(key="analyze_method").set_value("record").run()
    assert not at.warning  # no browser URL under AppTest: nothing to warn about
    monkeypatch.setattr(ui, "page_url", lambda: "http://192.168.1.20:8501/analyze")
    at.run()
    _clean(at)
    assert at.warning and "secure" in at.warning[0].value and "https" in at.warning[0].value.lower()


@requires_data
def test_analyze_example_clip(env, small_corpus):
    env(data=small_corpus)
    at = _start("pages/analyze.py")
    at.radio(key="analyze_method").set_value("example").run()
    at.selectbox(key="analyze_corpus").set_value("ravdess").run()
    at.selectbox(key="analyze_emotion").set_value("angry").run()
    _clean(at)
    res = at.session_state["analysis"]
    assert res.key[0] == "example" and "-05-" in res.name  # RAVDESS emotion code 05 = angry
    assert "True label: **angry**" in _texts(at)
    assert "Predicted emotion" in _texts(at)


# -- explorer ------------------------------------------------------------------------------------


@requires_data
def test_explorer_on_real_corpus(env, small_corpus):
    env(data=small_corpus)
    at = _start("pages/explorer.py")
    folder = at.selectbox(key="explorer_folder")
    assert len(folder.options) == 3  # combined + ravdess/ + emodb/
    assert at.metric[0].value == str(120 + 49)
    ravdess = next(o for o in folder.options if o.startswith("data") and "ravdess" in o)
    folder.set_value(ravdess).run()
    _clean(at)
    assert at.metric[0].value == "120"
    at.multiselect(key="explorer_emotion").set_value(["angry", "sad"]).run()
    _clean(at)
    assert at.metric[0].value == "32"  # 2 actors x 2 emotions x 8 clips
    clip = at.selectbox(key="explorer_clip")
    assert all("angry" in o or "sad" in o for o in clip.options)
    assert len(at.get("audio")) >= 1
    # compare emotions for one speaker and sentence: one row per emotion
    at.multiselect(key="explorer_emotion").set_value([]).run()
    at.selectbox(key="explorer_cmp_speaker").set_value("ravdess_02").run()
    _clean(at)
    assert len(at.get("audio")) >= 1 + 8
    # per-emotion averages computed from the clips on disk
    at.slider(key="explorer_avg_n").set_value(2).run()
    at.toggle(key="explorer_avg_go").set_value(True).run()
    _clean(at)
    assert at.radio(key="disk_feature").value == "mel"


def test_explorer_without_corpus_uses_bundle_eda(env, rich_bundle):
    env(model=rich_bundle)
    at = _start("pages/explorer.py")
    texts = _texts(at)
    assert "No corpus found on disk" in texts and "ser data download ravdess" in texts
    assert at.metric[0].value == "160"
    assert at.radio(key="eda_feature").value == "mel"
    at.radio(key="eda_feature").set_value("chroma").run()
    _clean(at)
    assert len(at.get("plotly_chart")) == 3  # balance, durations, profiles


# -- report --------------------------------------------------------------------------------------


def test_report_all_sections(env, rich_bundle):
    env(model=rich_bundle)
    at = _start("pages/report.py")
    tabs = [t.label for t in at.tabs]
    assert tabs == ["Training", "Confusion matrix", "Per emotion", "Per speaker", "Cross-validation",
                    "Calibration", "Model card"]
    assert [m.label for m in at.metric][:4] == ["UAR", "Accuracy", "Test clips", "3-fold UAR"]
    n_charts = len(at.get("plotly_chart"))
    assert n_charts == 8  # the shipped model's curves, its studio and narrowband members' in expanders
    assert any("studio member" in c.value for c in at.caption)
    assert any("phone line" in c.value for c in at.caption)
    at.toggle(key="report_norm").set_value(False).run()
    _clean(at)
    assert len(at.get("plotly_chart")) == n_charts
    assert any("Tiny test bundle" in m.value for m in at.markdown)
    curves = at.radio(key="report_curves")
    assert curves.options == ["Shipped model", "Fold 1", "Fold 2", "Fold 3"]
    curves.set_value("Fold 2").run()
    _clean(at)
    assert len(at.get("plotly_chart")) == n_charts - 2  # a fold's history without studio or narrowband members
    assert any("only watched" in c.value for c in at.caption)  # these folds had no validation speakers


def test_report_speaker_adaptation_of_the_shipped_model(env):
    """The shipped bundle's running protocol: per order its table by earlier clips, and the same over several
    seeded clip orders (mean, worst and best order)."""
    env(model=SHIPPED)
    at = _start("pages/report.py")
    tab = next(t for t in at.tabs if t.label == "Speaker adaptation")
    texts = [m.value for m in tab.markdown]
    assert any(t.startswith("**Running adaptation, blocked order**") for t in texts)
    orders = json.loads((SHIPPED / "metrics.json").read_text())["adaptation"]["blocked"]["orders"]
    assert any(t.startswith(f"Over {orders['n']} clip orders") for t in texts)
    tables = [d.value for d in tab.dataframe]
    assert any({"mean change", "worst order", "best order"} <= set(t.columns) for t in tables)
    assert any("several seeded orders" in c.value for c in tab.caption)


def test_report_and_sidebar_with_several_bundles(env, tiny_bundle, rich_bundle, monkeypatch, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    (models / "a_tiny").symlink_to(tiny_bundle)
    (models / "b_rich").symlink_to(rich_bundle)
    monkeypatch.setattr(bundle, "MODELS_DIR", models)
    monkeypatch.delenv("SER_MODEL_DIR")
    at = _start("pages/report.py")
    table = at.dataframe[0].value
    assert list(table["model"]) == ["a_tiny", "b_rich"]
    assert {"UAR", "accuracy", "k-fold UAR"} <= set(table.columns)
    chooser = at.sidebar.selectbox[0]
    assert len(chooser.options) == 2
    assert "Cross-validation" not in [t.label for t in at.tabs]
    chooser.set_value(str(models / "b_rich")).run()
    _clean(at)
    assert at.session_state[ui.BUNDLE_KEY] == str(models / "b_rich")
    assert "Cross-validation" in [t.label for t in at.tabs]


def test_home_shows_each_figure_once(env, rich_bundle):
    env(model=rich_bundle)
    at = _start()
    labels = [m.label for m in at.metric]
    assert labels[:3] == ["Held-out UAR", "Held-out accuracy", "3-fold UAR"] and labels[-1] == "Emotions"
    assert "live" in [link.proto.page for link in at.get("page_link")]  # a tile for Live


@pytest.mark.skipif(not (SHIPPED / "model.keras").exists(), reason="the shipped model is not trained yet")
def test_home_and_report_on_shipped_bundle(env):
    env(model=SHIPPED)
    at = _start()
    # the shipped "test" figures are its out-of-fold cross-validation: shown once, as k-fold figures
    labels = [m.label for m in at.metric]
    assert labels[0] == "5-fold UAR" and "Held-out UAR" not in labels and at.metric[0].value.endswith("%")
    assert len(labels) == len(set(labels)), labels  # no figure twice (the 58 % UAR once showed as two tiles);
    # different figures may round alike (5-fold accuracy and adapted UAR are both 67 % for the shipped model)
    main = " ".join(m.value for m in at.main.markdown) + " ".join(c.value for c in at.main.caption)
    assert at.metric[0].value not in main.split()  # nor repeated in the text below the tiles
    # the adapted figure is the mean over the recorded clip orders (one order's figure moves with the order)
    orders = json.loads((SHIPPED / "metrics.json").read_text())["adaptation"]["random"]["orders"]
    adapted = next(m for m in at.metric if m.label == "Adapted UAR")
    assert adapted.value == f"{orders['uar_mean']:.0%}" and f"over {orders['n']} orders" in adapted.proto.delta
    at.switch_page("pages/report.py").run()
    _clean(at)
    assert not at.error
    assert len(at.get("plotly_chart")) >= 4


# -- batch ---------------------------------------------------------------------------------------


def test_batch_table_errors_and_csv(env):
    at = _start("pages/batch.py")
    files = [("a.wav", _wav(speechlike(2.0)), "audio/wav"), ("b.wav", _wav(speechlike(3.0, f0=200)), "audio/wav"),
             ("broken.wav", b"RIFF0000WAVEnope", "audio/wav")]
    at.file_uploader(key="batch_files").set_value(files).run()
    _clean(at)
    df = at.dataframe[0].value
    assert list(df["file"]) == ["a.wav", "b.wav", "broken.wav"]
    assert df["error"].tolist()[:2] == ["", ""] and df["error"].iloc[2]
    assert [c for c in df.columns if c.startswith("p_")] == [f"p_{lab}" for lab in
                                                             json.loads((Path(bundle.default_bundle_dir()) /
                                                                         "config.json").read_text())["labels"]]
    assert np.allclose(df.filter(like="p_").iloc[:2].sum(axis=1), 1.0)
    from ser import results  # the schema of `ser predict --csv/--json` and the Ray Parquet output

    labels = json.loads((Path(bundle.default_bundle_dir()) / "config.json").read_text())["labels"]
    assert list(df.columns) == results.columns(labels)
    assert df[["confidence", "duration", *(f"p_{k}" for k in labels)]].iloc[2].isna().all()  # empty, not "None"
    assert [m.value for m in at.metric] == ["3", "2", "1"]
    assert at.get("download_button") and at.error
    assert len(at.get("plotly_chart")) == 1
    # the table as shown: empty cells instead of "None", emotion columns titled by their emotion
    shown, config = ui.batch_display(df)
    assert shown["label"].iloc[2] == "" and "None" not in shown.astype(str).to_string()
    assert config["file"]["pinned"] and config["p_" + shown.columns[4][2:]]["label"] == shown.columns[4][2:]
    assert all(config[c]["width"] >= 9 * len(c[2:]) for c in shown.columns if c.startswith("p_"))


def test_the_one_private_streamlit_api_the_app_relies_on_still_exists():
    """``ui.ensure_entrypoint`` switches off Streamlit's legacy ``pages/`` routing through the internal
    ``PagesManager.uses_pages_directory`` (the user's layout keeps ``pages/``); if Streamlit moves or renames it,
    deep links would run pages without the app's navigation. Fail loudly here rather than silently there."""
    from streamlit.runtime.pages_manager import PagesManager

    assert hasattr(PagesManager, "uses_pages_directory")
    assert PagesManager.uses_pages_directory in (None, True, False)
