"""Live microphone: the emotion in your voice, as a steady headline over raw per-window curves.

A thin page: the browser streams the microphone over WebRTC (streamlit-webrtc, SENDONLY) into an audio
*sink* whose callback (:class:`ser.live.FrameTap`) hands every frame to a :class:`ser.live.LiveAnalyzer`
kept in the session; the analyzer analyses the newest 2.5 s every 0.5 s on its own thread and keeps a
smoothed, held headline. The results are drawn by a fragment that reruns every ``REDRAW_S`` seconds
while the stream plays (``st.fragment(run_every=...)``): no blocking loop, no fresh element keys. All
the audio and model logic lives in ``ser/live.py`` (frames: ``ser/audio.py``, speech gate: ``ser/vad.py``
and ``ser/gate.py``), the figures in ``ser/viz.py``, the ICE servers in ``ser/rtc.py``.
"""

from __future__ import annotations

import streamlit as st

# streamlit_webrtc (pylibsrtp) must be imported before TensorFlow: the other order segfaults.
from streamlit_webrtc import AudioSinkTrack, WebRtcMode, webrtc_streamer

from ser import affect, live, rtc, ui, viz

WINDOW_S = 2.5  # seconds analysed per update
STEP_S = 0.5  # seconds between updates
GATE_DBFS = -55.0  # active level below which the input counts as quiet (the voice detector judges the rest)
SMOOTH_S = 2.5  # the headline averages the window probabilities over this many seconds (5 windows, by speech)
HOLD_S = 3.0  # ... and keeps its label at least this long
CONFIRM_S = 1.0  # ... switching only to a label that led this long
MARGIN = 0.05  # ... by at least this much probability (two near-equal emotions do not take turns)
REDRAW_S = 0.5  # seconds between redraws of the results (the fragment's run_every)
TIMELINE_S = 30.0  # seconds of history on the timeline
TRAIL_S = 10.0  # seconds of smoothed arousal/valence trail
NO_AUDIO_S = 2.0  # no frame for this long while playing: say so
IDLE_STOP_S = 30.0  # the analyzer's worker stops by itself after this long without audio (tab closed)

st.title("Live microphone")
st.markdown(
    f"""
Speak into your microphone and watch the model's estimate of the emotion in your voice. Every
{STEP_S:g} s the newest {WINDOW_S:g} s of audio are analysed (the curves on the timeline); the
headline averages the last {SMOOTH_S:g} s and keeps a label for at least {HOLD_S:g} s, so it follows
your voice without flickering. Press **START**: your browser will ask for permission to use the
microphone. Audio is streamed to this app's server over WebRTC, analysed in memory and never stored.
When nobody is speaking the page shows **quiet** instead of guessing. With **Adapt to my voice** on,
the model also learns what *your* voice sounds like as you speak and judges each moment against it.
"""
)
ui.secure_context_notice("The live microphone")

# Load the model before START (shared by all sessions), so the first seconds of audio are not spent on it.
predictor = ui.current_predictor()  # shows the error and returns None when the bundle is missing/broken
if predictor is None:
    st.stop()
live.warm_up(predictor, background=True)  # once per process: the first window should not pay for it

rtc_config, rtc_warning = rtc.rtc_configuration()
with st.expander("Connection and privacy"):
    st.markdown(
        f"""
- The microphone is only used while the stream runs (**START** … **STOP**); nothing is recorded to disk.
- Results come from an acted-speech model (see the model card): treat them as an estimate, not a fact.
- Browsers only give the microphone to a secure page: `https://…`, or `http://localhost` on the server itself.
- Network: by default no STUN/TURN servers are used (`{{"iceServers": []}}`), which works when the
  browser reaches this server directly (same machine or LAN). Behind NAT or a firewall set a TURN server
  before starting the app: `{rtc.TURN_URL_ENV}=turn:turn.example.org:3478`, `{rtc.TURN_USERNAME_ENV}`,
  `{rtc.TURN_CREDENTIAL_ENV}`; or a JSON list of ICE servers in `{rtc.ICE_SERVERS_ENV}`, e.g.
  `{rtc.ICE_SERVERS_ENV}='[{{"urls": ["stun:stun.l.google.com:19302"]}}]'`.
- Configured ICE servers: `{len(rtc_config["iceServers"])}`.
"""
    )
if rtc_warning:
    st.warning(rtc_warning)

# One frame tap per browser session. The audio sink calls it for every received frame (on the WebRTC
# thread); the tap feeds whichever analyzer this page attached. A stream keeps the sink it started with,
# so a fresh (cheap) sink per run is fine and never collides with the track of a stream still ending.
tap = st.session_state.setdefault("live_tap", live.FrameTap())
ctx = webrtc_streamer(
    key="live",
    mode=WebRtcMode.SENDONLY,
    sink_audio_track=AudioSinkTrack(tap),
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


def get_analyzer() -> live.LiveAnalyzer:
    """This session's analyzer: a fresh one for each new stream (START after STOP) or model choice; it
    learns into the session's live voice profile, which outlives the streams."""
    analyzer = st.session_state.get("live_analyzer")
    new_stream = st.session_state.pop("live_new_stream", False)
    if analyzer is None or new_stream or analyzer.predictor is not predictor:
        if analyzer is not None:
            analyzer.stop()
        analyzer = ui.live_analyzer(predictor, window_s=WINDOW_S, step_s=STEP_S, gate_dbfs=GATE_DBFS,
                                    smooth_s=SMOOTH_S, hold_s=HOLD_S, confirm_s=CONFIRM_S, margin=MARGIN,
                                    idle_stop_s=IDLE_STOP_S)
        st.session_state["live_analyzer"] = analyzer
    analyzer.adapt = adapt_on  # the toggle reruns the page: the same analyzer goes on with the new setting
    return analyzer


def results(analyzer: live.LiveAnalyzer, *, playing: bool) -> None:
    """The results panel: headline, both top labels, level, bars + arousal/valence, timeline, footer."""
    if playing:  # keep the tap and the worker up (the worker ends itself after IDLE_STOP_S without audio)
        tap.attach(analyzer)
        analyzer.start()
    st.caption(ui.live_adaptation_text(adaptive, analyzer.adapt, analyzer.profile_seconds,
                                       after_s=analyzer.predictor.adapt_after_s))
    r = analyzer.latest()
    h = analyzer.headline()
    s = analyzer.stats()
    quiet_for = analyzer.seconds_since_audio()
    if playing and quiet_for > NO_AUDIO_S and s.audio_s > 0:
        st.warning(f"No audio received for {quiet_for:.0f} s: is the microphone muted, or the connection "
                   "blocked? (see *Connection and privacy*)", icon=":material/mic_off:")
    if r is None or h is None:
        if s.errors:  # every window so far failed: say why instead of "listening" forever
            st.error(f"The model could not analyse the audio ({s.errors} tries); last error: {s.last_error}")
        elif playing and s.audio_s == 0:
            st.info("Connecting… waiting for the microphone's audio.", icon=":material/settings_input_antenna:")
        else:
            st.info(f"Listening… the first result comes after {analyzer.min_s:g} s of audio.", icon=":material/hearing:")
        st.caption(f"Audio received: {s.audio_s:.1f} s")
    else:
        st.markdown(ui.live_headline_text(h))
        detail = (r.gate.reason if h.quiet and r.quiet else
                  f"averaged over the last {analyzer.smooth_s:g} s · shown for {h.held_s:.0f} s")
        if h.candidate and not h.quiet:
            detail += f" · {h.candidate} is rising"
        st.caption(detail)
        comparison = ui.live_comparison_text(r)
        if comparison:
            st.caption(comparison)
        st.caption(f"Update #{r.index} at {r.timestamp} · stream time {r.t:.1f} s")
    lvl = analyzer.current_level()
    st.progress(min(1.0, max(0.0, (lvl + 80.0) / 80.0)),
                text=f"Input level {lvl:.0f} dBFS (speech needs about {analyzer.gate_dbfs:.0f} dBFS or more)")
    col_bars, col_affect = st.columns([3, 2])
    with col_bars:
        ui.chart(viz.live_probability_bars(h, analyzer.labels), key="live_bars")
        st.caption(f"Probabilities averaged over the last {analyzer.smooth_s:g} s, each window weighted by the "
                   "speech it holds (the headline's evidence).")
    with col_affect:
        trail = affect.affect_path(p for _, p in analyzer.smoothed_history(TRAIL_S))
        ui.show_affect(h.probabilities if h is not None and not h.quiet else None, trail=trail, key="live_affect",
                       caption=f"The faint line: the last {TRAIL_S:g} s.")
    ui.chart(viz.live_timeline(analyzer.history(TIMELINE_S), analyzer.labels, TIMELINE_S), key="live_timeline")
    st.caption(f"Raw per-window probabilities (every {analyzer.step_s:g} s) over the last {TIMELINE_S:g} s; grey "
               "squares: quiet.")
    if s.predictions:
        st.caption(
            f"{s.predictions} predictions, {s.quiet} quiet · {h.changes if h else 0} headline changes · model "
            f"{s.mean_latency_s * 1000:.0f} ms per window · real-time factor {s.rtf:.2f} · added latency "
            f"{s.mean_added_latency_s * 1000:.0f} ms"
            + (f" · {s.errors} errors (last: {s.last_error})" if s.errors else "")
        )


if ctx.state.playing:
    analyzer = get_analyzer()
    tap.attach(analyzer)
    analyzer.start()
    st.fragment(results, run_every=REDRAW_S)(analyzer, playing=True)
else:
    st.session_state["live_new_stream"] = True
    tap.attach(None)
    previous = st.session_state.get("live_analyzer")
    if previous is not None and previous.latest() is not None:
        previous.stop()
        previous.adapt = adapt_on
        st.caption("Stream stopped: these are its last results. Press **START** to listen again.")
        results(previous, playing=False)
    else:
        if ctx.state.signalling:
            st.info("Connecting…", icon=":material/settings_input_antenna:")
        else:
            st.info("Press **START** and allow microphone access to begin.", icon=":material/touch_app:")
        session_profile = ui.voice_profile(predictor, key=ui.LIVE_PROFILE_KEY)
        st.caption(ui.live_adaptation_text(adaptive, adapt_on, session_profile.seconds if session_profile else 0.0,
                                           after_s=predictor.adapt_after_s))
