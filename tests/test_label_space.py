"""Label spaces: the core seven emotions (calm counts as neutral, boredom left out) or every label in the data."""

from __future__ import annotations

import json

import pytest
from support import EMODB, RAVDESS, requires_data

from ser.errors import TrainingError
from ser.labels import CORE_EMOTIONS, EMOTIONS, LabelSpace


def test_core_space_is_the_big_six_and_neutral():
    assert LabelSpace.CORE.allowed() == CORE_EMOTIONS and set(CORE_EMOTIONS) < set(EMOTIONS)
    assert LabelSpace.CORE.merges == {"calm": "neutral"} and LabelSpace.ALL.merges == {}
    assert LabelSpace.ALL.allowed() == EMOTIONS and LabelSpace("core") is LabelSpace.CORE
    assert all(v in CORE_EMOTIONS for v in LabelSpace.CORE.merges.values())


@pytest.fixture
def mixed(tmp_path):
    """Actor 1's neutral (4), calm (8) and sad (8) clips and one EMO-DB speaker's boredom and sad clips."""
    sub = tmp_path / "mixed"
    (sub / "Actor_01").mkdir(parents=True)
    for f in sorted((RAVDESS / "Actor_01").glob("*.flac")):
        if f.stem.split("-")[2] in ("01", "02", "04"):
            (sub / "Actor_01" / f.name).symlink_to(f)
    (sub / "emodb").mkdir()
    for f in sorted(EMODB.glob("03*.flac")):
        if f.stem[5] in ("L", "T"):  # Langeweile (boredom), Trauer (sad)
            (sub / "emodb" / f.name).symlink_to(f)
    return sub


@requires_data
def test_core_space_counts_calm_as_neutral_and_leaves_boredom_out(mixed, tmp_path, capsys):
    from ser.train import TrainConfig, _scan

    n_bored = len(list((mixed / "emodb").glob("03???L*")))
    assert n_bored > 0
    man, labels = _scan(TrainConfig(data=(str(mixed),), out=str(tmp_path / "o")))
    assert labels == ("neutral", "sad")
    counts = man.groupby(["corpus", "emotion"]).size().to_dict()
    assert counts[("ravdess", "neutral")] == 4 + 8 and "calm" not in set(man["emotion"])
    assert "boredom" not in set(man["emotion"]) and counts[("emodb", "sad")] > 0
    assert f"left out {n_bored} clips" in capsys.readouterr().err
    man, labels = _scan(TrainConfig(data=(str(mixed),), out=str(tmp_path / "o"), label_space="all"))
    assert labels == ("neutral", "calm", "sad", "boredom") and (man["emotion"] == "calm").sum() == 8
    with pytest.raises(TrainingError, match=r"calm counts as neutral.*--label-space all"):
        _scan(TrainConfig(data=(str(mixed),), out=str(tmp_path / "o"), labels=("calm", "sad")))
    with pytest.raises(TrainingError, match="unknown label space 'union'"):
        _scan(TrainConfig(data=(str(mixed),), out=str(tmp_path / "o"), label_space="union"))


@requires_data
def test_evaluate_maps_corpus_labels_through_the_bundle(mixed, tmp_path):
    """A core-space bundle scores calm clips as neutral and skips boredom as unknown to the model."""
    from ser import Predictor
    from ser.evaluate import evaluate_folder
    from ser.testing import make_tiny_bundle

    b = make_tiny_bundle(tmp_path / "core", labels=CORE_EMOTIONS)
    cfg = json.loads((b / "config.json").read_text())
    assert Predictor(b).bundle.config.label_map == {}  # bundles made before label spaces: no map
    (b / "config.json").write_text(json.dumps({**cfg, "label_space": "core", "label_map": {"calm": "neutral"}}))
    pred = Predictor(b)
    assert pred.bundle.config.label_map == {"calm": "neutral"}
    m = evaluate_folder(pred, [mixed], progress=False)
    n_bored = len(list((mixed / "emodb").glob("03???L*")))
    assert m["per_class"]["neutral"]["support"] == 12 and m["skipped_reasons"] == {"emotion unknown to the model": n_bored}
    assert m["labels"] == list(CORE_EMOTIONS) and m["label_map"] == {"calm": "neutral"}
    from ser.evaluate import format_report

    assert "scored as: calm clips as neutral" in format_report(m)


def test_model_card_states_the_label_space():
    from ser.bundle import BundleConfig
    from ser.card import model_card
    from ser.testing import tiny_features

    cfg = BundleConfig(labels=CORE_EMOTIONS, model_type="linear", input_kind="stats", features=tiny_features(),
                       corpora=("emodb", "ravdess"), extra={"label_space": "core", "label_map": {"calm": "neutral"}})
    text = model_card(cfg, {}, {})
    assert "calm clips count as neutral" in text and "boredom clips are left out" in text
    assert "'calm' vs 'neutral'" not in text
    old = model_card(BundleConfig(labels=("neutral", "calm", "sad"), model_type="linear", input_kind="stats",
                                  features=tiny_features(), corpora=("emodb", "ravdess")), {}, {})
    assert "Each corpus lacks some of the labels" in old and "'calm' vs 'neutral'" in old
