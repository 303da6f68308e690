# Speech Emotion Studio: the Streamlit app on the shipped model, CPU only.
#   docker build -t ser-studio . && docker run --rm -p 8501:8501 ser-studio
# HTTPS (browsers give the microphone to other machines only over HTTPS): mount a certificate and set
#   -v $PWD/certs:/certs:ro -e STREAMLIT_SERVER_SSL_CERT_FILE=/certs/cert.pem -e STREAMLIT_SERVER_SSL_KEY_FILE=/certs/key.pem
# TURN for the live microphone behind NAT: -e SER_TURN_URL=turn:host:3478 -e SER_TURN_USERNAME=… -e SER_TURN_CREDENTIAL=…
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2

WORKDIR /app

# The pinned dependencies first: this layer survives code edits. Every one ships a manylinux wheel
# (libsndfile, FFmpeg for PyAV, soxr and SRTP come inside them), so no compiler or apt packages.
COPY requirements.txt ./
RUN pip install -r requirements.txt

# The package itself (its dependencies are already in), then the app, its settings and the model.
COPY pyproject.toml README.md ./
COPY ser/ ser/
RUN pip install --no-deps .
COPY app.py ./
COPY pages/ pages/
COPY assets/ assets/
COPY .streamlit/ .streamlit/
COPY models/ models/

RUN useradd --create-home --uid 10001 ser && chown -R ser /app
USER ser
# Build what the model builds on a machine's first prediction (the whisper encoder's ONNX graph, ~2.5 s) into the
# image, under the user that serves it, so a fresh container's first request does not wait for it.
RUN python -c "from ser import Predictor; Predictor('models/default').warm_up()"

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s CMD python -c "import os, ssl, urllib.request as u; \
s = 'https' if os.environ.get('STREAMLIT_SERVER_SSL_CERT_FILE') else 'http'; \
u.urlopen(s + '://127.0.0.1:8501/_stcore/health', timeout=4, context=ssl._create_unverified_context())" || exit 1
CMD ["streamlit", "run", "app.py", "--server.address=0.0.0.0", "--server.port=8501"]
