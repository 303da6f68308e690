"""Find the clips of known emotional-speech corpora in folders and describe them as one manifest.

Every clip is recognised by its **file name code** alone (the original ``.wav`` names and the same
names converted to ``.flac``/``.ogg``/... are all accepted) unless a ``manifest.csv`` describes it
(see "Bring your own corpus" below), so a corpus can live in any folder
layout: :func:`scan` walks its roots recursively, and several roots (even of different corpora)
combine into one "hybrid" manifest. Hidden files and folders (``.partial/``, ``._x.wav``) and
``__MACOSX/`` are ignored; every other audio file whose name matches no code, or which cannot be
read, is listed in :attr:`ScanResult.skipped` with the reason, never raised.

Per-corpus mapping onto the manifest columns (emotion names are those of :mod:`ser.labels`):

| corpus  | file name (stem)             | speaker, gender                          | emotion code -> label                       | intensity                  | statement                          |
| ------- | ---------------------------- | ---------------------------------------- | ------------------------------------------- | -------------------------- | ---------------------------------- |
| ravdess | ``03-01-06-01-02-01-12``:    | ``ravdess_12``; odd actor male,          | 01 neutral, 02 calm, 03 happy, 04 sad,      | 01 normal, 02 strong       | 01 "Kids are talking by the door", |
|         | modality (03 only), channel  | even female                              | 05 angry, 06 fearful, 07 disgust,           |                            | 02 "Dogs are sitting by the door"  |
|         | (01 speech, 02 song), emo,   |                                          | 08 surprised                                |                            |                                    |
|         | intensity, statement, rep,   |                                          |                                             |                            |                                    |
|         | actor (01-24)                |                                          |                                             |                            |                                    |
| emodb   | ``03a01Fa``: speaker, text,  | ``emodb_03``; male 03 10 11 12 15,       | W angry, L boredom, E disgust, A fearful,   | unspecified                | German sentence of the text code   |
|         | emotion, version             | female 08 09 13 14 16                    | F happy, T sad, N neutral                   |                            | (:data:`EMODB_TEXTS`)              |
| tess    | ``OAF_back_angry``           | ``tess_OAF``, ``tess_YAF``; female       | angry, disgust, fear -> fearful, happy,     | unspecified                | "Say the word back"                |
|         | (``OA_``/``YA_`` too)        |                                          | neutral, ps -> surprised, sad               |                            |                                    |
| cremad  | ``1001_DFA_ANG_XX``: actor   | ``cremad_1001``; unknown (gender needs   | ANG angry, DIS disgust, FEA fearful,        | LO low, MD medium,         | sentence of the code               |
|         | (1001-1091), sentence,       | CREMA-D's demographics file)             | HAP happy, NEU neutral, SAD sad             | HI high, XX unspecified    | (:data:`CREMAD_SENTENCES`)         |
|         | emotion, level               |                                          |                                             |                            |                                    |
| savee   | ``DC_a01``, or ``a01`` in a  | ``savee_DC`` (DC JE JK KL); male         | a angry, d disgust, f fearful, h happy,     | unspecified                | the clip code (``a01``); the texts |
|         | speaker folder ``DC/``       |                                          | n neutral, sa sad, su surprised             |                            | are not bundled                    |

**Bring your own corpus**: a folder holding a ``manifest.csv`` (a root, or any folder met while walking
one) is read from that file instead of from file names, and is not walked further. Its columns:

| column    | required | meaning                                                                                    |
| --------- | -------- | ------------------------------------------------------------------------------------------ |
| path      | yes      | the clip, relative to the manifest's folder (absolute paths are accepted too)              |
| emotion   | yes      | any name :func:`ser.labels.normalise_emotion` knows (``Joy``, ``anger``, ``Wut``, ``rab``) |
| speaker   | yes      | the speaker id, namespaced ``{corpus}_{speaker}`` like the built-in corpora                |
| corpus    | no       | default: the folder's name, lower-cased, runs other than ``a-z0-9`` -> ``_``               |
| gender    | no       | ``male``/``female`` (also ``m``/``f``, ...); default ``unknown``                           |
| intensity | no       | default ``unspecified``                                                                    |
| statement | no       | default empty                                                                              |

A manifest missing a required column raises :class:`~ser.errors.CorpusError`; rows whose file is missing
or unreadable, whose emotion maps onto no label (reason ``"emotion 'xyz' is not one of ser's labels"``)
or that have no path or speaker are listed in :attr:`ScanResult.skipped`; repeated paths are dropped
(manifests are read first, so a clip a manifest lists takes its labels, not its file name's).
A manifest written by ``ser data list --manifest`` can be used as one (its speakers are already
namespaced and are kept as they are).

Durations come from the file header (``soundfile``), with PyAV as the fallback for formats the
installed libsndfile cannot open (m4a, webm, mp3 on old versions).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import soundfile as sf

from ser import labels
from ser.corpus_facts import CORPUS_FACTS, languages
from ser.errors import CorpusError

__all__ = [
    "AUDIO_EXTENSIONS",
    "LANGUAGES",
    "COLUMNS",
    "CORPUS_NAMES",
    "CREMAD_SENTENCES",
    "EMODB_TEXTS",
    "MANIFEST_NAME",
    "RAVDESS_STATEMENTS",
    "DATA_DIR_ENV",
    "relabel",
    "ScanResult",
    "data_dirs",
    "format_summary",
    "in_folder",
    "languages",
    "parse_name",
    "scan",
    "scan_folders",
    "source_folders",
    "summarize",
]

#: File extensions (lower case) that :func:`scan` looks at; any other file is ignored silently.
AUDIO_EXTENSIONS: frozenset[str] = frozenset({".wav", ".flac", ".ogg", ".mp3", ".m4a", ".webm"})

#: The manifest's columns, in order.
COLUMNS: tuple[str, ...] = (
    "path",
    "corpus",
    "speaker",
    "gender",
    "emotion",
    "intensity",
    "statement",
    "duration",
)

#: Known corpora, in the order reports list them (:data:`ser.corpus_facts.CORPUS_FACTS`).
CORPUS_NAMES: tuple[str, ...] = tuple(CORPUS_FACTS)

#: RAVDESS statement code (5th field).
RAVDESS_STATEMENTS: dict[str, str] = {
    "01": "Kids are talking by the door",
    "02": "Dogs are sitting by the door",
}
_RAVDESS_INTENSITY = {"01": "normal", "02": "strong"}

#: EMO-DB text code -> German sentence (Burkhardt et al. 2005).
EMODB_TEXTS: dict[str, str] = {
    "a01": "Der Lappen liegt auf dem Eisschrank.",
    "a02": "Das will sie am Mittwoch abgeben.",
    "a04": "Heute abend könnte ich es ihm sagen.",
    "a05": "Das schwarze Stück Papier befindet sich da oben neben dem Holzstück.",
    "a07": "In sieben Stunden wird es soweit sein.",
    "b01": "Was sind denn das für Tüten, die da unter dem Tisch stehen?",
    "b02": "Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter.",
    "b03": "An den Wochenenden bin ich jetzt immer nach Hause gefahren und habe Agnes besucht.",
    "b09": "Ich will das eben wegbringen und dann mit Karl was trinken gehen.",
    "b10": "Die wird auf dem Platz sein, wo wir sie immer hinlegen.",
}
#: Speaker code -> gender of each corpus (:data:`ser.corpus_facts.CORPUS_FACTS`).
_SPEAKER_GENDER = {name: facts.speakers for name, facts in CORPUS_FACTS.items()}

#: CREMA-D sentence code (2nd field) -> sentence (CREMA-D README).
CREMAD_SENTENCES: dict[str, str] = {
    "IEO": "It's eleven o'clock",
    "TIE": "That is exactly what happened",
    "IOM": "I'm on my way to the meeting",
    "IWW": "I wonder what this is about",
    "TAI": "The airplane is almost full",
    "MTI": "Maybe tomorrow it will be cold",
    "IWL": "I would like a new alarm clock",
    "ITH": "I think I have a doctor's appointment",
    "DFA": "Don't forget a jacket",
    "ITS": "I think I've seen this before",
    "TSI": "The surface is slick",
    "WSI": "We'll stop in a couple of minutes",
}
_CREMAD_LEVEL = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified"}

_TESS_SPEAKERS = {"OAF": "OAF", "OA": "OAF", "YAF": "YAF", "YA": "YAF"}
_TESS_EMOTIONS = {
    **labels.TESS,
    "pleasant_surprise": "surprised",
    "pleasant_surprised": "surprised",
    "surprise": "surprised",
    "surprised": "surprised",
}
_SAVEE_SPEAKERS = tuple(_SPEAKER_GENDER["savee"])

_RAVDESS_RE = re.compile(r"^(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})$")
_EMODB_RE = re.compile(r"^(\d{2})([ab]\d{2})([A-Z])([a-z])$")
_CREMAD_RE = re.compile(r"^(\d{4})_([A-Za-z]{3})_([A-Za-z]{3})_([A-Za-z]{2})$")
_TESS_RE = re.compile(r"^(OAF|YAF|OA|YA)_([A-Za-z]+)_([A-Za-z_]+)$", re.IGNORECASE)
_SAVEE_FLAT_RE = re.compile(r"^(DC|JE|JK|KL)_(sa|su|a|d|f|h|n)(\d{2})$", re.IGNORECASE)
_SAVEE_CLIP_RE = re.compile(r"^(sa|su|a|d|f|h|n)(\d{2})$", re.IGNORECASE)

_NO_CODE = "file name matches no known corpus code"

#: File name that makes a folder a "bring your own" corpus (see the module notes).
MANIFEST_NAME = "manifest.csv"
_MANIFEST_REQUIRED = ("path", "emotion", "speaker")
_GENDERS = {
    "m": "male", "male": "male", "man": "male", "men": "male", "masculine": "male",
    "mannlich": "male", "maennlich": "male",
    "f": "female", "female": "female", "woman": "female", "women": "female", "feminine": "female",
    "w": "female", "weiblich": "female",
    "": "unknown", "unknown": "unknown", "na": "unknown", "n/a": "unknown", "?": "unknown",
}


class _Rejected(Exception):
    """A name that looks like a corpus's but carries an invalid or unused code."""


def _row(
    corpus: str, speaker: str, gender: str, emotion: str, intensity: str, statement: str
) -> dict[str, str]:
    return {
        "corpus": corpus,
        "speaker": f"{corpus}_{speaker}",
        "gender": gender,
        "emotion": emotion,
        "intensity": intensity,
        "statement": statement,
    }


def _lookup(table: dict[str, str], code: str, message: str) -> str:
    """``table[code]``, or reject the file with ``message``."""
    if code not in table:
        raise _Rejected(message)
    return table[code]


def _ravdess(m: re.Match[str]) -> dict[str, str]:
    modality, channel, emo, intensity, statement, repetition, actor = m.groups()
    if modality != "03":
        raise _Rejected(f"RAVDESS modality {modality} is not audio-only (03)")
    if channel not in ("01", "02"):
        raise _Rejected(f"RAVDESS vocal channel {channel} is not 01 (speech) or 02 (song)")
    emotion = _lookup(labels.RAVDESS, emo, f"RAVDESS emotion code {emo} is unknown")
    intensity_ = _lookup(_RAVDESS_INTENSITY, intensity, f"RAVDESS intensity code {intensity} is unknown")
    statement_ = _lookup(RAVDESS_STATEMENTS, statement, f"RAVDESS statement code {statement} is unknown")
    if repetition not in ("01", "02"):
        raise _Rejected(f"RAVDESS repetition code {repetition} is unknown")
    gender = _lookup(_SPEAKER_GENDER["ravdess"], actor, f"RAVDESS actor {actor} is not 01-24")
    return _row("ravdess", actor, gender, emotion, intensity_, statement_)


def _emodb(m: re.Match[str]) -> dict[str, str]:
    speaker, text, emo, _version = m.groups()
    gender = _lookup(_SPEAKER_GENDER["emodb"], speaker, f"EMO-DB speaker {speaker} is unknown")
    sentence = _lookup(EMODB_TEXTS, text, f"EMO-DB text code {text} is unknown")
    emotion = _lookup(labels.EMODB, emo, f"EMO-DB emotion letter {emo} is unknown")
    return _row("emodb", speaker, gender, emotion, "unspecified", sentence)


def _cremad(m: re.Match[str]) -> dict[str, str]:
    actor, sentence, emo, level = (g.upper() for g in m.groups())
    gender = _lookup(_SPEAKER_GENDER["cremad"], actor, f"CREMA-D actor {actor} is not 1001-1091")
    sentence_ = _lookup(CREMAD_SENTENCES, sentence, f"CREMA-D sentence code {sentence} is unknown")
    emotion = _lookup(labels.CREMAD, emo, f"CREMA-D emotion code {emo} is unknown")
    intensity = _lookup(_CREMAD_LEVEL, level, f"CREMA-D level {level} is unknown")
    return _row("cremad", actor, gender, emotion, intensity, sentence_)


def _tess(m: re.Match[str]) -> dict[str, str]:
    speaker, word, emo = m.groups()
    emotion = _TESS_EMOTIONS.get(emo.lower())
    if emotion is None:
        raise _Rejected(f"TESS emotion {emo!r} is unknown")
    speaker = _TESS_SPEAKERS[speaker.upper()]
    return _row(
        "tess",
        speaker,
        _SPEAKER_GENDER["tess"][speaker],
        emotion,
        "unspecified",
        f"Say the word {word.lower()}",
    )


def _savee(speaker: str, emo: str, number: str) -> dict[str, str]:
    emo, speaker = emo.lower(), speaker.upper()
    return _row("savee", speaker, _SPEAKER_GENDER["savee"][speaker], labels.SAVEE[emo], "unspecified", f"{emo}{number}")


def _parse(path: Path) -> dict[str, str]:
    """Parse one file name; raise :class:`_Rejected` with the reason when it is not a known clip."""
    stem = path.stem
    if m := _RAVDESS_RE.match(stem):
        return _ravdess(m)
    if m := _EMODB_RE.match(stem):
        return _emodb(m)
    if m := _CREMAD_RE.match(stem):
        return _cremad(m)
    if m := _TESS_RE.match(stem):
        return _tess(m)
    if m := _SAVEE_FLAT_RE.match(stem):
        return _savee(*m.groups())
    if (m := _SAVEE_CLIP_RE.match(stem)) and path.parent.name.upper() in _SAVEE_SPEAKERS:
        return _savee(path.parent.name, *m.groups())
    raise _Rejected(_NO_CODE)


def parse_name(path: str | Path) -> dict[str, str] | None:
    """Labels of one clip from its file name (and, for SAVEE's original layout, its folder).

    Returns the manifest row without ``path`` and ``duration`` (keys ``corpus``, ``speaker``,
    ``gender``, ``emotion``, ``intensity``, ``statement``), or ``None`` when the name matches no
    known corpus code (or carries one that is not used, e.g. a RAVDESS video clip).
    """
    try:
        return _parse(Path(path))
    except _Rejected:
        return None


def _duration_av(path: str) -> float:
    """Duration in seconds read with PyAV (container header, else the stream's, else decoding)."""
    import av  # imported lazily: only needed for formats libsndfile cannot read

    with av.open(path) as container:
        if not container.streams.audio:
            raise ValueError("no audio stream")
        stream = container.streams.audio[0]
        if stream.duration and stream.time_base:
            return float(stream.duration * stream.time_base)
        if container.duration:
            return container.duration / av.time_base
        samples, rate = 0, 0
        for frame in container.decode(stream):
            samples += frame.samples
            rate = frame.sample_rate
        if not rate:
            raise ValueError("no audio frames")
        return samples / rate


def _duration(path: str) -> float:
    """Duration in seconds (soundfile header first, PyAV as fallback); raise with a reason."""
    try:
        with sf.SoundFile(path) as f:
            frames, rate = f.frames, f.samplerate
        if rate > 0 and 0 < frames < 2**62:
            return frames / rate
        sf_error = "no length in the header"
    except Exception as err:  # libsndfile's errors are varied; all mean "cannot read"
        sf_error = str(err).strip() or type(err).__name__
    try:
        duration = _duration_av(path)
    except Exception as err:
        av_error = str(err).strip() or type(err).__name__
        raise ValueError(f"unreadable audio (soundfile: {sf_error}; PyAV: {av_error})") from None
    if not duration > 0:
        raise ValueError("empty audio (0 s)")
    return float(duration)


def _probe(path: str, with_duration: bool, skipped: list[tuple[str, str]]) -> float | None:
    """A clip's duration (NaN when not asked for), or None after noting why it cannot be read."""
    if not with_duration:
        return math.nan
    try:
        return _duration(path)
    except ValueError as err:
        skipped.append((path, str(err)))
        return None


def _walk_audio(root: Path) -> Iterable[tuple[Path, bool]]:
    """``(path, False)`` for each audio file under ``root`` (recursively), skipping hidden entries and
    ``__MACOSX``; ``(folder, True)`` for a folder holding a ``manifest.csv``, which is not descended into."""
    for dirpath, dirnames, filenames in os.walk(root):
        if MANIFEST_NAME in filenames:
            dirnames[:] = []
            yield Path(dirpath), True
            continue
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__MACOSX"]
        for name in filenames:
            if name.startswith("."):
                continue
            if os.path.splitext(name)[1].lower() in AUDIO_EXTENSIONS:
                yield Path(dirpath, name), False


def _corpus_name(name: str) -> str:
    """A corpus name: lower-cased, every run of characters other than ``a-z0-9`` -> ``_``."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_") or "manifest"


def _manifest_path(folder: Path, value: str) -> str:
    """Absolute path of a manifest's ``path`` cell, spelled as :func:`_walk_audio` spells files."""
    raw = Path(value).expanduser()
    if not raw.is_absolute():
        if "\\" in value and os.sep == "/" and not (folder / raw).exists():
            raw = Path(value.replace("\\", "/"))  # written on Windows
        raw = folder / raw
    parent, name = os.path.split(os.path.abspath(raw))
    return os.path.join(os.path.realpath(parent), name)


def _read_manifest(folder: Path) -> pd.DataFrame:
    """The cells of ``folder/manifest.csv`` as stripped strings, with lower-case column names."""
    file = folder / MANIFEST_NAME
    try:
        table = pd.read_csv(file, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise CorpusError(f"{file} is empty (it needs the columns path, emotion, speaker)") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as err:
        raise CorpusError(f"cannot read {file}: {str(err).strip() or type(err).__name__}") from None
    table.columns = [str(c).strip().lower() for c in table.columns]
    missing = [c for c in _MANIFEST_REQUIRED if c not in table.columns]
    if missing:
        raise CorpusError(
            f"{file} is missing the column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"(needs {', '.join(_MANIFEST_REQUIRED)}; optional corpus, gender, intensity, statement)"
        )
    return table.loc[:, ~table.columns.duplicated()].apply(lambda col: col.str.strip())


def _manifest_rows(
    folder: Path, seen: set[str], skipped: list[tuple[str, str]], with_duration: bool
) -> tuple[list[dict[str, Any]], int]:
    """Rows of the manifest corpus in ``folder`` (new paths only), and how many rows the file lists."""
    table = _read_manifest(folder)
    default_corpus = _corpus_name(folder.name)
    rows: list[dict[str, Any]] = []
    for i, cell in enumerate(table.to_dict("records")):
        if not cell["path"]:
            skipped.append((f"{folder / MANIFEST_NAME}:{i + 2}", "manifest row has no path"))
            continue
        path = _manifest_path(folder, cell["path"])
        if path in seen:
            continue
        seen.add(path)
        if not os.path.isfile(path):
            skipped.append((path, "file not found" if not os.path.exists(path) else "not a file"))
            continue
        emotion = labels.normalise_emotion(cell["emotion"])
        if emotion is None:
            skipped.append((path, f"emotion '{cell['emotion']}' is not one of ser's labels"))
            continue
        if not cell["speaker"]:
            skipped.append((path, "manifest row has no speaker"))
            continue
        corpus = _corpus_name(cell["corpus"]) if cell.get("corpus") else default_corpus
        speaker = cell["speaker"]
        if not speaker.startswith(f"{corpus}_"):  # already namespaced: a manifest ser wrote
            speaker = f"{corpus}_{speaker}"
        gender = cell.get("gender", "")
        duration = _probe(path, with_duration, skipped)
        if duration is None:
            continue
        rows.append({
            "path": path,
            "corpus": corpus,
            "speaker": speaker,
            "gender": _GENDERS.get(gender.lower(), gender.lower()),
            "emotion": emotion,
            "intensity": cell.get("intensity") or "unspecified",
            "statement": cell.get("statement", ""),
            "duration": duration,
        })
    return rows, len(table)


def _empty_manifest() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series([], dtype=str) for c in COLUMNS})
    frame["duration"] = frame["duration"].astype(float)
    return frame


@dataclass
class ScanResult:
    """What :func:`scan` found: one row per recognised clip, and every audio file it passed over."""

    manifest: pd.DataFrame
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def corpora(self) -> list[str]:
        """Corpora present in the manifest: known ones in :data:`CORPUS_NAMES` order, then others sorted."""
        present = {str(c) for c in self.manifest["corpus"].unique()} if len(self.manifest) else set()
        return [c for c in CORPUS_NAMES if c in present] + sorted(present - set(CORPUS_NAMES))


def scan(roots: str | Path | Sequence[str | Path], *, with_duration: bool = True) -> ScanResult:
    """Walk one or more folders recursively and build the manifest of every recognised clip.

    A folder holding a ``manifest.csv`` (a root or a sub-folder) is read from that file instead (see
    the module notes). ``with_duration=False`` skips opening the files (``duration`` is NaN). Raises
    :class:`~ser.errors.CorpusError` when a root is missing, not a folder, or holds no audio file, or
    when a ``manifest.csv`` cannot be read, lacks a required column or lists no clip.
    """
    root_list = [roots] if isinstance(roots, str | Path) else list(roots)
    if not root_list:
        raise CorpusError("no corpus folder given")
    rows: list[dict[str, Any]] = []
    skipped: list[tuple[str, str]] = []
    seen: set[str] = set()
    walked: list[tuple[Path, list[Path], list[Path]]] = []  # (root, manifest folders, audio files)
    for root in root_list:
        folder = Path(root).expanduser()
        if not folder.exists():
            raise CorpusError(f"corpus folder not found: {folder}")
        if not folder.is_dir():
            raise CorpusError(f"not a folder: {folder} (give the folder that holds the clips)")
        folder = folder.resolve()
        items = list(_walk_audio(folder))
        walked.append((folder, [f for f, is_m in items if is_m], [f for f, is_m in items if not is_m]))
    # manifests first: a clip a manifest lists is labelled by it, wherever else a walk meets the file
    n_found = [0] * len(walked)
    for i, (_, manifests, _) in enumerate(walked):
        for mfolder in manifests:
            found, n_listed = _manifest_rows(mfolder, seen, skipped, with_duration)
            if n_listed == 0:
                raise CorpusError(f"{mfolder / MANIFEST_NAME} lists no clips")
            rows += found
            n_found[i] += n_listed
    for i, (folder, _, files) in enumerate(walked):
        for file in files:
            n_found[i] += 1
            path = str(file)
            if path in seen:
                continue
            seen.add(path)
            try:
                row = _parse(file)
            except _Rejected as err:
                skipped.append((path, str(err)))
                continue
            duration = _probe(path, with_duration, skipped)
            if duration is None:
                continue
            rows.append({"path": path, **row, "duration": duration})
        if n_found[i] == 0:
            exts = " ".join(sorted(AUDIO_EXTENSIONS))
            raise CorpusError(f"no audio files ({exts}) found in {folder}")
    if rows:
        manifest = pd.DataFrame(rows, columns=list(COLUMNS))
        manifest["duration"] = manifest["duration"].astype(float)
        manifest = manifest.sort_values("path", kind="stable").reset_index(drop=True)
    else:
        manifest = _empty_manifest()
    skipped.sort()
    return ScanResult(manifest=manifest, skipped=skipped)


# -- corpora on disk (where the app looks, and its folder choices) ----------------------------------

#: Environment variable with the folders that hold corpora (``os.pathsep``-separated).
DATA_DIR_ENV = "SER_DATA_DIR"
_REPO = Path(__file__).resolve().parent.parent


def data_dirs() -> list[Path]:
    """Folders that may hold corpora: ``$SER_DATA_DIR`` (``os.pathsep``-separated), else ``./data``,
    else ``../shared/data`` (both beside the package's checkout) — each only if it exists."""
    env = os.environ.get(DATA_DIR_ENV)
    if env is not None:
        return [Path(p).expanduser() for p in env.split(os.pathsep) if p and Path(p).expanduser().is_dir()]
    for cand in (_REPO / "data", _REPO.parent / "shared" / "data"):
        if cand.is_dir():
            return [cand]
    return []


def scan_folders(dirs: Sequence[str | Path]) -> ScanResult:
    """:func:`scan` of each folder on its own, combined into one result (repeated paths once).

    A folder :func:`scan` refuses (missing, no audio, a broken ``manifest.csv``) is listed in
    ``skipped`` with the reason instead of raising; the manifest is empty when no folder holds a
    known corpus.
    """
    frames, skipped = [], []
    for d in dirs:
        try:
            res = scan([d])
        except CorpusError as err:
            skipped.append((str(d), str(err)))
            continue
        frames.append(res.manifest)
        skipped += res.skipped
    if frames:
        manifest = pd.concat(frames, ignore_index=True).drop_duplicates("path").reset_index(drop=True)
    else:
        manifest = pd.DataFrame({c: pd.Series([], dtype=float if c == "duration" else object) for c in COLUMNS})
    return ScanResult(manifest=manifest, skipped=skipped)


def source_folders(manifest: pd.DataFrame, dirs: Sequence[str | Path] | None = None) -> dict[str, str]:
    """Corpus folders to choose from: ``{label: folder}`` (``dirs`` default: :func:`data_dirs`).

    A data folder whose clips all belong to one corpus is one choice; otherwise each of its sub-folders
    (``ravdess/``, ``emodb/`` …) is one, and clips lying directly in it are one more (folder
    ``"<dir>/*"``, see :func:`in_folder`). Labels read ``"ravdess/ — 1200 clips"``.
    """
    dirs = [Path(d).resolve() for d in (dirs if dirs is not None else data_dirs())]
    paths = manifest["path"].astype(str)
    out: dict[str, str] = {}
    for root in dirs:
        prefix = str(root) + os.sep
        mine = manifest[paths.str.startswith(prefix)]
        if mine.empty:
            continue
        if mine["corpus"].nunique() == 1:
            out[f"{root.name}/ — {len(mine)} clips"] = str(root)
            continue
        first = mine["path"].str.slice(len(prefix)).str.split(os.sep).str[0]
        top_files = ~mine["path"].str.slice(len(prefix)).str.contains(os.sep, regex=False)
        for name in sorted(set(first[~top_files])):
            n = int((first[~top_files] == name).sum())
            out[f"{root.name}/{name}/ — {n} clips"] = str(root / name)
        if top_files.any():
            out[f"{root.name}/ (top level) — {int(top_files.sum())} clips"] = str(root) + os.sep + "*"
    return out


def relabel(manifest: pd.DataFrame, label_map: Mapping[str, str]) -> pd.DataFrame:
    """``manifest`` with each emotion mapped through ``label_map`` (e.g. ``{"calm": "neutral"}``, a bundle's
    :attr:`~ser.bundle.BundleConfig.label_map`); the same frame when the map is empty."""
    if not label_map or manifest.empty:
        return manifest
    return manifest.assign(emotion=manifest["emotion"].replace(dict(label_map)))


def in_folder(manifest: pd.DataFrame, folder: str) -> pd.DataFrame:
    """Rows of ``manifest`` under ``folder`` (``"<dir>/*"`` = files directly in ``dir``)."""
    paths = manifest["path"].astype(str)
    if folder.endswith(os.sep + "*"):
        root = folder[:-1]
        rest = paths.str.slice(len(root))
        return manifest[paths.str.startswith(root) & ~rest.str.contains(os.sep, regex=False)]
    return manifest[paths.str.startswith(folder.rstrip(os.sep) + os.sep)]


def _ordered_counts(values: pd.Series, order: Sequence[str]) -> dict[str, int]:
    counts = values.value_counts()
    known = [k for k in order if k in counts.index]
    extra = sorted(k for k in counts.index if k not in order)
    return {str(k): int(counts[k]) for k in known + extra}


def _float_or_none(value: Any) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


def summarize(manifest: pd.DataFrame) -> dict[str, Any]:
    """JSON-able summary of a manifest: sizes, class counts (overall and per corpus), genders, durations."""
    corpora = _ordered_counts(manifest["corpus"], CORPUS_NAMES)
    durations = manifest["duration"].astype(float).dropna()
    return {
        "n_clips": int(len(manifest)),
        "n_speakers": int(manifest["speaker"].nunique()),
        "corpora": corpora,
        "speakers": {c: int(manifest.loc[manifest["corpus"] == c, "speaker"].nunique()) for c in corpora},
        "emotions": _ordered_counts(manifest["emotion"], labels.EMOTIONS),
        "corpus_emotion": {
            c: _ordered_counts(manifest.loc[manifest["corpus"] == c, "emotion"], labels.EMOTIONS)
            for c in corpora
        },
        "gender": _ordered_counts(manifest["gender"], ("female", "male", "unknown")),
        "intensity": _ordered_counts(
            manifest["intensity"], ("normal", "strong", "low", "medium", "high", "unspecified")
        ),
        "duration": {
            "n": int(len(durations)),
            "total_hours": float(durations.sum() / 3600.0),
            "mean_s": _float_or_none(durations.mean()) if len(durations) else None,
            "min_s": _float_or_none(durations.min()) if len(durations) else None,
            "max_s": _float_or_none(durations.max()) if len(durations) else None,
        },
    }


def format_summary(summary: dict[str, Any], skipped: int = 0) -> str:
    """Human-readable text of :func:`summarize`'s result (for ``ser data list DIR``)."""
    corpora = list(summary["corpora"])
    n_corpora = len(corpora)
    head = (
        f"{summary['n_clips']} clips, {summary['n_speakers']} speakers, "
        f"{n_corpora} {'corpus' if n_corpora == 1 else 'corpora'}"
        + (f" ({', '.join(corpora)})" if corpora else "")
    )
    lines = [head]
    if summary["n_clips"]:
        columns = corpora + (["total"] if n_corpora > 1 else [])
        emotions = list(summary["emotions"])
        width0 = max([len("speakers"), *(len(e) for e in emotions)])
        widths = [max(len(c), 5) for c in columns]

        def line(label: str, cells: Sequence[Any]) -> str:
            return "  ".join(
                [label.ljust(width0), *(str(v).rjust(w) for v, w in zip(cells, widths, strict=True))]
            )

        lines += ["", line("emotion", columns)]
        lines.append("-" * len(lines[-1]))
        for emotion in emotions:
            cells = [summary["corpus_emotion"][c].get(emotion, 0) for c in corpora]
            if n_corpora > 1:
                cells.append(summary["emotions"][emotion])
            lines.append(line(emotion, cells))
        lines.append("-" * len(lines[2]))
        totals = [summary["corpora"][c] for c in corpora] + ([summary["n_clips"]] if n_corpora > 1 else [])
        lines.append(line("clips", totals))
        speakers = [summary["speakers"][c] for c in corpora] + (
            [summary["n_speakers"]] if n_corpora > 1 else []
        )
        lines.append(line("speakers", speakers))
        lines.append("")
        lines.append("gender: " + ", ".join(f"{g} {n}" for g, n in summary["gender"].items()))
        dur = summary["duration"]
        if dur["n"]:
            lines.append(
                f"duration: {dur['total_hours']:.2f} h in all, clips {dur['min_s']:.2f}-{dur['max_s']:.2f} s "
                f"(mean {dur['mean_s']:.2f} s)"
            )
        else:
            lines.append("duration: not measured")
    if skipped:
        lines.append(
            f"skipped: {skipped} audio file{'s' if skipped != 1 else ''} (unrecognised name, unknown emotion or unreadable)"
        )
    return "\n".join(lines)


#: Language of each corpus (what the model has heard); :func:`languages` (re-exported from
#: :mod:`ser.corpus_facts`) lists them for a set of corpora.
LANGUAGES: dict[str, str] = {name: facts.language for name, facts in CORPUS_FACTS.items()}
