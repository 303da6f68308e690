"""Bad input, row by row, through both doors: the ``ser`` command line and :class:`ser.Predictor`.

* CLI: exit status != 0 and one human line on stderr that starts with ``error:`` (no traceback).
  TensorFlow makes every ``ser predict`` start cost seconds, so all audio rows go through ONE
  ``ser predict`` run (one file per row); each row then checks its own line of that run, and one
  single-file run checks the exact one-file behaviour (exit 2, exactly one stderr line).
* Predictor: the specific :class:`~ser.errors.SERError` subclass with a specific message.
* Rows that must work (8 kHz telephone audio, stereo, 32-bit float, 24-bit PCM, clipping, a WAV whose
  data is cut short) give a prediction of the right duration, from both doors.

Also here: NaN/inf arrays, a 1-hour file (streamed, bounded memory), a corpus folder with unreadable
and unparseable files, broken model bundles (missing/invalid/mismatched config.json, a Lambda layer
refused by Keras safe mode), and ``ser train`` interrupted by SIGINT and SIGKILL.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from support import speechlike

from ser import Predictor, load_bundle
from ser.bundle import list_bundles
from ser.errors import AudioError, BundleError
from ser.testing import png_bytes, tiny_features

SR = 16_000
_CONSOLE_SCRIPT = Path(sys.executable).with_name("ser")
SER = [str(_CONSOLE_SCRIPT)] if _CONSOLE_SCRIPT.exists() else [sys.executable, "-m", "ser"]
#: The user's environment, minus any TensorFlow log level: the CLI sets its own quiet default.
ENV = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}


def ser(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*SER, *args], capture_output=True, text=True, env=ENV, timeout=timeout)


def assert_one_error_line(r: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit status != 0, exactly one non-empty stderr line, starting with ``error:``, holding ``needles``."""
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode != 0, r.stdout
    assert "Traceback" not in r.stderr, r.stderr
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# -- the audio rows -------------------------------------------------------------------------------


def _wav_bytes(y: np.ndarray, sr: int = SR, subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y, sr, subtype=subtype, format="WAV")
    return buf.getvalue()


def _patched(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def _video_only_mp4(path: Path) -> None:
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=10)
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 20 * i, np.uint8), format="rgb24")
            for pkt in s.encode(frame):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)


def _nan_float_wav() -> bytes:
    y = speechlike(1.0)
    y[4000] = np.nan
    return _wav_bytes(y, subtype="FLOAT")


def _nan_long() -> np.ndarray:
    """310 s (over the 300 s streaming threshold) of speech-like float audio with one NaN at 6.5 s."""
    y = np.tile(speechlike(10.0), 31)
    y[int(6.5 * SR)] = np.nan
    return y




_GOOD = _wav_bytes(speechlike(3.0))  # a valid 3 s 16-bit WAV: 44-byte header + data

#: row -> (file name, maker(path), SERError subclass, message regex for the Predictor, CLI needle)
FAILS = {
    "empty file": ("empty.wav", lambda p: p.write_bytes(b""), AudioError, r"file is empty \(0 bytes\)", "empty"),
    "0 samples": ("zero_samples.wav", lambda p: sf.write(p, np.zeros(0, np.float32), SR, subtype="PCM_16"),
                  AudioError, r"holds no samples", "no samples"),
    "50 ms clip": ("clip_50ms.wav", lambda p: sf.write(p, speechlike(0.05), SR), AudioError,
                   r"too short: 50 ms \(at least 250 ms", "too short"),
    "10 min digital silence": ("silence_10min.wav",
                               lambda p: sf.write(p, np.zeros(600 * SR, np.int16), SR, subtype="PCM_16"),
                               AudioError, r"silent \(peak below -60 dBFS\)", "silent"),
    "header truncated": ("header_truncated.wav", lambda p: p.write_bytes(_GOOD[:30]), AudioError,
                         r"is not a readable audio file \(wav, flac.*\): Invalid data", "not a readable audio file"),
    "header garbled": ("header_garbled.wav", lambda p: p.write_bytes(_GOOD[:8] + b"JUNKJUNK" + _GOOD[16:]),
                       AudioError, r"is not a readable audio file", "not a readable audio file"),
    "header cut before data": ("header_only.wav", lambda p: p.write_bytes(_GOOD[:44]), AudioError,
                               r"holds no samples", "no samples"),
    "text file renamed .wav": ("notes.wav", lambda p: p.write_text("hello, I am not a sound file\n" * 40),
                               AudioError, r"is not a readable audio file", "not a readable audio file"),
    "unsupported codec (format tag 0xFFFF)": ("codec_ffff.wav", lambda p: p.write_bytes(_patched(_GOOD, 20, "<H", 0xFFFF)),
                                              AudioError, r"cannot decode .*Decoder not found", "cannot decode"),
    "video-only container": ("video_only.mp4", _video_only_mp4, AudioError, r"no audio stream", "no audio stream"),
    "PNG image renamed .mp3": ("picture.mp3", lambda p: p.write_bytes(png_bytes()), AudioError,
                               r"is not a readable audio file", "not a readable audio file"),
    "NaN in a float WAV": ("nan_float.wav", lambda p: p.write_bytes(_nan_float_wav()), AudioError,
                           r"NaN or infinite", "NaN or infinite"),
    "NaN in a 5-min float WAV (streamed)": ("nan_long_float.wav", lambda p: sf.write(p, _nan_long(), SR, subtype="FLOAT"),
                                            AudioError, r"NaN or infinite samples \(at 4 s\)", "NaN or infinite"),
}

#: row -> (file name, maker(path), expected duration in seconds)
WORKS = {
    "8 kHz telephone audio": ("telephone_8k.wav", lambda p: sf.write(p, speechlike(3.0, sr=8000), 8000), 3.0),
    "8 kHz mu-law telephone audio": ("telephone_8k_ulaw.wav",
                                     lambda p: sf.write(p, speechlike(3.0, sr=8000), 8000, subtype="ULAW"), 3.0),
    "stereo 44.1 kHz": ("stereo_44k.wav", lambda p: sf.write(
        p, np.stack([speechlike(2.0, sr=44100), speechlike(2.0, sr=44100, seed=1)], axis=1), 44100), 2.0),
    "32-bit float 48 kHz": ("float32_48k.wav", lambda p: sf.write(p, speechlike(2.0, sr=48000), 48000,
                                                                  subtype="FLOAT"), 2.0),
    "24-bit PCM 22.05 kHz": ("pcm24_22k.wav", lambda p: sf.write(p, speechlike(2.0, sr=22050), 22050,
                                                                 subtype="PCM_24"), 2.0),
    "clipping": ("clipping.wav", lambda p: sf.write(p, np.clip(20 * speechlike(2.0), -1, 1), SR), 2.0),
    "data cut short (header says 3 s)": ("data_cut.wav", lambda p: p.write_bytes(_GOOD[: 44 + 2 * 24000]), 1.5),
}


@pytest.fixture(scope="module")
def rows(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad_input")
    out = {}
    for row, (name, make, *_rest) in {**FAILS, **WORKS}.items():
        make(d / name)
        out[row] = d / name
    return out


@pytest.fixture(scope="module")
def predictor(tiny_bundle) -> Predictor:
    return Predictor(tiny_bundle)


@pytest.fixture(scope="module")
def cli_run(rows, tiny_bundle) -> subprocess.CompletedProcess:
    """One ``ser predict --json`` over every row's file (see the module docstring)."""
    return ser("predict", *(str(p) for p in rows.values()), "--model", str(tiny_bundle), "--json")


@pytest.mark.parametrize("row", list(FAILS))
def test_predictor_rejects(row, rows, predictor):
    _, _, exc, pattern, _ = FAILS[row]
    with pytest.raises(exc, match=pattern):
        predictor.predict_file(rows[row])


@pytest.mark.parametrize("row", list(FAILS))
def test_cli_rejects_with_one_line(row, rows, cli_run):
    path = str(rows[row])
    assert cli_run.returncode == 2 and "Traceback" not in cli_run.stderr, cli_run.stderr
    mine = [ln for ln in cli_run.stderr.splitlines() if path in ln]
    assert len(mine) == 1, cli_run.stderr
    assert mine[0].startswith(f"error: {path}: ") and FAILS[row][4] in mine[0], mine[0]
    assert mine[0].count(path) == 1, mine[0]  # the file is named once
    assert "Errno" not in mine[0], mine[0]  # FFmpeg's reason in words, not its error number
    (res,) = [r for r in json.loads(cli_run.stdout) if r["file"] == path]  # every input file is a row
    assert FAILS[row][4] in res["error"] and path not in res["error"]
    assert res["label"] is None and res["confidence"] is None and res["duration"] is None


@pytest.mark.parametrize("row", list(WORKS))
def test_predictor_works(row, rows, predictor):
    res = predictor.predict_file(rows[row])
    assert res.label in predictor.labels
    assert sum(res.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert res.duration == pytest.approx(WORKS[row][2], abs=0.02)


@pytest.mark.parametrize("row", list(WORKS))
def test_cli_works(row, rows, cli_run, predictor):
    path = str(rows[row])
    assert not [ln for ln in cli_run.stderr.splitlines() if path in ln], cli_run.stderr
    (res,) = [r for r in json.loads(cli_run.stdout) if r["file"] == path]
    assert res["label"] in predictor.labels and res["duration"] == pytest.approx(WORKS[row][2], abs=0.02)
    assert res["error"] == ""


def test_cli_no_decoder_chatter(cli_run):
    """libmpg123's "Note: Illegal Audio-MPEG-Header ..." lines (the PNG renamed .mp3) never reach the user."""
    assert "MPEG" not in cli_run.stderr and "Note:" not in cli_run.stderr, cli_run.stderr


def test_truncated_wav_warns_from_both_doors(rows, predictor, cli_run):
    """The WAV whose data is cut short (header: 3 s, file: 1.5 s) is analysed, with a warning that says so."""
    res = predictor.predict_file(rows["data cut short (header says 3 s)"])
    assert res.warnings and "truncated" in res.warnings[0] and "3.00 s" in res.warnings[0], res.warnings
    (row,) = [r for r in json.loads(cli_run.stdout) if r["file"] == str(rows["data cut short (header says 3 s)"])]
    assert "truncated" in row["warnings"]
    whole = predictor.predict_file(rows["8 kHz telephone audio"])
    assert not any("truncated" in w for w in whole.warnings)


def test_cli_single_bad_file_is_one_line_exit_2(rows, tiny_bundle):
    r = ser("predict", str(rows["header truncated"]), "--model", str(tiny_bundle))
    assert r.returncode == 2
    line = assert_one_error_line(r, str(rows["header truncated"]), "not a readable audio file")
    assert line.startswith(f"error: {rows['header truncated']}: ") and "Errno" not in line


def test_ten_minutes_of_silence_is_streamed(rows, predictor, monkeypatch):
    import ser.predict

    def no_whole_file_load(*a, **k):
        raise AssertionError("a 10-minute file must be streamed, not loaded whole")

    monkeypatch.setattr(ser.predict.audio, "load", no_whole_file_load)
    with pytest.raises(AudioError, match="silent"):
        predictor.predict_file(rows["10 min digital silence"])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("channels", [1, 2])
def test_predictor_rejects_nan_inf_arrays(predictor, bad, channels):
    y = speechlike(2.0)
    y[1234] = bad
    if channels == 2:
        y = np.stack([y, speechlike(2.0, seed=1)], axis=1)
    with pytest.raises(AudioError, match="NaN or infinite"):
        predictor.predict(y)
    with pytest.raises(AudioError, match="NaN or infinite"):
        predictor.predict(y, sr=48000)  # also on the resampling path


def test_predictor_rejects_arrays_too_short_or_silent(predictor):
    with pytest.raises(AudioError, match="too short"):
        predictor.predict(speechlike(0.05))
    with pytest.raises(AudioError, match="no samples"):
        predictor.predict(np.zeros(0, np.float32))
    with pytest.raises(AudioError, match="silent"):
        predictor.predict(np.zeros(10 * SR, np.float32))
    with pytest.raises(AudioError, match="silent"):  # a DC offset alone (a converter's) is no sound either
        predictor.predict(np.full(3 * SR, 0.05, np.float32))


# -- a 1-hour file ----------------------------------------------------------------------------------


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc to read the RSS")
def test_one_hour_file_streams_with_bounded_memory(tmp_path, predictor):
    path = tmp_path / "one_hour.wav"
    block = (speechlike(10.0, seed=3) * 32767).astype(np.int16)
    with sf.SoundFile(path, "w", samplerate=SR, channels=1, subtype="PCM_16") as f:
        for _ in range(360):
            f.write(block)
    assert path.stat().st_size > 115_000_000
    predictor.predict(speechlike(70.0))  # warm: first-use imports and a full batch of 64 windows
    base = _rss_bytes()
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    try:
        res = predictor.predict_file(path)
    finally:
        done.set()
        sampler.join()
    seconds = time.perf_counter() - t0
    growth_mb = (peak[0] - base) / 2**20
    print(f"1-hour file: {len(res.timeline)} windows in {seconds:.1f} s, peak RSS growth {growth_mb:.0f} MB")
    assert res.duration == pytest.approx(3600.0, abs=0.01)
    assert 3590 <= len(res.timeline) <= 3600  # 3 s windows every 1 s
    assert res.timeline[0].start == 0.0 and res.timeline[-1].end == pytest.approx(3600.0, abs=0.01)
    assert growth_mb < 100, f"peak RSS grew by {growth_mb:.0f} MB (the whole file as float32 is 230 MB)"
    path.unlink()


# -- a corpus folder with unreadable and unparseable files ------------------------------------------


@pytest.fixture(scope="module")
def messy_corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("messy") / "ravdess"
    actor = root / "Actor_01"
    actor.mkdir(parents=True)
    for i, emo in enumerate(("01", "05", "04", "03")):  # 4 good clips
        sf.write(actor / f"03-01-{emo}-01-01-01-01.wav", speechlike(2.0, f0=120 + 20 * i, seed=i), SR)
    (actor / "03-01-05-02-01-01-01.wav").write_text("not audio\n" * 30)  # unreadable, valid name
    (actor / "03-01-05-02-02-01-01.wav").write_bytes(b"")  # empty, valid name
    (actor / "03-01-06-01-01-01-01.wav").write_bytes(_GOOD[:30])  # truncated header, valid name
    sf.write(actor / "my holiday recording.wav", speechlike(2.0), SR)  # readable, unparseable name
    sf.write(actor / "03-01-04-02-01-01-01.wav", np.zeros(2 * SR, np.float32), SR)  # readable but silent
    (actor / "README.txt").write_text("not an audio extension: ignored")
    return root


def test_cli_data_list_reports_skipped_files(messy_corpus):
    r = ser("data", "list", str(messy_corpus), "--json")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    summary = json.loads(r.stdout)
    assert summary["n_clips"] == 5 and summary["skipped"] == 4
    r = ser("data", "list", str(messy_corpus))
    assert r.returncode == 0 and "skipped: 4 audio files" in r.stdout, r.stdout


def test_cli_evaluate_reports_skipped_files(messy_corpus, tiny_bundle, tmp_path):
    out = tmp_path / "metrics.json"
    r = ser("evaluate", "--model", str(tiny_bundle), "--data", str(messy_corpus), "--json", str(out), "--quiet")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert "skipped 4: unparseable or unreadable file" in r.stdout and "skipped 1: failed to load" in r.stdout
    m = json.loads(out.read_text())
    assert m["n"] == 4 and m["skipped"] == 5
    assert m["skipped_reasons"] == {"unparseable or unreadable file": 4, "failed to load": 1}


# -- broken model bundles ---------------------------------------------------------------------------


def _broken_copy(tiny_bundle: Path, dest: Path, edit=None, remove: str | None = None, text: str | None = None) -> Path:
    shutil.copytree(tiny_bundle, dest)
    if remove:
        (dest / remove).unlink()
    if text is not None:
        (dest / "config.json").write_text(text)
    if edit:
        cfg = json.loads((dest / "config.json").read_text())
        edit(cfg)
        (dest / "config.json").write_text(json.dumps(cfg))
    return dest


def _set(path: tuple[str, ...], value):
    def edit(cfg):
        d = cfg
        for k in path[:-1]:
            d = d[k]
        d[path[-1]] = value

    return edit


BUNDLES = {
    "missing config.json": (dict(remove="config.json"), r"is incomplete: missing config\.json"),
    "invalid JSON": (dict(text='{"labels": ["neutral", "calm",'), r"config\.json is not valid JSON"),
    "config.json not an object": (dict(text="[1, 2, 3]"), r"must hold a JSON object"),
    "labels count != model outputs": (dict(edit=lambda c: c.update(labels=c["labels"][:5])),
                                      r"inconsistent: the model has 8 outputs but config\.json lists 5 labels"),
    "feature settings != model input": (dict(edit=_set(("features", "n_mfcc"), 13)),
                                        rf"inconsistent: the model takes inputs of shape \({tiny_features().n_stats},\) "
                                        rf"but .* give \({replace(tiny_features(), n_mfcc=13).n_stats},\)"),
    "unknown input kind": (dict(edit=_set(("input_kind",), "waveform")), r"unknown input_kind 'waveform'"),
    "value of the wrong type": (dict(edit=_set(("temperature",), "hot")), r"invalid value"),
    "missing model.keras": (dict(remove="model.keras"), r"is incomplete: missing model\.keras"),
    "model.keras not a Keras file": (dict(), r"cannot load .*model\.keras"),
}


@pytest.mark.parametrize("row", list(BUNDLES))
def test_broken_bundle_is_a_bundle_error(row, tiny_bundle, tmp_path):
    kwargs, pattern = BUNDLES[row]
    b = _broken_copy(tiny_bundle, tmp_path / "bundle", **kwargs)
    if row == "model.keras not a Keras file":
        (b / "model.keras").write_bytes(b"PK\x03\x04 definitely not a zip archive")
    with pytest.raises(BundleError, match=pattern):
        Predictor(b)


@pytest.mark.parametrize("row", ["missing config.json", "invalid JSON", "labels count != model outputs"])
def test_cli_broken_bundle_exit_2_one_line(row, tiny_bundle, tmp_path):
    kwargs, pattern = BUNDLES[row]
    b = _broken_copy(tiny_bundle, tmp_path / "bundle", **kwargs)
    wav = tmp_path / "ok.wav"
    sf.write(wav, speechlike(1.0), SR)
    r = ser("predict", str(wav), "--model", str(b))
    assert r.returncode == 2
    assert_one_error_line(r, str(b))


def test_bundle_with_lambda_layer_is_refused(tiny_bundle, tmp_path):
    """Keras safe mode: a Lambda layer (arbitrary Python bytecode) in model.keras is never deserialised."""
    import keras

    b = _broken_copy(tiny_bundle, tmp_path / "evil")
    marker = tmp_path / "lambda_ran"
    n_in = load_bundle(tiny_bundle).model.input_shape[-1]
    inp = keras.Input(shape=(n_in,))
    where = str(marker)
    x = keras.layers.Lambda(lambda t: (open(where, "w").close(), t * 2.0)[1])(inp)
    out = keras.layers.Dense(8, activation="softmax")(x)
    keras.Model(inp, out).save(b / "model.keras")
    marker.unlink()  # building the model above ran the lambda once
    with pytest.raises(BundleError, match=r"cannot load .*Lambda.*disallowed"):
        Predictor(b)
    assert not marker.exists()


# -- training interrupted ---------------------------------------------------------------------------


def _tree_digest(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def train_corpus(tmp_path_factory) -> Path:
    """3 speakers x 2 emotions x 4 generated clips, named like RAVDESS (no real audio needed)."""
    root = tmp_path_factory.mktemp("train") / "ravdess"
    for actor in (1, 2, 3):
        d = root / f"Actor_{actor:02d}"
        d.mkdir(parents=True)
        for emo, f0 in (("01", 110.0), ("05", 190.0)):
            for k in range(4):
                stmt, rep = 1 + k // 2, 1 + k % 2
                y = speechlike(2.5, f0=f0 + 10 * actor, seed=100 * actor + k)
                sf.write(d / f"03-01-{emo}-01-{stmt:02d}-{rep:02d}-{actor:02d}.wav", y, SR)
    return root


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["SIGINT", "SIGTERM", "SIGKILL"])
def test_interrupted_training_keeps_the_previous_bundle(sig, train_corpus, tiny_bundle, tmp_path):
    models = tmp_path / "models"
    dest = models / "default"
    shutil.copytree(tiny_bundle, dest)
    before = _tree_digest(dest)
    cmd = [*SER, "train", "--data", str(train_corpus), "--model-type", "mlp", "--out", str(dest),
           "--epochs", "100000", "--patience", "100000", "--augment", "0", "--workers", "1",
           "--test-speakers", "ravdess_03", "--val-speakers", "ravdess_02", "--cache-dir", str(tmp_path / "cache")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    lines: list[str] = []
    epochs = threading.Event()

    def read(stream, keep: bool) -> None:
        for ln in stream:
            if keep:
                lines.append(ln)
            elif ln.startswith("Epoch 3/"):  # Keras prints epochs on stdout: model.fit is well under way
                epochs.set()

    readers = [threading.Thread(target=read, args=(proc.stderr, True), daemon=True),
               threading.Thread(target=read, args=(proc.stdout, False), daemon=True)]
    for r in readers:
        r.start()
    try:
        assert epochs.wait(180), "ser train never reached its third epoch:\n" + "".join(lines[-20:])
        assert proc.poll() is None, "training ended before it could be interrupted"
        proc.send_signal(sig)
        rc = proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for r in readers:
        r.join(10)
    err = "".join(lines)
    if sig != signal.SIGKILL:  # Ctrl-C or a kill: the command cleans up and says so (exit 128 + signal)
        assert rc == 128 + sig, err[-2000:]
        assert "interrupted" in err and "Traceback" not in err, err[-2000:]
    else:
        assert rc == -signal.SIGKILL
    # the previous bundle is untouched and loads; nothing half-written is visible
    assert _tree_digest(dest) == before
    assert load_bundle(dest).model.output_shape[-1] == 8
    assert Predictor(dest).predict(speechlike(1.0)).label in load_bundle(dest).labels
    visible = sorted(p.name for p in models.iterdir() if not p.name.startswith("."))
    assert visible == ["default"]
    hidden = [p.name for p in models.iterdir() if p.name.startswith(".")]
    assert all(h.startswith((".default.tmp-", ".default.old-")) for h in hidden), hidden
    assert list_bundles(models) == [dest]


def test_ctrl_c_surfacing_as_another_exception_is_still_an_interrupt(monkeypatch, capsys):
    """Ctrl-C while TensorFlow traces a train step can come out of its C code as e.g. a SystemError
    (seen with Keras 3 / TF 2.21): ``ser`` still reports an interruption (130), not a traceback."""
    import ser.cli

    def train_interrupted_inside_tf(a):
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:
            raise SystemError("Objects/listobject.c:338: bad argument to internal function") from None

    monkeypatch.setattr(ser.cli, "_cmd_train", train_interrupted_inside_tf)
    before = signal.getsignal(signal.SIGINT)
    assert ser.cli.main(["train", "--data", "x", "--out", "y"]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is before  # the caller's handler is put back

    def plain_bug(a):
        raise SystemError("a real bug, no Ctrl-C")

    monkeypatch.setattr(ser.cli, "_cmd_train", plain_bug)
    with pytest.raises(SystemError):
        ser.cli.main(["train", "--data", "x", "--out", "y"])


def test_half_written_temp_bundle_is_ignored(tiny_bundle, tmp_path):
    """A kill inside write_bundle can leave ``.NAME.tmp-*`` with model.keras and config.json: never listed."""
    models = tmp_path / "models"
    dest = models / "default"
    shutil.copytree(tiny_bundle, dest)
    tmp = models / ".default.tmp-k1ll3d"
    tmp.mkdir()
    for name in ("model.keras", "config.json"):
        shutil.copy(tiny_bundle / name, tmp / name)
    assert list_bundles(models) == [dest]
