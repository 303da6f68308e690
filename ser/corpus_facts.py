"""One table of facts about the known emotional-speech corpora (no I/O, no third-party imports).

Every module that needs a corpus fact reads it here: the file-name parsers (:mod:`ser.corpora`:
speakers, genders, emotion codes via :mod:`ser.labels`), the downloader (:mod:`ser.download`:
archive URL, size, checksum), training (:mod:`ser.train`: the licence written into a bundle) and
the model card (:mod:`ser.card`: description, language).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["CORPUS_FACTS", "Archive", "CorpusFacts", "describe", "languages", "licence_text"]


@dataclass(frozen=True)
class Archive:
    """A downloadable archive of a corpus (``size`` in bytes; ``None`` = unknown, not checked)."""

    url: str
    filename: str
    size: int | None = None
    md5: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class CorpusFacts:
    """What this project knows about one corpus.

    ``name`` is the manifest's ``corpus`` value and the prefix of its speaker ids (``ravdess_12``);
    ``speakers`` maps each speaker code as file names spell it to ``male``/``female``/``unknown``;
    ``emotion_codes`` maps the corpus's emotion codes onto the labels of :data:`ser.labels.EMOTIONS`.
    ``archive`` is ``None`` for corpora that must be obtained by hand from ``homepage``.
    """

    name: str
    title: str
    language: str
    licence: str
    description: str
    speakers: Mapping[str, str]
    emotion_codes: Mapping[str, str]
    homepage: str
    citation: str = ""
    archive: Archive | None = None

    @property
    def licence_line(self) -> str:
        """``"RAVDESS: CC BY-NC-SA 4.0 (...)"``: the corpus's part of a bundle's licence text."""
        return f"{self.title}: {self.licence}"

    @property
    def summary(self) -> str:
        """``"RAVDESS: 24 North-American actors ..."``: the corpus's sentence in the model card."""
        return f"{self.title}: {self.description}"


def _ro(d: dict[str, str]) -> Mapping[str, str]:
    return MappingProxyType(d)


_RAVDESS = CorpusFacts(
    name="ravdess",
    title="RAVDESS",
    language="English (North American)",
    licence="CC BY-NC-SA 4.0 (non-commercial, attribution, share-alike)",
    description="24 North-American actors saying two fixed English sentences",
    # actor 01-24 (last field of MM-VV-EE-II-SS-RR-AA): odd male, even female
    speakers=_ro({f"{a:02d}": "male" if a % 2 else "female" for a in range(1, 25)}),
    # emotion code (3rd field of MM-VV-EE-II-SS-RR-AA)
    emotion_codes=_ro({
        "01": "neutral",
        "02": "calm",
        "03": "happy",
        "04": "sad",
        "05": "angry",
        "06": "fearful",
        "07": "disgust",
        "08": "surprised",
    }),
    homepage="https://zenodo.org/records/1188976",
    citation=(
        "Livingstone SR, Russo FA (2018) The Ryerson Audio-Visual Database of Emotional Speech and Song "
        "(RAVDESS). PLoS ONE 13(5): e0196391. https://doi.org/10.1371/journal.pone.0196391"
    ),
    archive=Archive(
        url="https://zenodo.org/records/1188976/files/Audio_Speech_Actors_01-24.zip?download=1",
        filename="Audio_Speech_Actors_01-24.zip",
        # Zenodo publishes an md5 per file. This value and size were not read off the Zenodo page
        # itself but are quoted identically, as "verified on download" against the record, by several
        # independent public projects; a mismatch is reported and the download deleted, never used.
        size=208_468_073,
        md5="bc696df654c87fed845eb13823edef8a",
    ),
)

_EMODB = CorpusFacts(
    name="emodb",
    title="EMO-DB",
    language="German",
    licence="free for research use",
    description="10 German actors saying ten German sentences",
    speakers=_ro({
        "03": "male", "10": "male", "11": "male", "12": "male", "15": "male",
        "08": "female", "09": "female", "13": "female", "14": "female", "16": "female",
    }),
    # emotion letter (German initial: Wut, Langeweile, Ekel, Angst, Freude, Trauer, Neutral)
    emotion_codes=_ro({
        "W": "angry",
        "L": "boredom",
        "E": "disgust",
        "A": "fearful",
        "F": "happy",
        "T": "sad",
        "N": "neutral",
    }),
    homepage="http://emodb.bilderbar.info/",
    citation=(
        "Burkhardt F, Paeschke A, Rolfes M, Sendlmeier W, Weiss B (2005) A Database of German Emotional "
        "Speech. Proc. Interspeech 2005, 1517-1520."
    ),
    archive=Archive(url="http://emodb.bilderbar.info/download/download.zip", filename="download.zip"),
)

_TESS = CorpusFacts(
    name="tess",
    title="TESS",
    language="English (Canadian)",
    licence="CC BY-NC-ND 4.0",
    description="two Canadian actresses saying 200 target words",
    speakers=_ro({"OAF": "female", "YAF": "female"}),
    # file-name suffix (OAF_back_angry.wav; ps = pleasant surprise)
    emotion_codes=_ro({
        "angry": "angry",
        "disgust": "disgust",
        "fear": "fearful",
        "happy": "happy",
        "neutral": "neutral",
        "ps": "surprised",
        "sad": "sad",
    }),
    homepage="https://doi.org/10.5683/SP2/E8H2MF",
)

_CREMAD = CorpusFacts(
    name="cremad",
    title="CREMA-D",
    language="English (US)",
    licence="Open Database License",
    description="91 actors saying 12 English sentences",
    # actor 1001-1091; gender needs CREMA-D's demographics file
    speakers=_ro({str(a): "unknown" for a in range(1001, 1092)}),
    # emotion code (3rd field of 1001_DFA_ANG_XX.wav)
    emotion_codes=_ro({
        "ANG": "angry",
        "DIS": "disgust",
        "FEA": "fearful",
        "HAP": "happy",
        "NEU": "neutral",
        "SAD": "sad",
    }),
    homepage="https://github.com/CheyneyComputerScience/CREMA-D",
)

_SAVEE = CorpusFacts(
    name="savee",
    title="SAVEE",
    language="English (British)",
    licence="free for research use",
    description="four British male speakers",
    speakers=_ro({"DC": "male", "JE": "male", "JK": "male", "KL": "male"}),
    # emotion prefix of the clip name (DC_a01.wav, JE_sa01.wav)
    emotion_codes=_ro({
        "a": "angry",
        "d": "disgust",
        "f": "fearful",
        "h": "happy",
        "n": "neutral",
        "sa": "sad",
        "su": "surprised",
    }),
    homepage="http://kahlan.eps.surrey.ac.uk/savee/",
)

#: Known corpora by name, in the order reports list them.
CORPUS_FACTS: Mapping[str, CorpusFacts] = MappingProxyType(
    {f.name: f for f in (_RAVDESS, _EMODB, _TESS, _CREMAD, _SAVEE)}
)


def languages(corpora: Iterable[str]) -> list[str]:
    """Languages of ``corpora`` (unknown corpora are named as they are), without repeats, in order."""
    out: list[str] = []
    for c in corpora:
        lang = CORPUS_FACTS[c].language if c in CORPUS_FACTS else f"{c} (language not recorded)"
        if lang not in out:
            out.append(lang)
    return out


def licence_text(corpora: Iterable[str]) -> str:
    """The licence line of a bundle trained on ``corpora``: each corpus's terms, ``"; "``-joined
    (an unknown corpus is named as it is)."""
    return "; ".join(CORPUS_FACTS[c].licence_line if c in CORPUS_FACTS else c for c in corpora)


def describe(corpus: str) -> str:
    """The model card's sentence about ``corpus`` (its name, when unknown)."""
    return CORPUS_FACTS[corpus].summary if corpus in CORPUS_FACTS else corpus
