"""Speech Emotion Studio: the Streamlit entry point (``streamlit run app.py``).

It sets the page config, the shared sidebar model selector (``st.session_state["bundle_dir"]``) and routes
between the pages with ``st.navigation``. The pages are thin: they call :mod:`ser.ui`, :mod:`ser.predict`
and :mod:`ser.viz`.
"""

# streamlit-webrtc's SRTP binding (pylibsrtp) segfaults when it is imported after TensorFlow: import it
# before anything can import keras/tensorflow (ser.bundle loads the model lazily, the Live page needs webrtc).
import contextlib

with contextlib.suppress(ImportError):
    import streamlit_webrtc  # noqa: F401

from pathlib import Path  # noqa: E402

import streamlit as st  # noqa: E402

from ser import ui  # noqa: E402

HERE = Path(__file__).resolve().parent
ASSETS = HERE / "assets"

st.set_page_config(
    page_title="Speech Emotion Studio",
    page_icon=":material/graphic_eq:",  # a Material icon: renders without an emoji font
    layout="wide",
    initial_sidebar_state="expanded",
    menu_items={"About": "Speech Emotion Studio: recognise the emotion portrayed in a speech clip."},
)

pages = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/analyze.py", title="Analyze a clip", icon=":material/graphic_eq:"),
]
if (HERE / "pages" / "live.py").exists():
    pages.append(st.Page("pages/live.py", title="Live microphone", icon=":material/mic:"))
pages += [
    st.Page("pages/explorer.py", title="Dataset explorer", icon=":material/library_music:"),
    st.Page("pages/report.py", title="Model report", icon=":material/insights:"),
    st.Page("pages/batch.py", title="Batch", icon=":material/playlist_play:"),
]

page = st.navigation(pages)
if (ASSETS / "logo.svg").exists():
    st.logo(str(ASSETS / "logo.svg"), icon_image=str(ASSETS / "logo-icon.svg"), size="large")
with st.sidebar:
    ui.model_selector()
page.run()
