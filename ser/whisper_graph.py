"""Whisper's encoder as an ONNX graph built from a CTranslate2 ``model.bin``, for ONNX Runtime.

CTranslate2 gives only the output of an encoder's last layer; to hear several middle layers at once (the ``whisper``
block's ``whisper_layers = (2, 3)``: the mean of the outputs of layers 2 and 3, each through the encoder's final
layer norm) this module writes the same network as an ONNX graph whose outputs are the chosen layers, so one pass
gives all of them. The arithmetic is Whisper's: two convolutions (the second halves the frame rate) with exact GELU,
sinusoidal positions, pre-norm layers of multi-head self-attention and a GELU MLP, layer norms with epsilon 1e-5.
In float32 it gives CTranslate2's float32 states to 1e-6 (tests); ``int8`` quantises the matrix products' weights
per output channel with ONNX Runtime's dynamic quantisation (activations quantised per call), as fast on this CPU
as CTranslate2's int8 (``benchmarks/EXPERIMENTS.md``, session 40).

Shapes: input ``mel [shape=(1, 80, m)]`` float32 (Whisper's log-mel, :func:`ser.whisper.log_mel`), output
``states [shape=(1, ceil(m / 2), dim)]`` float32, one state per 20 ms.
"""

from __future__ import annotations

import dataclasses
import logging
import struct
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import SERError

#: CTranslate2's data type codes (``ctranslate2::DataType``) → numpy.
_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
#: Version of the graphs this module writes (part of a kept graph's file name, :func:`ser.whisper._graph`).
VERSION = 1
#: ONNX opset of the graph (``Gelu`` and ``LayerNormalization`` are standard operators from 20 and 17).
OPSET = 20


class GraphError(SERError):
    """A ``model.bin`` that this module cannot read as a Whisper encoder."""


@dataclasses.dataclass(frozen=True)
class Variable:
    """One named array of a ``model.bin``: its record is ``bytes[start:end]``, its data ``bytes[data:end]``."""

    name: str
    start: int
    data: int
    end: int
    dims: tuple[int, ...]
    dtype: type


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where the parts of a CTranslate2 ``model.bin`` (binary version 6, ``ModelSpec._serialize``) lie: the header
    up to ``count`` (where the number of variables sits), the variables, then the aliases from ``tail`` on."""

    count: int
    variables: tuple[Variable, ...]
    tail: int


def layout(model_bin: bytes) -> Layout:
    """The :class:`Layout` of a CTranslate2 Whisper ``model.bin`` (a clear :class:`GraphError` for anything else)."""
    b, o = memoryview(model_bin), 0

    def take(fmt: str) -> int:
        nonlocal o
        (v,) = struct.unpack_from(fmt, b, o)
        o += struct.calcsize(fmt)
        return v

    def text() -> str:
        nonlocal o
        n = take("H")
        start, o = o, o + n
        return bytes(b[start:o]).rstrip(b"\0").decode()

    try:
        version = take("I")
        if version != 6:
            raise GraphError(f"model.bin format {version}, not 6")
        name = text()
        if name != "WhisperSpec":
            raise GraphError(f"{name!r} is not a CTranslate2 Whisper model")
        take("I")  # revision
        count = o
        found = []
        for _ in range(take("I")):
            start = o
            name = text()
            rank = take("B")
            dims = struct.unpack_from(f"{rank}I", b, o)
            o += 4 * rank
            dtype = _DTYPES[take("B")]
            size = take("I")
            found.append(Variable(name, start, o, o + size, tuple(dims), dtype))
            o += size
    except (struct.error, KeyError, UnicodeDecodeError) as e:
        raise GraphError(f"not a CTranslate2 Whisper model.bin: {e}") from e
    if o > len(b):
        raise GraphError("not a CTranslate2 Whisper model.bin: it ends inside a variable")
    return Layout(count, tuple(found), o)


def encoder_variables(model_bin: bytes) -> dict[str, np.ndarray]:
    """The ``encoder/…`` variables of a CTranslate2 Whisper ``model.bin``, by name, as read-only views of its bytes
    (float16 weights stay float16)."""
    b = memoryview(model_bin)
    return {v.name: np.frombuffer(b[v.data : v.end], dtype=v.dtype).reshape(v.dims)
            for v in layout(model_bin).variables if v.name.startswith("encoder/")}


def build(variables: dict[str, np.ndarray], layers: Sequence[int]):
    """An ONNX ``ModelProto`` of the encoder whose outputs ``layer_K`` (K in ``layers``, 1-based) are the outputs of
    its first K layers through the final layer norm, ``[shape=(1, ceil(m / 2), dim)]`` float32 each, for input
    ``mel [shape=(1, 80, m)]``. Only the layers up to ``max(layers)`` are in the graph."""
    from onnx import TensorProto, helper, numpy_helper

    nodes: list = []
    inits: list = []

    def init(name: str, arr: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def node(op: str, inputs: list[str], out: str | None = None, **attrs) -> str:
        out = out or f"n{len(nodes)}"
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def f32(key: str) -> np.ndarray:
        try:
            return variables["encoder/" + key].astype(np.float32)
        except KeyError:
            raise GraphError(f"the whisper model.bin has no variable encoder/{key}") from None

    def norm(x: str, key: str, tag: str) -> str:
        return node("LayerNormalization", [x, init(tag + ".g", f32(key + "/gamma")), init(tag + ".b", f32(key + "/beta"))],
                    axis=-1, epsilon=1e-5)

    def linear(x: str, key: str, tag: str) -> str:
        y = node("MatMul", [x, init(tag + ".w", f32(key + "/weight").T)])
        return node("Add", [y, init(tag + ".b", f32(key + "/bias"))])

    d = f32("conv1/bias").shape[0]
    heads = int(variables["encoder/num_heads"]) if "encoder/num_heads" in variables else d // 64
    dh = d // heads
    x = node("Gelu", [node("Conv", ["mel", init("conv1.w", f32("conv1/weight")), init("conv1.b", f32("conv1/bias"))],
                           pads=[1, 1])])
    x = node("Gelu", [node("Conv", [x, init("conv2.w", f32("conv2/weight")), init("conv2.b", f32("conv2/bias"))],
                           pads=[1, 1], strides=[2])])
    x = node("Transpose", [x], perm=[0, 2, 1])  # (1, t, d)
    t = node("Slice", [node("Shape", [x]), init("one", np.array([1])), init("two", np.array([2]))])
    x = node("Add", [x, node("Slice", [init("positions", f32("position_encodings/encodings")),
                                       init("zero", np.array([0])), t])])
    outputs = []
    for i in range(max(layers)):
        key, tag = f"layer_{i}/", f"layer{i}"
        h = linear(norm(x, key + "self_attention/layer_norm", tag + ".ln1"), key + "self_attention/linear_0", tag + ".qkv")
        h = node("Transpose", [node("Reshape", [h, init(tag + ".split", np.array([0, -1, 3, heads, dh]))])],
                 perm=[2, 0, 3, 1, 4])  # (3, 1, heads, t, dh)
        q, k, v = (node("Squeeze", [node("Slice", [h, init(f"{tag}.from{j}", np.array([j])),
                                                   init(f"{tag}.to{j}", np.array([j + 1])), "zero"]), "zero"])
                   for j in range(3))
        scores = node("Mul", [node("MatMul", [q, node("Transpose", [k], perm=[0, 1, 3, 2])]),
                              init(tag + ".scale", np.array(dh**-0.5, dtype=np.float32))])
        ctx = node("Transpose", [node("MatMul", [node("Softmax", [scores], axis=-1), v])], perm=[0, 2, 1, 3])
        ctx = node("Reshape", [ctx, init(tag + ".join", np.array([0, -1, d]))])
        x = node("Add", [x, linear(ctx, key + "self_attention/linear_1", tag + ".out")])
        h = node("Gelu", [linear(norm(x, key + "ffn/layer_norm", tag + ".ln2"), key + "ffn/linear_0", tag + ".fc1")])
        x = node("Add", [x, linear(h, key + "ffn/linear_1", tag + ".fc2")])
        if i + 1 in layers:
            outputs.append(norm(x, "layer_norm", f"layer_{i + 1}"))
            nodes[-1].output[0] = f"layer_{i + 1}"
            outputs[-1] = f"layer_{i + 1}"
    graph = helper.make_graph(nodes, "whisper_encoder", [helper.make_tensor_value_info("mel", TensorProto.FLOAT,
                                                                                       [1, 80, None])],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, [1, None, d]) for o in outputs],
                              inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=10)


def serialized(model_bin: bytes, layers: Sequence[int], *, compute: str = "int8") -> bytes:
    """The encoder of ``model_bin`` with outputs ``layers`` (see :func:`build`) as ONNX bytes: float32 weights, or
    for ``compute="int8"`` its matrix products' weights quantised to int8 per output channel (ONNX Runtime's dynamic
    quantisation; the convolutions stay float32). Deterministic: the same bytes every time."""
    layers = sorted(set(int(k) for k in layers))
    model = build(encoder_variables(model_bin), layers)
    if compute == "float32":
        return model.SerializeToString()
    if compute != "int8":
        raise ValueError(f"unknown compute type {compute!r} for the whisper graph")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice to run a pre-processing step first is for convolutional nets
    try:
        with tempfile.TemporaryDirectory(prefix="ser-whisper-") as tmp:
            out = Path(tmp) / "encoder.int8.onnx"
            quantize_dynamic(model, out, weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"])
            return out.read_bytes()
    finally:
        root.setLevel(level)
