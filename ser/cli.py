"""The ``ser`` command line: data download/list, train, evaluate, predict, enrol, export.

Every failure on bad input prints one line ``error: ...`` to stderr and exits with status 2
(1 for unexpected errors, 130 when interrupted).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # silence TensorFlow's start-up chatter

from .errors import SERError  # noqa: E402


def _talkers(text: str) -> tuple[int, int]:
    """``--babble-talkers``: ``"N"`` or ``"LO-HI"`` → ``(lo, hi)``."""
    try:
        lo, _, hi = text.partition("-")
        return int(lo), int(hi or lo)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or LO-HI (voices), got {text!r}") from None


def _widths(text: str) -> tuple[int, ...]:
    """``--channel-hidden``: ``"256,128"`` → ``(256, 128)``; ``""`` or ``"0"`` → ``()`` (linear)."""
    try:
        widths = tuple(int(u) for u in text.split(",") if u.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated layer widths, e.g. 256,128, got {text!r}") from None
    return () if widths == (0,) else widths


def _atomic_write(path: str | Path, text: str) -> None:
    from .fileio import write_text_atomic

    write_text_atomic(path, text)


def _cmd_data_download(a: argparse.Namespace) -> int:
    from .download import download_corpus

    path = download_corpus(a.name, a.dest, url=a.url, progress=not a.quiet)
    print(f"{a.name} is in {path}")
    return 0


def _cmd_data_list(a: argparse.Namespace) -> int:
    from .corpora import format_summary, scan, summarize

    res = scan(a.dirs)
    summary = summarize(res.manifest)
    if a.json:
        print(json.dumps({**summary, "skipped": len(res.skipped)}, indent=2, default=str))
    else:
        print(format_summary(summary, skipped=len(res.skipped)))
    if a.manifest:
        _atomic_write(a.manifest, res.manifest.to_csv(index=False))
        print(f"manifest written to {a.manifest}")
    return 0


def _whisper_layers(text: str) -> int | tuple[int, ...] | None:
    """``--whisper-layers``: ``"0"`` → None (all layers), ``"3"`` → 3, ``"2,3"`` → (2, 3) (a bad value: ValueError)."""
    from .whisper import layer_spec

    spec = layer_spec(text)
    return None if spec == 0 else spec


def _cmd_train(a: argparse.Namespace) -> int:
    from .errors import TrainingError
    from .features import DEFAULT_BLOCKS, FeatureConfig
    from .models import ModelConfig, recipe_defaults
    from .train import DEFAULT_MIN_LR, TrainConfig, train

    def names(s: str | None) -> tuple[str, ...]:
        return tuple(x.strip() for x in s.split(",") if x.strip()) if s else ()

    d = recipe_defaults(a.model_type)  # per-model-type defaults (ser.models)
    pick = lambda value, key: d[key] if value is None else value  # noqa: E731
    try:  # the settings' own checks (a negative weight, an unknown layout ...): a message, not a traceback
        fcfg = FeatureConfig(window_s=a.window, utterance_norm=not a.no_utterance_norm,
                             trim_db=None if a.no_trim else 30.0, voice_layout=a.voice_layout,
                             stats_floor_db=a.stats_floor_db, trim_noise=a.trim_noise,
                             trim_talker_db=a.trim_talker_db or None,
                             trim_noise_min_s=a.trim_noise_min_s or None,  # off without --trim-noise (FeatureConfig)
                             denoise=None if a.denoise == "off" else a.denoise,
                             blocks=DEFAULT_BLOCKS + (("whisper",) if a.whisper else ()),
                             whisper_compute=a.whisper_compute, whisper_model=a.whisper_model,
                             whisper_layers=_whisper_layers(a.whisper_layers), centred_blocks=names(a.centre_blocks))
        mcfg = ModelConfig(model_type=a.model_type, dropout=a.dropout, learning_rate=a.lr, width=a.width,
                           l2=pick(a.l2, "l2"), prosody_weight=a.prosody_weight, voice_weight=a.voice_weight,
                           speech_weight=a.speech_weight, whisper_weight=a.whisper_weight)
    except ValueError as exc:
        raise TrainingError(str(exc)) from exc
    tc = TrainConfig(
        data=tuple(a.data), out=a.out,
        model=mcfg,
        features=fcfg, epochs=pick(a.epochs, "epochs"), batch_size=pick(a.batch_size, "batch_size"),
        patience=pick(a.patience, "patience"), min_lr=DEFAULT_MIN_LR if a.min_lr is None else a.min_lr,
        folds=a.folds,
        ensemble=a.ensemble, test_speakers=names(a.test_speakers), val_speakers=names(a.val_speakers),
        n_test_speakers=a.n_test, n_val_speakers=pick(a.n_val, "n_val"), augment=a.augment, augment_strength=a.augment_strength,
        original_weight=a.original_weight, studio_weight=a.studio_weight, studio_power=a.studio_power, studio_l2=a.studio_l2, channel_l2=a.channel_l2,
        channel_hidden=a.channel_hidden, channel_epochs=a.channel_epochs,
        channel_speech_weight=a.channel_speech_weight, narrowband=not a.no_narrowband, babble_copies=a.babble_copies,
        mic_copies=a.mic_copies, mic_chains=a.mic_chains, mic_clips=a.mic_clips,
        labels=names(a.labels), label_space=a.label_space, seed=a.seed, cache_dir=a.cache_dir, use_cache=not a.no_cache,
        channels=not a.no_channels, mic=a.mic, device_chains=a.device_chains, big_rooms=a.big_rooms,
        mains=a.mains, voice_copies=a.voice_copies,
        narrow_bands=not a.no_narrow_bands,
        babble_talkers=a.babble_talkers, adapt=not a.no_adapt, adapt_tau=a.adapt_tau,
        adapt_mood=a.adapt_mood, adapt_mood_clips=a.adapt_mood_clips, adapt_orders=a.adapt_orders,
        adapt_mix_clips=a.adapt_mix_clips,
        adapted_member=a.adapted_member,
        adapt_min_clips=a.adapt_min_clips, adapt_train_tau=a.adapt_train_tau, adapt_lag=a.adapt_lag,
        workers=a.workers, fit_threads=a.fit_threads, verbose=2 if not sys.stderr.isatty() else 1,
        command="ser " + " ".join(shlex.quote(x) for x in sys.argv[1:]),
    )
    train(tc)
    return 0


def _cmd_evaluate(a: argparse.Namespace) -> int:
    from .evaluate import evaluate_folder, format_report
    from .predict import Predictor

    if a.orders < 1 or (a.orders > 1 and a.adapt != "running"):
        print(f"error: --orders {a.orders}: give 1, or more with --adapt running (only that protocol has a clip order)",
              file=sys.stderr)
        return 2
    pred = Predictor(a.model)
    m = evaluate_folder(pred, a.data, include_seen_speakers=a.include_seen_speakers, progress=not a.quiet,
                        adapt=a.adapt, order=a.order, seed=a.seed, orders=a.orders)
    print(format_report(m, title=f"{pred.bundle.path} on {', '.join(a.data)}"))
    if "adaptation" in m:
        ad = m["adaptation"]
        print(f"adapted ({ad['protocol']}{', ' + ad['order'] + ' order' if ad['order'] else ''}): UAR {m['uar']:.3f}"
              f" vs unadapted {ad['unadapted_uar']:.3f}")
        for b in ad["by_earlier_clips"]:
            print(f"  {b['clips']:>6} earlier clips: {b['uar']:.3f} vs {b['unadapted_uar']:.3f} ({b['delta']:+.3f}, "
                  f"{b['n']} clips)")
        if "orders" in ad:
            o = ad["orders"]
            print(f"over {o['n']} {ad['order']} orders (seeds {o['seeds'][0]}-{o['seeds'][-1]}): adapted UAR "
                  f"{o['uar_mean']:.3f} mean ({o['uar_min']:.3f}-{o['uar_max']:.3f}) vs unadapted {o['unadapted_uar']:.3f}")
            for b in o["by_earlier_clips"]:
                print(f"  {b['clips']:>6} earlier clips: {b['delta_mean']:+.3f} mean, {b['delta_min']:+.3f} worst order, "
                      f"{b['delta_max']:+.3f} best ({b['n_mean']:.0f} clips per order)")
    for reason, n in m["skipped_reasons"].items():
        print(f"skipped {n}: {reason}")
    if a.json:
        _atomic_write(a.json, json.dumps(m, indent=2) + "\n")
        print(f"metrics written to {a.json}")
    return 0


def _cmd_predict(a: argparse.Namespace) -> int:
    if a.engine == "ray":
        return _predict_ray(a)
    from . import results
    from .distributed import iter_audio_files
    from .predict import Predictor

    if a.resume or a.address or a.workers:
        raise SERError("--resume, --address and --workers are options of --engine ray")
    files = list(iter_audio_files(a.files))  # folders and quoted globs expanded; other paths as given
    pred = Predictor(a.model, threshold=a.threshold)
    rows, results_ok, errors = [], [], []
    profile_for = None
    if a.profile and a.adapt:
        raise SERError("give --profile (one enrolled speaker) or --adapt (one profile per folder), not both")
    if a.profile:
        from .adapt import SpeakerProfile

        enrolled = SpeakerProfile.load(a.profile)
        pred.new_profile()  # raises if the model cannot adapt
        enrolled.check(pred.prior)
        profile_for = lambda _src: enrolled  # noqa: E731  (updated as the files arrive, in order)
    elif a.adapt:
        per_folder: dict[str, object] = {}

        def profile_for(src: str):
            folder = str(Path(src).parent.resolve())
            if folder not in per_folder:
                per_folder[folder] = pred.new_profile(Path(folder).name)
            return per_folder[folder]
    for src, res in pred.predict_many(files, progress=len(files) > 3 and not a.json, profile_for=profile_for):
        rows.append(results.result_row(src, res, pred.labels, nested=bool(a.json)))
        if isinstance(res, SERError):
            errors.append(f"error: {src}: {results.error_text(res)}")
        else:
            results_ok.append(res)
    for line in errors:  # after the progress bar has closed, one line per bad file
        print(line, file=sys.stderr)
    failures = len(errors)
    if a.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in results_ok:
            flag = "  (uncertain)" if r.uncertain else ""
            adapted = f"  adapted to {r.profile_clips:g} earlier clip(s)" if r.adapted else ""
            print(f"{r.source}: {r.label} {100 * r.confidence:.1f}%{flag}  [{r.duration:.2f} s]{adapted}")
            for w in r.warnings:
                print(f"  warning: {w}")
            print("  " + "  ".join(f"{k} {100 * v:.1f}%" for k, v in sorted(r.probabilities.items(),
                                                                           key=lambda kv: -kv[1])))
            if r.timeline:
                print(f"  timeline ({len(r.timeline)} windows of {pred.features.window_s:g} s every "
                      f"{pred.features.hop_s:g} s):")
                for s in r.timeline:
                    print(f"    {s.start:8.2f}-{s.end:8.2f} s  {s.label:<10} {100 * s.confidence:5.1f}%")
    if a.csv:
        _atomic_write(a.csv, results.csv_text(rows, pred.labels))
        print(f"results written to {a.csv}", file=sys.stderr)
    if a.out:
        results.write_parquet(rows, a.out, pred.labels)
        print(f"results written to {a.out}", file=sys.stderr)
    if failures:
        if len(files) > 1:  # a single file's own error line says it all
            print(f"error: {failures} of {len(files)} file(s) could not be analysed", file=sys.stderr)
        return 2
    return 0


def _predict_ray(a: argparse.Namespace) -> int:
    """``ser predict --engine ray``: every file a Parquet row (see ser.distributed); exit 2 if any failed."""
    from .distributed import predict_to_parquet

    if not a.out:
        raise SERError("--engine ray writes its results to a Parquet file: give --out FILE.parquet")
    if a.json or a.csv or a.profile or a.adapt:
        raise SERError("--json, --csv, --profile and --adapt are options of the local engine (--engine local)")
    try:
        s = predict_to_parquet(a.files, a.out, model=a.model, threshold=a.threshold, address=a.address,
                               workers=a.workers, resume=a.resume)
    except KeyboardInterrupt:
        print(f"interrupted: the files finished so far are kept; run the same command with --resume to "
              f"score the rest into {a.out}", file=sys.stderr)
        return 130
    for f, reason in s.errors:
        print(f"error: {f}: {reason}", file=sys.stderr)
    if s.failed > len(s.errors):
        print(f"error: ... and {s.failed - len(s.errors)} more (the error column of {a.out} has each reason)",
              file=sys.stderr)
    kept = f", {s.kept} kept from before" if s.kept else ""
    print(f"{s.rows} rows written to {a.out}: {s.scored - s.failed} file(s) analysed, {s.failed} could not be"
          f"{kept}", file=sys.stderr)
    return 2 if s.failed else 0


def _cmd_enrol(a: argparse.Namespace) -> int:
    from .predict import Predictor

    pred = Predictor(a.model)
    profile = pred.new_profile(a.name)
    profile.enrolled = True  # deliberate calibration: the mood guard does not apply
    bad = 0
    for src in a.files:
        try:
            pred.predict_file(src, profile=profile)
        except SERError as exc:
            bad += 1
            print(f"error: {exc}", file=sys.stderr)
    if profile.n <= 0:
        raise SERError("no usable speech in the enrolment clips: nothing written")
    profile.save(a.out)
    print(f"profile written to {a.out}: {profile.clips} clip(s), {profile.seconds:.1f} s of speech"
          + (f" ({bad} file(s) skipped)" if bad else ""))
    return 0


def _cmd_export(a: argparse.Namespace) -> int:
    from .export import export_bundle

    bundles = a.bundles or [None]
    for b in bundles:
        if b is None:
            from .bundle import DEFAULT_MODEL_DIR

            b = DEFAULT_MODEL_DIR
        print(f"{export_bundle(b)} written")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .adapt import (
        DEFAULT_LAG,
        DEFAULT_MIN_CLIPS,
        DEFAULT_MIX_CLIPS,
        DEFAULT_MOOD,
        DEFAULT_MOOD_CLIPS,
        DEFAULT_TAU,
        DEFAULT_TRAIN_TAU,
    )
    from .corpus_facts import CORPUS_FACTS
    from .labels import LabelSpace

    p = argparse.ArgumentParser(prog="ser", description="Speech emotion recognition: data, training, prediction.")
    sub = p.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="download or summarise emotional-speech corpora")
    dsub = data.add_subparsers(dest="data_command", required=True)
    d = dsub.add_parser("download", help="download a corpus from its public home")
    d.add_argument("name", choices=[n for n, f in CORPUS_FACTS.items() if f.archive is not None],
                   help="which corpus (those with a public archive; the others are obtained by hand)")
    d.add_argument("--dest", required=True, help="folder to put the corpus in (DEST/NAME)")
    d.add_argument("--url", help="download from this URL instead (a mirror)")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.set_defaults(func=_cmd_data_download)
    ls = dsub.add_parser("list", help="summarise the corpora found in folders")
    ls.add_argument("dirs", nargs="+", help="corpus folders (RAVDESS/EMO-DB/... layouts, or any folder with a "
                    "manifest.csv)")
    ls.add_argument("--json", action="store_true", help="print the summary as JSON")
    ls.add_argument("--manifest", help="also write the manifest as CSV here")
    ls.set_defaults(func=_cmd_data_list)

    t = sub.add_parser("train", help="train a model bundle, speaker-independently")
    t.add_argument("--data", nargs="+", required=True, help="corpus folders (combined into one manifest)")
    t.add_argument("--model-type", default="linear", choices=["linear", "mlp", "bilstm", "cnn", "crnn", "tdnn"],
                   help="linear (default, the shipped model) or mlp on utterance functionals; "
                        "bilstm/tdnn on frame sequences; cnn/crnn on log-mel")
    t.add_argument("--out", required=True, help="bundle folder to write (replaced atomically)")
    t.add_argument("--epochs", type=int, help="epochs (a maximum when validating; default 200 for linear, else 60)")
    t.add_argument("--batch-size", type=int, help="default 256 for linear, else 32")
    t.add_argument("--patience", type=int, help="early-stopping patience in epochs (default 25 linear, else 12)")
    t.add_argument("--min-lr", type=float,
                   help="end a fit once its halving learning rate is below this (default 1e-6; 0: run every epoch)")
    t.add_argument("--l2", type=float, help="L2 weight penalty (default 0.02 for linear, else 1e-4)")
    t.add_argument("--prosody-weight", type=float, default=5.0,
                   help="linear/mlp: scale of the pitch and voicing functionals once standardised, so the L2 "
                        "penalty does not drown 48 of them among thousands of spectral ones (default 5; 1: none)")
    t.add_argument("--voice-weight", type=float, default=1.0,
                   help="linear/mlp: scale of the voice encoder's 256 means once standardised (default 1: none)")
    t.add_argument("--speech-weight", type=float, default=1.0,
                   help="linear/mlp: scale of the speech embedding's 1,536 functionals once standardised, in every "
                        "member (default 1: none; below 1 the model leans on them less)")
    t.add_argument("--whisper-weight", type=float, default=1.0,
                   help="linear/mlp: scale of the whisper block's means and spreads once standardised (default 1: "
                        "none; above 1 the model leans on them more)")
    t.add_argument("--channel-speech-weight", type=float, default=None,
                   help="the same for the channel member alone, which answers for noisy input (default: --speech-weight)")
    t.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    t.add_argument("--dropout", type=float, default=0.3, help="dropout rate of the hidden layers (default 0.3)")
    t.add_argument("--width", type=int, default=32, help="channels of the first conv block")
    t.add_argument("--folds", type=int, default=0,
                   help="K-fold cross-validation by speaker: report mean ± std UAR, fit the temperature on the "
                        "out-of-fold predictions, then train the shipped model on every speaker")
    t.add_argument("--ensemble", action="store_true", help="with --folds: ship the average of the fold models")
    t.add_argument("--test-speakers", help="comma-separated speaker ids held out for test (e.g. ravdess_17)")
    t.add_argument("--val-speakers", help="comma-separated speaker ids for validation")
    t.add_argument("--n-test", type=int, default=4, help="test speakers to draw when not given")
    t.add_argument("--n-val", type=int,
                   help="validation speakers to draw when not given, for early stopping (default 0 for linear: "
                        "no early stopping, those speakers train; else 2)")
    t.add_argument("--augment", type=int, default=4,
                   help="augmented copies per training clip, each copy of a speaker through its own recording "
                        "channel")
    t.add_argument("--augment-strength", type=float, default=1.0, help="scale of pitch/tempo/noise augmentation")
    t.add_argument("--original-weight", type=float, default=2.0,
                   help="weight of an original clip relative to an augmented copy (2 with --augment 4 keeps clean "
                        "speech at a third of the training weight)")
    t.add_argument("--studio-weight", type=float, default=0.8,
                   help="with augmented copies: a model trained on the original clips only gets up to this share "
                        "of the say while a gate judges the input studio-clean, the model trained on originals + "
                        "copies the rest; 0: the latter alone")
    t.add_argument("--studio-power", type=float, choices=(1.0, 2.0), default=2.0,
                   help="the studio model's share is the weight times the gate's probability to this power: 2 (default) "
                        "keeps it out while the gate is unsure, e.g. on MP3 at 32 kb/s (benchmarks/EXPERIMENTS.md, "
                        "session 12)")
    t.add_argument("--studio-l2", type=float, default=0.05,
                   help="weight penalty of the linear studio model; 0.05 gained on new speakers of the corpora heard "
                        "(benchmarks/EXPERIMENTS.md, session 13)")
    t.add_argument("--channel-l2", type=float, default=0.05,
                   help="weight penalty of the linear channel model (originals + augmented copies; the gates and the "
                        "narrowband model keep --l2); 0.05 gained on a corpus the model never heard "
                        "(benchmarks/EXPERIMENTS.md, session 14)")
    t.add_argument("--channel-hidden", type=_widths, default=(), metavar="W[,W...]",
                   help="linear models: the channel model an MLP with hidden layers of these widths (ReLU, --dropout "
                        "after each, L2 1e-4) instead of one softmax layer; default: linear (the shipped recipe)")
    t.add_argument("--channel-epochs", type=int, default=0,
                   help="with --channel-hidden: at most this many epochs for the channel MLP (default 0: --epochs)")
    t.add_argument("--babble-copies", type=int, default=0,
                   help="with augmented copies: copies of each training clip in the babble of 6 other training "
                        "speakers at 5-20 dB SNR, beside the random-channel copies (default 0: more babble "
                        "robustness, less on clean speech of new speakers; benchmarks/EXPERIMENTS.md, session 11)")
    t.add_argument("--mic-copies", type=int, default=2,
                   help="with augmented copies: copies of each training clip through a random microphone response "
                        "(low cut, shelves, a resonance; one microphone per speaker and copy), beside the random-channel "
                        "copies; they train the channel model and the studio gate (default 2, with --mic-chains and "
                        "--mic-clips: a coloured recording is no longer taken for studio speech; 1: session 26's recipe, "
                        "0: the recipe before it)")
    t.add_argument("--mic-chains", type=float, default=0.5, metavar="P",
                   help="probability (0-1) that a microphone copy's session also passes a random recording channel "
                        "after the microphone (room, noise or babble, AGC, codec; half of them a whole device), as a "
                        "laptop's own microphone colours what its room and codec deliver (default 0.5; 0: the "
                        "microphone alone, the recipe before session 28)")
    t.add_argument("--mic-clips", type=float, default=0.3, metavar="P",
                   help="probability (0-1) that a microphone copy's session is clipped, 1-35 %% of each clip's samples "
                        "at the rails, as a device whose input gain is set too high for a loud voice (default 0.3; 0: "
                        "never, the recipe before session 28)")
    t.add_argument("--voice-copies", type=int, default=2,
                   help="copies of each training clip as another voice: formants and F0 rescaled independently "
                        "(formants x0.87-1.15, F0 +-3 semitones; the WORLD vocoder, pyworld), one virtual speaker per "
                        "speaker and copy; they train like the original clips (default 2: held-out speakers in another "
                        "voice 0.52-0.61 -> 0.60-0.77, RAVDESS -> EMO-DB 0.45 -> 0.49; 0: the recipe before session 31)")
    t.add_argument("--no-narrowband", action="store_true",
                   help="no narrowband member (default with augmented copies: a model trained on telephone-band "
                        "copies answers for input a detector hears as a phone line or 8 kHz audio)")
    t.add_argument("--no-channels", action="store_true",
                   help="augmented copies without simulated recording channels (room, noise, babble, codec, AGC)")
    t.add_argument("--mic", action="store_true",
                   help="recording channels also pass a random microphone response (high-pass, shelves, a resonance); "
                        "off by default: it bought little on coloured input and cost clean speech and the laptop chain")
    t.add_argument("--device-chains", type=float, default=0.0, metavar="P",
                   help="probability (0-1) that an augmented copy's recording channel is a whole device: room, noise, "
                        "AGC and low-bitrate codec together, as a laptop or phone delivers them (default 0: each stage "
                        "on its own draw)")
    t.add_argument("--big-rooms", type=float, default=0.0, metavar="P",
                   help="probability (0-1) that a training channel's room is a large or bare one, reverberation "
                        "time 0.8-1.6 s (default 0: rooms of 0.15-0.8 s only)")
    t.add_argument("--mains", type=float, default=0.0, metavar="P",
                   help="probability (0-1) that a training channel carries mains hum (50 or 60 Hz and harmonics, "
                        "5-30 dB below the speech; default 0: 0.25 gained 0.04 on held-out speakers in hum and lost "
                        "0.014 across corpora, benchmarks/EXPERIMENTS.md, session 30)")
    t.add_argument("--no-narrow-bands", action="store_true",
                   help="the narrowband member's training lines are all phone lines (300-3400 Hz) or 8 kHz audio "
                        "(default: half of them narrower, upper edge 2.4-3.4 kHz and lower 150-500 Hz, so a cheap or "
                        "muffled line below a phone line's band is not misread)")
    t.add_argument("--babble-talkers", type=_talkers, default=(6, 6), metavar="N|LO-HI",
                   help="voices in a training channel's babble: N, or drawn from LO-HI (default 6; 1-2 voices are "
                        "a competing talker)")
    t.add_argument("--no-adapt", action="store_true",
                   help="no speaker-adaptation prior (linear/mlp only; default: trained for both modes)")
    for flag, default, text in (
        ("--adapt-tau", DEFAULT_TAU, "shrinkage of a speaker profile at inference, in clips (half weight after "
                                     "this many)"),
        ("--adapt-mood", DEFAULT_MOOD, "mood guard: how fast a profile whose clips all sound like one emotion "
                                       "loses weight (0: off)"),
        ("--adapt-mood-clips", DEFAULT_MOOD_CLIPS, "the mood guard fades after about this many clips of a session "
                                                   "(a mood seldom lasts that long, a new microphone or corpus does; "
                                                   "0: never fades)"),
        ("--adapt-mix-clips", DEFAULT_MIX_CLIPS, "the mood guard lifts as far as a profile's clips spread along the "
                                                 "emotions like a mix of emotions (not one mood), from this many "
                                                 "clips on (0: never lifts)"),
        ("--adapt-min-clips", DEFAULT_MIN_CLIPS, "a running speaker profile adapts only once it holds this many "
                                                 "clips (enrolment profiles at once; 0: from the first clip)"),
        ("--adapt-lag", DEFAULT_LAG, "a running speaker profile takes a clip in only once this many clips' worth of "
                                     "newer speech has followed it: the clips just before are the likeliest to share "
                                     "the present mood; it trades random order for blocked order, so it is off by "
                                     "default (enrolment profiles at once; 0: at once)"),
        ("--adapt-train-tau", DEFAULT_TRAIN_TAU, "shrinkage of each training speaker's statistics in the adapted "
                                                 "half of training"),
    ):
        t.add_argument(flag, type=float, default=default, help=f"{text} (default {default:g})")
    t.add_argument("--adapted-member", action="store_true",
                   help="add an adapted member (a linear model of speaker-normalised input only, answering with the "
                        "share a speaker profile has earned): better adapted figures on the training corpora's speakers, "
                        "worse on a corpus never heard (benchmarks/EXPERIMENTS.md, session 19), so not the default")
    t.add_argument("--adapt-orders", type=int, default=5,
                   help="the running protocol on held-out speakers (K-fold or test split) over this many seeded clip "
                        "orders per mode: metrics.json gives the first order's figures and, per number of earlier "
                        "clips, the mean and worst order's change (default 5)")
    t.add_argument("--labels", help="comma-separated emotions to keep (default: every one of the label space "
                                    "in the data)")
    t.add_argument("--label-space", choices=[s.value for s in LabelSpace], default=LabelSpace.CORE.value,
                   help="core (default): the seven emotions most corpora share (neutral, happy, sad, angry, "
                        "fearful, disgust, surprised), RAVDESS's calm counted as neutral, other emotions "
                        "(EMO-DB's boredom) left out; all: every emotion in the data")
    t.add_argument("--window", type=float, default=3.0, help="model window in seconds")
    t.add_argument("--voice-layout", choices=("cover", "sparse"), default="cover",
                   help="the voice encoder's 1.6 s partials per window: 'cover' every stretch (default), 'sparse' side "
                        "by side, at most 1 s unheard (about 40%% less encoder time; in this project's check 0.005 "
                        "lower channel UAR)")
    t.add_argument("--whisper", action="store_true",
                   help="add the whisper block: the states of a pre-trained speech recogniser's encoder (Whisper "
                        "via CTranslate2, about 20-30 ms per 3 s window on one core); its mean and spread enter each "
                        "window's inputs")
    t.add_argument("--whisper-model", choices=("base", "tiny.en"), default="base",
                   help="the whisper block's encoder: base (default, as the shipped model: multilingual, 6 layers of "
                        "512) or tiny.en (English only, 4 layers of 384; the shipped model before session 39)")
    t.add_argument("--whisper-layers", default="2,3", metavar="N[,M...]",
                   help="the mean of the outputs of the encoder's layers N, M ... from one pass run by ONNX Runtime "
                        "(default 2,3, as the shipped model: a recogniser's middle layers keep how something was "
                        "said), or one number N: the output of its first N layers by CTranslate2 (0: all layers)")
    t.add_argument("--whisper-compute", choices=("float32", "int8"), default="int8",
                   help="the whisper block's encoder arithmetic: int8 (default, as the shipped model; weights in 8 "
                        "bits, about 0.6-0.75 times float32's time, the same K-fold UAR within 0.002) or float32")
    t.add_argument("--stats-floor-db", type=float, default=None, metavar="DB",
                   help="functionals over the frames within DB dB of each window's loud frames only (default: all "
                        "frames): noise or other voices in the pauses and ends of a noisy clip are left out")
    t.add_argument("--centre-blocks", default="mel", metavar="BLOCKS",
                   help="comma-separated frame blocks whose mean over each window is removed before the functionals "
                        "(window mean normalisation: a microphone's or room's steady colouring cancels out of them); "
                        "'' for none (default: mel, the shipped recipe: benchmarks/EXPERIMENTS.md, session 38)")
    t.add_argument("--no-utterance-norm", action="store_true",
                   help="keep each clip's own feature means (default: normalised per utterance)")
    t.add_argument("--no-trim", action="store_true", help="keep leading/trailing silence")
    t.add_argument("--trim-noise", action=argparse.BooleanOptionalAction, default=True,
                   help="trim steady noise at a clip's ends too (a fan, hum, other talkers 20 dB below the speech, "
                        "which stay within the 30 dB below the peak that silence trimming keeps; default: on)")
    t.add_argument("--trim-noise-min-s", type=float, default=0.0, metavar="S",
                   help="with --trim-noise, trim an end as noise only where its steady stretch lasts at least S "
                        "seconds: a shorter one is the soft onset or decay of a clip already cut to its speech "
                        "(default: 0, any length; 0.3 was measured, not shipped: benchmarks/EXPERIMENTS.md, session 43)")
    t.add_argument("--trim-talker-db", type=float, default=15.0, metavar="DB",
                   help="trim a clip's ends where no frame comes within DB dB of its loud frames for more than 0.3 s: "
                        "another, quieter voice before or after the talker's speech (default: 15, the shipped recipe: "
                        "benchmarks/EXPERIMENTS.md, session 42; 0: off)")
    t.add_argument("--denoise", choices=("off", "spectral", "signal"), default="off",
                   help="suppress steady noise under the speech before analysis (ser.denoise): 'spectral' in the "
                        "spectrogram of the spectral blocks, 'signal' in the waveform every block hears (default: off)")
    t.add_argument("--seed", type=int, default=0, help="seed of the speaker split, augmentation and weights")
    t.add_argument("--cache-dir", help="feature cache folder (default ~/.cache/ser/features)")
    t.add_argument("--no-cache", action="store_true", help="extract every feature again (no cache read or written)")
    t.add_argument("--workers", type=int, help="feature-extraction processes (default: CPU count)")
    t.add_argument("--fit-threads", type=int, default=2,
                   help="members of a model fitted at once (default 2; the weights are the same for any number)")
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser("evaluate", help="evaluate a bundle on a corpus folder")
    e.add_argument("--model", required=True, help="bundle folder to evaluate")
    e.add_argument("--data", nargs="+", required=True, help="corpus folders (only unseen speakers are scored)")
    e.add_argument("--json", help="write the metrics as JSON here")
    e.add_argument("--include-seen-speakers", action="store_true",
                   help="also score speakers the model trained on (inflated; off by default)")
    e.add_argument("--adapt", choices=["running", "enrol"],
                   help="speaker adaptation protocol: running (each clip with statistics of the speaker's earlier "
                        "clips only) or enrol (statistics of the neutral/calm clips, which are not scored)")
    e.add_argument("--order", choices=["random", "blocked"], default="random",
                   help="with --adapt running: clip order per speaker (blocked = grouped by emotion, the "
                        "sustained-mood case)")
    e.add_argument("--seed", type=int, default=0, help="seed of the clip order")
    e.add_argument("--orders", type=int, default=1,
                   help="with --adapt running: repeat over this many seeded orders (seeds --seed, --seed + 1, ...) "
                        "and report, per number of earlier clips, the mean and the worst order's adapted - unadapted "
                        "UAR (one order's bins hold few clips)")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.set_defaults(func=_cmd_evaluate)

    pr = sub.add_parser("predict", help="predict the emotion of audio files")
    pr.add_argument("files", nargs="+", metavar="FILE_DIR_OR_GLOB",
                    help="audio files (wav, flac, ogg, mp3, webm, m4a); a folder stands for its audio files "
                         "(recursively), a quoted glob for its matches")
    pr.add_argument("--model", default=None, help="bundle folder (default models/default)")
    pr.add_argument("--json", action="store_true",
                    help="print one JSON row per file (failed files too, with their error; see ser/results.py)")
    pr.add_argument("--csv", help="write the same rows as CSV here (replaced atomically)")
    pr.add_argument("--threshold", type=float, help="confidence under which a result is 'uncertain'")
    pr.add_argument("--profile", help="speaker profile JSON from `ser enrol`: adapt every file to that speaker")
    pr.add_argument("--adapt", action="store_true",
                    help="adapt to the speaker as the files arrive: one running profile per folder (each file "
                         "predicted with the statistics of the earlier files of its folder)")
    pr.add_argument("--out", help="write the results table as Parquet here (replaced atomically; needs pyarrow)")
    pr.add_argument("--engine", choices=["local", "ray"], default="local",
                    help="local: this machine, files in order (default); ray: Ray Data workers, for archives "
                         "(needs --out and pip install 'ser[ray]')")
    pr.add_argument("--address", help="with --engine ray: an existing Ray cluster (auto, HOST:6379 or "
                                      "ray://HOST:10001); default: a local Ray started for the run")
    pr.add_argument("--workers", type=int, help="with --engine ray: scoring workers, one CPU each (default: every "
                                                "CPU of the local Ray or the cluster)")
    pr.add_argument("--resume", action="store_true",
                    help="with --engine ray: skip files already in --out (or finished by an interrupted run) and "
                         "keep their rows")
    pr.set_defaults(func=_cmd_predict)

    en = sub.add_parser("enrol", help="make a speaker profile from clips of one speaker (for predict --profile)")
    en.add_argument("files", nargs="+", help="clips of one speaker (free speech; 20 s or more is best)")
    en.add_argument("--out", required=True, help="profile JSON to write (replaced atomically)")
    en.add_argument("--model", default=None, help="bundle folder (default models/default)")
    en.add_argument("--name", default="", help="a name stored in the profile")
    en.set_defaults(func=_cmd_enrol)

    ex = sub.add_parser("export", help="add model.onnx (what prediction runs) to existing bundles")
    ex.add_argument("bundles", nargs="*", help="bundle folders (default models/default); nothing else in them changes")
    ex.set_defaults(func=_cmd_export)
    return p


class _Interrupted:
    """SIGINT/SIGTERM handler that remembers Ctrl-C (or a ``kill``): raised inside TensorFlow's C code (e.g.
    while a train step is traced) the KeyboardInterrupt can come out as another exception (SystemError,
    ValueError ...). Either way the command cleans up (temporary files, worker pools) and exits 128 + signal."""

    seen = False
    signum = int(signal.SIGINT)

    def __call__(self, signum, frame):
        self.seen = True
        self.signum = int(signum)
        train = sys.modules.get("ser.train")
        if train is not None and train.IN_FIT.is_set() and not train.INTERRUPT.is_set():
            train.INTERRUPT.set()  # stop at the next batch boundary, from Python (a 2nd Ctrl-C raises now)
            return
        raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import threading

    on_sigint = _Interrupted()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, on_sigint) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return int(args.func(args) or 0)
    except SERError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BaseException as exc:
        if not (isinstance(exc, KeyboardInterrupt) or (on_sigint.seen and isinstance(exc, Exception))):
            raise
        print("interrupted: nothing was written (an existing bundle is left as it was)", file=sys.stderr)
        return 128 + on_sigint.signum
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
