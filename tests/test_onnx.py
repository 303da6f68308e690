"""ONNX inference: export of every model type, ONNX Runtime vs Keras, no TensorFlow on the prediction path,
``ser export``, and parallel batch prediction."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from support import EMODB, RAVDESS, ROOT, SHIPPED, requires_data, speechlike

from ser import Predictor, load_bundle
from ser.errors import BundleError
from ser.export import ONNX_FILE, SOURCE_KEY, TOLERANCE, export_model, file_sha1, probe_inputs, session
from ser.features import FeatureConfig, input_shape
from ser.models import MODEL_INPUTS, MODEL_TYPES
from ser.testing import tiny_features

shipped_onnx = pytest.mark.skipif(not (SHIPPED / ONNX_FILE).exists(), reason="models/default has no model.onnx")


def _env() -> dict[str, str]:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}


def _digests(path: Path) -> dict[str, str]:
    return {p.name: hashlib.sha1(p.read_bytes()).hexdigest() for p in sorted(path.iterdir()) if p.is_file()}


def _real_clips(n: int) -> list[Path]:
    ravdess = sorted(RAVDESS.glob("Actor_*/*.flac"))
    emodb = sorted(EMODB.glob("*.flac"))
    return ravdess[:: max(1, len(ravdess) // (n - n // 3))][: n - n // 3] + emodb[: n // 3]


# -- export ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_every_model_type_exports_and_matches_keras(model_type, tmp_path):
    """Each builder in ser.models exports (random weights) and ONNX Runtime gives Keras's probabilities."""
    from ser.models import ModelConfig, build_model

    shape = input_shape(FeatureConfig(), MODEL_INPUTS[model_type])
    model = build_model(ModelConfig(model_type=model_type, width=8), input_shape=shape, n_classes=5)
    path = tmp_path / "m.onnx"
    diff = export_model(model, path, source_sha1="abc")
    assert diff <= TOLERANCE
    sess = session(path)
    assert sess.get_modelmeta().custom_metadata_map[SOURCE_KEY] == "abc"
    x = probe_inputs(shape, n=3, seed=7)  # other inputs than the export check used
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, np.asarray(model(x, training=False)), atol=1e-5, rtol=0)
    assert got.shape == (3, 5)


def test_gated_studio_channel_blend_saves_loads_and_exports(tmp_path):
    """The shipped recipe's blend: w * g * studio + (1 - w * g) * channel, the members on the model input, the gate
    g on the unadapted input; survives a .keras round trip (safe mode) and exports to ONNX with Keras's numbers."""
    import keras

    from ser.models import ModelConfig, build_model, feed, studio_channel

    shape = input_shape(FeatureConfig(), "stats")
    studio, channel, gate = (build_model(ModelConfig(), input_shape=shape, n_classes=n, seed=s)
                             for n, s in ((4, 1), (4, 2), (2, 3)))
    x, plain = probe_inputs(shape, n=5, seed=3), probe_inputs(shape, n=5, seed=4)
    ps, pc, g = np.asarray(studio(x)), np.asarray(channel(x)), np.asarray(gate(plain))[:, 1:2]
    want = 0.4 * g * ps + (1 - 0.4 * g) * pc
    blend = studio_channel(studio, channel, gate, weight=0.4)
    got = np.asarray(blend(feed(blend, x, plain)))
    np.testing.assert_allclose(got, want, atol=1e-6)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)  # still a distribution
    g_self = np.asarray(gate(x))[:, 1:2]  # without an unadapted input the gate judges the model input itself
    np.testing.assert_allclose(np.asarray(blend(feed(blend, x))), 0.4 * g_self * ps + (1 - 0.4 * g_self) * pc,
                               atol=1e-6)
    assert {m.name for m in blend.layers} >= {"studio", "channel", "gate"}
    blend.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", compile=False, safe_mode=True)
    np.testing.assert_allclose(np.asarray(again([x, plain])), want, atol=1e-6)
    assert export_model(again, tmp_path / "m.onnx") <= TOLERANCE
    sess = session(tmp_path / "m.onnx")
    names = {i.name for i in sess.get_inputs()}
    assert names == {"features", "unadapted"}
    np.testing.assert_allclose(sess.run(None, {"features": x, "unadapted": plain})[0], want, atol=1e-5)
    with pytest.raises(ValueError, match="weight must be in"):
        studio_channel(studio, channel, gate, weight=0.0)
    squared = studio_channel(studio, channel, gate, weight=0.8, power=2.0)  # the shipped recipe's share: 0.8 g²
    np.testing.assert_allclose(np.asarray(squared(feed(squared, x, plain))),
                               0.8 * g**2 * ps + (1 - 0.8 * g**2) * pc, atol=1e-6)


def test_narrowband_member_routes_by_its_detector_and_exports(tmp_path):
    """The shipped recipe's last stage: d² * narrowband + (1 - d²) * (studio/channel blend), the detector d on the
    unadapted input; also without a studio member; survives a .keras round trip and exports to ONNX."""
    import keras

    from ser.models import ModelConfig, blend, build_model, feed

    shape = input_shape(FeatureConfig(), "stats")
    studio, channel, gate, narrow, det = (build_model(ModelConfig(), input_shape=shape, n_classes=n, seed=s)
                                          for n, s in ((4, 1), (4, 2), (2, 3), (4, 4), (2, 5)))
    x, plain = probe_inputs(shape, n=5, seed=3), probe_inputs(shape, n=5, seed=4)
    ps, pc, pn = (np.asarray(m(x)) for m in (studio, channel, narrow))
    g, d = np.asarray(gate(plain))[:, 1:2], np.asarray(det(plain))[:, 1:2]
    want = d**2 * pn + (1 - d**2) * (0.5 * g * ps + (1 - 0.5 * g) * pc)
    full = blend(channel, studio=studio, gate=gate, weight=0.5, narrowband=narrow, detector=det)
    np.testing.assert_allclose(np.asarray(full(feed(full, x, plain))), want, atol=1e-6)
    assert {m.name for m in full.layers} >= {"studio", "channel", "gate", "narrowband", "narrowband_detector"}
    full.save(tmp_path / "n.keras")
    again = keras.saving.load_model(tmp_path / "n.keras", compile=False, safe_mode=True)
    np.testing.assert_allclose(np.asarray(again([x, plain])), want, atol=1e-6)
    assert export_model(again, tmp_path / "n.onnx") <= TOLERANCE
    sess = session(tmp_path / "n.onnx")
    np.testing.assert_allclose(sess.run(None, {"features": x, "unadapted": plain})[0], want, atol=1e-5)
    alone = blend(channel, narrowband=narrow, detector=det)  # --studio-weight 0: channel + narrowband member
    np.testing.assert_allclose(np.asarray(alone([x, plain])), d**2 * pn + (1 - d**2) * pc, atol=1e-6)
    with pytest.raises(ValueError, match="needs its gate"):
        blend(channel, studio=studio)
    with pytest.raises(ValueError, match="beside the channel member"):
        blend(channel)


def test_fold_ensemble_of_two_input_blends_keeps_both_inputs(tmp_path):
    """`ser train --folds K --ensemble` averages fold models; with the studio/channel recipe each fold model has two
    inputs, and the ensemble passes both on (and survives a .keras round trip)."""
    import keras

    from ser.models import ModelConfig, build_model, ensemble, feed, studio_channel

    shape = input_shape(FeatureConfig(), "stats")

    def blend(seed: int):
        parts = (build_model(ModelConfig(), input_shape=shape, n_classes=n, seed=seed + i)
                 for i, n in enumerate((4, 4, 2)))
        return studio_channel(*parts, weight=0.5)

    a, b = blend(0), blend(10)
    x, plain = probe_inputs(shape, n=3, seed=5), probe_inputs(shape, n=3, seed=6)
    want = (np.asarray(a([x, plain])) + np.asarray(b([x, plain]))) / 2
    both = ensemble([a, b])
    assert len(both.inputs) == 2
    np.testing.assert_allclose(np.asarray(both(feed(both, x, plain))), want, atol=1e-6)
    both.save(tmp_path / "e.keras")
    again = keras.saving.load_model(tmp_path / "e.keras", compile=False, safe_mode=True)
    np.testing.assert_allclose(np.asarray(again([x, plain])), want, atol=1e-6)


def test_bundle_round_trip_uses_onnx_and_agrees_with_keras(tiny_bundle):
    """write_bundle exports model.onnx; the Predictor runs it; Keras on the same windows agrees."""
    assert (tiny_bundle / ONNX_FILE).exists() and (tiny_bundle / "model.keras").exists()
    assert "onnx_export_error" not in json.loads((tiny_bundle / "config.json").read_text())
    pred = Predictor(tiny_bundle)
    assert pred.backend == "onnx"
    from ser.features import clip_windows, model_input

    frames, _ = clip_windows(speechlike(9.0, seed=3), pred.features)
    x = model_input(frames, pred.features, pred.bundle.config.input_kind)
    keras_p = np.asarray(load_bundle(tiny_bundle).model(x, training=False))
    np.testing.assert_allclose(pred._graph(x), keras_p, atol=1e-5, rtol=0)


def test_unexportable_model_keeps_keras_and_says_why(tmp_path, monkeypatch):
    """A model the exporter cannot convert still makes a working bundle (Keras path, reason in config.json)."""
    import ser.export
    from ser.testing import make_tiny_bundle

    def refuse(model, dest, **kwargs):
        raise BundleError("cannot export ser_mlp to ONNX: unsupported op (simulated)")

    monkeypatch.setattr(ser.export, "export_model", refuse)
    with pytest.warns(UserWarning, match="prediction will use Keras"):
        b = make_tiny_bundle(tmp_path / "b")
    assert not (b / ONNX_FILE).exists()
    assert "unsupported op" in json.loads((b / "config.json").read_text())["onnx_export_error"]
    pred = Predictor(b)
    assert pred.backend == "keras" and pred.predict(speechlike(2.0)).label in pred.labels


def test_stale_onnx_is_never_used(tiny_bundle, tmp_path):
    """model.onnx exported from another model.keras: the bundle falls back to Keras, with a warning."""
    b = tmp_path / "b"
    shutil.copytree(tiny_bundle, b)
    from ser.models import ModelConfig, build_model

    other = build_model(ModelConfig(model_type="mlp", width=8), input_shape=(tiny_features().n_stats,), n_classes=8,
                        seed=5)
    other.get_layer("standardise").adapt(np.random.default_rng(0).normal(size=(8, tiny_features().n_stats)))
    other.save(b / "model.keras")
    with pytest.warns(UserWarning, match="not exported from this bundle's model.keras"):
        pred = Predictor(b)
    assert pred.backend == "keras"


# -- ONNX vs Keras on real clips ----------------------------------------------------------------------


@requires_data
@shipped_onnx
def test_shipped_onnx_matches_keras_on_real_clips(tmp_path):
    """models/default through ONNX Runtime vs through Keras (a copy without model.onnx): within 1e-5."""
    keras_copy = tmp_path / "default_keras"
    shutil.copytree(SHIPPED, keras_copy, ignore=shutil.ignore_patterns(ONNX_FILE))
    onnx_pred, keras_pred = Predictor(SHIPPED), Predictor(keras_copy)
    assert onnx_pred.backend == "onnx" and keras_pred.backend == "keras"
    clips = _real_clips(6)
    assert len(clips) == 6
    for clip in clips:
        a, b = onnx_pred.predict_file(clip), keras_pred.predict_file(clip)
        assert a.label == b.label, clip
        np.testing.assert_allclose(list(a.probabilities.values()), list(b.probabilities.values()), atol=1e-5, rtol=0)
    # and unrounded, window by window, on a long clip made of several real ones
    from ser import audio
    from ser.features import clip_windows

    y = np.concatenate([audio.load(c) for c in clips])
    frames, _ = clip_windows(y, onnx_pred.features)
    np.testing.assert_allclose(onnx_pred.window_probs(frames), keras_pred.window_probs(frames), atol=1e-5, rtol=0)


# -- no TensorFlow on the prediction path -------------------------------------------------------------


@requires_data
@shipped_onnx
def test_prediction_path_never_imports_tensorflow(tmp_path):
    """CLI predict and enrol (then predict --profile) on real clips, the live analyser: no tensorflow/keras."""
    clips = [str(c) for c in _real_clips(3)]
    profile = tmp_path / "me.json"
    code = textwrap.dedent(f"""
        import json, sys
        from ser.cli import main
        clips = {clips!r}
        codes = [main(["predict", clips[0]]), main(["enrol", *clips, "--out", {str(profile)!r}]),
                 main(["predict", clips[1], "--profile", {str(profile)!r}, "--json"])]
        import ser.live
        from ser import Predictor
        p = Predictor()
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf2onnx", "librosa"))
        print("RESULT " + json.dumps({{"codes": codes, "heavy": heavy, "backend": p.backend}}))
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.split("RESULT ", 1)[1])
    assert out["codes"] == [0, 0, 0]
    assert out["backend"] == "onnx"
    assert out["heavy"] == [], f"the prediction path imported {out['heavy'][:5]}"


@requires_data
@shipped_onnx
def test_app_pages_never_import_tensorflow(tmp_path):
    """Every page of the app on models/default, and an example clip analysed: no tensorflow/keras."""
    data = tmp_path / "data" / "ravdess" / "Actor_01"
    data.mkdir(parents=True)
    for f in sorted((RAVDESS / "Actor_01").glob("*.flac")):
        (data / f.name).symlink_to(f)
    code = textwrap.dedent(f"""
        import contextlib, json, sys
        with contextlib.suppress(ImportError):
            import streamlit_webrtc  # as app.py does
        from streamlit.testing.v1 import AppTest
        at = AppTest.from_file({str(ROOT / "app.py")!r}, default_timeout=120).run()
        for page in ("pages/analyze.py", "pages/explorer.py", "pages/report.py", "pages/batch.py"):
            at.switch_page(page).run()
            assert not at.exception, [e.value for e in at.exception]
        at.switch_page("pages/analyze.py").run()
        at.radio(key="analyze_method").set_value("example").run()
        at.selectbox(key="analyze_emotion").set_value("angry").run()
        assert not at.exception, [e.value for e in at.exception]
        res = at.session_state["analysis"]
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf2onnx"))
        print("RESULT " + json.dumps({{"name": res.name, "heavy": heavy}}))
    """)
    env = {**_env(), "SER_MODEL_DIR": str(SHIPPED), "SER_DATA_DIR": str(tmp_path / "data")}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.split("RESULT ", 1)[1])
    assert "-05-" in out["name"]  # an angry RAVDESS clip was analysed
    assert out["heavy"] == [], f"the app imported {out['heavy'][:5]}"


# -- ser export -------------------------------------------------------------------------------------


def _ser(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ser", *args], capture_output=True, text=True, env=_env(),
                          timeout=300)


def test_ser_export_adds_model_onnx_and_changes_nothing_else(tiny_bundle, tmp_path):
    b = tmp_path / "old_bundle"
    shutil.copytree(tiny_bundle, b, ignore=shutil.ignore_patterns(ONNX_FILE))  # a bundle from before ONNX
    before = _digests(b)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no stale-ONNX warning: there is no model.onnx at all
        assert Predictor(b).backend == "keras"
    r = _ser("export", str(b))
    assert r.returncode == 0, r.stderr
    assert str(b / ONNX_FILE) in r.stdout
    after = _digests(b)
    assert after.pop(ONNX_FILE) and after == before
    assert sorted(p.name for p in b.iterdir()) == sorted([*before, ONNX_FILE])  # no temp file left behind
    assert session(b / ONNX_FILE).get_modelmeta().custom_metadata_map[SOURCE_KEY] == file_sha1(b / "model.keras")
    pred = Predictor(b)
    assert pred.backend == "onnx"
    assert pred.predict(speechlike(2.0)).label in pred.labels


def test_ser_export_bad_paths_exit_2_one_line(tmp_path, tiny_bundle):
    for bad in (tmp_path / "nope", tmp_path):  # missing; a folder that is no bundle
        r = _ser("export", str(bad))
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "bundle" in lines[0], r.stderr
    broken = tmp_path / "broken"
    shutil.copytree(tiny_bundle, broken)
    (broken / "model.keras").write_bytes(b"PK\x03\x04 not a keras file")
    r = _ser("export", str(broken))
    assert r.returncode == 2 and r.stderr.strip().startswith("error: cannot load"), r.stderr
    assert not list(broken.glob(".model.onnx.*"))


# -- parallel batch prediction ------------------------------------------------------------------------


@requires_data
def test_predict_many_in_processes_gives_the_same_results_in_order(tiny_bundle, tmp_path):
    """predict_many over 2 worker processes == one process: same order, same probabilities, same errors.

    Runs in a fresh interpreter (workers are forked only from a process without other threads)."""
    clips = [str(c) for c in sorted(RAVDESS.glob("Actor_0[12]/*.flac"))[:34]]
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    files = clips[:10] + [str(bad)] + clips[10:]
    code = textwrap.dedent(f"""
        import json
        from ser import Predictor
        from ser.errors import SERError
        import ser.predict as sp
        pools = []
        parallel = sp._parallel
        sp._parallel = lambda pred, sources, n: (pools.append(n), parallel(pred, sources, n))[1]
        p = Predictor({str(tiny_bundle)!r})
        out = {{}}
        for w in (1, 2):
            out[w] = [[s, str(r) if isinstance(r, SERError) else r.to_dict()]
                      for s, r in p.predict_many({files!r}, workers=w)]
        print("RESULT " + json.dumps({{"results": out, "pools": pools}}))
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.split("RESULT ", 1)[1])
    assert out["pools"] == [2]  # workers=2 forked two processes; workers=1 ran in the caller
    one, two = out["results"]["1"], out["results"]["2"]
    assert [s for s, _ in one] == [s for s, _ in two] == files
    assert isinstance(two[10][1], str) and two[10][1] == one[10][1]
    for (_, a), (_, b) in zip(one, two, strict=True):
        assert a == b
