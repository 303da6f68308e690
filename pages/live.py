"""Live microphone: the emotion in your voice, updated twice a second.

A thin page: the browser streams the microphone over WebRTC (streamlit-webrtc, SENDONLY); this script
pulls the received audio frames, hands them to a :class:`ser.live.LiveAnalyzer` kept in the session
(which analyses the newest 2.5 s every 0.5 s on its own thread) and redraws the result. All the audio
and model logic lives in ``ser/live.py``.
"""

from __future__ import annotations

import queue
import time

import streamlit as st

# streamlit_webrtc (pylibsrtp) must be imported before TensorFlow: the other order segfaults.
from streamlit_webrtc import WebRtcMode, webrtc_streamer

from ser import live, ui
from ser.viz import EMOTION_EMOJI

WINDOW_S = 2.5  # seconds analysed per update
STEP_S = 0.5  # seconds between updates
GATE_DBFS = -45.0  # active level below which the input counts as quiet
REDRAW_S = 0.5  # seconds between redraws of the results
TIMELINE_S = 30.0  # seconds of history on the timeline
RECEIVER_SIZE = 512  # WebRTC frames (20 ms each, ~10 s) the receiver queues between our pulls
FRAME_TIMEOUT_S = 1.0  # how long one pull waits for audio before the page says it is waiting

st.title("Live microphone")
st.markdown(
    f"""
Speak into your microphone and watch the model's estimate of the emotion in your voice, updated
every {STEP_S:g} s from the last {WINDOW_S:g} s of audio. Press **START**: your browser will ask for
permission to use the microphone. Audio is streamed to this app's server over WebRTC, analysed in
memory and never stored. When nobody is speaking the page shows **quiet** instead of guessing.
With **Adapt to my voice** on, the model also learns what *your* voice sounds like as you speak and
judges each moment against it.
"""
)

# Load the model before START (shared by all sessions), so the first seconds of audio are not spent on it.
predictor = ui.current_predictor()  # shows the error and returns None when the bundle is missing/broken
if predictor is None:
    st.stop()
live.warm_up(predictor, background=True)  # once per process: the first window should not pay for it

rtc_config, rtc_warning = live.rtc_configuration()
with st.expander("Connection and privacy"):
    st.markdown(
        f"""
- The microphone is only used while the stream runs (**START** … **STOP**); nothing is recorded to disk.
- Results come from an acted-speech model (see the model card): treat them as an estimate, not a fact.
- Network: by default no STUN/TURN servers are used (`{{"iceServers": []}}`), which works when the
  browser reaches this server directly (same machine or LAN). Behind NAT or a firewall set the
  environment variable `{live.ICE_SERVERS_ENV}` before starting the app to a JSON list of ICE servers, e.g.
  `{live.ICE_SERVERS_ENV}='[{{"urls": ["stun:stun.l.google.com:19302"]}}, {{"urls": "turn:turn.example.org:3478", "username": "user", "credential": "secret"}}]'`.
- Configured ICE servers: `{len(rtc_config["iceServers"])}`.
"""
    )
if rtc_warning:
    st.warning(rtc_warning)

ctx = webrtc_streamer(
    key="live",
    mode=WebRtcMode.SENDONLY,
    audio_receiver_size=RECEIVER_SIZE,
    media_stream_constraints={"audio": True, "video": False},
    rtc_configuration=rtc_config,
)

adaptive = ui.can_adapt(predictor)
c_adapt, c_reset, _ = st.columns([1, 1, 2], vertical_alignment="center")
adapt_on = c_adapt.toggle("Adapt to my voice", value=adaptive, key="live_adapt", disabled=not adaptive,
                          help="On: judge your voice against your own normal voice (learnt as you speak). "
                               "Off: the general model answers; the profile keeps listening.") and adaptive
c_reset.button("Reset voice profile", key="live_reset", on_click=ui.reset_voice_profile, args=(ui.LIVE_PROFILE_KEY,),
               disabled=not adaptive, icon=":material/restart_alt:", help="Forget the voice heard so far "
               "(another person takes the microphone).")
adapt_line = st.empty()
session_profile = ui.voice_profile(predictor, key=ui.LIVE_PROFILE_KEY)
adapt_line.caption(ui.live_adaptation_text(adaptive, adapt_on, session_profile.seconds if session_profile else 0.0))

status = st.empty()
compare = st.empty()
counter = st.empty()
level = st.empty()
col_bars, col_timeline = st.columns([2, 3])
with col_bars:
    bars = st.empty()
with col_timeline:
    timeline = st.empty()
footer = st.empty()


def draw(analyzer: live.LiveAnalyzer, n: int) -> None:
    """Redraw every placeholder from the analyzer's newest result (``n`` makes element keys unique)."""
    r = analyzer.latest()
    lvl = analyzer.current_level()
    adapt_line.caption(ui.live_adaptation_text(adaptive, analyzer.adapt, analyzer.profile_seconds))
    level.progress(
        min(1.0, max(0.0, (lvl + 80.0) / 80.0)),
        text=f"Input level {lvl:.0f} dBFS (speech needs about {analyzer.gate_dbfs:.0f} dBFS or more)",
    )
    if r is None:
        s0 = analyzer.stats()
        if s0.errors:  # every window so far failed: say why instead of "listening" forever
            status.error(f"The model could not analyse the audio ({s0.errors} tries); last error: {s0.last_error}")
        else:
            status.info(f"Listening… the first result comes after {analyzer.min_s:g} s of audio.")
        counter.caption(f"Audio received: {s0.audio_s:.1f} s")
    else:
        if r.quiet:
            status.markdown(f"### 🔇 Quiet — no speech\n{r.gate.reason}")
        else:
            hedge = " (uncertain)" if r.uncertain else ""
            face = EMOTION_EMOJI.get(r.label, "")
            status.markdown(f"### {face} Emotion: **{r.label}** — {r.confidence:.0%}{hedge}")
        comparison = ui.live_comparison_text(r)
        if comparison:
            compare.caption(comparison)
        else:
            compare.empty()
        counter.caption(f"Update #{r.index} at {r.timestamp} · stream time {r.t:.1f} s")
    bars.plotly_chart(live.probability_figure(r, analyzer.labels), key=f"live_bars_{n}")
    timeline.plotly_chart(
        live.timeline_figure(analyzer.history(TIMELINE_S), analyzer.labels, TIMELINE_S),
        key=f"live_timeline_{n}",
    )
    s = analyzer.stats()
    if s.predictions:
        footer.caption(
            f"{s.predictions} predictions, {s.quiet} quiet · model {s.mean_latency_s * 1000:.0f} ms per window · "
            f"real-time factor {s.rtf:.2f} · added latency {s.mean_added_latency_s * 1000:.0f} ms"
            + (f" · {s.errors} errors (last: {s.last_error})" if s.errors else "")
        )


def get_analyzer() -> live.LiveAnalyzer:
    """This session's analyzer: a fresh one for each new stream (START after STOP) or model choice; it
    learns into the session's live voice profile, which outlives the streams."""
    analyzer = st.session_state.get("live_analyzer")
    new_stream = st.session_state.pop("live_new_stream", False)
    if analyzer is None or new_stream or analyzer.predictor is not predictor:
        if analyzer is not None:
            analyzer.stop()
        analyzer = ui.live_analyzer(predictor, window_s=WINDOW_S, step_s=STEP_S, gate_dbfs=GATE_DBFS)
        st.session_state["live_analyzer"] = analyzer
    analyzer.adapt = adapt_on  # the toggle reruns the page: the same analyzer goes on with the new setting
    return analyzer


if ctx.state.playing:
    analyzer = get_analyzer()
    analyzer.start()
    run = ui.claim_live_run()  # a control used while streaming starts a newer run that takes over
    draws = 0
    last_draw = 0.0
    last_audio = time.monotonic()
    try:
        while ctx.state.playing:
            receiver = ctx.audio_receiver
            if receiver is None:  # the connection is being set up or torn down
                status.info("Connecting…")  # (every st call also lets Streamlit stop this run)
                time.sleep(0.1)
                continue
            try:
                frames = receiver.get_frames(timeout=FRAME_TIMEOUT_S)
            except queue.Empty:  # no frame within the timeout: say so, keep waiting
                status.warning(
                    f"No audio received for {time.monotonic() - last_audio:.0f} s: is the microphone "
                    "muted, or the connection blocked? (see *Connection and privacy*)"
                )
                continue
            last_audio = time.monotonic()
            for frame in frames:
                analyzer.push(frame)
            if not analyzer.running:  # an older run of the page stopped it on its way out
                analyzer.start()
            now = time.monotonic()
            if now - last_draw >= REDRAW_S:
                draws += 1
                draw(analyzer, draws)
                last_draw = now
    finally:
        # A rerun or the end of the session interrupts the loop: never leave the worker running, unless
        # a newer run of this page (a control was used mid-stream) already goes on with it.
        if ui.owns_live_run(run):
            analyzer.stop()
else:
    st.session_state["live_new_stream"] = True
    previous = st.session_state.get("live_analyzer")
    if previous is not None and previous.latest() is not None:
        previous.stop()
        previous.adapt = adapt_on
        draw(previous, 0)
        st.caption("Stream stopped: these are its last results. Press **START** to listen again.")
    elif ctx.state.signalling:
        status.info("Connecting…")
    else:
        status.info("Press **START** and allow microphone access to begin.")
