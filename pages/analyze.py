"""Analyze a clip: upload, record or pick a corpus example → emotion, confidence, views of the signal."""

from pathlib import Path

import streamlit as st

from ser import affect, ui, viz
from ser.errors import SERError

ui.ensure_entrypoint()

st.title("Analyze a clip")
st.caption("Give the model a few seconds of speech. It predicts the emotion the speaker portrays and shows "
           "what it listened to.")

predictor = ui.current_predictor()

# "Calibrate to my voice": the session's voice profile, or None (model cannot adapt, or the toggle is off)
profile = ui.voice_profile_section(predictor) if predictor is not None else None

METHODS = {"upload": ":material/upload_file: Upload a file", "record": ":material/mic: Record",
           "example": ":material/library_music: Example from a corpus"}
method = st.radio("Input", list(METHODS), format_func=METHODS.get, horizontal=True, key="analyze_method",
                  label_visibility="collapsed")

source = None  # (identity key, name, bytes, mime)
if method == "upload":
    f = st.file_uploader("Audio file (wav, flac, ogg, mp3, webm or m4a)", type=ui.AUDIO_TYPES, key="analyze_upload")
    if f is not None:
        source = (("upload", f.file_id), f.name, f.getvalue(), ui.mime_for(f.name, f.type or "audio/wav"))
elif method == "record":
    ui.secure_context_notice("Recording")
    rec = st.audio_input("Record a few seconds of speech, then press stop", key="analyze_record")
    if rec is not None:
        source = (("record", rec.file_id), "recording.wav", rec.getvalue(), "audio/wav")
else:
    manifest = ui.corpus_manifest()
    if manifest is None:  # this message replaces "choose an input": there is nothing to choose from
        st.info("No corpus found on disk. " + ui.DOWNLOAD_HINT, icon=":material/folder_off:")
    else:
        c1, c2, c3 = st.columns(3)
        corpus = c1.selectbox("Corpus", sorted(manifest["corpus"].unique()), key="analyze_corpus")
        sub = manifest[manifest["corpus"] == corpus]
        emotion = c2.selectbox("Emotion", viz.order_emotions(sub["emotion"].unique()), key="analyze_emotion")
        sub = sub[sub["emotion"] == emotion]
        speaker = c3.selectbox("Speaker", sorted(sub["speaker"].unique()), key="analyze_speaker")
        sub = sub[sub["speaker"] == speaker]
        rows = {r["path"]: ui.clip_label(r) for _, r in sub.iterrows()}
        path = st.selectbox("Clip", list(rows), format_func=rows.get, key="analyze_clip")
        if path:
            source = (("example", path), Path(path).name, Path(path).read_bytes(), ui.mime_for(path))
            st.caption(f"True label: **{emotion}** (from the file name).")

if source is None:
    st.session_state.pop("analysis", None)  # no input, no result: never show a stale prediction
    if not (method == "example" and manifest is None):
        st.info("Choose an input above to see the prediction.", icon=":material/touch_app:")
elif predictor is not None:
    key, name, data, mime = source
    if method == "example" and profile is not None:
        profile = None  # a corpus speaker is not you: neither adapt to nor learn from their voice
        st.caption("Corpus examples are other people's voices: analysed without your voice profile.")
    res = ui.analyse(predictor, key + (ui.selected_bundle_dir(),), name, data, profile=profile)
    if res.error:  # no player for a file that cannot be read (it would show an empty 0:00 player)
        ui.show_error(SERError(f"{name}: {res.error}"), "Try another file: a few seconds of speech works best.")
    else:
        pred = res.prediction
        st.audio(data, format=mime)
        ui.show_prediction(pred, threshold=predictor.threshold, earlier=res.earlier, name=name)
        st.download_button("Download the result (JSON)", ui.prediction_json(pred),
                           file_name=f"{Path(name).stem}_emotion.json", mime="application/json",
                           on_click="ignore", icon=":material/download:")
        if pred.timeline:
            st.subheader("Emotion over time")
            ui.chart(viz.emotion_timeline(res.y, res.sr, pred.timeline, labels=predictor.labels))
            st.caption(f"The clip is longer than the model's {predictor.features.window_s:g} s window, so it is "
                       f"analysed in overlapping windows every {predictor.features.hop_s:g} s. Top: runs of the "
                       "same most likely emotion (named where the name fits; hover for every run). Middle: the "
                       "waveform. Bottom: every emotion's probability over time.")
        st.subheader("Arousal and valence")
        c_affect, _ = st.columns([3, 2])
        with c_affect:
            trail = affect.affect_path(s.probabilities for s in pred.timeline) if pred.timeline else ()
            ui.show_affect(pred.probabilities, trail=trail, key="analyze_affect",
                           title="Derived from the class probabilities",
                           caption="The faint line follows the clip's windows in time." if pred.timeline else None)
        st.subheader("What the model hears")
        res.figures = ui.show_clip_views(res.y, res.sr, figures=res.figures, key="analyze")
