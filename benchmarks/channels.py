#!/usr/bin/env python
"""Channel robustness: held-out speakers under the conditions a browser microphone delivers.

    python benchmarks/channels.py --model DIR [--data DIR ...] [--conditions clean laptop ...]
                                  [--limit N] [--draws N] [--json OUT]

``--model`` must be a bundle with held-out test speakers (the shipped model heard every speaker in
../shared, so it has none). Make one with the shipped recipe and a held-out split, e.g.::

    ser train --data ../shared/data/ravdess ../shared/data/emodb --out /tmp/heldout \\
        --test-speakers ravdess_05,ravdess_10,ravdess_14,ravdess_19,emodb_03,emodb_13

For every condition of :data:`ser.channels.CONDITIONS` each test clip is degraded (seeded; babble is
mixed from *other test speakers'* clips, never training voices: up to 8 clips of each, so the 6 talkers are
mostly different people; ``talker20`` is one other talker), then predicted twice: unadapted
(each clip alone) and with ``--adapt running`` (per speaker, clips in seeded random order, each
predicted with a profile of that speaker's earlier clips only — the same degraded channel, as a
session through one microphone would be). Prints UAR per corpus as a Markdown table and writes JSON; where ``--json``
already holds a table of the same bundle, clips and draws, the conditions run replace their rows and the others stay.

``--draws N`` scores every clip of a random condition (noise, room, EQ: whatever its seed draws) N times, with new
draws and new sessions each time, and pools them; deterministic conditions (gain, AGC, codecs, telephone) run once.

``laptop_session`` is the laptop chain with one room per speaker (each clip its own babble): a session on one
laptop in one room, where ``laptop`` draws a new room for every clip.

``tight_cut`` is no channel but how a corpus may ship its clips: each clip cut to its speech by the peak rule (frames
within 30 dB of the loudest, ``ser.features.trim_bounds`` without ``trim_noise``), no silence left at either end.

``voice_higher`` and ``voice_lower`` are other voices, not channels: every clip of a test speaker with the formants
scaled by 1.12 (0.89) and F0 by +2.5 (-2.5) semitones, through the WORLD vocoder (``ser.dataset.change_voice``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from ser import audio, channels  # noqa: E402
from ser.adapt import session_order  # noqa: E402
from ser.corpora import relabel, scan  # noqa: E402
from ser.evaluate import clip_metrics  # noqa: E402
from ser.features import FeatureConfig, file_digest, trim  # noqa: E402
from ser.predict import Predictor  # noqa: E402

#: Conditions of this benchmark beyond :data:`ser.channels.CONDITIONS`.
SESSION_CONDITIONS = ("laptop_session",)
#: Not a channel: clips cut tightly to their speech, as some corpora ship them (the peak rule of trimming alone).
CUT_CONDITIONS = ("tight_cut",)
#: Another voice, not another channel: each test speaker's clips with the formants and F0 scaled (formant ratio,
#: F0 factor; :func:`ser.dataset.change_voice`, the WORLD vocoder): a longer or shorter vocal tract than any heard.
VOICE_CONDITIONS = {"voice_higher": (1.12, 2 ** (2.5 / 12)), "voice_lower": (0.89, 2 ** (-2.5 / 12))}


#: Seed offset between two draws of a condition (larger than any clip index).
DRAW_STRIDE = 100_003


def _degrade(cond: str, y: np.ndarray, *, sr: int, seed: int, others: list, session: int) -> np.ndarray:
    """``y`` through condition ``cond``; ``session`` (the speaker's number) seeds what a session keeps."""
    if cond == "laptop_session":
        return channels.laptop(y, sr=sr, seed=seed, others=others, room_seed=10_000 + session)
    if cond == "tight_cut":
        return trim(y, FeatureConfig(sample_rate=sr, trim_noise=False))
    if cond in VOICE_CONDITIONS:
        from ser.dataset import change_voice

        ratio, factor = VOICE_CONDITIONS[cond]
        return change_voice(y, sr=sr, formant_ratio=ratio, pitch_factor=factor)
    return channels.apply(cond, y, sr=sr, seed=seed, others=others)


def _random(cond: str, y: np.ndarray, *, sr: int, others: list) -> bool:
    """Whether ``cond`` draws anything from its seed (noise, a room, an EQ): two seeds give different signals."""
    a = _degrade(cond, y, sr=sr, seed=1, others=others, session=1)
    return not np.array_equal(a, _degrade(cond, y, sr=sr, seed=2, others=others, session=2))


def run(model: str, data: list[str], conditions: list[str], limit: int, seed: int, draws: int = 1) -> dict:
    pred = Predictor(model)
    test = set(pred.bundle.config.split.get("test", []))
    if not test:
        raise SystemExit(f"error: {model} has no held-out test speakers; train one with --test-speakers (see --help)")
    man = scan(data).manifest
    man = relabel(man, pred.bundle.config.label_map)  # e.g. calm counts as neutral
    man = man[man["speaker"].isin(test) & man["emotion"].isin(pred.labels)].reset_index(drop=True)
    if limit:
        man = man.sample(frac=1.0, random_state=0).groupby("speaker").head(limit).sort_values("path")
        man = man.reset_index(drop=True)
    if man.empty:
        raise SystemExit(f"error: none of the test speakers {sorted(test)} has clips in {data}")
    print(f"{len(man)} clips of {man['speaker'].nunique()} held-out speakers; conditions: {', '.join(conditions)}",
          file=sys.stderr)
    clean = [audio.load(p, sr=pred.sample_rate) for p in man["path"]]
    labels = list(pred.labels)
    y = np.array([labels.index(e) for e in man["emotion"]])
    out: dict = {"model": str(model), "bundle": file_digest(Path(model) / "config.json")[:12],  # a retrained one differs
                 "n": len(man), "speakers": sorted(set(man["speaker"])),
                 "babble_pool": f"up to 8 clips of each other held-out speaker (ser.channels.babble_pool, seed {seed})",
                 "draws": draws, "conditions": {}}
    spk_all = man["speaker"].to_numpy()
    for cond in conditions:
        t0 = time.time()
        n_draws = draws if draws > 1 and _random(cond, clean[0], sr=pred.sample_rate, others=clean[1:7]) else 1
        probs_u = np.zeros((n_draws, len(man), len(labels)))
        probs_a = np.zeros_like(probs_u)
        rng = np.random.default_rng(seed)
        for d in range(n_draws):  # draw 0 is the single-draw table; each further draw new noise, rooms and sessions
            base = seed + d * DRAW_STRIDE
            for k, spk in enumerate(sorted(set(spk_all))):
                idx = np.flatnonzero(spk_all == spk)
                others = [clean[j] for j in channels.babble_pool(spk_all, spk, seed=base)]
                idx = idx[session_order(y[idx], order="random", rng=rng)]
                profile = pred.new_profile(spk) if pred.adaptive else None
                for i in idx:
                    yi = _degrade(cond, clean[i], sr=pred.sample_rate, seed=base + int(i), others=others,
                                  session=base + k)
                    r = pred.predict(yi, profile=profile)
                    probs_a[d, i] = [r.probabilities[k] for k in labels]
                    probs_u[d, i] = [(r.unadapted or r.probabilities)[k] for k in labels]
        row = {}
        for corpus in sorted(set(man["corpus"])):
            m = man["corpus"].to_numpy() == corpus
            yy = np.tile(y[m], n_draws)  # every draw's clips scored, pooled
            pu, pa = probs_u[:, m].reshape(-1, len(labels)), probs_a[:, m].reshape(-1, len(labels))
            u, a = clip_metrics(yy, pu, labels), clip_metrics(yy, pa, labels)
            top = np.bincount(pu.argmax(axis=1), minlength=len(labels))
            row[corpus] = {"uar": u["uar"], "adapted_uar": a["uar"] if pred.adaptive else None, "n": int(m.sum()),
                           "most_predicted": labels[int(top.argmax())], "most_predicted_share": float(top.max() / yy.size)}
            if n_draws > 1:
                per = [clip_metrics(y[m], probs_u[d, m], labels)["uar"] for d in range(n_draws)]
                row[corpus] |= {"draws": n_draws, "uar_per_draw": per}
        out["conditions"][cond] = row
        print(f"  {cond:<10} " + "  ".join(f"{c} {r['uar']:.3f}/{(r['adapted_uar'] or 0):.3f}" for c, r in row.items())
              + f"  ({time.time() - t0:.0f} s)", file=sys.stderr)
    return out


def table(res: dict) -> str:
    corpora = sorted({c for row in res["conditions"].values() for c in row})
    head = "| condition | " + " | ".join(f"{c} unadapted | {c} adapted" for c in corpora) + " |"
    lines = [head, "|" + "---|" * (1 + 2 * len(corpora))]
    for cond, row in res["conditions"].items():
        cells = []
        for c in corpora:
            r = row.get(c)
            cells += [f"{r['uar']:.3f}" if r else "", f"{r['adapted_uar']:.3f}" if r and r["adapted_uar"] is not None
                      else ""]
        lines.append(f"| {cond} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def merged(earlier: dict | None, res: dict, *, order: list[str]) -> dict:
    """``res`` with the rows of ``earlier`` (a JSON table this benchmark wrote) that it did not re-run, where both
    measured the same bundle (path and ``config.json``) on the same clips with the same draws; else ``res`` alone.
    Re-running a few conditions updates their rows of the table instead of replacing the whole table with them. Rows
    in ``order``."""
    keys = ("model", "bundle", "n", "speakers", "draws")
    same = earlier is not None and all(earlier.get(k) == res.get(k) for k in keys)
    if not same or not isinstance(earlier.get("conditions"), dict):
        return res
    rows = {**earlier["conditions"], **res["conditions"]}
    rank = {name: i for i, name in enumerate(order)}
    return {**res, "conditions": dict(sorted(rows.items(), key=lambda kv: rank.get(kv[0], len(rank))))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="bundle with held-out test speakers")
    ap.add_argument("--data", nargs="+", default=[str(ROOT.parent / "shared" / "data" / "ravdess"),
                                                  str(ROOT.parent / "shared" / "data" / "emodb")])
    names = [*channels.CONDITIONS, *SESSION_CONDITIONS, *CUT_CONDITIONS, *VOICE_CONDITIONS]
    ap.add_argument("--conditions", nargs="+", default=names, choices=names)
    ap.add_argument("--limit", type=int, default=0, help="at most N clips per speaker (0: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--draws", type=int, default=1,
                    help="score every clip under N draws of a random condition's noise, room and session, pooled "
                         "(one draw of the laptop chain on 81 EMO-DB clips gave 0.64 to 0.76); draw 0 is the default table")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "channels.json"))
    a = ap.parse_args()
    if a.draws < 1:
        ap.error("--draws must be 1 or more")
    res = run(a.model, a.data, a.conditions, a.limit, a.seed, a.draws)
    print(table(res))
    out = Path(a.json)
    try:
        earlier = json.loads(out.read_text()) if out.exists() else None
    except ValueError:
        earlier = None  # not a table of this benchmark: replaced
    res = merged(earlier, res, order=names)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(res, indent=2) + "\n")
    tmp.replace(a.json)
    print(f"written to {a.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
