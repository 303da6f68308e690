"""Dataset explorer: the corpora on disk (filters, balance, listening, emotion comparisons), or the
training-set summary stored in the model bundle when no corpus is on disk."""

from pathlib import Path

import numpy as np
import streamlit as st

from ser import corpora, ui, viz
from ser.errors import SERError

ui.ensure_entrypoint()

st.title("Dataset explorer")
st.caption("Explore the acted emotional-speech corpora the model learns from: who says what, how it sounds and "
           "how emotions differ in the signal.")

bundle = ui.current_bundle()
manifest = ui.corpus_manifest()


def training_summary() -> None:
    """The training-set summary stored in the bundle (eda.json): no audio needed."""
    eda = bundle.eda if bundle is not None else {}
    if not eda or not eda.get("n_clips"):
        st.caption("The loaded model bundle holds no training-set summary.")
        return
    dur = eda.get("durations", {})
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Clips", eda.get("n_clips", 0))
    c2.metric("Speakers", len(eda.get("speakers", [])))
    c3.metric("Corpora", ", ".join(eda.get("corpora", [])) or "n/a")
    c4.metric("Hours of audio", f"{dur['total_hours']:.2f}" if "total_hours" in dur else "n/a")
    left, right = st.columns(2)
    with left:
        if eda.get("class_counts"):
            ui.chart(viz.class_balance(eda["class_counts"], title="Clips per emotion"))
            st.caption("How many training clips portray each emotion, per corpus. Balanced classes keep the model "
                       "from favouring one emotion.")
    with right:
        if dur.get("hist"):
            ui.chart(viz.duration_histogram(hist=dur["hist"], title="Clip durations"))
            st.caption(f"Most clips last {dur.get('min', 0):.1f}–{dur.get('max', 0):.1f} s "
                       f"(mean {dur.get('mean', 0):.1f} s); the model window is {bundle.features.window_s:g} s.")
    if eda.get("per_emotion"):
        profiles(eda["per_emotion"], key="eda")


def profiles(per_emotion: dict, *, key: str) -> None:
    c1, c2 = st.columns([2, 3])
    feature = c1.radio("Feature", ["mel", "chroma", "mfcc"], horizontal=True, key=f"{key}_feature",
                       format_func={"mel": "Mel spectrum", "chroma": "Chroma", "mfcc": "MFCC"}.get)
    relative = c2.toggle("Show the difference from the average of all emotions", value=True, key=f"{key}_rel")
    ui.chart(viz.emotion_profiles(per_emotion, feature, relative=relative, title="Average per emotion"))
    st.caption("Each line averages every frame of every clip of one emotion. Look for arousal: high-arousal "
               "emotions (angry, fearful, happy) usually sit above low-arousal ones (sad, calm), most of all in "
               "the upper frequencies.")


if manifest is None:
    st.info("No corpus found on disk, so this page shows the summary of the model's training set stored in its "
            "bundle. " + ui.DOWNLOAD_HINT, icon=":material/folder_off:")
    st.subheader("Training set of the loaded model")
    training_summary()
    st.stop()

# -- corpus on disk ------------------------------------------------------------------------------
folders = corpora.source_folders(manifest)
ALL = "All corpora on disk (combined)"
choice = st.selectbox("Corpus folder", [ALL, *folders], key="explorer_folder")
data = manifest if choice == ALL else corpora.in_folder(manifest, folders[choice])

with st.expander("Filters", expanded=False, icon=":material/filter_list:"):
    cols = st.columns(5)
    for col, field in zip(cols, ["corpus", "emotion", "speaker", "gender", "intensity"], strict=True):
        values = sorted(data[field].dropna().unique())
        if field == "emotion":
            values = viz.order_emotions(values)
        picked = col.multiselect(field.capitalize(), values, key=f"explorer_{field}", placeholder="all")
        if picked:
            data = data[data[field].isin(picked)]

if data.empty:
    st.warning("No clip matches these filters.", icon=":material/filter_alt_off:")
    st.stop()

m1, m2, m3, m4 = st.columns(4)
m1.metric("Clips", len(data))
m2.metric("Speakers", data["speaker"].nunique())
m3.metric("Emotions", data["emotion"].nunique())
m4.metric("Minutes of audio", f"{data['duration'].sum() / 60:.1f}")

t_overview, t_listen, t_compare, t_avg, t_train = st.tabs(
    ["Overview", "Listen to a clip", "Compare emotions", "Per-emotion averages", "Model's training set"])

with t_overview:
    left, right = st.columns(2)
    with left:
        ui.chart(viz.class_balance(viz.class_counts(data), title="Clips per emotion"))
        st.caption("How many clips portray each emotion, stacked by corpus.")
    with right:
        ui.chart(viz.duration_histogram(data["duration"].to_numpy(), title="Clip durations"))
        st.caption("Acted corpora hold short single-sentence clips (a few seconds each).")

with t_listen:
    rows = {r["path"]: ui.clip_label(r) for _, r in data.head(2000).iterrows()}
    path = st.selectbox("Clip", list(rows), format_func=rows.get, key="explorer_clip")
    if path:
        row = data[data["path"] == path].iloc[0]
        st.markdown(f"**{ui.emotion_md(row['emotion'])}** · {row['corpus']} · "
                    f"speaker {row['speaker']} ({row['gender']}) · intensity {row['intensity']} · "
                    f"“{row['statement']}” · {row['duration']:.2f} s")
        st.audio(Path(path).read_bytes(), format=ui.mime_for(path))
        try:
            y = ui.load_clip(path)
            ui.show_clip_views(y, 16000, spectrum=True, key="explorer")
        except SERError as err:
            ui.show_error(err)

with t_compare:
    st.caption("The same speaker saying the same sentence with different emotions: differences come from the "
               "emotion, not from who speaks or what is said.")
    c1, c2, c3 = st.columns([2, 3, 2])
    # start with the speaker and sentence that show the most emotions
    richness = data.groupby(["speaker", "statement"])["emotion"].nunique()
    best_speaker, best_statement = richness.idxmax()
    speakers = sorted(data["speaker"].unique())
    speaker = c1.selectbox("Speaker", speakers, index=speakers.index(best_speaker), key="explorer_cmp_speaker")
    sub = data[data["speaker"] == speaker]
    statements = sorted(sub["statement"].unique())
    statement = c2.selectbox("Sentence", statements, key="explorer_cmp_statement",
                             index=statements.index(best_statement) if best_statement in statements else 0)
    kind = c3.radio("Show", ["mel", "waveform"], horizontal=True, key="explorer_cmp_kind",
                    format_func={"mel": "Mel spectrogram", "waveform": "Waveform"}.get)
    sub = sub[sub["statement"] == statement]
    # one clip per emotion: the normal/unspecified intensity first, then by file name
    sub = sub.assign(_rank=(~sub["intensity"].isin(["normal", "unspecified", "medium"])).astype(int))
    sub = sub.sort_values(["_rank", "path"]).drop_duplicates("emotion")
    picks = [(e, sub[sub["emotion"] == e].iloc[0]["path"]) for e in viz.order_emotions(sub["emotion"])]
    if len(picks) < 2:
        st.info("This speaker has only one emotion for this sentence under the current filters.", icon=":material/info:")
    clips = [(e, ui.load_clip(p)) for e, p in picks]
    ui.chart(viz.emotions_side_by_side(clips, 16000, kind=kind))
    grid = st.columns(4)
    for i, (e, p) in enumerate(picks):
        with grid[i % 4]:
            st.caption(ui.emotion_md(e))
            st.audio(Path(p).read_bytes(), format=ui.mime_for(p))

with t_avg:
    n_per = st.slider("Clips per emotion", 2, 20, 6, key="explorer_avg_n",
                      help="Clips are sampled at random (fixed seed) from the filtered set.")
    rng = np.random.default_rng(0)
    by_emotion = {}
    for emo, grp in data.groupby("emotion"):
        paths = sorted(grp["path"])
        idx = sorted(rng.choice(len(paths), size=min(n_per, len(paths)), replace=False))
        by_emotion[str(emo)] = tuple(paths[i] for i in idx)
    st.caption(f"Averages over {sum(len(v) for v in by_emotion.values())} clips of the filtered set.")
    if st.toggle("Compute the averages", key="explorer_avg_go",
                 help="Loads the sampled clips and averages their features (a few seconds)."):
        profiles(ui.emotion_averages(by_emotion), key="disk")

with t_train:
    training_summary()
