"""Tests of "bring your own corpus": folders described by a manifest.csv, and ser.labels.normalise_emotion."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from ser import cli, labels
from ser.corpora import COLUMNS, CORPUS_NAMES, scan, summarize
from ser.errors import CorpusError
from ser.labels import EMOTIONS, SYNONYMS, normalise_emotion

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
RAVDESS = DATA / "ravdess"
needs_data = pytest.mark.skipif(not RAVDESS.is_dir(), reason=f"real corpora not found at {DATA}")


def tone(path: Path, seconds: float = 0.5, sr: int = 16000) -> Path:
    """Write a short sine clip (format from the extension) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    sf.write(path, (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), sr)
    return path


def write_manifest(folder: Path, rows: list[dict[str, str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "manifest.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture()
def own(tmp_path: Path) -> Path:
    """A "My Corpus" folder: 4 good clips (one by absolute path), a missing one, an unknown emotion, a
    broken file, a duplicate row, and an unlisted name-coded clip that must not be picked up."""
    folder = tmp_path / "My Corpus-2"
    tone(folder / "clips" / "a.wav")
    tone(folder / "clips" / "b.flac", 0.25)
    tone(folder / "c.wav")
    elsewhere = tone(tmp_path / "elsewhere" / "d.wav")
    tone(folder / "clips" / "e.wav")
    (folder / "broken.wav").write_bytes(b"RIFF....not really a wav")
    tone(folder / "03-01-05-01-01-01-01.wav")  # not listed: the manifest alone describes the folder
    write_manifest(
        folder,
        [
            {"path": "clips/a.wav", "emotion": "Joy", "speaker": "s1", "gender": "F"},
            {"path": "clips/b.flac", "emotion": " anger ", "speaker": "s1", "gender": "female"},
            {"path": "./c.wav", "emotion": "Traurigkeit", "speaker": "s2", "gender": "M"},
            {"path": str(elsewhere), "emotion": "rab", "speaker": "s3", "gender": ""},
            {"path": "clips/missing.wav", "emotion": "happy", "speaker": "s1", "gender": "f"},
            {"path": "clips/e.wav", "emotion": "contempt", "speaker": "s2", "gender": "m"},
            {"path": "broken.wav", "emotion": "neutral", "speaker": "s2", "gender": "m"},
            {"path": "clips/../clips/a.wav", "emotion": "sad", "speaker": "s9", "gender": "m"},  # duplicate
        ],
    )
    return folder


# ---------------------------------------------------------------- normalise_emotion


@pytest.mark.parametrize(
    ("name", "label"),
    [
        *[(e, e) for e in EMOTIONS],
        ("Joy", "happy"), ("happiness", "happy"), ("HAPPY", "happy"), ("hap", "happy"), ("glad", "happy"),
        ("fear", "fearful"), ("Fearful", "fearful"), ("afraid", "fearful"), ("fea", "fearful"),
        ("anxiety", "fearful"),
        ("anger", "angry"), ("Angry", "angry"), ("ANG", "angry"), ("mad", "angry"),
        ("sadness", "sad"), ("  sad\t", "sad"), ("sorrow", "sad"),
        ("surprise", "surprised"), ("ps", "surprised"), ("pleasant surprise", "surprised"),
        ("Pleasant_Surprise", "surprised"), ("pleasant-surprised", "surprised"),
        ("disgusted", "disgust"), ("DIS", "disgust"),
        ("neu", "neutral"), ("calm", "calm"), ("bored", "boredom"), ("Boredom", "boredom"),
        # German (EMO-DB's words)
        ("Wut", "angry"), ("Freude", "happy"), ("Trauer", "sad"), ("Traurigkeit", "sad"),
        ("Angst", "fearful"), ("Ekel", "disgust"), ("Langeweile", "boredom"), ("Ärger", "angry"),
        ("Überraschung", "surprised"),
        # Italian (EMOVO codes and words)
        ("rab", "angry"), ("gio", "happy"), ("tri", "sad"), ("pau", "fearful"), ("sor", "surprised"),
        ("neutro", "neutral"), ("rabbia", "angry"), ("gioia", "happy"), ("tristezza", "sad"),
        ("paura", "fearful"), ("disgusto", "disgust"), ("sorpresa", "surprised"),
        # French
        ("colère", "angry"), ("Colere", "angry"), ("joie", "happy"), ("tristesse", "sad"), ("peur", "fearful"),
        ("dégoût", "disgust"), ("degout", "disgust"), ("neutre", "neutral"),
    ],
)
def test_normalise_emotion(name: str, label: str) -> None:
    assert normalise_emotion(name) == label


@pytest.mark.parametrize("name", ["none", "None", "", "   ", "contempt", "frustration", "xyz", "a", "happy sad"])
def test_normalise_emotion_unknown(name: str) -> None:
    assert normalise_emotion(name) is None


def test_normalise_emotion_non_string() -> None:
    assert normalise_emotion(None) is None  # type: ignore[arg-type]
    assert normalise_emotion(float("nan")) is None  # type: ignore[arg-type]


def test_synonym_table_is_consistent() -> None:
    assert set(SYNONYMS.values()) == set(EMOTIONS)
    for key, label in SYNONYMS.items():
        assert key == labels._emotion_key(key), key  # keys are in their compared form
        assert normalise_emotion(key) == label
    # the built-in corpora's own words agree with the table
    for word, label in labels.TESS.items():
        assert normalise_emotion(word) == label
    for code, label in labels.CREMAD.items():
        assert normalise_emotion(code) == label


# ---------------------------------------------------------------- scan of a manifest folder


def test_scan_manifest_folder(own: Path, tmp_path: Path) -> None:
    result = scan(own)
    m = result.manifest
    assert list(m.columns) == list(COLUMNS)
    assert m["path"].tolist() == sorted(m["path"].tolist())
    by_name = m.set_index(m["path"].map(lambda p: Path(p).name))
    assert sorted(by_name.index) == ["a.wav", "b.flac", "c.wav", "d.wav"]
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in m["path"])
    assert by_name.loc["d.wav", "path"] == str((tmp_path / "elsewhere" / "d.wav").resolve())
    assert by_name.loc["a.wav", "path"] == str((own / "clips" / "a.wav").resolve())

    assert set(m["corpus"]) == {"my_corpus_2"}
    assert result.corpora == ["my_corpus_2"]
    assert by_name["emotion"].to_dict() == {"a.wav": "happy", "b.flac": "angry", "c.wav": "sad", "d.wav": "angry"}
    assert by_name["speaker"].to_dict() == {
        "a.wav": "my_corpus_2_s1",
        "b.flac": "my_corpus_2_s1",
        "c.wav": "my_corpus_2_s2",
        "d.wav": "my_corpus_2_s3",
    }
    assert by_name["gender"].to_dict() == {"a.wav": "female", "b.flac": "female", "c.wav": "male", "d.wav": "unknown"}
    assert set(m["intensity"]) == {"unspecified"}
    assert set(m["statement"]) == {""}
    assert by_name.loc["a.wav", "duration"] == pytest.approx(0.5)
    assert by_name.loc["b.flac", "duration"] == pytest.approx(0.25)

    reasons = {Path(p).name: why for p, why in result.skipped}
    assert set(reasons) == {"missing.wav", "e.wav", "broken.wav"}  # the duplicate row is dropped silently
    assert reasons["missing.wav"] == "file not found"
    assert reasons["e.wav"] == "emotion 'contempt' is not one of ser's labels"
    assert "unreadable" in reasons["broken.wav"]
    # the unlisted, name-coded file in the folder is neither a row nor skipped: only the manifest counts
    assert not any("03-01-05" in p for p in [*m["path"], *(p for p, _ in result.skipped)])


def test_scan_manifest_without_duration(own: Path) -> None:
    result = scan(own, with_duration=False)
    assert len(result.manifest) == 5  # the broken file is not opened, so it is kept
    assert result.manifest["duration"].isna().all()
    assert sorted(Path(p).name for p, _ in result.skipped) == ["e.wav", "missing.wav"]


def test_manifest_optional_columns_and_already_namespaced_speakers(tmp_path: Path) -> None:
    folder = tmp_path / "x"
    tone(folder / "1.wav")
    tone(folder / "2.wav")
    tone(folder / "3.wav")
    (folder / "manifest.csv").write_text(
        "\ufeffPath , Emotion,SPEAKER,Corpus,intensity,statement\n"  # BOM, spaces and case in the header
        "1.wav,Freude,07,EmoVo,strong,Hello there\n"
        "2.wav,peur,emovo_07,,,\n"  # empty corpus: the folder's name; speaker already namespaced
        "3.wav,fear,,emovo,,\n",  # no speaker: skipped
        encoding="utf-8",
    )
    result = scan(folder)
    m = result.manifest.set_index(result.manifest["path"].map(lambda p: Path(p).name))
    assert m.loc["1.wav", ["corpus", "speaker", "emotion", "intensity", "statement", "gender"]].tolist() == [
        "emovo", "emovo_07", "happy", "strong", "Hello there", "unknown",
    ]
    assert m.loc["2.wav", ["corpus", "speaker", "emotion"]].tolist() == ["x", "x_emovo_07", "fearful"]
    assert [(Path(p).name, why) for p, why in result.skipped] == [("3.wav", "manifest row has no speaker")]
    assert result.corpora == ["emovo", "x"]


def test_manifest_written_by_ser_data_list_round_trips(own: Path, tmp_path: Path) -> None:
    out = tmp_path / "copy" / "manifest.csv"
    assert cli.main(["data", "list", str(own), "--manifest", str(out)]) == 0
    again = scan(out.parent)
    first = scan(own).manifest
    assert again.skipped == []
    pd.testing.assert_frame_equal(again.manifest, first)


def test_manifest_missing_columns(tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    tone(folder / "a.wav")
    write_manifest(folder, [{"path": "a.wav", "label": "happy"}])
    with pytest.raises(CorpusError, match=r"manifest\.csv is missing the columns emotion, speaker") as err:
        scan(folder)
    assert str(folder / "manifest.csv") in str(err.value)
    write_manifest(folder, [{"path": "a.wav", "emotion": "happy"}])
    with pytest.raises(CorpusError, match="missing the column speaker"):
        scan(folder)


def test_manifest_empty_or_unreadable(tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "manifest.csv").write_text("")
    with pytest.raises(CorpusError, match="empty"):
        scan(folder)
    (folder / "manifest.csv").write_text("path,emotion,speaker\n")
    with pytest.raises(CorpusError, match="lists no clips"):
        scan(folder)
    (folder / "manifest.csv").write_bytes(b"path,emotion,speaker\n\xff\xfe,\x80,x\n")
    with pytest.raises(CorpusError, match="cannot read"):
        scan(folder)


def test_manifest_folder_inside_a_walked_root(own: Path, tmp_path: Path) -> None:
    """A data folder holding a manifest corpus next to name-coded clips (what the explorer scans)."""
    tone(tmp_path / "coded" / "Actor_02" / "03-01-03-02-01-01-02.wav")
    result = scan(tmp_path)
    m = result.manifest
    assert result.corpora == ["ravdess", "my_corpus_2"]
    assert (m["corpus"] == "my_corpus_2").sum() == 4
    assert m.loc[m["corpus"] == "ravdess", "speaker"].tolist() == ["ravdess_02"]
    assert "03-01-05-01-01-01-01.wav" not in {Path(p).name for p, _ in result.skipped}
    summary = summarize(m)
    assert summary["corpora"] == {"ravdess": 1, "my_corpus_2": 4}
    assert summary["n_speakers"] == 4


# ---------------------------------------------------------------- with real clips


@needs_data
def test_manifest_and_real_ravdess_in_one_scan(tmp_path: Path) -> None:
    real = sorted((RAVDESS / "Actor_01").glob("*.flac"))[:2]
    assert len(real) == 2
    folder = tmp_path / "mine"
    tone(folder / "x.wav")
    write_manifest(
        folder,
        [
            {"path": "x.wav", "emotion": "Angst", "speaker": "1", "corpus": "mine"},
            # absolute paths to real clips, labelled as another corpus: same speaker number, no collision
            {"path": str(real[0]), "emotion": "happiness", "speaker": "1", "corpus": "mine"},
            {"path": str(real[1]), "emotion": "sadness", "speaker": "2", "corpus": "mine"},
        ],
    )
    result = scan([folder, RAVDESS / "Actor_01", RAVDESS / "Actor_02"])
    m = result.manifest
    assert result.skipped == []
    assert result.corpora[0] == "ravdess" and result.corpora[1:] == ["mine"]
    assert set(CORPUS_NAMES) & set(result.corpora) == {"ravdess"}
    # the two real clips are labelled by the manifest (read first) and are not listed twice
    assert m["path"].is_unique
    assert len(m) == 3 + 60 + 60 - 2
    assert (m["corpus"] == "mine").sum() == 3
    assert set(m.loc[m["corpus"] == "mine", "speaker"]) == {"mine_1", "mine_2"}
    assert {"ravdess_01", "ravdess_02"} <= set(m["speaker"])
    assert not set(m.loc[m["corpus"] == "mine", "speaker"]) & set(m.loc[m["corpus"] == "ravdess", "speaker"])
    mine = m[m["corpus"] == "mine"].set_index("path")
    assert mine.loc[str(real[0].resolve()), "emotion"] == "happy"
    assert mine["duration"].between(0.4, 10).all()
    assert not any(math.isnan(d) for d in m["duration"])


# ---------------------------------------------------------------- ser data list


def test_cli_data_list_on_manifest_folder(own: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["data", "list", str(own)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "4 clips, 3 speakers, 1 corpus (my_corpus_2)"
    assert "skipped: 3 audio files" in out
    assert cli.main(["data", "list", str(own), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["corpora"] == {"my_corpus_2": 4}
    assert summary["emotions"] == {"happy": 1, "sad": 1, "angry": 2}
    assert summary["gender"] == {"female": 2, "male": 1, "unknown": 1}
    assert summary["skipped"] == 3


def test_cli_data_list_missing_column_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "bad"
    tone(folder / "a.wav")
    write_manifest(folder, [{"file": "a.wav", "emotion": "happy", "speaker": "1"}])
    assert cli.main(["data", "list", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "missing the column path" in err and "manifest.csv" in err
