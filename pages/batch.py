"""Batch: many files in, one table of emotions out (with a CSV download)."""

import streamlit as st

from ser import results, ui, viz

ui.ensure_entrypoint()

st.title("Batch")
st.caption("Analyse many recordings at once. Files that cannot be read are listed with the reason; they never "
           "stop the batch.")

predictor = ui.current_predictor()
files = st.file_uploader("Audio files (wav, flac, ogg, mp3, webm or m4a)", type=ui.AUDIO_TYPES,
                         accept_multiple_files=True, key="batch_files")
one_speaker = ui.one_speaker_toggle(predictor)

if not files:
    st.session_state.pop("batch_result", None)
    st.info("Drop several audio files above to analyse them together.", icon=":material/touch_app:")
    st.stop()
if predictor is None:
    st.stop()

key = (tuple(f.file_id for f in files), ui.selected_bundle_dir(), one_speaker)
cached = st.session_state.get("batch_result")
if cached is None or cached[0] != key:
    st.session_state.pop("batch_result", None)
    bar = st.progress(0.0, text=f"Analysing {len(files)} files…")
    df = results.batch_rows(predictor, [(f.name, f.getvalue()) for f in files], one_speaker=one_speaker,
                            progress=lambda i, n, name: bar.progress(i / n, text=f"{i}/{n} · {name}"))
    bar.empty()
    st.session_state["batch_result"] = (key, df)
else:
    df = cached[1]

ok = df[df["error"] == ""]
bad = len(df) - len(ok)
c1, c2, c3 = st.columns(3)
c1.metric("Files", len(df))
c2.metric("Analysed", len(ok))
c3.metric("Could not be read", bad)

# "" instead of "None", the full file name pinned, emotion columns wide enough for their names; the
# speaker-adaptation columns only with "one speaker" (the CSV always has them)
table, columns = ui.batch_display(df, one_speaker=one_speaker)
st.dataframe(table, hide_index=True, column_config=columns)
st.caption("One row per file (full file name, pinned on the left): the predicted emotion, its confidence and the "
           "probability of every emotion. "
           "Files that could not be analysed say why in the error column; *warnings* flags narrowband, clipped "
           "or very noisy input (its confidences are lowered) and files cut short. The CSV has the columns of "
           "`ser predict --csv`."
           + (" One speaker: each file is adapted to the voice of the files above it (the first one is not); "
              "*general model* is the answer without the voice profile (`unadapted_label` in the CSV)."
              if one_speaker else ""))
st.download_button("Download the table (CSV)", results.frame_csv(df), file_name="emotions.csv", mime="text/csv",
                   on_click="ignore", icon=":material/download:")
if bad:
    failed = df[df["error"] != ""]
    lines = "\n".join(f"- **{r.file}**: {r.error}" for r in failed.head(5).itertuples())
    more = f"\n- … and {bad - 5} more" if bad > 5 else ""
    st.error(f"{bad} file{'s' if bad > 1 else ''} could not be analysed:\n{lines}{more}", icon=":material/error:")
if len(ok):
    left, _ = st.columns([3, 2])
    with left:
        n_unc = int(ok["uncertain"].astype(bool).sum())
        ui.chart(viz.label_counts(ok["label"].tolist(), title="Predicted emotions"),
                 caption=f"How many files got each emotion. {n_unc} of {len(ok)} results are uncertain (below the "
                         f"{predictor.threshold:.0%} confidence threshold).")
