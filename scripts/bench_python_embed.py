"""The Python baseline of `passeur bench embed`: sentence-transformers on the same texts, threads and
batch size; prints one JSON object (texts per second). Needs torch and sentence-transformers:

    python3 -m venv /tmp/stvenv && /tmp/stvenv/bin/pip install torch sentence-transformers
    passeur bench embed --python /tmp/stvenv/bin/python
"""

import argparse
import json
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--texts", required=True, help="a JSON list of strings")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    import torch
    import sentence_transformers
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(args.threads)
    with open(args.texts, encoding="utf-8") as f:
        texts = json.load(f)
    model = SentenceTransformer(args.model, device="cpu")
    prompts = getattr(model, "prompts", {}) or {}
    prompt = prompts.get("passage") or prompts.get("document")
    with torch.inference_mode():
        model.encode(texts[:32], batch_size=args.batch_size, prompt=prompt, normalize_embeddings=True)
        started = time.perf_counter()
        model.encode(texts, batch_size=args.batch_size, prompt=prompt, normalize_embeddings=True)
        seconds = time.perf_counter() - started
    print(json.dumps({
        "texts": len(texts),
        "seconds": seconds,
        "texts_per_second": len(texts) / seconds,
        "threads": args.threads,
        "torch": torch.__version__,
        "sentence_transformers": sentence_transformers.__version__,
    }))


if __name__ == "__main__":
    main()
