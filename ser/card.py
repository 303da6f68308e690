"""The model card (``MODEL_CARD.md``), written from a bundle's own config, metrics and EDA."""

from __future__ import annotations

from typing import Any

from .bundle import BundleConfig
from .corpus_facts import describe, languages


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


_MODEL_TEXT = {
    "linear": "a multinomial logistic regression (one softmax layer with L2 penalty) over standardised "
              "utterance functionals",
    "mlp": "a two-layer perceptron over standardised utterance functionals",
    "bilstm": "a masked bidirectional LSTM over frame features",
    "tdnn": "1-D convolutions (TDNN) over frame features",
    "cnn": "a 2-D CNN with attention pooling over log-mel spectrograms",
    "crnn": "a CNN + bidirectional GRU with attention pooling over log-mel spectrograms",
}


def model_card(cfg: BundleConfig, metrics: dict[str, Any], eda: dict[str, Any]) -> str:
    """Markdown model card: data, licence, protocol, results, calibration, limits, reproduction."""
    test = metrics.get("test", {})
    folds = metrics.get("folds")
    calib = metrics.get("calibration", {})
    tr = cfg.extra.get("training", {})
    fc = cfg.features
    lines = [
        f"# Model card: speech emotion recognition ({cfg.model_type})",
        "",
        "## What it does",
        f"Predicts one of {len(cfg.labels)} acted emotions ({', '.join(cfg.labels)}) from a speech clip, "
        + ("with temperature-scaled confidences. " if calib else "with softmax confidences. ")
        + f"Input: mono audio at {fc.sample_rate} Hz (any file is resampled on load); clips longer than "
        f"{fc.window_s:g} s are cut into windows every {fc.hop_s:g} s and averaged (timeline).",
        "",
        f"Model: {_MODEL_TEXT.get(cfg.model_type, cfg.model_type)}"
        + (f" ({len(fc.functionals)} functionals × {fc.n_features} frame features: {', '.join(fc.functionals)})"
           if cfg.input_kind == "stats" else "")
        + f". Frame features every {1000 * fc.hop_length / fc.sample_rate:g} ms: {', '.join(fc.blocks)}.",
        "",
        "## Data",
        f"Corpora: {', '.join(cfg.corpora)} — {eda.get('n_clips', '?')} clips, "
        f"{len(eda.get('speakers', []))} speakers, {eda.get('durations', {}).get('total_hours', 0):.2f} h.",
        "Acted emotional speech recorded in a studio. "
        + "; ".join(describe(c) for c in cfg.corpora) + ". "
        + f"Languages heard: {', '.join(languages(cfg.corpora))}. "
        + ("Each corpus lacks some of the labels (EMO-DB has no calm or surprised, RAVDESS no boredom): the model "
           "learns each emotion from the corpora that have it, and is scored per corpus on that corpus's own "
           "labels. " if len(cfg.corpora) > 1 else ""),
        "",
        "## Licence",
        f"{cfg.extra.get('licence', '')}. The weights are derived from these corpora and inherit their terms: "
        "**non-commercial use only** (CC BY-NC-SA 4.0 from RAVDESS; share derived work alike and credit "
        "Livingstone & Russo (2018), PLoS ONE 13(5): e0196391).",
        "",
        "## Evaluation protocol (speaker-independent)",
    ]
    cv = cfg.split.get("cross_validated") or []
    if folds and not cfg.extra.get("ensemble_of_folds"):
        val = cfg.split.get("val") or []
        lines.append(
            f"{folds['k']}-fold cross-validation by speaker over {len(cv)} speakers: each fold holds out a disjoint "
            "group of speakers, trains on the rest, and predicts the held-out group; augmented copies of a clip "
            "stay in its fold. The figures below pool those out-of-fold predictions. The shipped model was then "
            "trained the same way on every speaker"
            + (f" (but {', '.join(val)}, kept for early stopping)" if val else "")
            + ", so it has no held-out figure of its own: the cross-validated figures are what to expect on "
            "new speakers, and evaluating it again on these corpora would be inflated."
        )
    elif cfg.extra.get("ensemble_of_folds"):
        lines.append(
            f"The model averages {folds['k']} fold models. Each fold held out a disjoint group of speakers; the "
            "figures below pool every clip's prediction by the fold model that never heard its speaker. "
            "Because the ensemble as a whole has heard every speaker, evaluating it again on these corpora "
            "would be inflated: use new speakers."
        )
    else:
        lines.append(
            f"Test speakers (never seen in training or validation): {', '.join(cfg.split.get('test', []))}. "
            + (f"Validation speakers (early stopping, temperature): {', '.join(cfg.split['val'])}. "
               if cfg.split.get("val") else
               "No validation speakers: training ran a fixed number of epochs and the confidences are not "
               "temperature-scaled (train with --folds to calibrate them on out-of-fold predictions). ")
            + "Augmented copies of a training clip stay in training."
        )
    lines += [
        "",
        "## Results",
        f"- **UAR (unweighted average recall) {_pct(test.get('uar'))}**, accuracy {_pct(test.get('accuracy'))} "
        f"on {test.get('n', '?')} clips"
        + (", each predicted by the fold model that never heard its speaker." if folds else " of held-out speakers."),
    ]
    if folds:
        s = folds["summary"]
        lines.append(
            f"- {folds['k']}-fold by speaker: UAR {_pct(s['uar_mean'])} ± {_pct(s['uar_std'])} "
            f"(pooled {_pct(s['pooled_uar'])})."
        )
    if calib:
        lines.append(
            f"- Calibration: temperature {calib['temperature']:.2f}; expected calibration error "
            f"{calib['ece_before']:.3f} → {calib['ece_after']:.3f} (fitted on {calib.get('fitted_on', 'validation speakers')}; "
            f"measured on {calib.get('measured_on', 'the test speakers')})."
        )
    for corpus, m in (metrics.get("per_corpus") or {}).items():
        lines.append(f"- {corpus} speakers only: UAR {_pct(m['uar'])}, accuracy {_pct(m['accuracy'])} ({m['n']} clips).")
    adaptation = metrics.get("adaptation") or {}
    if adaptation:
        lines += ["", "### Speaker adaptation (running protocol)",
                  "Each held-out speaker's clips are predicted one after another, each with statistics of that "
                  "speaker's *earlier* clips only (the first clip with the training prior); every clip is scored. "
                  "`random` shuffles each speaker's clips; `blocked` groups them by emotion (a stretch of anger, "
                  "then of sadness...), the sustained-mood case in which running statistics could absorb the mood.",
                  "", "| order | adapted UAR | unadapted UAR | " + " | ".join(
                      f"Δ after {b['clips']} clips" for b in next(iter(adaptation.values()))["by_earlier_clips"])
                  + " |", "| --- | --- | --- | " + " | ".join("---" for _ in next(iter(adaptation.values()))[
                      "by_earlier_clips"]) + " |"]
        for order, a in adaptation.items():
            lines.append(f"| {order} | {_pct(a['uar'])} | {_pct(a['unadapted_uar'])} | "
                         + " | ".join(f"{100 * b['delta']:+.1f}" for b in a["by_earlier_clips"]) + " |")
        for order, a in adaptation.items():
            for corpus, c in (a.get("per_corpus") or {}).items():
                lines.append(f"- {order}, {corpus}: adapted {_pct(c['uar'])} vs unadapted {_pct(c['unadapted_uar'])}.")
    per_class = test.get("per_class", {})
    if per_class:
        lines += ["", "| emotion | precision | recall | F1 | clips |", "| --- | --- | --- | --- | --- |"]
        for lab, c in per_class.items():
            if c["support"]:
                lines.append(f"| {lab} | {c['precision']:.2f} | {c['recall']:.2f} | {c['f1']:.2f} | {c['support']} |")
    lines += [
        "",
        "Random-split accuracies quoted for these corpora elsewhere (often 80-90%) let the same speakers into "
        "training and test; they are not comparable with these figures.",
        "",
        "## Known limits",
        "- Acted, studio-quality speech from a few dozen speakers: expect lower accuracy on spontaneous speech, "
        "phone audio, noise, children, or languages and accents not in the data.",
        "- Emotions are portrayed, not felt; 'calm' vs 'neutral' and 'fearful' vs 'sad' are often confused.",
        "- A confidence under the threshold "
        f"({cfg.threshold:.2f}) is shown as 'uncertain'. Do not use the output for decisions about people.",
        "",
        "## Reproduce",
        f"```\n{cfg.extra.get('train_command') or 'ser train ...'}\n```",
        f"Seed {tr.get('seed', 0)}; {tr.get('augment', 0)} augmented copies per training clip "
        "(Gaussian noise at 10-40 dB SNR, pitch ±2.5 semitones, time stretch ±15%, gain ±6 dB; audiomentations)"
        + ("; each copy of a speaker also passes one simulated recording channel (room 0.15-0.8 s RT60, "
           "white/pink noise or babble of other training speakers at 5-30 dB SNR, band limit or telephone band, "
           "AGC-style compression, Opus/MP3 at low bit rates, gain -20..+10 dB: ser.channels)"
           if tr.get("channels") else "") + ".",
        ("Input level: every analysed window is scaled to " + f"{fc.level_db:g} dBFS before features, so the "
         "input gain changes nothing (the removed level is used only relative to a speaker profile)."
         if fc.level_db is not None else "Input level: raw (features move with the input gain)."),
        f"Training time: {metrics.get('train_seconds', '?')} s on the machine that trained it "
        f"(features {metrics.get('feature_seconds', '?')} s). Versions: "
        + ", ".join(f"{k} {v}" for k, v in cfg.extra.get("versions", {}).items()) + ".",
        "",
    ]
    return "\n".join(lines)
