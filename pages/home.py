"""Home: what the app does, the loaded model in brief, and a way in."""

import streamlit as st

from ser import card, ui

ui.ensure_entrypoint()

st.title(":material/graphic_eq: Speech Emotion Studio")
st.markdown(
    "Recognise the **emotion portrayed in a speech clip** — angry, happy, sad, neutral and more — with a model "
    "trained on acted emotional-speech corpora and evaluated on speakers it never heard."
)

st.page_link("pages/analyze.py", label="Try it: analyze a clip", icon=":material/play_circle:")

cols = st.columns(5)
tiles = [
    ("pages/analyze.py", "Analyze", ":material/graphic_eq:", "Upload or record speech; see the emotion, "
     "the confidence and what the model hears."),
    ("pages/live.py", "Live", ":material/mic:", "Speak into the microphone and watch a steady emotion "
     "headline; the model adapts to your voice as you talk."),
    ("pages/batch.py", "Batch", ":material/playlist_play:", "Analyse many files at once and download a CSV."),
    ("pages/explorer.py", "Explorer", ":material/library_music:", "Listen to the corpora and compare how "
     "emotions look in spectrograms."),
    ("pages/report.py", "Report", ":material/insights:", "Training curves, confusion matrix and accuracy per "
     "emotion and per speaker."),
]
for col, (page, label, icon, text) in zip(cols, tiles, strict=True):
    with col.container(border=True, height="stretch"):
        st.page_link(page, label=label, icon=icon)
        st.caption(text)

st.subheader("The model")
bundle = ui.current_bundle()
if bundle is not None:
    info = card.headline(bundle)
    if info["untrained"]:
        st.warning("This bundle holds an untrained test model: its predictions are random.", icon=":material/science:")
    figures = card.model_figures(bundle)  # each figure once (the shipped model's "test" is its cross-validation)
    for col, m in zip(st.columns(len(figures)), figures, strict=True):
        col.metric(m["label"], m["value"], m["delta"], delta_color="off", delta_arrow="off", help=m["help"],
                   border=True)
    chips = " · ".join(ui.emotion_md(lab) for lab in info["labels"])
    st.markdown(f"**Emotions:** {chips}")
    facts = [
        f"**Model:** `{info['name']}` ({info['model_type']}), trained on {', '.join(info['corpora']) or 'n/a'} "
        f"— languages heard: {', '.join(info['languages']) or 'n/a'}.",
        f"**Evaluation:** {info['protocol'] or 'no held-out evaluation recorded'}.",
        f"**Input:** any speech recording; clips longer than {info['window_s']:g} s get a timeline of "
        f"emotions. Results under {info['threshold']:.0%} confidence are flagged as uncertain.",
    ]
    if bundle.config.label_map:
        folded = ", ".join(f"{a} counts as {b}" for a, b in bundle.config.label_map.items())
        facts.append(f"**Labels:** the emotions most speech corpora share ({folded}), so that a corpus or a voice "
                     "the model never heard is not pulled towards a label only one training corpus has.")
    if info.get("adapted_uar") is not None:
        facts.append("**Speaker adaptation:** judged against a few earlier clips of the same voice the model does "
                     "better (*Adapted UAR* above); Live, Analyze and Batch can adapt to a voice.")
    if info.get("licence"):
        facts.append(f"**Licence of the weights:** {info['licence']}.")
    st.markdown("\n".join(f"- {f}" for f in facts))
    if bundle.card:
        with st.expander("Read the full model card"):
            st.markdown(bundle.card)

st.divider()
st.caption(
    "Portrayed emotions by professional actors are not felt emotions: expect lower accuracy on spontaneous "
    "speech, noisy or phone audio, and other languages. Do not use the output to make decisions about people."
)
