#!/usr/bin/env python3
"""Synthetic embedded service-public chunks, as Parquet, for the PostgreSQL load benchmark.

    generate.py --rows 100000 --docs 20000 --seed 3 --out DIR
    generate.py --rows 100000 --docs 20000 --seed 3 --out DIR2 --mutate 1 1

Writes DIR/chunks.parquet and DIR/manifest.json. One row per chunk, with the columns and
Arrow types that sluice's `parse.service_public` -> `chunk` -> `embed` tasks produce
(crates/sluice-ops/src/builtin/parse/service_public.rs COLUMNS, chunk/mod.rs output_schema,
embed.rs output_schema), in that order:

    chunk_id            utf8, not null   "<doc_id>_<chunk_index>"
    chunk_index         int64, not null  1, 2, ... across the whole document
    doc_id              utf8             "F1234" (about 95%) or "N1234"
    url                 utf8             https://www.service-public.gouv.fr/<audience>/vosdroits/<doc_id>
    title, surtitle, audience, theme, description, introduction   utf8
    date                utf8             YYYY-MM-DD
    source              utf8             "service-public"
    related_questions   utf8             JSON list of {question, sid, url}
    web_services        utf8             JSON list of {title, institution, url, type}
    section             int64            the section of the sheet the chunk comes from (from 1)
    context             list<utf8>       the titles above that section
    text                utf8, not null   the fragment
    chunk_text          utf8, not null   title + "\\n" + text (bench/service_public/pipeline.yaml's template)
    chunk_xxh64         utf8, not null   XXH64 (seed 2025) of chunk_text, hex, as mediatech
    doc_hash            utf8, not null   16 hex digits, changes when the document changes
    embedding           fixed_size_list<item: float32 not null, 384>, nullable field
                                         a unit-norm random vector (Gaussian, normalised)

Rows are ordered by doc_id (as strings) then chunk_index. Documents have 1 to ~60 chunks
(1 + a multinomial share of rows - docs, log-normal weights), so the row count is exactly
--rows. Full chunks are 600-950 characters of text (about 256 MiniLM tokens of French), the
last chunk of a section 80-900; sections have 0-2 context titles. The text is French-looking
administrative prose assembled from a vocabulary written for this file (nothing copied).

Deterministic: each document is generated from (seed, its position, its version), so the
same arguments give the same rows; the Parquet file is written with zstd, row groups of
10,000 rows.

--mutate PCT_CHANGED PCT_DELETED makes the "next version" of the same dataset (same --rows
--docs --seed): PCT_CHANGED % of the documents get new text and new vectors (version 1: new
chunk count too, original count -2..+2, at least 1, a new date and doc_hash) and another
PCT_DELETED % are left out; every other row is identical to the first version. manifest.json
lists the changed and deleted doc_ids (and the rows each had before and after), for the
reload test and benchmark.

Needs pyarrow, numpy and xxhash (bench/load_postgres/requirements.txt, in .venv-bench).
"""

import argparse
import json
import os
import random
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash

DIM = 384
XXH_SEED = 2025  # mediatech's chunk_xxh64 seed (../shared/reference/mediatech.md, section 3)
ROW_GROUP = 10_000
FILE = "chunks.parquet"

# ------------------------------------------------------------------ vocabulary (written here)

SUBJECTS_3 = [
    "Le demandeur", "La caisse d'allocations familiales", "Votre employeur", "Le locataire",
    "L'administration", "Chaque bénéficiaire", "Le propriétaire", "La mairie de votre commune",
    "Le conseil départemental", "L'organisme compétent", "Le service des impôts",
    "La préfecture", "Le juge aux affaires familiales", "Le salarié", "L'entreprise",
    "Le conjoint survivant", "L'association", "Le notaire", "Le médecin traitant",
    "La caisse primaire d'assurance maladie", "Le tribunal judiciaire", "L'héritier",
    "Le gestionnaire du dossier", "L'établissement scolaire", "Le représentant légal",
]
VERBS_3 = [
    "doit transmettre", "peut demander", "est tenu de fournir", "reçoit", "vérifie",
    "examine", "peut contester", "doit signaler", "accorde", "verse", "calcule", "conserve",
    "instruit", "notifie", "peut refuser", "doit joindre", "adresse", "complète",
    "met à jour", "valide", "transmet sans délai", "peut obtenir",
]
VERBS_VOUS = [
    "devez transmettre", "pouvez demander", "êtes tenu de fournir", "recevez", "vérifiez",
    "pouvez contester", "devez signaler", "devez joindre", "adressez", "complétez",
    "pouvez obtenir", "devez conserver", "pouvez télécharger", "devez présenter",
]
OBJECTS = [
    "le formulaire de demande", "une attestation sur l'honneur", "les justificatifs de ressources",
    "le montant de l'aide", "un avis d'imposition", "la décision de refus", "le dossier complet",
    "une pièce d'identité en cours de validité", "le contrat de travail", "un relevé d'identité bancaire",
    "la déclaration de revenus", "le certificat médical", "l'acte de naissance",
    "le justificatif de domicile de moins de 3 mois", "la notification de décision",
    "les bulletins de salaire", "le bail d'habitation", "l'état des lieux de sortie",
    "le récépissé de dépôt", "la quittance de loyer", "le livret de famille",
    "une copie du jugement", "l'avis de situation déclarative", "le numéro fiscal",
    "la carte grise du véhicule", "le devis signé", "les pièces complémentaires",
    "le montant de la pension", "la demande de remboursement", "l'attestation employeur",
]
COMPLEMENTS = [
    "dans un délai de {n} jours", "avant le {d} {m}", "auprès de l'organisme concerné",
    "par lettre recommandée avec accusé de réception", "en ligne sur l'espace personnel",
    "sous certaines conditions", "à compter de la date de réception", "si vous remplissez les conditions",
    "pour l'année en cours", "dans la limite de {a} €", "sans frais", "au guichet de la mairie",
    "avant la fin du mois suivant", "dès la naissance de l'enfant", "pendant toute la durée du contrat",
    "lorsque la situation change", "en cas de déménagement", "à titre exceptionnel",
    "sur présentation des justificatifs", "au plus tard {n} mois après l'événement",
    "selon le barème en vigueur", "par voie dématérialisée", "au titre de l'année précédente",
    "dans le département de résidence", "en cas de litige", "si le plafond de {a} € est dépassé",
]
OPENERS = [
    "Si votre situation change,", "En cas de refus,", "Dans tous les cas,", "À savoir :",
    "Lorsque le dossier est incomplet,", "Pour les travailleurs indépendants,",
    "À défaut de réponse dans un délai de {n} mois,", "Depuis le 1er {m} {y},",
    "Sauf exception,", "Pour un couple marié ou pacsé,", "Attention :", "En outre,",
]
CAS = [
    "Vous êtes salarié", "Vous êtes demandeur d'emploi", "Vous êtes retraité",
    "Vous vivez à l'étranger", "Vous êtes propriétaire", "Vous êtes locataire",
    "Vous êtes mineur", "Vous avez plus de 60 ans", "Vous êtes en situation de handicap",
    "L'enfant est né en France", "Le logement est vacant", "La demande est faite en ligne",
]
TOPICS = [
    "Allocation de logement", "Carte nationale d'identité", "Permis de conduire",
    "Congé de maternité", "Prime d'activité", "Bail d'habitation", "Déclaration de revenus",
    "Inscription sur les listes électorales", "Certificat d'immatriculation", "Aide juridictionnelle",
    "Retraite progressive", "Création d'une entreprise individuelle", "Taxe foncière", "Chèque énergie",
    "Arrêt maladie", "Rupture conventionnelle", "Succession", "Pacte civil de solidarité", "Passeport",
    "Autorisation de travaux", "Bourse de lycée", "Complémentaire santé solidaire", "Mariage civil",
    "Changement de nom", "Pension de réversion", "Allocation de rentrée scolaire", "Télétravail",
    "Dépôt de plainte", "Casier judiciaire", "Titre de séjour", "Service civique", "Apprentissage",
    "Congé de proche aidant", "Aide à domicile", "Stationnement résidentiel", "Permis de construire",
]
QUALIFIERS = [
    "conditions", "démarches", "montant", "délais", "pièces à fournir", "recours en cas de refus",
    "cas particuliers", "qui est concerné ?", "comment faire la demande ?", "durée",
    "ce qui change en {y}", "obligations du bénéficiaire", "calcul et versement",
]
SECTION_TITLES = [
    "Conditions", "Démarche", "Montant de l'aide", "Durée", "Recours", "Situation du demandeur",
    "Cas particuliers", "Pièces justificatives", "Délais", "Versement", "Où s'adresser ?",
    "Bénéficiaires", "Coût", "Effets de la décision", "Renouvellement", "Suspension",
]
SURTITLES = ["Fiche pratique"] * 4 + ["Question-réponse"]
AUDIENCES = [("Particuliers", "particuliers")] * 6 + [
    ("Professionnels", "professionnels-entreprises"), ("Associations", "associations"),
    ("Particuliers, Professionnels", "particuliers")]
THEMES = [
    "Famille - Scolarité", "Logement", "Travail - Formation", "Argent - Impôts - Consommation",
    "Papiers - Citoyenneté - Élections", "Social - Santé", "Transports - Mobilité",
    "Justice", "Étranger - Europe", "Loisirs - Sports - Culture", "Associations",
]
INSTITUTIONS = ["Ministère de l'intérieur", "Caisse nationale des allocations familiales",
                "Direction générale des finances publiques", "Agence nationale des titres sécurisés",
                "Assurance retraite", "France Travail", "Ministère de la justice"]
SERVICE_TYPES = ["Téléservice", "Formulaire", "Simulateur", "Module de calcul"]
MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
          "septembre", "octobre", "novembre", "décembre"]


def fill(rnd, s):
    if "{" not in s:
        return s
    return s.format(n=rnd.randint(2, 60), d=rnd.randint(1, 28), m=rnd.choice(MONTHS),
                    a="{:,}".format(rnd.randint(3, 400) * 50).replace(",", " "),
                    y=rnd.randint(2015, 2026))


def sentence(rnd):
    r = rnd.random()
    if r < 0.3:
        subj, verb = "Vous", rnd.choice(VERBS_VOUS)
    else:
        subj, verb = rnd.choice(SUBJECTS_3), rnd.choice(VERBS_3)
    parts = [subj, verb, rnd.choice(OBJECTS)]
    for c in rnd.sample(COMPLEMENTS, rnd.choice((0, 1, 1, 2))):
        parts.append(fill(rnd, c))
    s = " ".join(parts)
    if rnd.random() < 0.2:
        opener = fill(rnd, rnd.choice(OPENERS))
        s = opener + " " + s[0].lower() + s[1:]
    return s + "."


def block(rnd):
    """(is a paragraph, text): a paragraph, a bullet list or a case line."""
    r = rnd.random()
    if r < 0.7:
        return True, " ".join(sentence(rnd) for _ in range(rnd.randint(1, 4)))
    if r < 0.9:
        items = rnd.sample(OBJECTS, rnd.randint(2, 5))
        return False, "\n".join("- " + i[0].upper() + i[1:] for i in items)
    return False, "Cas : " + rnd.choice(CAS) + "\n" + sentence(rnd)


def fragment(rnd, lo, hi):
    """French-looking text of lo..hi characters, cut after a block or a sentence."""
    target = rnd.randint(lo, hi)
    out = ""
    prev_para = True
    while len(out) < target:
        para, b = block(rnd)
        if out and len(out) + 1 + len(b) > hi:
            # fill the rest with a short sentence if it fits, else stop
            para, b = True, sentence(rnd)
            if len(out) + 1 + len(b) > hi:
                break
        if not out:
            out = b
        else:
            joiner = " " if para and prev_para and rnd.random() < 0.5 else "\n"
            out = out + joiner + b
        prev_para = para
    if len(out) > hi:  # a single long first block
        cut = out.rfind(" ", 0, hi - 1)
        out = out[:cut if cut > 0 else hi - 1].rstrip(",;:") + "."
    return out


# ------------------------------------------------------------------ documents


def doc_ids(rng, docs):
    """docs distinct ids, F<n> (about 95%) or N<n>, sorted as strings."""
    nums = rng.choice(np.arange(1, max(60_000, docs * 3)), size=docs, replace=False)
    kinds = rng.random(docs) < 0.95
    return sorted(("F" if f else "N") + str(int(n)) for n, f in zip(nums, kinds))


def chunk_counts(rng, rows, docs):
    """Chunks per document, each >= 1, summing to rows."""
    w = rng.lognormal(0.0, 0.8, size=docs)
    extra = rng.multinomial(rows - docs, w / w.sum())
    return (1 + extra).astype(np.int64)


def make_doc(seed, pos, version, doc_id, nchunks):
    """The rows (dicts without the embedding) of one document, and its vectors."""
    rnd = random.Random("%d/%d/%d" % (seed, pos, version))
    topic = rnd.choice(TOPICS)
    title = topic + " : " + fill(rnd, rnd.choice(QUALIFIERS))
    surtitle = rnd.choice(SURTITLES)
    audience, path = rnd.choice(AUDIENCES)
    theme = rnd.choice(THEMES)
    if rnd.random() < 0.2:
        theme += ", " + rnd.choice(THEMES)
    description = sentence(rnd)
    introduction = " ".join(sentence(rnd) for _ in range(rnd.randint(1, 3)))
    date = "%04d-%02d-%02d" % (rnd.randint(2019, 2025) + version, rnd.randint(1, 12),
                               rnd.randint(1, 28))
    related = []
    for _ in range(rnd.choice((0, 0, 1, 2, 3))):
        sid = "F%d" % rnd.randint(1, 60000)
        related.append({"question": rnd.choice(TOPICS) + " : " + fill(rnd, rnd.choice(QUALIFIERS)),
                        "sid": sid,
                        "url": "https://www.service-public.gouv.fr/%s/vosdroits/%s" % (path, sid)})
    services = []
    for _ in range(rnd.choice((0, 1, 1, 2))):
        r = "R%d" % rnd.randint(1, 70000)
        services.append({"title": rnd.choice(TOPICS), "institution": rnd.choice(INSTITUTIONS),
                         "url": "https://www.service-public.gouv.fr/%s/vosdroits/%s" % (path, r),
                         "type": rnd.choice(SERVICE_TYPES)})
    url = "https://www.service-public.gouv.fr/%s/vosdroits/%s" % (path, doc_id)

    # sections: 1..6, chunk counts spread over them, each section >= 1 chunk
    nsec = rnd.randint(1, min(6, nchunks))
    cuts = sorted(rnd.sample(range(1, nchunks), nsec - 1)) if nsec > 1 else []
    bounds = [0] + cuts + [nchunks]
    base = {"doc_id": doc_id, "url": url, "title": title, "surtitle": surtitle,
            "audience": audience, "theme": theme, "description": description,
            "introduction": introduction, "date": date, "source": "service-public",
            "related_questions": json.dumps(related, ensure_ascii=False),
            "web_services": json.dumps(services, ensure_ascii=False)}
    rows = []
    h = xxhash.xxh64(seed=0)
    h.update(json.dumps(base, ensure_ascii=False, sort_keys=True).encode())
    for s in range(nsec):
        n_in = bounds[s + 1] - bounds[s]
        if s == 0:
            context = []
        else:
            context = [rnd.choice(SECTION_TITLES)]
            if rnd.random() < 0.35:
                context.append(rnd.choice(CAS))
        for j in range(n_in):
            last = j == n_in - 1
            text = fragment(rnd, 80, 900) if last else fragment(rnd, 600, 950)
            if s == 0 and j == 0:
                text = introduction + "\n" + text if len(introduction) + len(text) < 950 else text
            rows.append((s + 1, context, text))
            h.update(text.encode())
    doc_hash = h.hexdigest()
    out = []
    for i, (sec, context, text) in enumerate(rows):
        chunk_text = title + "\n" + text
        r = dict(base)
        r.update({"chunk_id": "%s_%d" % (doc_id, i + 1), "chunk_index": i + 1, "section": sec,
                  "context": context, "text": text, "chunk_text": chunk_text,
                  "chunk_xxh64": xxhash.xxh64(chunk_text.encode("utf-8"), seed=XXH_SEED).hexdigest(),
                  "doc_hash": doc_hash})
        out.append(r)
    vrng = np.random.default_rng([seed, pos, version, 384])
    v = vrng.standard_normal((nchunks, DIM), dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return out, v


COLUMNS = [
    ("chunk_id", pa.string(), False), ("chunk_index", pa.int64(), False),
    ("doc_id", pa.string(), True), ("url", pa.string(), True), ("title", pa.string(), True),
    ("surtitle", pa.string(), True), ("audience", pa.string(), True), ("theme", pa.string(), True),
    ("description", pa.string(), True), ("introduction", pa.string(), True),
    ("date", pa.string(), True), ("source", pa.string(), True),
    ("related_questions", pa.string(), True), ("web_services", pa.string(), True),
    ("section", pa.int64(), True), ("context", pa.list_(pa.field("item", pa.string(), True)), True),
    ("text", pa.string(), False), ("chunk_text", pa.string(), False),
    ("chunk_xxh64", pa.string(), False), ("doc_hash", pa.string(), False),
]
EMBEDDING_TYPE = pa.list_(pa.field("item", pa.float32(), False), DIM)


def schema():
    fields = [pa.field(n, t, nullable) for n, t, nullable in COLUMNS]
    fields.append(pa.field("embedding", EMBEDDING_TYPE, True))
    return pa.schema(fields)


def main(argv=None):
    ap = argparse.ArgumentParser(description="synthetic embedded service-public chunks (Parquet)")
    ap.add_argument("--rows", type=int, default=100_000, help="chunks (default 100000)")
    ap.add_argument("--docs", type=int, default=20_000, help="documents (default 20000)")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--out", required=True, help="output folder (chunks.parquet, manifest.json)")
    ap.add_argument("--mutate", nargs=2, type=float, metavar=("PCT_CHANGED", "PCT_DELETED"),
                    help="write the next version: this %% of documents changed, this %% deleted")
    a = ap.parse_args(argv)
    if a.docs < 1 or a.rows < a.docs:
        ap.error("need 1 <= --docs <= --rows")
    t0 = time.perf_counter()

    rng = np.random.default_rng([a.seed, 1])
    ids = doc_ids(rng, a.docs)
    counts = chunk_counts(rng, a.rows, a.docs)
    changed, deleted = set(), set()
    if a.mutate:
        pc, pd_ = a.mutate
        if pc < 0 or pd_ < 0 or pc + pd_ > 100:
            ap.error("--mutate: percentages between 0 and 100, summing to 100 at most")
        n_changed = int(round(a.docs * pc / 100))
        n_deleted = int(round(a.docs * pd_ / 100))
        pick = np.random.default_rng([a.seed, 2]).permutation(a.docs)
        changed = set(int(i) for i in pick[:n_changed])
        deleted = set(int(i) for i in pick[n_changed:n_changed + n_deleted])

    sch = schema()
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, FILE)
    tmp = path + ".tmp"
    # use_compliant_nested_type=False keeps the list children named "item", as sluice (arrow-rs)
    # writes them
    writer = pq.ParquetWriter(tmp, sch, compression="zstd", use_compliant_nested_type=False)
    names = [n for n, _, _ in COLUMNS]
    buf = {n: [] for n in names}
    vecs = []
    buffered = 0
    rows_out = 0
    text_chars = 0
    changes = []

    pending = None  # rows built but not written yet (less than a row group)

    def flush(final=False):
        """Write whole row groups of ROW_GROUP rows (and the rest when final)."""
        nonlocal buf, vecs, buffered, pending
        if buffered:
            arrays = [pa.array(buf[n], type=t) for n, t, _ in COLUMNS]
            flat = np.concatenate(vecs).reshape(-1)
            arrays.append(pa.FixedSizeListArray.from_arrays(
                pa.array(flat, type=pa.float32()), type=EMBEDDING_TYPE))
            t = pa.Table.from_arrays(arrays, schema=sch)
            pending = t if pending is None else pa.concat_tables([pending, t])
            buf = {n: [] for n in names}
            vecs = []
            buffered = 0
        if pending is None:
            return
        whole = pending.num_rows // ROW_GROUP * ROW_GROUP
        if final:
            whole = pending.num_rows
        if whole:
            writer.write_table(pending.slice(0, whole), row_group_size=ROW_GROUP)
            pending = pending.slice(whole) if whole < pending.num_rows else None

    for pos, doc_id in enumerate(ids):
        n = int(counts[pos])
        if pos in deleted:
            changes.append({"doc_id": doc_id, "kind": "deleted", "rows_before": n, "rows_after": 0})
            continue
        version = 0
        if pos in changed:
            version = 1
            crng = random.Random("%d/%d/count" % (a.seed, pos))
            n_new = max(1, n + crng.randint(-2, 2))
            changes.append({"doc_id": doc_id, "kind": "changed", "rows_before": n,
                            "rows_after": n_new})
            n = n_new
        rows, v = make_doc(a.seed, pos, version, doc_id, n)
        for r in rows:
            for k in names:
                buf[k].append(r[k])
            text_chars += len(r["text"])
        vecs.append(v)
        buffered += len(rows)
        rows_out += len(rows)
        if buffered >= ROW_GROUP:
            flush()
    flush(final=True)
    writer.close()
    os.replace(tmp, path)

    size = os.path.getsize(path)
    manifest = {
        "file": FILE, "rows": rows_out, "docs": a.docs - len(deleted), "seed": a.seed,
        "generated_with": {"rows": a.rows, "docs": a.docs, "seed": a.seed,
                           "mutate": a.mutate},
        "dimension": DIM, "parquet_bytes": size,
        "mean_text_chars": round(text_chars / max(rows_out, 1), 1),
        "changed": [c for c in changes if c["kind"] == "changed"],
        "deleted": [c for c in changes if c["kind"] == "deleted"],
        "seconds": round(time.perf_counter() - t0, 2),
    }
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print("wrote %s: %d rows, %d documents%s, mean text %.0f chars, %.1f MB, %.1f s"
          % (path, rows_out, manifest["docs"],
             (", %d changed, %d deleted" % (len(manifest["changed"]), len(manifest["deleted"])))
             if a.mutate else "", manifest["mean_text_chars"], size / 1e6, manifest["seconds"]),
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
