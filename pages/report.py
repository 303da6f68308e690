"""Model report: how the loaded model was trained and how it does on speakers it never heard."""

import pandas as pd
import streamlit as st

from ser import card, ui, viz
from ser.bundle import available_bundles

ui.ensure_entrypoint()

st.title("Model report")
st.caption("Training history and held-out results of the selected model. All test figures come from speakers the "
           "model never heard during training.")

bundles = available_bundles()
if len(bundles) > 1:
    with st.expander(f"Compare the {len(bundles)} models in models/", expanded=True, icon=":material/compare:"):
        st.dataframe(
            card.bundles_table(bundles, load=ui.get_bundle), hide_index=True,
            column_config={
                "UAR": st.column_config.NumberColumn(format="percent"),
                "accuracy": st.column_config.NumberColumn(format="percent"),
                "k-fold UAR": st.column_config.NumberColumn(format="percent"),
            },
        )
        st.caption("Pick the model the whole app uses in the sidebar.")

bundle = ui.current_bundle()
if bundle is None:
    st.stop()

info = card.headline(bundle)
test = bundle.metrics.get("test", {})
folds = bundle.metrics.get("folds") or {}
calib = bundle.metrics.get("calibration") or {}
if info["untrained"]:
    st.warning("This bundle holds an untrained test model: its figures are placeholders.", icon=":material/science:")

k = len(bundle.labels)
m1, m2, m3, m4 = st.columns(4)
m1.metric("UAR", f"{test['uar']:.1%}" if "uar" in test else "n/a",
          help=f"Unweighted average recall (mean of per-emotion recalls). Chance level {1 / k:.0%}.")
m2.metric("Accuracy", f"{test['accuracy']:.1%}" if "accuracy" in test else "n/a")
m3.metric("Test clips", test.get("n", "n/a"))
if folds.get("summary"):
    s = folds["summary"]
    m4.metric(f"{folds.get('k', '')}-fold UAR", f"{s['uar_mean']:.1%}", f"± {s['uar_std']:.1%}",
              delta_color="off", delta_arrow="off")
else:
    m4.metric("Emotions", k)
st.markdown(f"**{bundle.name}** · {bundle.config.model_type} · trained on {', '.join(bundle.config.corpora)} · "
            f"{info['protocol'] or 'no held-out protocol recorded'}")

names = ["Training", "Confusion matrix", "Per emotion", "Per speaker"]
if folds.get("per_fold"):
    names.append("Cross-validation")
if calib:
    names.append("Calibration")
adaptation = bundle.metrics.get("adaptation") or {}
if adaptation or bundle.metrics.get("per_corpus"):
    names.append("Speaker adaptation")
names.append("Model card")
tabs = dict(zip(names, st.tabs(names), strict=True))

with tabs["Training"]:
    fold_hist = [h for h in bundle.history.get("folds") or [] if isinstance(h, dict)]
    if bundle.history:
        which = "Shipped model"
        if fold_hist:
            which = st.radio("Curves of", ["Shipped model"] + [f"Fold {i + 1}" for i in range(len(fold_hist))],
                             horizontal=True, key="report_curves")
        fold_no = None if which == "Shipped model" else int(which.split()[-1]) - 1
        hist = bundle.history if fold_no is None else fold_hist[fold_no]
        per_fold = folds.get("per_fold") or []
        if fold_no is None:
            watched = not bundle.config.split.get("val")
        else:
            watched = fold_no < len(per_fold) and not per_fold[fold_no].get("val_speakers")
        studio = hist.get("studio_member")
        if isinstance(studio, dict) and studio.get("loss"):
            st.caption("This model blends members: one trained on the original clips only (the studio member) and "
                       "one on the originals and their augmented copies through simulated rooms, noise and codecs "
                       "(the channel member); a gate gives the studio member its say only on studio-clean input. "
                       "The curves are the channel member's; the other members' are below.")
        ui.chart(viz.training_curves(hist), key="curves_main")
        if isinstance(studio, dict) and studio.get("loss"):
            with st.expander("Studio member (original clips only)"):
                ui.chart(viz.training_curves(studio), key="curves_studio")
        narrow = hist.get("narrowband_member")
        if isinstance(narrow, dict) and narrow.get("loss"):
            with st.expander("Narrowband member (telephone-band copies)"):
                st.caption("Trained on the same clips and copies through a simulated phone line or 8 kHz link; a "
                           "detector gives it the say when the input has nothing above about 4 kHz.")
                ui.chart(viz.training_curves(narrow), key="curves_narrowband")
        if "val_loss" not in hist:
            st.caption("Loss and accuracy per epoch on the training speakers. No speakers were held back for "
                       "validation (each fit ran until its learning rate had decayed, at most the set number of "
                       "epochs), so there is no validation curve"
                       + (": pick a fold to see how the same recipe does on speakers it never heard." if fold_hist
                          else "."))
        elif watched:
            st.caption("Loss and accuracy per epoch on the training speakers and on the held-out test speakers. "
                       "The held-out curve is only watched (training runs until its learning rate has decayed), "
                       "never used to choose anything. A widening gap means the model starts memorising the "
                       "training speakers.")
        else:
            st.caption("Loss and accuracy per epoch on the training speakers and on the validation speakers (used "
                       "for early stopping). A widening gap means the model starts memorising the training "
                       "speakers.")
    else:
        st.info("This bundle holds no training history.")

with tabs["Confusion matrix"]:
    if test.get("confusion"):
        normalise = st.toggle("Row-normalised (share of each true emotion)", value=True, key="report_norm")
        ui.chart(viz.confusion_matrix(test["confusion"], test.get("labels", bundle.labels), normalise=normalise))
        st.caption("Rows are the true emotions, columns what the model predicted; the diagonal holds the correct "
                   "answers. Off-diagonal cells show which emotions get mixed up (e.g. fearful vs sad).")
    else:
        st.info("This bundle holds no confusion matrix.")


def figure_or_note(data, figure, caption: str, missing: str) -> None:
    """The tab's figure of ``data`` with its caption, or a note that the bundle holds none."""
    if data:
        ui.chart(figure(data))
        st.caption(caption)
    else:
        st.info(missing)


with tabs["Per emotion"]:
    figure_or_note(test.get("per_class"), viz.per_class_metrics,
                   "Precision: how often a predicted emotion is right. Recall: how many clips of an emotion are "
                   "found. F1 balances both.", "This bundle holds no per-emotion metrics.")

with tabs["Per speaker"]:
    figure_or_note(test.get("per_speaker"), viz.per_speaker_accuracy,
                   "Accuracy on each held-out speaker. A large spread means the model works better for some "
                   "voices than others.", "This bundle holds no per-speaker results.")

if "Cross-validation" in tabs:
    with tabs["Cross-validation"]:
        s = folds.get("summary", {})
        c1, c2, c3 = st.columns(3)
        c1.metric("Mean UAR", f"{s.get('uar_mean', 0):.1%}", f"± {s.get('uar_std', 0):.1%}", delta_color="off",
                  delta_arrow="off")
        if s.get("pooled_uar") is not None:
            c2.metric("Pooled UAR", f"{s['pooled_uar']:.1%}")
        if s.get("accuracy_mean") is not None:
            c3.metric("Mean accuracy", f"{s['accuracy_mean']:.1%}")
        ui.chart(viz.fold_scores(folds["per_fold"]))
        st.caption("Each fold trains on some speakers and tests on others it never heard; the spread across folds "
                   "shows how much the result depends on which speakers are held out.")

if "Calibration" in tabs:
    with tabs["Calibration"]:
        c1, c2, c3 = st.columns(3)
        if calib.get("temperature") is not None:
            c1.metric("Temperature", f"{calib['temperature']:.2f}")
        if calib.get("ece_before") is not None:
            c2.metric("ECE before", f"{calib['ece_before']:.3f}")
        if calib.get("ece_after") is not None:
            c3.metric("ECE after", f"{calib['ece_after']:.3f}")
        ui.chart(viz.calibration(calib))
        st.caption("Expected calibration error: the gap between the confidence shown and how often the model is "
                   f"right. Temperature scaling fitted on: {calib.get('fitted_on', 'validation speakers')}; "
                   f"measured on: {calib.get('measured_on', 'test speakers')}.")

if "Speaker adaptation" in tabs:
    with tabs["Speaker adaptation"]:
        per_corpus = bundle.metrics.get("per_corpus") or {}
        if per_corpus:
            st.markdown("**Unadapted, per corpus** (out-of-fold: speakers the fold model never heard)")
            st.dataframe(pd.DataFrame([{"corpus": c, "UAR": m["uar"], "accuracy": m["accuracy"], "clips": m["n"]}
                                        for c, m in per_corpus.items()]), hide_index=True)
        for order, a in adaptation.items():
            st.markdown(f"**Running adaptation, {order} order**: UAR {a['uar']:.1%} adapted vs "
                        f"{a['unadapted_uar']:.1%} unadapted")
            st.dataframe(pd.DataFrame([{"earlier clips of the speaker": b["clips"], "adapted UAR": b["uar"],
                                         "unadapted UAR": b["unadapted_uar"], "change": b["delta"], "clips": b["n"]}
                                        for b in a["by_earlier_clips"]]), hide_index=True)
            if "orders" in a:
                o = a["orders"]
                st.markdown(f"Over {o['n']} clip orders of the same speakers: adapted UAR {o['uar_mean']:.1%} on "
                            f"average ({o['uar_min']:.1%}-{o['uar_max']:.1%})")
                st.dataframe(pd.DataFrame([{"earlier clips of the speaker": b["clips"], "mean change": b["delta_mean"],
                                             "worst order": b["delta_min"], "best order": b["delta_max"]}
                                            for b in o["by_earlier_clips"]]), hide_index=True)
        if adaptation:
            st.caption("Each held-out speaker's clips are predicted one after another, each with statistics of the "
                       "speaker's earlier clips only; the first clip uses the training prior. Blocked order groups "
                       "a speaker's clips by emotion — a sustained mood — where running statistics could absorb "
                       "the mood; the table shows the change after each number of earlier clips. One order's "
                       "bins hold few clips, so the protocol also runs over several seeded orders: the mean says "
                       "whether adaptation helps after that many clips, the worst order what one session can see.")

with tabs["Model card"]:
    if bundle.card:
        st.markdown(bundle.card)
    else:
        st.info("This bundle has no model card.")
