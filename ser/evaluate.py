"""Metrics for speaker-independent evaluation, and ``ser evaluate`` on any corpus folder.

Calibration (temperature scaling, ECE) lives in :mod:`ser.calibration`; its two functions are
re-exported here for older imports.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from .calibration import expected_calibration_error, fit_temperature
from .errors import CorpusError, SERError

__all__ = [
    "EARLIER_BINS",
    "adaptation_summary",
    "clip_metrics",
    "evaluate_folder",
    "over_orders",
    "expected_calibration_error",
    "fit_temperature",
    "format_report",
]


def clip_metrics(
    y_true: Sequence[int],
    probs: np.ndarray,
    labels: Sequence[str],
    *,
    speakers: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Clip-level metrics from true label indices and probabilities ``[shape=(n, k)]``.

    UAR is the unweighted mean of per-class recall over the classes present in ``y_true``.
    """
    y_true = np.asarray(y_true, dtype=int)
    y_pred = probs.argmax(axis=1)
    k = len(labels)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=range(k), zero_division=0)
    present = s > 0
    out: dict[str, Any] = {
        "uar": float(r[present].mean()) if present.any() else 0.0,
        "accuracy": float((y_true == y_pred).mean()) if y_true.size else 0.0,
        "n": int(y_true.size),
        "labels": list(labels),
        "per_class": {
            lab: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, lab in enumerate(labels)
        },
        "confusion": confusion_matrix(y_true, y_pred, labels=range(k)).tolist(),
    }
    if speakers is not None:
        spk = np.asarray(speakers)
        out["per_speaker"] = {
            str(sp): float((y_true[spk == sp] == y_pred[spk == sp]).mean()) for sp in sorted(set(spk.tolist()))
        }
    return out


#: Bins of "clips of this speaker heard before" for the adaptation reports.
EARLIER_BINS = ((0, 0), (1, 2), (3, 7), (8, 15), (16, 10_000))


def adaptation_summary(y_true: Sequence[int], adapted: np.ndarray, plain: np.ndarray, before: np.ndarray,
                       labels: Sequence[str], *, corpora: Sequence[str] | None = None,
                       protocol: str = "") -> dict[str, Any]:
    """Adapted vs unadapted metrics of one running or enrolment protocol.

    ``adapted``/``plain`` ``[shape=(n, k)]`` clip probabilities with and without the speaker profile;
    ``before [shape=(n,)]``: clips of the speaker the profile held when each clip was predicted.
    Adds UAR by earlier-clip bin (the number that shows whether adaptation ever hurts) and per corpus.
    """
    y_true = np.asarray(y_true, dtype=int)
    before = np.asarray(before, dtype=float)
    m = clip_metrics(y_true, adapted, labels)
    u = clip_metrics(y_true, plain, labels)
    out: dict[str, Any] = {"protocol": protocol, **m, "unadapted_uar": u["uar"], "unadapted_accuracy": u["accuracy"],
                           "by_earlier_clips": []}
    prev = -np.inf
    for lo, hi in EARLIER_BINS:  # a long clip counts for more than one clip: bins cover every value
        sel = (before > prev) & (before <= hi)
        prev = hi
        if sel.any():
            a, b = clip_metrics(y_true[sel], adapted[sel], labels), clip_metrics(y_true[sel], plain[sel], labels)
            out["by_earlier_clips"].append({"clips": f"{lo}-{hi}" if hi < 10_000 else f"{lo}+", "n": int(sel.sum()),
                                            "uar": a["uar"], "unadapted_uar": b["uar"], "delta": a["uar"] - b["uar"]})
    if corpora is not None:
        corp = np.asarray(corpora)
        out["per_corpus"] = {
            c: {"uar": clip_metrics(y_true[corp == c], adapted[corp == c], labels)["uar"],
                "unadapted_uar": clip_metrics(y_true[corp == c], plain[corp == c], labels)["uar"],
                "n": int((corp == c).sum())}
            for c in sorted(set(corp.tolist()))}
    return out


def format_report(m: dict[str, Any], *, title: str = "") -> str:
    """Human-readable report of :func:`clip_metrics` output."""
    lines = [title] if title else []
    lines.append(f"UAR {m['uar']:.3f}   accuracy {m['accuracy']:.3f}   clips {m['n']}")
    if m.get("label_map"):
        lines.append("scored as: " + ", ".join(f"{a} clips as {b}" for a, b in m["label_map"].items()))
    lines.append(f"{'emotion':<11}{'precision':>10}{'recall':>8}{'f1':>7}{'support':>9}")
    for lab, c in m["per_class"].items():
        if c["support"] or c["precision"]:
            lines.append(f"{lab:<11}{c['precision']:>10.3f}{c['recall']:>8.3f}{c['f1']:>7.3f}{c['support']:>9d}")
    labels = m["labels"]
    lines.append("confusion (rows = true, columns = predicted):")
    lines.append(" " * 11 + "".join(f"{lab[:5]:>6}" for lab in labels))
    for lab, row in zip(labels, m["confusion"], strict=True):
        lines.append(f"{lab:<11}" + "".join(f"{v:>6d}" for v in row))
    if "per_speaker" in m:
        lines.append("per speaker accuracy: " + ", ".join(f"{k} {v:.2f}" for k, v in m["per_speaker"].items()))
    return "\n".join(lines)


def evaluate_folder(
    predictor,
    data: Sequence[str | Path],
    *,
    include_seen_speakers: bool = False,
    progress: bool = True,
    adapt: str | None = None,
    order: str = "random",
    seed: int = 0,
    orders: int = 1,
) -> dict[str, Any]:
    """Evaluate a predictor's bundle on corpus folders (file-name codes or a ``manifest.csv``).

    Each clip's emotion first goes through the bundle's label map (for a model of the core label
    space, calm counts as neutral). Clips whose emotion the model does not know are left out and counted; so are clips of
    speakers the model was trained or validated on, unless ``include_seen_speakers``.
    ``adapt``: ``None`` (each clip alone), ``"running"`` (per speaker, clips in ``order`` —
    ``random`` or ``blocked`` by emotion, seeded — each predicted with a profile of that speaker's
    *earlier* clips only, every clip scored) or ``"enrol"`` (profile from the speaker's neutral and
    calm clips, which are then not scored). ``orders`` (running only): repeat the protocol over this many
    seeded orders (seeds ``seed``, ``seed + 1``, …): one order's bins rest on a few dozen clips, so whether
    adaptation ever falls below unadapted is read off the mean and the worst order per bin
    (``adaptation["orders"]``); every other figure is the first order's. Returns the ``ser evaluate --json``
    contract: uar, accuracy, n, skipped, per_class, confusion, labels (+ per_speaker, skipped_reasons, adaptation).
    """
    from .adapt import session_order
    from .corpora import relabel, scan

    if adapt not in (None, "running", "enrol"):
        raise ValueError(f"unknown adaptation protocol {adapt!r}: use running or enrol")
    if orders < 1 or (orders > 1 and adapt != "running"):
        raise ValueError(f"orders must be 1, or more with the running protocol (got {orders} with {adapt or 'no'} "
                         "adaptation): only the running protocol has a clip order")
    if adapt and not predictor.adaptive:
        predictor.new_profile()  # raises the clear "cannot adapt" error
    result = scan(list(data))
    man = result.manifest
    merges = predictor.bundle.config.label_map  # e.g. calm counts as neutral for a core-label-space model
    man = relabel(man, merges)
    labels = list(predictor.labels)
    reasons = {"unparseable or unreadable file": len(result.skipped)}
    known = man["emotion"].isin(labels)
    reasons["emotion unknown to the model"] = int((~known).sum())
    man = man[known]
    split = predictor.bundle.config.split
    seen = set(split.get("train", [])) | set(split.get("val", []))
    if not include_seen_speakers:
        is_seen = man["speaker"].isin(seen)
        reasons["speaker seen in training"] = int(is_seen.sum())
        man = man[~is_seen]
    if man.empty:
        raise CorpusError(
            "no clips left to evaluate: " + "; ".join(f"{v} skipped ({k})" for k, v in reasons.items() if v)
            + (". The model heard every speaker here: evaluate it on other speakers (its own cross-validated "
               "figures are in metrics.json), or pass --include-seen-speakers for an inflated figure"
               if reasons.get("speaker seen in training") else "")
        )
    man = man.reset_index(drop=True)
    rows: list[tuple[int, Any, float]] = []  # (manifest row, Prediction or error, clips before)
    if adapt is None:
        for i, (_src, res) in enumerate(predictor.predict_many(man["path"].tolist(), progress=progress)):
            rows.append((i, res, 0.0))
    bar = None
    if adapt is not None and progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(man) * orders, desc=f"predicting ({adapt})", unit="file")
    analysed: dict[int, Any] = {}  # clip → its Analysis (or the error it raised): decoded and featurised once

    def predict_clip(i: int, profile, update: bool):
        """Clip ``i`` predicted with ``profile``; every order after the first reuses its analysis."""
        if i not in analysed:
            try:
                analysed[i] = predictor.analyse_file(man["path"][i])
            except SERError as exc:
                analysed[i] = exc
        a = analysed[i]
        if isinstance(a, SERError):
            raise a
        if a is None:  # a recording too long to hold: streamed each time
            return predictor.predict_file(man["path"][i], profile=profile, update_profile=update)
        return predictor.predict_analysis(a, profile=profile, update_profile=update)

    def session_rows(order_seed: int) -> tuple[list[tuple[int, Any, float]], int]:
        """One pass of the protocol over every speaker: (rows, enrolment clips)."""
        rng = np.random.default_rng(order_seed)
        rows_: list[tuple[int, Any, float]] = []
        enrolled = 0
        for spk in sorted(set(man["speaker"])):
            idx = np.flatnonzero(man["speaker"].to_numpy() == spk)
            emos = man["emotion"].to_numpy()[idx]
            profile = predictor.new_profile(spk)
            if adapt == "enrol":
                profile.enrolled = True  # deliberate calibration, as `ser enrol` makes it: every clip counts at once
                enrol = idx[np.isin(emos, ["neutral", "calm"])]
                for i in enrol:
                    try:
                        predict_clip(int(i), profile, True)
                    except SERError:
                        pass
                enrolled += len(enrol)
                idx = idx[~np.isin(emos, ["neutral", "calm"])]
                if bar is not None:
                    bar.update(len(enrol))
            else:
                idx = idx[session_order(emos, order=order, rng=rng)]
            for i in idx:
                before = profile.heard  # clips heard before this one (those held back included)
                try:
                    res = predict_clip(int(i), profile, adapt == "running")
                except SERError as exc:
                    res = exc
                rows_.append((int(i), res, before))
                if bar is not None:
                    bar.update()
        return rows_, enrolled

    def collect(rows_: list[tuple[int, Any, float]]):
        """Scored clips of one pass: (probs, unadapted probs, y, speakers, clips before, corpora, failures)."""
        probs_, plain_, y_, spk_, before_, corp_, failed_ = [], [], [], [], [], [], 0
        for i, res, n_before in rows_:
            if isinstance(res, Exception):
                failed_ += 1
                continue
            probs_.append([res.probabilities[lab] for lab in labels])
            plain_.append([(res.unadapted or res.probabilities)[lab] for lab in labels])
            y_.append(labels.index(man["emotion"][i]))
            spk_.append(man["speaker"][i])
            corp_.append(man["corpus"][i])
            before_.append(n_before)
        return probs_, plain_, y_, spk_, before_, corp_, failed_

    passes: list[tuple[list[tuple[int, Any, float]], int]] = []
    if adapt is not None:
        passes = [session_rows(seed + j) for j in range(orders)]
        if bar is not None:
            bar.close()
        if adapt == "enrol":
            reasons["enrolment clip (neutral/calm), not scored"] = passes[0][1]
    scored = [collect(r) for r, _ in passes] if passes else [collect(rows)]  # one per clip order
    probs, plain, y_true, speakers, before, corp, failed = scored[0]
    reasons["failed to load"] = failed
    if not probs:
        raise CorpusError(f"none of the {len(man)} clips could be evaluated")
    m = clip_metrics(y_true, np.asarray(probs), labels, speakers=speakers)
    m["skipped"] = int(sum(reasons.values()))
    m["skipped_reasons"] = {k: v for k, v in reasons.items() if v}
    m["include_seen_speakers"] = include_seen_speakers
    if merges:
        m["label_map"] = dict(merges)  # corpus labels scored as another (calm clips as neutral)
    if adapt is not None:
        summary = adaptation_summary(y_true, np.asarray(probs), np.asarray(plain), np.asarray(before), labels,
                                     corpora=corp)
        m["adaptation"] = {
            "protocol": adapt, "order": order if adapt == "running" else None, "seed": seed,
            "unadapted_uar": summary["unadapted_uar"], "unadapted_accuracy": summary["unadapted_accuracy"],
            "by_earlier_clips": summary["by_earlier_clips"], "per_corpus": summary.get("per_corpus", {}),
            "description": ("each clip predicted with statistics of its speaker's earlier clips only (the first "
                            "with the prior); every clip scored" if adapt == "running" else
                            "statistics from each speaker's neutral and calm clips, which are not scored"),
        }
        if orders > 1:
            m["adaptation"]["orders"] = over_orders(
                [adaptation_summary(y, np.asarray(p), np.asarray(q), np.asarray(b), labels)
                 for p, q, y, _s, b, _c, _f in scored], [seed + j for j in range(orders)])
    return m


def over_orders(runs: list[dict[str, Any]], seeds: list[int]) -> dict[str, Any]:
    """Adapted UAR and adapted − unadapted UAR by earlier-clip bin over several clip orders (one
    :func:`adaptation_summary` per order, ``seeds`` their order seeds): mean, worst and best order."""
    uar = np.array([r["uar"] for r in runs])
    bins: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        for b in r["by_earlier_clips"]:
            bins.setdefault(b["clips"], []).append(b)
    return {
        "n": len(runs), "seeds": seeds, "uar_mean": float(uar.mean()), "uar_min": float(uar.min()),
        "uar_max": float(uar.max()), "unadapted_uar": runs[0]["unadapted_uar"],
        "by_earlier_clips": [
            {"clips": k, "n_mean": float(np.mean([b["n"] for b in v])), "orders": len(v),
             "delta_mean": float(np.mean([b["delta"] for b in v])), "delta_min": float(min(b["delta"] for b in v)),
             "delta_max": float(max(b["delta"] for b in v))}
            for k, v in bins.items()],
    }
