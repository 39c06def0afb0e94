"""Regenerates the reference vectors that pin passeur's encoder to the Python
sentence-transformers library.

    python3 -m venv /tmp/stvenv
    /tmp/stvenv/bin/pip install torch==2.5.1 transformers==4.46.3 sentence-transformers==3.3.1
    bash scripts/fetch-assets.sh
    /tmp/stvenv/bin/python crates/passeur-embed/tests/reference/make_reference.py

Writes all-MiniLM-L6-v2.json beside this script: the sentences, and the
normalised embedding of each as sentence-transformers computes it.
"""

import json
import pathlib

import sentence_transformers
import torch
from sentence_transformers import SentenceTransformer

ROOT = pathlib.Path(__file__).resolve().parents[4]
MODEL = ROOT / "models" / "all-MiniLM-L6-v2"
OUT = pathlib.Path(__file__).resolve().parent / "all-MiniLM-L6-v2.json"

SENTENCES = [
    "Le Petit Prince, un conte poétique et philosophique d'Antoine de Saint-Exupéry.",
    "Concert de rap au Zénith de Paris : flow, punchlines et beatmakers.",
    "Exposition « Les impressionnistes » au musée d'Orsay, visite guidée pour les 15-18 ans.",
    "Atelier d'initiation à la poterie, pratique artistique en petit groupe.",
    "Manga shōnen : un lycéen ninja découvre ses pouvoirs lors d'un tournoi.",
    "Abonnement à la presse en ligne pour suivre l'actualité.",
    "A thrilling detective novel set in rainy London.",
    "Jazz trio live at the club tonight, saxophone and double bass.",
    "Stand-up comedy show with three young comedians.",
    "Learn to play the guitar: beginner lessons and a rented instrument.",
    "Séance de cinéma en avant-première, film d'animation familial.",
    "x",
    "",
]


def main() -> None:
    model = SentenceTransformer(str(MODEL), device="cpu")
    with torch.no_grad():
        vectors = model.encode(SENTENCES, batch_size=4, normalize_embeddings=True, convert_to_numpy=True)
    OUT.write_text(
        json.dumps(
            {
                "model": "sentence-transformers/all-MiniLM-L6-v2",
                "sentence_transformers": sentence_transformers.__version__,
                "torch": torch.__version__,
                "sentences": SENTENCES,
                "vectors": [[float(x) for x in v] for v in vectors],
            },
            ensure_ascii=False,
        )
        + "\n"
    )
    print(f"wrote {len(SENTENCES)} vectors of dimension {vectors.shape[1]} to {OUT}")


if __name__ == "__main__":
    main()
