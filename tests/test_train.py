"""End-to-end ``ser train`` on a small real subset: speaker-independent split, bundle, K-fold."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from support import RAVDESS, requires_data

from ser import dataset
from ser.errors import TrainingError


def _manifest(speakers: dict[str, str]) -> pd.DataFrame:
    rows = [{"path": f"/x/{s}_{i}.wav", "corpus": "ravdess", "speaker": s, "gender": g, "emotion": "sad"}
            for s, g in speakers.items() for i in range(3)]
    rows += [{"path": f"/x/emo_{i}.wav", "corpus": "emodb", "speaker": "emodb_03", "gender": "male",
              "emotion": "sad"} for i in range(3)]
    return pd.DataFrame(rows)


def test_speaker_split_is_disjoint_and_balanced():
    man = _manifest({f"ravdess_{i:02d}": "male" if i % 2 else "female" for i in range(1, 21)})
    s = dataset.speaker_split(man, n_test=4, n_val=2, seed=0)
    assert not (set(s.train) & set(s.test)) and not (set(s.val) & set(s.test)) and not (set(s.train) & set(s.val))
    assert len(s.test) == 4 and len(s.val) == 2 and "emodb_03" in s.train
    genders = {int(x.split("_")[1]) % 2 for x in s.test}
    assert genders == {0, 1}
    folds = dataset.kfold_splits(man, k=5)
    tested = [sp for f in folds for sp in f.test]
    assert sorted(tested) == sorted(f"ravdess_{i:02d}" for i in range(1, 21))
    with pytest.raises(TrainingError, match="not in the data"):
        dataset.speaker_split(man, test=["ravdess_99"])
    # after K-fold the shipped model trains on everyone; without early stopping no one validates
    everyone = dataset.speaker_split(man, n_test=0, n_val=0)
    assert everyone.test == () and everyone.val == () and len(everyone.train) == 21
    assert dataset.speaker_split(man, n_test=4, n_val=0).val == ()
    with pytest.raises(TrainingError, match="need at least 3 speakers"):
        dataset.speaker_split(man[man["speaker"].isin(["ravdess_01", "ravdess_02"])], n_test=1, n_val=1)


def test_out_of_fold_temperature_is_cross_validated():
    """Over-confident out-of-fold probabilities: T > 1, and the held-out-fold ECE drops."""
    from ser.train import calibrate_out_of_fold

    rng = np.random.default_rng(0)
    n, k = 600, 4
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) * 2.0
    logits[np.arange(n), y] += 1.5  # right ~60 % of the time ...
    p = np.exp(3.0 * logits)  # ... but far too sure of itself
    p /= p.sum(axis=1, keepdims=True)
    t, c = calibrate_out_of_fold(y, p, np.arange(n) % 5)
    assert t > 1.5 and len(c["fold_temperatures"]) == 5
    assert c["ece_after"] < c["ece_before"] / 2


def test_kfold_spreads_every_corpus_over_the_folds():
    """Every corpus with at least k speakers has test speakers in every fold; smaller corpora always train."""
    rows = []
    for corpus, n in (("ravdess", 20), ("emodb", 8), ("savee", 3)):
        for i in range(n):
            spk = f"{corpus}_{i:02d}"
            rows += [{"path": f"/x/{spk}_{j}.wav", "corpus": corpus, "speaker": spk,
                      "gender": "male" if i % 2 else "female", "emotion": "sad"} for j in range(2)]
    man = pd.DataFrame(rows)
    groups = dataset.speaker_groups(man, k=5, seed=0)
    assert {g for s, g in groups.items() if s.startswith("savee")} == {-1}
    for corpus, n in (("ravdess", 20), ("emodb", 8)):
        sizes = np.bincount([g for s, g in groups.items() if s.startswith(corpus)], minlength=5)
        assert sizes.sum() == n and sizes.max() - sizes.min() <= 1  # as even as the count allows
    folds = dataset.kfold_splits(man, k=5, seed=0, n_val=2)
    assert len(folds) == 5
    tested = [s for f in folds for s in f.test]
    assert sorted(tested) == sorted(s for s in groups if not s.startswith("savee"))  # each exactly once
    for f in folds:
        assert {s.split("_")[0] for s in f.test} == {"ravdess", "emodb"}
        assert {f"savee_{i:02d}" for i in range(3)} <= set(f.train)
        assert not set(f.val) & set(f.test) and len(f.val) == 2
        assert set(f.train) | set(f.val) | set(f.test) == set(man["speaker"])
        genders = man.drop_duplicates("speaker").set_index("speaker")["gender"]
        ravdess_test = [s for s in f.test if s.startswith("ravdess")]
        assert set(genders[ravdess_test]) == {"male", "female"}  # gender-interleaved within the corpus
    assert dataset.kfold_splits(man, k=5, seed=1) != folds  # seeded
    with pytest.raises(TrainingError, match="--folds must be between 2 and 10"):
        dataset.kfold_splits(man, k=11)


def _subset(tmp_path, actors=(1, 2, 3, 4)):
    """Neutral, sad and angry clips of statement 01 (10 per actor), symlinked: quick to train on."""
    sub = tmp_path / "ravdess"
    for a in actors:
        d = sub / f"Actor_{a:02d}"
        d.mkdir(parents=True)
        for f in sorted((RAVDESS / d.name).glob("*.flac")):
            code = f.stem.split("-")
            if code[2] in ("01", "04", "05") and code[4] == "01":
                (d / f.name).symlink_to(f)
    return sub


@pytest.mark.slow
@requires_data
def test_ser_train_small_subset_end_to_end(tmp_path, capsys):
    from ser import Predictor, load_bundle
    from ser import train as tr
    from ser.features import FeatureConfig

    sub = _subset(tmp_path)
    per_actor = len(list((sub / "Actor_04").iterdir()))
    assert per_actor == 10
    out = tmp_path / "bundle"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    cache = str(tmp_path / "cache")
    cmd = [sys.executable, "-m", "ser", "train", "--data", str(sub), "--model-type", "tdnn", "--out", str(out),
           "--epochs", "2", "--augment", "1", "--test-speakers", "ravdess_04", "--val-speakers", "ravdess_03",
           "--cache-dir", cache, "--width", "8", "--workers", "1", "--voice-copies", "0"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["labels"] == ["neutral", "sad", "angry"]
    assert cfg["split"]["test"] == ["ravdess_04"] and "ravdess_04" not in cfg["split"]["train"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["n"] == per_actor and set(metrics["test"]["per_speaker"]) == {"ravdess_04"}
    assert len(json.loads((out / "history.json").read_text())["loss"]) == 2
    eda = json.loads((out / "eda.json").read_text())
    assert set(eda["per_emotion"]) == {"neutral", "sad", "angry"} and len(eda["per_emotion"]["sad"]["mel"]) == 64
    assert "non-commercial" in (out / "MODEL_CARD.md").read_text().lower()
    assert not (out / "adaptation.json").exists() and "adaptation" not in metrics  # a sequence model: no prior
    pred = Predictor(out)
    res = pred.predict_file(next((sub / "Actor_04").iterdir()))
    assert res.label in cfg["labels"] and not pred.adaptive
    # the second run (the shipped model type, K-fold, CLI defaults; in-process: TensorFlow is loaded already)
    # reads the originals' features from the cache
    from ser.cli import main

    args = ["train", "--data", str(sub), "--out", str(out), "--epochs", "3", "--augment", "1", "--cache-dir", cache,
            "--folds", "2", "--workers", "1", "--babble-copies", "1"]
    assert main([*args, "--val-speakers", "ravdess_03"]) == 2
    assert "cannot be combined with --folds" in capsys.readouterr().err
    assert main(args) == 0
    assert "wrote model bundle" in capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    folds = metrics["folds"]
    n_all = 4 * per_actor
    assert folds["k"] == 2 and [len(f["test_speakers"]) for f in folds["per_fold"]] == [2, 2]
    assert all(f["val_speakers"] == [] and f["epochs"] == 3 for f in folds["per_fold"])  # linear: no early stop
    assert metrics["test"]["n"] == n_all and "out-of-fold" in metrics["test"]["protocol"]
    assert metrics["calibration"]["fitted_on"].startswith("out-of-fold") and len(metrics["calibration"]["fold_temperatures"]) == 2
    cfg2 = json.loads((out / "config.json").read_text())
    assert cfg2["model_type"] == "linear" and cfg2["temperature"] == metrics["calibration"]["temperature"]
    training = cfg2["training"]  # the linear defaults of the CLI: large batches, no validation speakers
    assert training["batch_size"] == 256 and training["n_val_speakers"] == 0 and training["epochs"] == 3
    assert training["adapt"] and training["channels"] and training["augment"] == 1 and training["babble_copies"] == 1
    assert training["voice_copies"] == 2 and "2 more copies of each clip as another voice" in (out / "MODEL_CARD.md").read_text()
    assert not training["mic"]  # no microphone stage unless --mic
    speakers = [f"ravdess_0{i}" for i in range(1, 5)]
    assert cfg2["split"]["train"] == speakers and cfg2["split"]["test"] == [] and cfg2["split"]["cross_validated"] == speakers
    hist = json.loads((out / "history.json").read_text())
    assert len(hist["loss"]) == 3 and "val_loss" not in hist  # the shipped model: every speaker trains
    assert all(len(h["val_loss"]) == 3 for h in hist["folds"])  # each fold's unseen speakers, watched only
    # speaker adaptation: a prior in the bundle, and the running protocol on the out-of-fold speakers
    fcfg = FeatureConfig(trim_talker_db=15.0, centred_blocks=("mel",))  # the CLI's defaults (talker trim, mel centred)
    assert FeatureConfig.from_dict(cfg2["features"]) == fcfg
    prior = json.loads((out / "adaptation.json").read_text())
    assert len(prior["mean"]) == fcfg.n_stats and prior["level_index"] == fcfg.n_stats - 1
    assert prior["labels"] == cfg2["labels"] and prior["digest"] == fcfg.digest()
    assert set(metrics["adaptation"]) == {"random", "blocked"}
    for order, a in metrics["adaptation"].items():
        assert order in a["protocol"] and "out-of-fold" in a["protocol"] and a["n"] == n_all
        assert a["unadapted_uar"] == pytest.approx(metrics["test"]["uar"])  # the same out-of-fold predictions
        bins = a["by_earlier_clips"]
        assert bins[0]["clips"] == "0-0" and bins[0]["n"] == 4 and bins[0]["delta"] == 0.0  # first clips: unadapted
        assert sum(b["n"] for b in bins) == n_all
        o = a["orders"]  # the protocol over 5 seeded clip orders (the default); the figures above are the first's
        assert o["n"] == 5 and o["uar_min"] <= a["uar"] <= o["uar_max"] and o["unadapted_uar"] == a["unadapted_uar"]
        assert [b["clips"] for b in o["by_earlier_clips"]] == [b["clips"] for b in bins]
        assert o["by_earlier_clips"][0]["delta_max"] == 0.0  # the first clip of every order is unadapted
        for ob, b in zip(o["by_earlier_clips"], bins, strict=True):
            assert ob["delta_min"] <= ob["delta_mean"] <= ob["delta_max"] and ob["delta_min"] <= b["delta"] <= ob["delta_max"]
    assert "over 5 clip orders" in (out / "MODEL_CARD.md").read_text()
    assert training["adapt_orders"] == 5
    with pytest.raises(TrainingError, match="--adapt-orders must be 1 or more"):
        tr.TrainConfig(data=("x",), out="y", adapt_orders=0)
    blend = load_bundle(out).model  # studio member (originals only) + channel member (originals + copies)
    assert {m.name for m in blend.layers} >= {"studio", "channel"}
    assert cfg2["training"]["studio_weight"] == 0.8 and "up to 80% of the say" in (out / "MODEL_CARD.md").read_text()
    assert cfg2["training"]["studio_power"] == 2.0 and blend.get_layer("studio_blend").power == 2.0
    assert len(hist["studio_member"]["loss"]) == 3
    # a narrowband member (telephone-band copies of the originals and of the augmented copy) and its detector
    assert {m.name for m in blend.layers} >= {"narrowband", "narrowband_detector"} and training["narrowband"]
    assert len(hist["narrowband_member"]["loss"]) == 3 and "phone line" in (out / "MODEL_CARD.md").read_text()
    pred = Predictor(out)
    assert pred.adaptive
    profile = pred.new_profile("actor 4")
    adapted = []
    for f in sorted((sub / "Actor_04").iterdir())[:4]:
        res = pred.predict_file(f, profile=profile)
        assert res.label in cfg["labels"]
        adapted.append(res.adapted)
    assert adapted == [False, False, False, True] and profile.clips == 4  # adaptation from the third clip on
    # without adaptation (in-process; originals from the cache, no augmentation): no prior in the bundle
    from ser.errors import SERError
    from ser.train import TrainConfig, train

    plain = tmp_path / "plain"
    train(TrainConfig(data=(str(sub),), out=str(plain), epochs=2, batch_size=256, n_val_speakers=0,
                      test_speakers=("ravdess_04",), augment=0, adapt=False, cache_dir=cache, workers=1, verbose=0))
    assert (plain / "model.keras").exists() and not (plain / "adaptation.json").exists()
    metrics = json.loads((plain / "metrics.json").read_text())
    assert "adaptation" not in metrics and metrics["test"]["n"] == per_actor
    pred = Predictor(plain)
    assert not pred.adaptive and pred.predict_file(next((sub / "Actor_04").iterdir())).label in cfg["labels"]
    with pytest.raises(SERError, match="cannot adapt"):
        pred.new_profile()


def test_studio_weight_is_a_share_between_0_and_1():
    from ser.errors import TrainingError
    from ser.train import TrainConfig

    assert TrainConfig(data=("x",), out="y").studio_weight == 0.8
    assert TrainConfig(data=("x",), out="y", studio_weight=0.0).studio_weight == 0.0
    assert TrainConfig(data=("x",), out="y", studio_weight=1.0).studio_weight == 1.0
    for bad in (1.5, -0.1):
        with pytest.raises(TrainingError, match=r"studio-weight must be in \[0, 1\]"):
            TrainConfig(data=("x",), out="y", studio_weight=bad)
    assert TrainConfig(data=("x",), out="y").studio_power == 2.0  # the share is weight * gate**2
    with pytest.raises(TrainingError, match="studio-power must be 1 or 2"):
        TrainConfig(data=("x",), out="y", studio_power=3.0)


def test_copies_are_counts():
    from ser.errors import TrainingError
    from ser.train import TrainConfig

    # four channel copies with the originals counting twice (session 17; without the studio member, session 8, four
    # copies cost the unseen-corpus checks)
    assert TrainConfig(data=("x",), out="y").augment == 4
    assert TrainConfig(data=("x",), out="y").original_weight == 2.0
    with pytest.raises(TrainingError, match="--augment must be 0 or more"):
        TrainConfig(data=("x",), out="y", augment=-1)
    assert TrainConfig(data=("x",), out="y").babble_copies == 0
    assert TrainConfig(data=("x",), out="y", babble_copies=2).babble_copies == 2
    with pytest.raises(TrainingError, match="--babble-copies must be 0 or more"):
        TrainConfig(data=("x",), out="y", babble_copies=-1)
    default = TrainConfig(data=("x",), out="y")  # session 28: two microphone copies, some through a channel or clipped
    assert (default.mic_copies, default.mic_chains, default.mic_clips) == (2, 0.5, 0.3)
    assert default.adapt_lag == 0.0  # session 29: holding back the newest clips is an option (it costs random order)
    assert TrainConfig(data=("x",), out="y").narrow_bands and TrainConfig(data=("x",), out="y").big_rooms == 0.0  # session 27
    with pytest.raises(TrainingError, match="--mic-copies must be 0 or more"):
        TrainConfig(data=("x",), out="y", mic_copies=-1)
    assert TrainConfig(data=("x",), out="y").device_chains == 0.0
    assert TrainConfig(data=("x",), out="y", babble_talkers=[1, 6]).babble_talkers == (1, 6)  # as read from JSON
    with pytest.raises(TrainingError, match="--babble-talkers must be N or LO-HI"):
        TrainConfig(data=("x",), out="y", babble_talkers=(3, 2))
    for bad in (-0.1, 1.5):
        with pytest.raises(TrainingError, match=r"--device-chains must be in \[0, 1\]"):
            TrainConfig(data=("x",), out="y", device_chains=bad)


def test_sample_weights_balance_classes_and_weight_originals():
    from ser.train import _sample_weights

    ys = np.array([0, 0, 0, 1, 1, 1, 1, 1, 1, 2])  # class 2 absent from the copies, class 3 absent everywhere
    original = np.array([True, False, False, True, True, False, False, False, False, True])
    plain = _sample_weights(ys, original, 4)
    np.testing.assert_allclose(plain, len(ys) / (4 * np.bincount(ys, minlength=4))[ys])  # Keras's balanced weights
    w = _sample_weights(ys, original, 4, original_weight=3.0)
    assert w.dtype == np.float32 and w.sum() == pytest.approx(plain.sum())
    totals = np.bincount(ys, weights=w, minlength=4)
    np.testing.assert_allclose(totals[:3], totals[0])
    assert totals[3] == 0
    assert w[0] == pytest.approx(3 * w[1]) and w[3] == pytest.approx(3 * w[5])  # an original = 3 copies, per class


def _spied_fits(monkeypatch, tc, n_copies: int, n: int = 6, n_voice: int = 0) -> dict[str, tuple[int, float]]:
    """Run ``_fit_one`` on ``n`` random clips of two speakers and ``n_copies`` augmented copies; returns, per fit (the
    text before the colon of its log line), the number of input rows and the model's L2 penalty."""
    import pandas as pd

    from ser import train as tr
    from ser.features import FeatureConfig

    cfg, rng = FeatureConfig(), np.random.default_rng(0)
    man = pd.DataFrame({"path": [f"{i}.wav" for i in range(n)], "emotion": ["neutral", "sad", "angry"] * (n // 3),
                        "speaker": ["ravdess_01"] * (n // 2) + ["ravdess_02"] * (n - n // 2)})

    def clips() -> list[list[np.ndarray]]:  # one window of 60 frames per clip
        return [[rng.standard_normal((60, cfg.n_features)).astype("float32")] for _ in range(n)]

    fits: dict[str, tuple[int, float]] = {}
    real = tr._prepare_fit

    def spy(tc, x, ys, weights, validation, **kw):
        fits[kw["what"].split("] ", 1)[1].split(":")[0]] = (len(x), tc.model.l2)
        return real(tc, x, ys, weights, validation, **kw)

    monkeypatch.setattr(tr, "_prepare_fit", spy)
    tr._fit_one(tc, ("neutral", "sad", "angry"), tr._Data(man, clips()), [clips() for _ in range(n_copies)],
                tr._Data(man.iloc[:0], []), seed=0, tag="t", train_voice=[clips() for _ in range(n_voice)] or None)
    return fits


def test_the_adapted_member_learns_the_speaker_normalised_half_only(monkeypatch):
    """With adaptation the channel member learns every window twice (unadapted and normalised by its speaker); an
    adapted member (``--adapted-member``) only the normalised half. The default and ``adapt=False`` fit none."""
    from ser import train as tr

    n = 6
    assert tr.TrainConfig(data=("x",), out="y").adapted_member is False
    tc = tr.TrainConfig(data=("x",), out="y", epochs=1, augment=1, narrowband=False, adapted_member=True)
    rows = {what: r for what, (r, _) in _spied_fits(monkeypatch, tc, 1, n).items()}
    assert rows["adapted member"] * 2 == rows[f"{n} clips + 1 augmented copies"] == 2 * 2 * n
    for off in (dataclasses.replace(tc, adapted_member=False), dataclasses.replace(tc, adapt=False)):
        assert "adapted member" not in _spied_fits(monkeypatch, off, 1, n)


def test_babble_copies_do_not_train_the_studio_gate(monkeypatch):
    """The studio gate tells studio clips from recording channels: it trains on the unadapted windows of the originals
    and their channel copies only; babble copies (after the channel copies) train the channel member, not the gate."""
    from ser import train as tr

    n = 6
    tc = tr.TrainConfig(data=("x",), out="y", epochs=1, augment=1, babble_copies=1, mic_copies=0, narrowband=False)
    sizes = {what: rows for what, (rows, _) in _spied_fits(monkeypatch, tc, 2, n).items()}
    assert sizes[f"{n} clips + 2 augmented copies"] == 2 * 3 * n  # original, channel and babble copy; both halves
    assert sizes["studio member"] == 2 * n  # originals, both halves
    assert sizes["studio gate"] == 2 * n  # unadapted originals and channel copies, no babble copy


def test_microphone_copies_train_the_studio_gate(monkeypatch):
    """Microphone copies (after the channel copies, before babble copies) train the channel member and the gate: a
    coloured recording is not studio speech, and the studio member never heard one."""
    from ser import train as tr

    n = 6
    tc = tr.TrainConfig(data=("x",), out="y", epochs=1, augment=1, mic_copies=1, babble_copies=1, narrowband=False)
    sizes = {what: rows for what, (rows, _) in _spied_fits(monkeypatch, tc, 3, n).items()}
    assert sizes[f"{n} clips + 3 augmented copies"] == 2 * 4 * n  # original, channel, microphone, babble; both halves
    assert sizes["studio member"] == 2 * n
    assert sizes["studio gate"] == 3 * n  # unadapted originals, channel and microphone copies; no babble copy


def test_voice_copies_train_like_the_originals(monkeypatch):
    """Voice copies (other virtual speakers, studio-clean) train the channel member, the studio member and the gate's
    studio side, as the originals do; without them every fit keeps its rows."""
    from ser import train as tr

    n = 6
    tc = tr.TrainConfig(data=("x",), out="y", epochs=1, augment=1, mic_copies=1, narrowband=False, voice_copies=1)
    sizes = {what: rows for what, (rows, _) in _spied_fits(monkeypatch, tc, 2, n, n_voice=1).items()}
    assert sizes[f"{n} clips + 2 augmented copies"] == 2 * 4 * n  # original, voice, channel, microphone; both halves
    assert sizes["studio member"] == 2 * 2 * n  # originals and voice copies, both halves
    assert sizes["studio gate"] == 4 * n  # unadapted: studio side originals + voice copies, the other side the copies
    gate_labels = []
    real = tr._prepare_fit

    def spy(tc, x, ys, weights, validation, **kw):
        if "studio gate" in kw["what"]:
            gate_labels.append(ys.copy())
        return real(tc, x, ys, weights, validation, **kw)

    monkeypatch.setattr(tr, "_prepare_fit", spy)
    _spied_fits(monkeypatch, tc, 2, n, n_voice=1)
    assert gate_labels and gate_labels[-1].tolist() == [1] * (2 * n) + [0] * (2 * n)
    assert tr.TrainConfig(data=("x",), out="y").voice_copies == 2  # the default since session 31
    with pytest.raises(tr.TrainingError, match="--voice-copies"):
        tr.TrainConfig(data=("x",), out="y", voice_copies=-1)


def test_voice_copies_without_the_vocoder_fail_before_any_work(monkeypatch, capsys):
    """Without ``pyworld`` (a training-only dependency, built from source), ``ser train`` with voice copies stops at
    once with what to install or which flag to use (exit 2), before scanning or extracting anything; without copies
    (``--voice-copies 0`` or no augmentation) it is not needed."""
    from ser import dataset
    from ser import train as tr
    from ser.cli import main

    monkeypatch.setattr(dataset, "can_change_voice", lambda: False)
    scanned = []
    monkeypatch.setattr(tr, "_scan", lambda tc: scanned.append(tc) or (_ for _ in ()).throw(RuntimeError("scanned")))
    with pytest.raises(tr.TrainingError, match="pip install pyworld.*--voice-copies 0"):
        tr.train(tr.TrainConfig(data=("x",), out="y", augment=1))
    assert main(["train", "--data", "x", "--out", "y"]) == 2  # the CLI's exit status for a bad setting
    assert "pip install pyworld" in capsys.readouterr().err and not scanned
    for tc in (tr.TrainConfig(data=("x",), out="y", augment=1, voice_copies=0), tr.TrainConfig(data=("x",), out="y", augment=0)):
        with pytest.raises(RuntimeError, match="scanned"):
            tr.train(tc)


def _store_jobs(monkeypatch, tc, ask: str, babble=lambda copy: ()) -> list:
    """The :class:`ser.dataset.Job` s the feature store of ``tc`` makes when asked for ``ask`` (``"mics"``,
    ``"voices"``) on two clips of two speakers, in order (``babble(copy)`` stands for the fold group's voices)."""
    import pandas as pd

    from ser import train as tr

    man = pd.DataFrame({"path": ["a.wav", "b.wav"], "emotion": ["sad", "angry"], "speaker": ["ravdess_01", "ravdess_02"]})
    store = tr._FeatureStore(tc)
    jobs: list = []
    monkeypatch.setattr(store, "_copies", lambda st, m, copies, job, desc: jobs.extend(
        job(p, c, s, babble) for c in copies for p, s in zip(m["path"], m["speaker"], strict=True)))
    getattr(store, ask)(man)
    return jobs


#: (path, session, seed) of the jobs of copies 1 and 2 of two clips of two speakers, training seed 5.
_TWO_SESSIONS = [("a.wav", "ravdess_01", 5), ("b.wav", "ravdess_02", 5), ("a.wav", "ravdess_01", 6),
                 ("b.wav", "ravdess_02", 6)]


def test_the_feature_store_asks_for_voice_copies(monkeypatch):
    """``voice_copies`` N: copies 1..N of every clip, each a voice job of its speaker's session (one virtual speaker
    per speaker and copy), with a cache tag of its own per session."""
    from ser import dataset
    from ser import train as tr

    jobs = _store_jobs(monkeypatch, tr.TrainConfig(data=("x",), out="y", voice_copies=2, seed=5), "voices")
    assert [(j.path, j.channel, j.seed) for j in jobs] == _TWO_SESSIONS
    assert all(j.voice_only and not j.mic_only and j.aug == 0 for j in jobs)
    tags = {dataset._tag(j) for j in jobs}
    assert len(tags) == 4 and all(t.startswith("voice1-") for t in tags)


def test_the_feature_store_asks_for_microphone_copies(monkeypatch):
    """``mic_copies`` N: copies 1..N of every clip, each a microphone-only job of its speaker's session."""
    from ser import train as tr

    jobs = _store_jobs(monkeypatch, tr.TrainConfig(data=("x",), out="y", augment=1, mic_copies=2, seed=5,
                                                   mic_chains=0.0, mic_clips=0.0), "mics")
    assert [(j.path, j.channel, j.seed) for j in jobs] == _TWO_SESSIONS
    assert all(j.mic_only and not j.voice_only and j.aug == 0 for j in jobs)
    assert all(j.mic_chain == 0.0 == j.mic_clip and j.babble == () for j in jobs)
    # --mic-chains: the sessions may pass a chain, whose babble is the fold group's voices; the defaults (session 28)
    jobs = _store_jobs(monkeypatch, tr.TrainConfig(data=("x",), out="y", augment=1, mic_copies=1), "mics",
                       babble=lambda copy: (f"voice{copy}",))
    assert [(j.mic_chain, j.mic_clip, j.babble) for j in jobs] == [(0.5, 0.3, ("voice2001",))] * 2


def test_narrowband_member_hears_the_originals_and_at_most_two_channel_copies(monkeypatch):
    """A third channel copy trains the channel member; its narrowband version would only cost time (the held-out
    telephone band gained nothing with it), so narrowband copies stop at the second channel copy."""
    import pandas as pd

    from ser import train as tr

    man = pd.DataFrame({"path": ["a.wav"], "emotion": ["sad"], "speaker": ["ravdess_01"]})
    for augment, channel, narrow in ((3, [1, 2, 3], [0, 1, 2]), (1, [1], [0, 1]), (0, [], [0])):
        store = tr._FeatureStore(tr.TrainConfig(data=("x",), out="y", augment=augment))
        asked: dict[str, list[int]] = {}
        monkeypatch.setattr(store, "_copies",
                            lambda st, m, copies, job, desc, asked=asked: asked.setdefault(desc, list(copies)))
        store.augmented(man)
        store.narrow(man)
        assert asked == {"augmented features": channel, "narrowband features": narrow}


def test_the_studio_and_channel_members_have_their_own_weight_penalties(monkeypatch):
    """The linear studio member is fitted with ``studio_l2`` and the channel member (and an adapted member, its
    counterpart of adapted input) with ``channel_l2`` (0.05 by default); the gate keeps the recipe's 0.02. A negative
    penalty is refused before training starts."""
    from ser import train as tr
    from ser.errors import TrainingError

    assert tr.TrainConfig(data=("x",), out="y").studio_l2 == 0.05
    assert tr.TrainConfig(data=("x",), out="y").channel_l2 == 0.05
    with pytest.raises(TrainingError, match="--studio-l2 must be 0 or more"):
        tr.TrainConfig(data=("x",), out="y", studio_l2=-0.01)
    with pytest.raises(TrainingError, match="--channel-l2 must be 0 or more"):
        tr.TrainConfig(data=("x",), out="y", channel_l2=-0.01)
    n = 6
    tc = tr.TrainConfig(data=("x",), out="y", epochs=1, augment=1, narrowband=False, studio_l2=0.07, channel_l2=0.03,
                        adapted_member=True)
    l2 = {what: pen for what, (_, pen) in _spied_fits(monkeypatch, tc, 1, n).items()}
    assert l2 == {f"{n} clips + 1 augmented copies": 0.03, "adapted member": 0.03, "studio member": 0.07,
                  "studio gate": 0.02}
    plain = dataclasses.replace(tc, augment=0)  # no copies, no channel member: one model with the recipe's penalty
    assert {pen for _, pen in _spied_fits(monkeypatch, plain, 0, n).values()} == {0.02}


def test_the_channel_member_can_be_an_mlp(monkeypatch):
    """``--channel-hidden`` (TrainConfig.channel_hidden) makes the channel member of a linear recipe an MLP with those
    hidden widths and the mlp recipe's L2, fitted for at most ``channel_epochs`` (and with the channel member's own
    speech weight, when one is set); studio member and gate stay linear,
    and the blend answers with probabilities. Bad widths or epochs are refused before training starts."""
    import keras

    from ser import train as tr

    assert tr.TrainConfig(data=("x",), out="y").channel_hidden == ()
    assert tr.TrainConfig(data=("x",), out="y", channel_hidden=[16, 8]).channel_hidden == (16, 8)  # JSON list
    with pytest.raises(TrainingError, match="--channel-hidden widths must be positive"):
        tr.TrainConfig(data=("x",), out="y", channel_hidden=(16, 0))
    with pytest.raises(TrainingError, match="--channel-epochs must be 0 or more"):
        tr.TrainConfig(data=("x",), out="y", channel_epochs=-1)
    seen: dict[str, tuple[str, tuple[int, ...], int, float, float]] = {}
    real = tr._prepare_fit
    models = []

    def spy(tc, x, ys, weights, validation, **kw):
        seen[kw["what"].split("] ", 1)[1].split(":")[0]] = (tc.model.model_type, tc.model.hidden, tc.epochs,
                                                             tc.model.l2, tc.model.speech_weight)
        out = real(tc, x, ys, weights, validation, **kw)
        models.append(out.model)
        return out

    monkeypatch.setattr(tr, "_prepare_fit", spy)
    tc = tr.TrainConfig(data=("x",), out="y", epochs=2, augment=1, narrowband=False, channel_hidden=(8,),
                        channel_epochs=1, channel_speech_weight=0.5, verbose=0)
    n, rng = 6, np.random.default_rng(0)
    import pandas as pd

    cfg = tc.features
    man = pd.DataFrame({"path": [f"{i}.wav" for i in range(n)], "emotion": ["neutral", "sad", "angry"] * 2,
                        "speaker": ["ravdess_01"] * 3 + ["ravdess_02"] * 3})

    def clips() -> list[list[np.ndarray]]:
        return [[rng.standard_normal((60, cfg.n_features)).astype("float32")] for _ in range(n)]

    model, *_ = tr._fit_one(tc, ("neutral", "sad", "angry"), tr._Data(man, clips()), [clips()],
                            tr._Data(man.iloc[:0], []), seed=0, tag="t")
    assert seen[f"{n} clips + 1 augmented copies"] == ("mlp", (8,), 1, 1e-4, 0.5)  # with its own speech weight
    assert seen["studio member"][0] == seen["studio gate"][0] == "linear"
    assert seen["studio member"][2] == 2 and seen["studio member"][4] == 1.0
    widths = [layer.units for layer in model.get_layer("channel").layers if isinstance(layer, keras.layers.Dense)]
    assert widths == [8, 3]
    x = rng.standard_normal((4, cfg.n_stats)).astype("float32")
    p = np.asarray(model.predict([x, x], verbose=0))
    assert p.shape == (4, 3) and np.allclose(p.sum(axis=1), 1.0, atol=1e-5)


def _fit_on_noise(tc, n: int = 6) -> int:
    """:func:`ser.train._fit_one` of ``tc`` on ``n`` clips of random frames (two speakers, three emotions) and one
    augmented copy of each, no validation; returns ``n``."""
    from ser import train as tr

    rng, cfg = np.random.default_rng(0), tc.features
    man = pd.DataFrame({"path": [f"{i}.wav" for i in range(n)], "emotion": ["neutral", "sad", "angry"] * (n // 3),
                        "speaker": ["ravdess_01"] * (n // 2) + ["ravdess_02"] * (n - n // 2)})

    def clips() -> list[list[np.ndarray]]:
        return [[rng.standard_normal((60, cfg.n_features)).astype("float32")] for _ in range(n)]

    tr._fit_one(tc, ("neutral", "sad", "angry"), tr._Data(man, clips()), [clips()], tr._Data(man.iloc[:0], []),
                seed=0, tag="t")
    return n


def test_the_channel_member_can_lean_less_on_the_speech_block(monkeypatch):
    """``channel_speech_weight`` scales the speech block's standardised functionals in the channel member only (its
    ``standardise`` variance divided by the weight squared); the studio member keeps the model's ``speech_weight``."""
    from ser import train as tr

    with pytest.raises(TrainingError, match="--channel-speech-weight must be positive"):
        tr.TrainConfig(data=("x",), out="y", channel_speech_weight=0.0)
    weights: dict[str, float] = {}
    real = tr._prepare_fit

    def spy(tc, x, ys, weights_, validation, **kw):
        fit = real(tc, x, ys, weights_, validation, **kw)
        what = kw["what"].split("] ", 1)[1].split(":")[0]
        var = fit.model.get_layer("standardise").get_weights()[1]
        cols = tc.features.stats_columns("speech")
        weights[what] = float(np.sqrt(np.median(np.var(x[:, cols], axis=0) / var[..., cols])))
        return fit

    monkeypatch.setattr(tr, "_prepare_fit", spy)

    from ser.models import ModelConfig

    tc = tr.TrainConfig(data=("x",), out="y", epochs=1, augment=1, narrowband=False, channel_speech_weight=0.5,
                        model=ModelConfig(speech_weight=2.0), verbose=0, adapt=False)
    n = _fit_on_noise(tc)
    assert weights[f"{n} clips + 1 augmented copies"] == pytest.approx(0.5, rel=1e-3)
    assert weights["studio member"] == pytest.approx(2.0, rel=1e-3)


@pytest.mark.parametrize("mic", [False, True])
def test_mic_setting_reaches_every_channel_copy(monkeypatch, mic):
    """``--mic`` (TrainConfig.mic) puts the microphone stage into the augmented and narrowband copies' chains."""
    import pandas as pd

    from ser import dataset
    from ser import train as tr

    seen = []
    monkeypatch.setattr(dataset, "extract_all", lambda jobs, cfg, **kw: seen.extend(jobs) or [[] for _ in jobs])
    store = tr._FeatureStore(tr.TrainConfig(data=("x",), out="y", augment=1, mic=mic))
    man = pd.DataFrame({"path": ["a.wav", "b.wav"], "speaker": ["s1", "s2"]})
    store.augmented(man)
    store.narrow(man)
    copies = [j for j in seen if j.channel]
    assert len(copies) == 4 and all(j.mic is mic for j in copies)


def test_training_jobs_are_the_jobs_a_run_extracts_for_its_training_clips(monkeypatch):
    """``training_jobs``: what a run's prefetch sends to extract_all for clips that all train (each original and every
    copy the config asks for), in the same order, without extracting anything."""
    import pandas as pd

    from ser import dataset
    from ser import train as tr

    seen = []
    monkeypatch.setattr(dataset, "extract_all", lambda jobs, cfg, **kw: seen.extend(jobs) or [[] for _ in jobs])
    tc = tr.TrainConfig(data=("x",), out="y", augment=2, mic_copies=1, voice_copies=1)
    man = pd.DataFrame({"path": ["a.wav", "b.wav", "c.wav"], "speaker": ["s1", "s1", "s2"]})
    jobs = tr.training_jobs(tc, man)
    assert not seen  # nothing extracted
    tr._FeatureStore(tc).prefetch(man, man)
    assert jobs == seen
    per_clip = 1 + 2 + 1 + 1 + (1 + min(2, tr.NARROWBAND_COPIES))  # original, augmented, mic, voice, narrowband
    assert len(jobs) == 3 * per_clip and sum(j.aug == 0 and not (j.narrow or j.mic_only or j.voice_only) for j in jobs) == 3


def test_a_fit_ends_once_its_learning_rate_has_decayed_below_the_floor():
    """``min_lr``: a fit whose loss cannot improve has its learning rate halved on every plateau and ends at the first
    epoch that leaves it below the floor; 0 runs every epoch. A negative floor is refused before training starts."""
    from ser import train as tr

    with pytest.raises(TrainingError, match="--min-lr must be 0 or more"):
        tr.TrainConfig(data=("x",), out="y", min_lr=-1e-6)
    assert tr.TrainConfig(data=("x",), out="y").min_lr == tr.DEFAULT_MIN_LR == 1e-6
    from ser.models import ModelConfig

    tc = tr.TrainConfig(data=("x",), out="y", model=ModelConfig(l2=0.0), epochs=40, patience=6, min_lr=3e-4, verbose=0)
    x = np.zeros((64, tc.features.n_stats), np.float32)  # nothing to learn (no penalty, balanced labels, no input)
    ys = np.arange(64) % 2
    fit = dict(weights=np.ones(64), validation=None, early=False, k=2, seed=0, what="flat")
    _, hist, _ = tr._prepare_fit(tc, x, ys, **fit).run()
    lr = hist["learning_rate"]
    # the history logs each epoch's own rate: every epoch ran at the floor or above, and the fit ended at the first
    # epoch whose plateau halved the rate below it
    assert len(lr) < 40 and all(v >= 3e-4 for v in lr) and lr[-1] / 2 < 3e-4
    _, hist, _ = tr._prepare_fit(dataclasses.replace(tc, min_lr=0.0), x, ys, **fit).run()
    assert len(hist["loss"]) == 40 and hist["learning_rate"][-1] < 3e-4


def test_members_fitted_at_once_get_the_weights_they_get_one_after_the_other():
    """``--fit-threads``: a fold's members fitted two at a time come out bit for bit as fitted one after the other
    (each fit's batch order depends on its own seed only), and the batch order is shuffled anew each epoch."""
    from ser import train as tr
    from ser.models import ModelConfig

    tc = tr.TrainConfig(data=("x",), out="y", model=ModelConfig(l2=0.01), epochs=6, batch_size=32, min_lr=0.0,
                        verbose=0)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, tc.features.n_stats)).astype(np.float32)
    ys = (x[:, 0] + 0.5 * rng.normal(size=200) > 0).astype(int) + 2 * (x[:, 1] > 0)

    def fits():
        return {f"m{s}": tr._prepare_fit(tc, x, ys, np.ones(200), None, early=False, k=4, seed=s, what=f"m{s}")
                for s in (0, 1, 2)}

    one = tr._run_fits(fits(), threads=1)
    two = tr._run_fits(fits(), threads=2)
    assert list(two) == ["m0", "m1", "m2"]
    for name in one:
        for a, b in zip(one[name][0].get_weights(), two[name][0].get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
        assert one[name][1]["loss"] == two[name][1]["loss"]
    assert not np.array_equal(one["m0"][0].get_weights()[-2], one["m1"][0].get_weights()[-2])  # seeds differ
    data = tr._shuffled(x[:, :1], ys, np.ones(200), batch_size=64, seed=5)
    first, second = ([b[0].numpy() for b in data] for _ in range(2))  # two epochs
    assert [len(b) for b in first] == [len(b) for b in second] == [64, 64, 64, 8]
    first, second = np.concatenate(first)[:, 0], np.concatenate(second)[:, 0]
    assert sorted(first) == sorted(second) == sorted(x[:, 0]) and not np.array_equal(first, second)
    with pytest.raises(TrainingError, match="--fit-threads must be 1 or more"):
        tr.TrainConfig(data=("x",), out="y", fit_threads=0)


def test_a_run_computes_each_windows_model_input_once(monkeypatch):
    """The folds of a K-fold share most windows: a run's input cache gives exactly ``model_input``'s rows, computing
    each window once (known by identity, so equal-valued windows of two clips stay two rows); sequence inputs are
    not kept."""
    from ser import features
    from ser import train as tr
    from ser.features import FeatureConfig

    cfg = FeatureConfig()
    rng = np.random.default_rng(0)
    windows = [rng.normal(size=(40, cfg.n_features)).astype("float32") for _ in range(5)]
    twin = windows[0].copy()  # same values, another window
    seen: list[int] = []
    real = features.model_input

    def spy(frames, c, kind):
        seen.extend(id(f) for f in frames)
        return real(frames, c, kind)

    monkeypatch.setattr(tr, "model_input", spy)
    cache = tr._InputCache()
    first = cache(windows[:3], cfg, "stats")
    np.testing.assert_array_equal(first, real(windows[:3], cfg, "stats"))
    again = cache([windows[2], windows[0], windows[4], windows[2], twin], cfg, "stats")
    np.testing.assert_array_equal(again, real([windows[2], windows[0], windows[4], windows[2], twin], cfg, "stats"))
    assert sorted(seen) == sorted(id(w) for w in [*windows[:3], windows[4], twin])  # each window once
    assert again.dtype == np.float32 and again.shape == (5, cfg.n_stats)
    seen.clear()
    seq = cache(windows[:2], cfg, "sequence")
    assert seq.shape[0] == 2 and seen == [id(w) for w in windows[:2]]
    cache(windows[:2], cfg, "sequence")
    assert len(seen) == 4  # computed again: whole sequences are too large to keep


def test_the_running_protocol_predicts_a_clips_unadapted_input_once_for_every_order(monkeypatch):
    """Every clip order predicts each clip's unadapted input; it is the same in every order, so the model runs it once
    per clip. The figures are those of a model run on every call."""
    import keras

    from ser import train as tr
    from ser.adapt import fit_prior
    from ser.features import FeatureConfig

    cfg = FeatureConfig()
    rng = np.random.default_rng(1)
    labels = ("neutral", "sad", "angry")
    man = pd.DataFrame({"speaker": ["a"] * 6 + ["b"] * 6, "emotion": list(labels) * 4})
    frames = [[rng.normal(size=(30, cfg.n_features)).astype("float32") for _ in range(2)] for _ in range(12)]
    x = tr.model_input([w for f in frames for w in f], cfg, "stats")
    sessions = np.repeat(man["speaker"].to_numpy(), 2)
    ys = np.repeat(man["emotion"].map({lab: i for i, lab in enumerate(labels)}).to_numpy(), 2)
    prior = fit_prior(x, ys, sessions, labels, level_index=cfg.n_stats - 1, digest=cfg.digest(), min_clips=1)
    inp = keras.Input((cfg.n_stats,))
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(inp))
    calls: list[int] = []

    class Counting:  # the model, counting its runs
        inputs = model.inputs

        def predict_on_batch(self, batch):
            calls.append(len(batch))
            return model.predict_on_batch(batch)

    tc = tr.TrainConfig(data=("x",), out="y", adapt_orders=3)
    data = tr._Data(man, frames)
    runs = tr._adapted_runs(Counting(), data, tc, prior, {lab: i for i, lab in enumerate(labels)}, seed=0)
    n_adapted = sum(int((r["before"] > 0).sum()) for order in runs.values() for r in order)
    assert len(calls) == 12 + n_adapted  # each clip's unadapted input once, every adapted one in every order

    def uncached(x, plain=None, share=0.0):  # the protocol as it ran before: the model on every call
        return np.asarray(model.predict_on_batch(x))

    from ser.adapt import session_order, session_probs

    y = man["emotion"].map({lab: i for i, lab in enumerate(labels)}).to_numpy()
    clips = [tr.model_input(f, cfg, "stats") for f in frames]
    for order in ("random", "blocked"):
        for j, r in enumerate(runs[order]):
            rng_j = np.random.default_rng(0 if j == 0 else [0, j])
            for spk, idx_run in zip(("a", "b"), r["index"].reshape(2, 6), strict=True):
                idx = np.flatnonzero(man["speaker"].to_numpy() == spk)
                idx = idx[session_order(y[idx], order=order, rng=rng_j)]
                assert list(idx) == list(idx_run)
                a, p, _ = session_probs([clips[i] for i in idx], uncached, prior)
                sl = slice(0, 6) if spk == "a" else slice(6, 12)
                np.testing.assert_array_equal(r["adapted"][sl], a)
                np.testing.assert_array_equal(r["plain"][sl], p)


def test_stats_models_run_many_batches_per_call_with_the_same_updates(monkeypatch):
    """A stats model's fit runs up to ``STEPS_PER_EXECUTION`` batches per call into the training step (dispatch, not
    arithmetic, is its cost): the weights after a fit are those of one batch per call, since the batches, their
    order and the epoch-end callbacks are the same. Frame models keep one batch per call."""
    from ser import models
    from ser import train as tr
    from ser.models import ModelConfig, build_model

    assert build_model(ModelConfig(), input_shape=(8,), n_classes=3).steps_per_execution == models.STEPS_PER_EXECUTION > 1
    assert build_model(ModelConfig(model_type="tdnn", width=4), input_shape=(50, 8), n_classes=3).steps_per_execution == 1
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 12)).astype(np.float32)
    ys = (x[:, 0] > 0).astype(int) + (x[:, 1] > 1)
    from ser.features import FeatureConfig

    tc = tr.TrainConfig(data=("x",), out="y", features=FeatureConfig(blocks=("mfcc",)), epochs=6, batch_size=32,
                        min_lr=0.0, verbose=0)
    fit = dict(weights=np.ones(300), validation=None, early=False, k=3, seed=0, what="spe")
    many, hist_many, _ = tr._prepare_fit(tc, x, ys, **fit).run()
    monkeypatch.setattr(models, "STEPS_PER_EXECUTION", 1)
    one, hist_one, _ = tr._prepare_fit(tc, x, ys, **fit).run()
    assert one.steps_per_execution == 1 and len(hist_many["loss"]) == len(hist_one["loss"]) == 6
    for a, b in zip(many.get_weights(), one.get_weights(), strict=True):
        assert np.allclose(a, b, atol=1e-5)
    assert np.allclose(hist_many["loss"], hist_one["loss"], atol=1e-5)


def test_a_clips_copies_are_extracted_one_after_the_other(monkeypatch):
    """Copies are asked for clip by clip (copy 1 and 2 of a clip adjacent), so a clip's voice copies land in one worker
    and share its vocoder analysis; every (clip, copy) still comes back in the ``[copy][clip]`` layout."""
    import pandas as pd

    from ser import dataset
    from ser import train as tr

    man = pd.DataFrame({"path": ["a.wav", "b.wav"], "emotion": ["sad", "angry"], "speaker": ["ravdess_01", "ravdess_02"]})
    store = tr._FeatureStore(tr.TrainConfig(data=("x",), out="y", voice_copies=2))
    asked = []

    def fake_extract(jobs, cfg, **kw):
        asked.extend((j.path, j.seed) for j in jobs)
        return [[np.full((1, 1), i, dtype="float32")] for i, _ in enumerate(jobs)]

    monkeypatch.setattr(dataset, "extract_all", fake_extract)
    copies = store.voices(man)
    assert asked == [("a.wav", 0), ("a.wav", 1), ("b.wav", 0), ("b.wav", 1)]
    assert [[float(c[0][0, 0]) for c in copy] for copy in copies] == [[0.0, 2.0], [1.0, 3.0]]


def test_a_split_extracts_what_it_lacks_in_one_pool(monkeypatch):
    """What a split needs and the cache lacks (the originals of its speakers, every kind of copy of its training clips)
    goes to the workers in one batch, a clip's voice copies adjacent at its start; the copies then come back as when
    each kind is asked for on its own, and a second split asks only for what the first did not have."""
    import pandas as pd

    from ser import dataset
    from ser import train as tr

    man = pd.DataFrame({"path": ["a.wav", "b.wav", "c.wav"], "emotion": ["sad", "angry", "sad"],
                        "speaker": ["ravdess_01", "ravdess_02", "ravdess_03"]})
    tc = tr.TrainConfig(data=("x",), out="y", augment=2, voice_copies=2, mic_copies=1, babble_copies=1)
    calls: list[list] = []

    def fake_extract(jobs, cfg, **kw):
        calls.append([dataset._tag(j) + "|" + j.path for j in jobs])
        return [[np.full((1, 1), hash(t) % 1000, dtype="float32")] for t in calls[-1]]

    monkeypatch.setattr(dataset, "extract_all", fake_extract)
    store = tr._FeatureStore(tc)
    train = man.iloc[:2]
    store.prefetch(man, train)
    assert len(calls) == 1
    jobs = calls[0]
    # 3 originals, and per training clip 2 voice, 2 augmented, 1 microphone, 1 babble and 3 narrowband copies
    assert len(jobs) == 3 + 2 * (2 + 2 + 1 + 1 + 3) == len(set(jobs))
    assert [j.split("|")[1] for j in jobs[:4]] == ["a.wav", "a.wav", "b.wav", "b.wav"]  # voice copies first
    kinds = {"voices": store.voices, "augmented": store.augmented, "mics": store.mics, "babble": store.babble,
             "narrow": store.narrow}
    got = {k: f(train) for k, f in kinds.items()}
    assert len(calls) == 1  # all there already
    fresh = tr._FeatureStore(tc)
    for k in kinds:
        want = getattr(fresh, k)(train)
        assert [[c[0][0, 0] for c in copy] for copy in want] == [[c[0][0, 0] for c in copy] for copy in got[k]]
    calls.clear()
    store.prefetch(man, man)  # another split: only c.wav's copies are new
    assert len(calls) == 1 and {j.split("|")[1] for j in calls[0]} == {"c.wav"} and len(calls[0]) == 9


@pytest.mark.parametrize("model_type, rows", [("linear", True), ("tdnn", False)])
def test_a_stats_model_keeps_its_copies_as_stats_rows(monkeypatch, model_type, rows):
    """A window-stats model keeps each copy's windows as their stats rows as they arrive (the frames held most of a
    K-fold run's memory) and the originals' frames (the EDA summary's profiles); a sequence model keeps frames."""
    import pandas as pd

    from ser import dataset, features
    from ser import train as tr

    cfg = features.FeatureConfig()
    man = pd.DataFrame({"path": ["a.wav", "b.wav"], "emotion": ["sad", "angry"], "speaker": ["ravdess_01", "ravdess_02"]})
    tc = tr.TrainConfig(data=("x",), out="y", augment=1, voice_copies=0, mic_copies=0, babble_copies=0,
                        narrowband=False, features=cfg, model=tr.ModelConfig(model_type=model_type))
    rng = np.random.default_rng(0)
    made: list[list[np.ndarray]] = []

    def fake_extract(jobs, cfg, keep=None, **kw):
        out = []
        for i, _ in enumerate(jobs):
            made.append([rng.normal(size=(40, cfg.n_features)).astype("float32")])
            out.append(keep(i, made[-1]) if keep else made[-1])
        return out

    monkeypatch.setattr(dataset, "extract_all", fake_extract)
    store = tr._FeatureStore(tc)
    store.prefetch(man, man)
    orig = store.originals(man)
    aug, _, _ = store.training_copies(man)
    assert all(w.ndim == 2 for clip in orig.frames for w in clip)
    assert all(w.ndim == (1 if rows else 2) for copy in aug for clip in copy for w in clip)
    by_id = {id(w): w for fr in made for w in fr}
    kept = [w for copy in aug for clip in copy for w in clip]
    if rows:
        want = features.model_input([w for fr in made for w in fr if id(w) not in
                                     {id(o) for clip in orig.frames for o in clip}], cfg, "stats")
        assert np.array_equal(features.model_input(kept, cfg, "stats"), want)
    else:
        assert all(id(w) in by_id for w in kept)


def test_the_whisper_weight_scales_the_whisper_blocks_stats_in_every_member(monkeypatch):
    """``whisper_weight`` W: the whisper block's means and spreads enter every member at W times unit variance once
    standardised (``standardise`` variance divided by W squared); the other blocks keep theirs."""

    from ser import features
    from ser import train as tr
    from ser.models import ModelConfig

    scale: dict[str, tuple[float, float]] = {}
    real = tr._prepare_fit

    def spy(tc, x, ys, weights_, validation, **kw):
        fit = real(tc, x, ys, weights_, validation, **kw)
        var = fit.model.get_layer("standardise").get_weights()[1]

        def ratio(cols):
            return float(np.sqrt(np.median(np.var(x[:, cols], axis=0) / var[..., cols])))

        scale[kw["what"].split("] ", 1)[1].split(":")[0]] = (ratio(tc.features.stats_columns("whisper")),
                                                             ratio(tc.features.stats_columns("mfcc")))
        return fit

    monkeypatch.setattr(tr, "_prepare_fit", spy)
    cfg = features.FeatureConfig(blocks=features.DEFAULT_BLOCKS + ("whisper",))
    tc = tr.TrainConfig(data=("x",), out="y", epochs=1, augment=1, narrowband=False, features=cfg,
                        model=ModelConfig(whisper_weight=3.0), verbose=0, adapt=False)
    _fit_on_noise(tc)
    assert len(scale) >= 3  # the channel member, the studio member and its gate
    for what, (whisper, mfcc) in scale.items():
        assert whisper == pytest.approx(3.0, rel=1e-3) and mfcc == pytest.approx(1.0, rel=1e-3), what
