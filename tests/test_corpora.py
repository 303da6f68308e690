"""Tests of ser.corpora: file-name parsing for 5 corpora, scanning, skipping, summaries, real data."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from ser import corpora, labels
from ser.corpora import COLUMNS, ScanResult, format_summary, parse_name, scan, summarize
from ser.errors import CorpusError, SERError

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
needs_data = pytest.mark.skipif(not (DATA / "ravdess").is_dir(), reason=f"real corpora not found at {DATA}")


def tone(path: Path, seconds: float = 0.25, sr: int = 16000) -> Path:
    """Write a short sine clip (format from the extension) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    sf.write(path, (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), sr)
    return path


# ---------------------------------------------------------------- parse_name


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "03-01-06-01-02-01-12.wav",
            ("ravdess_12", "female", "fearful", "normal", "Dogs are sitting by the door"),
        ),
        (
            "03-01-05-02-01-02-07.flac",
            ("ravdess_07", "male", "angry", "strong", "Kids are talking by the door"),
        ),
        (
            "03-02-03-01-01-01-01.wav",
            ("ravdess_01", "male", "happy", "normal", "Kids are talking by the door"),
        ),
        ("03a01Fa.wav", ("emodb_03", "male", "happy", "unspecified", "Der Lappen liegt auf dem Eisschrank.")),
        (
            "16b10Lb.flac",
            (
                "emodb_16",
                "female",
                "boredom",
                "unspecified",
                "Die wird auf dem Platz sein, wo wir sie immer hinlegen.",
            ),
        ),
        ("OAF_back_angry.wav", ("tess_OAF", "female", "angry", "unspecified", "Say the word back")),
        ("YAF_dog_ps.wav", ("tess_YAF", "female", "surprised", "unspecified", "Say the word dog")),
        ("YAF_date_fear.wav", ("tess_YAF", "female", "fearful", "unspecified", "Say the word date")),
        ("1001_DFA_ANG_XX.wav", ("cremad_1001", "unknown", "angry", "unspecified", "Don't forget a jacket")),
        ("1091_IEO_HAP_HI.wav", ("cremad_1091", "unknown", "happy", "high", "It's eleven o'clock")),
        ("1050_TSI_SAD_LO.wav", ("cremad_1050", "unknown", "sad", "low", "The surface is slick")),
        ("DC_a01.wav", ("savee_DC", "male", "angry", "unspecified", "a01")),
        ("KL_sa15.wav", ("savee_KL", "male", "sad", "unspecified", "sa15")),
        ("JE_su03.wav", ("savee_JE", "male", "surprised", "unspecified", "su03")),
        ("DC/sa01.wav", ("savee_DC", "male", "sad", "unspecified", "sa01")),
        ("JK/n30.wav", ("savee_JK", "male", "neutral", "unspecified", "n30")),
    ],
)
def test_parse_name_all_corpora(name: str, expected: tuple[str, ...]) -> None:
    row = parse_name(Path("/somewhere") / name)
    assert row is not None
    assert (row["speaker"], row["gender"], row["emotion"], row["intensity"], row["statement"]) == expected
    assert row["corpus"] == expected[0].split("_")[0]
    assert set(row) == set(COLUMNS) - {"path", "duration"}
    assert row["emotion"] in labels.EMOTIONS


@pytest.mark.parametrize(
    "name",
    [
        "01-01-06-01-02-01-12.mp4",  # RAVDESS full-AV modality
        "02-01-06-01-02-01-12.wav",  # video-only modality
        "03-01-09-01-02-01-12.wav",  # unknown emotion
        "03-01-06-03-02-01-12.wav",  # unknown intensity
        "03-01-06-01-02-01-25.wav",  # actor out of range
        "17a01Fa.wav",  # unknown EMO-DB speaker
        "03a03Fa.wav",  # unknown EMO-DB text
        "03a01Xa.wav",  # unknown EMO-DB emotion
        "0999_DFA_ANG_XX.wav",  # CREMA-D actor out of range
        "1001_XYZ_ANG_XX.wav",  # unknown CREMA-D sentence
        "1001_DFA_SUR_XX.wav",  # unknown CREMA-D emotion
        "1001_DFA_ANG_ZZ.wav",  # unknown CREMA-D level
        "OAF_back_bored.wav",  # unknown TESS emotion
        "XX_a01.wav",  # unknown SAVEE speaker
        "a01.wav",  # SAVEE clip outside a speaker folder
        "recording.wav",
        "my voice 2024.flac",
    ],
)
def test_parse_name_rejects(name: str) -> None:
    assert parse_name(Path("/somewhere/else") / name) is None


def test_parse_name_accepts_str_and_any_extension() -> None:
    assert parse_name("03-01-01-01-01-01-02.FLAC") == parse_name(Path("x/03-01-01-01-01-01-02.wav"))
    assert parse_name("OA_bite_neutral.wav")["speaker"] == "tess_OAF"  # a known TESS naming slip


# ---------------------------------------------------------------- scan


@pytest.fixture()
def mixed_tree(tmp_path: Path) -> Path:
    """One folder holding a clip of each corpus in its usual layout, plus junk."""
    root = tmp_path / "corpora"
    tone(root / "ravdess" / "Actor_12" / "03-01-06-01-02-01-12.wav", 0.5)
    tone(root / "ravdess" / "Actor_01" / "03-01-01-01-01-01-01.flac", 0.25)
    tone(root / "emodb" / "wav" / "03a01Fa.wav", 0.3)
    tone(root / "tess" / "OAF_angry" / "OAF_back_angry.wav")
    tone(root / "tess" / "YAF_pleasant_surprised" / "YAF_dog_ps.wav")
    tone(root / "crema" / "AudioWAV" / "1001_DFA_ANG_XX.wav")
    tone(root / "savee" / "ALL" / "DC_a01.wav")
    tone(root / "savee" / "AudioData" / "DC" / "sa01.wav")
    tone(root / "mine" / "hello.wav")  # audio with no corpus code
    (root / "notes.txt").write_text("not audio")  # ignored: not an audio extension
    (root / "broken").mkdir()
    (root / "broken" / "03-01-02-01-01-01-03.wav").write_bytes(b"RIFF....not really a wav")
    (root / ".partial").mkdir()
    (root / ".partial" / "03-01-02-01-01-01-04.wav").write_bytes(b"hidden: never looked at")
    return root


def test_scan_mixed_tree(mixed_tree: Path) -> None:
    result = scan(mixed_tree)
    assert isinstance(result, ScanResult)
    m = result.manifest
    assert list(m.columns) == list(COLUMNS)
    assert len(m) == 8
    assert m["path"].tolist() == sorted(m["path"].tolist())
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in m["path"])
    assert result.corpora == ["ravdess", "emodb", "tess", "cremad", "savee"]
    assert set(m["speaker"]) == {
        "ravdess_12",
        "ravdess_01",
        "emodb_03",
        "tess_OAF",
        "tess_YAF",
        "cremad_1001",
        "savee_DC",
    }
    assert set(m["gender"]) == {"male", "female", "unknown"}
    assert set(m["emotion"]) <= set(labels.EMOTIONS)
    durations = dict(zip(m["path"].map(lambda p: Path(p).name), m["duration"], strict=True))
    assert durations["03-01-06-01-02-01-12.wav"] == pytest.approx(0.5)
    assert durations["03-01-01-01-01-01-01.flac"] == pytest.approx(0.25)
    assert durations["03a01Fa.wav"] == pytest.approx(0.3)

    reasons = {Path(p).name: why for p, why in result.skipped}
    assert set(reasons) == {"hello.wav", "03-01-02-01-01-01-03.wav"}
    assert "no known corpus" in reasons["hello.wav"]
    assert "unreadable" in reasons["03-01-02-01-01-01-03.wav"]


def test_scan_without_duration_does_not_open_files(mixed_tree: Path) -> None:
    result = scan(mixed_tree, with_duration=False)
    assert len(result.manifest) == 9  # the broken file is not opened, so it is kept
    assert result.manifest["duration"].isna().all()
    assert [Path(p).name for p, _ in result.skipped] == ["hello.wav"]


def test_scan_hybrid_of_several_roots(tmp_path: Path) -> None:
    a = tone(tmp_path / "a" / "Actor_02" / "03-01-03-02-01-01-02.wav").parent.parent
    b = tone(tmp_path / "b" / "09b02Tb.wav").parent
    c = tone(tmp_path / "c" / "JK" / "h07.wav").parent.parent
    result = scan([a, str(b), c])
    assert result.corpora == ["ravdess", "emodb", "savee"]
    assert result.manifest["speaker"].tolist() == ["ravdess_02", "emodb_09", "savee_JK"]
    # the same folder twice (or nested roots) does not duplicate clips
    assert len(scan([a, a, tmp_path]).manifest) == 3


def test_data_dirs_scan_folders_and_folder_choices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The app's view of the corpora on disk: which folders, one combined scan, and the folder choices."""
    mixed = tmp_path / "mixed"
    tone(mixed / "ravdess" / "Actor_02" / "03-01-03-02-01-01-02.wav")
    tone(mixed / "ravdess" / "Actor_03" / "03-01-04-02-01-01-03.wav")
    tone(mixed / "emodb" / "09b02Tb.wav")
    tone(mixed / "10a01Wa.wav")  # a clip directly in the data folder
    single = tone(tmp_path / "only_savee" / "JK" / "h07.wav").parent.parent
    (tmp_path / "no_audio").mkdir()
    monkeypatch.setenv(corpora.DATA_DIR_ENV, os.pathsep.join([str(mixed), str(single), str(tmp_path / "missing")]))
    assert corpora.data_dirs() == [mixed, single]  # folders that do not exist are left out

    res = corpora.scan_folders([mixed, single, tmp_path / "no_audio", mixed])
    assert len(res.manifest) == 5 and list(res.manifest.columns) == list(COLUMNS)  # repeated folder: once
    assert [Path(p).name for p, _ in res.skipped] == ["no_audio"]  # refused folders are listed, not raised
    empty = corpora.scan_folders([tmp_path / "no_audio"]).manifest
    assert len(empty) == 0 and list(empty.columns) == list(COLUMNS) and empty["duration"].dtype == float

    folders = corpora.source_folders(res.manifest)
    assert folders == {
        "mixed/emodb/ — 1 clips": str(mixed.resolve() / "emodb"),
        "mixed/ravdess/ — 2 clips": str(mixed.resolve() / "ravdess"),
        "mixed/ (top level) — 1 clips": str(mixed.resolve()) + os.sep + "*",
        "only_savee/ — 1 clips": str(single.resolve()),
    }
    sizes = {label: len(corpora.in_folder(res.manifest, folder)) for label, folder in folders.items()}
    assert list(sizes.values()) == [1, 2, 1, 1]
    assert corpora.in_folder(res.manifest, folders["mixed/ (top level) — 1 clips"])["speaker"].tolist() == ["emodb_10"]


def test_scan_missing_or_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="not found.*nowhere"):
        scan(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "readme.txt").write_text("no audio here")
    with pytest.raises(CorpusError, match="no audio files.*empty"):
        scan(empty)
    good = tone(tmp_path / "good" / "03a01Fa.wav").parent
    with pytest.raises(CorpusError, match="empty"):  # one bad root among several
        scan([good, empty])
    with pytest.raises(CorpusError, match="not a folder"):
        scan(good / "03a01Fa.wav")
    assert issubclass(CorpusError, SERError)


def test_scan_only_unrecognised_audio_gives_empty_manifest(tmp_path: Path) -> None:
    tone(tmp_path / "take1.wav")
    result = scan(tmp_path)
    assert result.manifest.empty
    assert list(result.manifest.columns) == list(COLUMNS)
    assert result.corpora == []
    assert len(result.skipped) == 1
    summary = summarize(result.manifest)
    assert summary["n_clips"] == 0 and summary["duration"]["mean_s"] is None
    assert "0 clips" in format_summary(summary, skipped=1)


def test_scan_falls_back_to_pyav_for_m4a(tmp_path: Path) -> None:
    av = pytest.importorskip("av")
    path = tmp_path / "1002_ITS_NEU_XX.m4a"
    sr = 16000
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=sr)
        x = (0.1 * np.sin(2 * np.pi * 330 * np.arange(sr // 2) / sr)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(x[None, :], format="flt", layout="mono")
        frame.sample_rate = sr
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    result = scan(tmp_path)
    assert result.skipped == []
    assert result.manifest.loc[0, "speaker"] == "cremad_1002"
    assert result.manifest.loc[0, "duration"] == pytest.approx(0.5, abs=0.1)


# ---------------------------------------------------------------- summaries


def test_summarize_and_format(mixed_tree: Path) -> None:
    result = scan(mixed_tree)
    summary = summarize(result.manifest)
    json.dumps(summary)  # JSON-able
    assert summary["n_clips"] == 8
    assert summary["n_speakers"] == 7
    assert summary["corpora"] == {"ravdess": 2, "emodb": 1, "tess": 2, "cremad": 1, "savee": 2}
    assert summary["speakers"]["tess"] == 2
    assert sum(summary["emotions"].values()) == 8
    assert list(summary["emotions"]) == [e for e in labels.EMOTIONS if e in summary["emotions"]]
    assert summary["corpus_emotion"]["savee"] == {"angry": 1, "sad": 1}
    assert summary["gender"] == {"female": 3, "male": 4, "unknown": 1}
    dur = summary["duration"]
    assert dur["total_hours"] == pytest.approx(result.manifest["duration"].sum() / 3600)
    assert dur["min_s"] == pytest.approx(0.25) and dur["max_s"] == pytest.approx(0.5)
    text = format_summary(summary, skipped=len(result.skipped))
    assert text.splitlines()[0].startswith("8 clips, 7 speakers, 5 corpora")
    assert "skipped: 2 audio files" in text
    for word in ("emotion", "ravdess", "savee", "total", "speakers", "gender", "duration"):
        assert word in text


def test_summarize_without_durations(mixed_tree: Path) -> None:
    summary = summarize(scan(mixed_tree, with_duration=False).manifest)
    assert summary["duration"]["n"] == 0 and summary["duration"]["max_s"] is None
    assert "not measured" in format_summary(summary)
    json.dumps(summary)


# ---------------------------------------------------------------- real corpora


@needs_data
def test_real_ravdess() -> None:
    result = scan(DATA / "ravdess")
    m = result.manifest
    assert result.skipped == []
    assert len(m) == 1200
    assert m["speaker"].nunique() == 20
    assert (m.groupby("speaker").size() == 60).all()
    assert m["emotion"].nunique() == 8
    assert set(m["intensity"]) == {"normal", "strong"}
    assert m["statement"].nunique() == 2
    assert (m.loc[m["emotion"] == "neutral", "intensity"] == "normal").all()
    assert m.groupby("gender")["speaker"].nunique().to_dict() == {"female": 10, "male": 10}
    assert m["duration"].between(1.0, 10.0).all()


@needs_data
def test_real_emodb() -> None:
    m = scan(DATA / "emodb").manifest
    assert len(m) == 408
    assert m["speaker"].nunique() == 8
    assert set(m["emotion"]) == {"angry", "boredom", "disgust", "fearful", "happy", "sad", "neutral"}
    assert set(m["gender"]) == {"male", "female"}
    assert m["statement"].nunique() == 10
    assert not m["duration"].isna().any()


@needs_data
def test_real_original_48k_sample_and_hybrid() -> None:
    sample = scan(DATA / "ravdess-original-wav-sample").manifest
    assert len(sample) == 9
    assert set(sample["speaker"]) == {"ravdess_01", "ravdess_02"}
    assert sample["path"].str.endswith(".wav").all()
    assert (sample["duration"] > 1).all()
    stereo = sample[sample["path"].str.endswith("Actor_01/03-01-02-01-01-02-01.wav")]
    assert stereo["emotion"].tolist() == ["calm"]

    hybrid = scan([DATA / "ravdess", DATA / "emodb"])
    assert hybrid.corpora == ["ravdess", "emodb"]
    assert len(hybrid.manifest) == 1608
    summary = summarize(hybrid.manifest)
    assert summary["n_speakers"] == 28
    assert summary["corpus_emotion"]["emodb"].get("calm", 0) == 0
    assert 1.0 < summary["duration"]["total_hours"] < 3.0
    assert isinstance(hybrid.manifest, pd.DataFrame)
    assert not math.isnan(summary["duration"]["mean_s"])


def test_one_table_of_corpus_facts() -> None:
    """Parsers, labels, downloads, languages and licences all read ser.corpus_facts."""
    from ser import corpora, download
    from ser.corpus_facts import CORPUS_FACTS, describe, languages, licence_text

    assert corpora.CORPUS_NAMES == tuple(CORPUS_FACTS) == ("ravdess", "emodb", "tess", "cremad", "savee")
    for name, facts in CORPUS_FACTS.items():
        assert facts.name == name and set(facts.emotion_codes.values()) <= set(labels.EMOTIONS)
        assert set(facts.speakers.values()) <= {"male", "female", "unknown"} and facts.homepage.startswith("http")
        assert corpora.LANGUAGES[name] == facts.language
        assert name in (download.CORPORA if facts.archive else download.MANUAL_CORPORA)
    assert labels.EMODB is CORPUS_FACTS["emodb"].emotion_codes and labels.TESS["ps"] == "surprised"
    with pytest.raises(TypeError):
        labels.RAVDESS["09"] = "bored"  # type: ignore[index]  # the table is read-only
    assert len(CORPUS_FACTS["ravdess"].speakers) == 24 and len(CORPUS_FACTS["cremad"].speakers) == 91
    # every speaker of the table parses with its gender; one outside it is rejected
    assert parse_name("03-01-05-01-01-01-24.flac")["gender"] == "female"
    assert parse_name("03-01-05-01-01-01-25.flac") is None
    assert parse_name("16a01Fa.wav")["gender"] == "female" and parse_name("04a01Fa.wav") is None
    assert licence_text(["ravdess", "emodb", "mine"]) == (
        "RAVDESS: CC BY-NC-SA 4.0 (non-commercial, attribution, share-alike); EMO-DB: free for research use; mine")
    assert describe("savee") == "SAVEE: four British male speakers" and describe("mine") == "mine"
    assert languages(["tess", "cremad", "mine"]) == ["English (Canadian)", "English (US)", "mine (language not recorded)"]
