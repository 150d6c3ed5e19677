#!/usr/bin/env python3
"""Check the sample files written by make_samples.py.

Opens every archive, parses every XML / JSON / CSV inside and asserts the
intended contents (documents per archive, suppression lines, shared and
skipped sheets...). Standard library only.

    python3 examples/mediatech/samples/check_samples.py [--determinism]

--determinism also re-runs make_samples.py and checks that every file is
byte-identical afterwards.
"""

import bz2
import csv
import gzip
import hashlib
import io
import json
import os
import re
import sys
import tarfile
import zipfile
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))


def path(rel):
    return os.path.join(HERE, rel)


def read_tar_gz(rel):
    """-> (members {name: bytes}, dirs [name], top-level names)."""
    with open(path(rel), "rb") as f:
        raw = f.read()
    assert raw[:2] == b"\x1f\x8b", rel
    files, dirs = {}, []
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(raw))) as tf:
        for m in tf.getmembers():
            if m.isdir():
                dirs.append(m.name)
            else:
                assert m.isfile(), (rel, m.name)
                files[m.name] = tf.extractfile(m).read()
    tops = {n.split("/")[0] for n in list(files) + dirs}
    return files, dirs, tops


def id_dirs(doc_id):
    d = doc_id[-12:]
    return "/".join(d[i:i + 2] for i in range(0, 10, 2))


def parse_xml(name, data):
    try:
        return ET.fromstring(data)
    except ET.ParseError as e:
        raise AssertionError(f"{name}: {e}")


def check_dila(folder, fonds, root_tag, prefix, archives, required):
    """archives: [(file, stamp, {doc ids}, suppression lines or None)]."""
    with open(path(f"{folder}/index.html"), encoding="utf-8") as f:
        html = f.read()
    links = re.findall(r'<a href="([^"]+)"', html)
    assert "?C=N;O=D" in links and "/OPENDATA/" in links, links
    tar_links = sorted(l for l in links if l.endswith(".tar.gz"))
    assert tar_links == sorted(a[0] for a in archives), tar_links
    assert any(l.endswith(".pdf") for l in links)

    report = []
    for name, stamp, ids, suppression in archives:
        assert name.endswith(f"_{stamp}.tar.gz"), name
        files, dirs, tops = read_tar_gz(f"{folder}/{name}")
        assert tops == {stamp}, (name, tops)
        found = {}
        for member, data in files.items():
            base = member.rsplit("/", 1)[-1]
            if base.startswith("liste_suppression"):
                continue
            assert member.startswith(f"{stamp}/{fonds}/global/"), member
            assert base.endswith(".xml"), member
            root = parse_xml(member, data)
            doc_id = base[:-4]
            # the folder digits are the id's digits in pairs (LEGI text
            # files sit in texte/struct and texte/version, without digits)
            if "/texte/" not in member:
                assert f"/{id_dirs(doc_id)}/{doc_id}.xml" in member, member
            if not doc_id.startswith(prefix):
                continue  # e.g. LEGISCTA / LEGITEXT files a parser must skip
            assert root.tag == root_tag, (member, root.tag)
            assert root.findtext(".//ID") == doc_id, member
            for field in required:
                assert root.find(field) is not None, (member, field)
            found[doc_id] = root
        assert set(found) == ids, (name, sorted(found), sorted(ids))
        lists = [m for m in files if m.rsplit("/", 1)[-1].startswith("liste_suppression")]
        if suppression is None:
            assert not lists, (name, lists)
            lines = None
        else:
            assert lists == [f"{stamp}/liste_suppression_{fonds}.dat"], (name, lists)
            text = files[lists[0]].decode("utf-8")
            lines = text.splitlines()
            assert lines == suppression, (name, lines)
            assert all(not l.split(" ")[0].endswith(".xml") for l in lines)
        report.append((name, sorted(ids), lines))
    return report


def docs_from(folder, name):
    files, _, _ = read_tar_gz(f"{folder}/{name}")
    return {m.rsplit("/", 1)[-1][:-4]: parse_xml(m, d) for m, d in files.items() if m.endswith(".xml")}


def inner_text(el):
    return "".join(el.itertext())


CNIL_DUMP_D = "cnil/global/CNIL/TEXT/00/00/26/02/62/CNILTEXT000026026299 D"
LEGI_CODE = "legi/global/code_et_TNC_en_vigueur/code_en_vigueur/LEGI/TEXT/00/00/06/07/06/LEGITEXT000006070666"
LEGI_DECRET_DIR = "legi/global/code_et_TNC_en_vigueur/TNC_en_vigueur/JORF/TEXT/00/00/44/10/23/JORFTEXT000044102345"


def check_cnil():
    req = [".//TITRE", ".//TITREFULL", ".//NUMERO", ".//NATURE_DELIB", ".//DATE_TEXTE", ".//DATE_PUBLI",
           ".//ETAT_JURIDIQUE", ".//NATURE", "BLOC_TEXTUEL/CONTENU"]
    rep = check_dila("dila/CNIL", "cnil", "TEXTE_CNIL", "CNILTEXT", [
        ("Freemium_cnil_global_20250101-000000.tar.gz", "20250101-000000",
         {"CNILTEXT000049857312", "CNILTEXT000050012874", "CNILTEXT000026026299", "CNILTEXT000048765120"}, None),
        ("CNIL_20250711-212007.tar.gz", "20250711-212007", {"CNILTEXT000049857312", "CNILTEXT000051880710"},
         [CNIL_DUMP_D, "cnil/global/CNIL/TEXT/00/00/47/11/20/CNILTEXT000047112058"]),
        ("CNIL_20250718-211500.tar.gz", "20250718-211500", {"CNILTEXT000051912233"}, []),
    ], req)
    dump = docs_from("dila/CNIL", "Freemium_cnil_global_20250101-000000.tar.gz")
    delta = docs_from("dila/CNIL", "CNIL_20250711-212007.tar.gz")
    changed = "CNILTEXT000049857312"
    assert inner_text(dump[changed].find("BLOC_TEXTUEL/CONTENU")) != inner_text(delta[changed].find("BLOC_TEXTUEL/CONTENU"))
    assert dump["CNILTEXT000026026299"].find(".//table") is not None
    assert any(d.find(".//br") is not None for d in dump.values())
    assert all(d.findtext(".//TITREFULL").endswith("\r\n") for d in dump.values())
    return rep


def check_constit():
    req = [".//ID", ".//NATURE", ".//TITRE", ".//NUMERO", ".//SOLUTION", ".//DATE_DEC", ".//BLOC_TEXTUEL//CONTENU"]
    rep = check_dila("dila/CONSTIT", "constit", "TEXTE_JURI_CONSTIT", "CONSTEXT", [
        ("Freemium_constit_global_20250101-000000.tar.gz", "20250101-000000",
         {"CONSTEXT000049563412", "CONSTEXT000049871205", "CONSTEXT000050234118"}, None),
        ("CONSTIT_20250704-203015.tar.gz", "20250704-203015", {"CONSTEXT000051766054"},
         ["constit/global/CONS/TEXT/00/00/49/56/34/CONSTEXT000049563412"]),
    ], req)
    for doc in docs_from("dila/CONSTIT", "Freemium_constit_global_20250101-000000.tar.gz").values():
        assert len(doc.findall(".//BLOC_TEXTUEL/CONTENU/br")) > 5
    return rep


ARTICLE_RE = re.compile(r"^Article (\d+)(er)?$|^Article unique$")


def part_articles(el):
    return [p.text for p in el.findall("p") if p.text and ARTICLE_RE.match(p.text)]


def check_dole():
    req = [".//ID", ".//TITRE", ".//NUMERO", ".//TYPE", ".//LIBELLE", ".//DATE_CREATION"]
    rep = check_dila("dila/DOLE", "dole", "DOSSIER_LEGISLATIF", "JORFDOLE", [
        ("Freemium_dole_global_20250101-000000.tar.gz", "20250101-000000",
         {"JORFDOLE000047251836", "JORFDOLE000048123456", "JORFDOLE000050087731"}, None),
        ("DOLE_20250502-204512.tar.gz", "20250502-204512", {"JORFDOLE000048123456"}, []),
    ], req)
    dump = docs_from("dila/DOLE", "Freemium_dole_global_20250101-000000.tar.gz")
    d1 = dump["JORFDOLE000047251836"]
    expose = d1.find(".//EXPOSE_MOTIF")
    texts = [p.text for p in expose.findall("p")]
    assert texts[3].startswith("TITRE Ier") and texts[4] == "Article 1er" and texts[6] == "Article 2", texts
    a1 = part_articles(d1.find(".//CONTENU_DOSSIER_1"))
    a2 = part_articles(d1.find(".//CONTENU_DOSSIER_2"))
    assert a1[:2] == ["Article 1er", "Article 2"] and a2[:2] == ["Article 1er", "Article 2"], (a1, a2)
    d2 = dump["JORFDOLE000048123456"].find(".//EXPOSE_MOTIF")
    assert len(list(d2)) == 0 and d2.text.strip(), "EXPOSE_MOTIF of the bill must hold text only"
    d3 = dump["JORFDOLE000050087731"]
    assert part_articles(d3.find(".//CONTENU_DOSSIER_1")) == ["Article unique"]
    assert part_articles(d3.find(".//CONTENU_DOSSIER_2")) == []
    delta = docs_from("dila/DOLE", "DOLE_20250502-204512.tar.gz")["JORFDOLE000048123456"]
    assert delta.findtext(".//TYPE") == "LOI_PUBLIEE" and dump["JORFDOLE000048123456"].findtext(".//TYPE") == "PROJET_LOI"
    assert dump["JORFDOLE000048123456"].findtext(".//NUMERO") == "17"
    return rep


def check_legi():
    req = [".//NUM", ".//ETAT", ".//DATE_DEBUT", ".//DATE_FIN", "CONTEXTE/TEXTE/TITRE_TXT", "BLOC_TEXTUEL/CONTENU", "NOTA"]
    art = LEGI_CODE + "/article/LEGI/ARTI/00/00/06/39/81/LEGIARTI000006398130 D"
    rep = check_dila("dila/LEGI", "legi", "ARTICLE", "LEGIARTI", [
        ("Freemium_legi_global_20250101-000000.tar.gz", "20250101-000000",
         {"LEGIARTI000006398130", "LEGIARTI000006398192", "LEGIARTI000006398191", "LEGIARTI000033020517",
          "LEGIARTI000035652034", "LEGIARTI000044103018", "LEGIARTI000044103020"}, None),
        ("LEGI_20250711-211004.tar.gz", "20250711-211004", {"LEGIARTI000035652034", "LEGIARTI000051834217"},
         [art, LEGI_DECRET_DIR]),
    ], req)
    files, dirs, _ = read_tar_gz("dila/LEGI/Freemium_legi_global_20250101-000000.tar.gz")
    roots = {m: parse_xml(m, d).tag for m, d in files.items()}
    skip = sorted(r for m, r in roots.items() if not m.rsplit("/", 1)[-1].startswith("LEGIARTI"))
    assert skip == ["SECTION_TA", "TEXTELR", "TEXTE_VERSION"], skip
    # the directory line names a folder of the dump holding two articles
    assert "20250101-000000/" + LEGI_DECRET_DIR in dirs
    assert sum(1 for m in files if m.startswith("20250101-000000/" + LEGI_DECRET_DIR + "/")) == 2
    dump = docs_from("dila/LEGI", "Freemium_legi_global_20250101-000000.tar.gz")
    etats = {k: v.findtext(".//ETAT") for k, v in dump.items() if k.startswith("LEGIARTI")}
    assert set(etats.values()) == {"VIGUEUR", "ABROGE", "MODIFIE", "ABROGE_DIFF"}, etats
    assert any(v.find("NOTA/CONTENU/p") is not None for v in dump.values())
    assert dump["LEGIARTI000044103018"].find("CONTEXTE/TEXTE/TITRE_TXT").get("c_titre_court").endswith(".")
    delta = docs_from("dila/LEGI", "LEGI_20250711-211004.tar.gz")
    assert etats["LEGIARTI000035652034"] == "VIGUEUR" and delta["LEGIARTI000035652034"].findtext(".//ETAT") == "MODIFIE"
    return rep


def check_service_public():
    sheets = {}
    report = {}
    for kind, expected in [("part", {"F1878", "F2923", "F35138", "N19808", "N360"}),
                           ("pro", {"F35138", "F23107", "F31228", "N24267", "F35650"})]:
        with zipfile.ZipFile(path(f"lecomarquage/vdd/3.4/{kind}/zip/vosdroits-latest.zip")) as zf:
            names = zf.namelist()
            assert names == sorted(names)
            assert all(i.date_time == (2025, 1, 1, 0, 0, 0) for i in zf.infolist())
            sheet_names = [n for n in names if re.fullmatch(r"[FN]\d+\.xml", n)]
            others = sorted(set(names) - set(sheet_names))
            assert others == ["Schemas/3.4/Publication.xsd", "menu.xml"], others
            found = {}
            for n in names:
                data = zf.read(n)
                root = parse_xml(n, data)
                if n not in sheet_names:
                    continue
                assert root.tag == "Publication", n
                sid = root.get("ID")
                assert n == sid + ".xml" and root.get("spUrl").rsplit("/", 1)[-1] == sid
                assert root.find("{http://purl.org/dc/elements/1.1/}title").text
                assert root.findtext("{http://purl.org/dc/elements/1.1/}date").startswith("modified ")
                found[sid] = (data, root)
            assert set(found) == expected, (kind, sorted(found))
            sheets[kind] = found
            report[kind] = {sid: r.findtext("SurTitre") for sid, (_, r) in found.items()}
    shared = set(sheets["part"]) & set(sheets["pro"])
    assert shared == {"F35138"}, shared
    assert sheets["part"]["F35138"][0] == sheets["pro"]["F35138"][0]
    all_roots = {sid: r for found in sheets.values() for sid, (_, r) in found.items()}
    skipped = sorted(sid for sid, r in all_roots.items() if r.findtext("SurTitre") in ("Dossier", "Recherche guidée"))
    assert skipped == ["F35650", "N360"], skipped
    # structures the pipeline walks
    for tag in ["Chapitre", "SousChapitre", "Liste", "Item", "BlocCas", "Cas", "Tableau", "ANoter", "ASavoir",
                "Attention", "ListeSituations", "Situation", "QuestionReponse", "ServiceEnLigne", "OuSAdresser",
                "RefActualite", "Introduction"]:
        assert any(r.find(f".//{tag}") is not None for r in all_roots.values()), tag
    kinds = {row.get("type") for r in all_roots.values() for row in r.iter("Rangée")}
    assert kinds == {"header", "normal"}, kinds
    lists = {l.get("type") for r in all_roots.values() for l in r.iter("Liste")}
    assert lists == {"puce", "numero"}, lists
    return report, sorted(shared), skipped


def check_directories():
    with zipfile.ZipFile(path("dila/RefOrgaAdminEtat/FluxAnneeCourante/dila_refOrga_admin_Etat_fr_latest.zip")) as zf:
        assert zf.namelist() == ["dila_refOrga_admin_Etat_fr_20250526.json"]
        state = json.loads(zf.read("dila_refOrga_admin_Etat_fr_20250526.json"))["service"]
    with open(path("lecomarquage/donnees_locales_v4/all_latest.tar.bz2"), "rb") as f:
        raw = bz2.decompress(f.read())
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        members = [m for m in tf.getmembers() if m.isfile()]
        assert [m.name for m in members] == ["base-donnees-locales.json"]
        local = json.loads(tf.extractfile(members[0]).read())["service"]
    assert len(state) == 5 and len(local) == 5
    keys = list(state[0])
    assert all(list(r) == keys for r in state + local)
    for records in (state, local):
        ids = {r["id"] for r in records}
        assert len(ids) == 5
        for r in records:
            assert re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d:\d\d", r["date_modification"]), r["date_modification"]
            for h in r["hierarchie"]:
                assert h["service"] in ids and h["service"] != r["id"]
            for p in r["affectation_personne"]:
                assert {"civilite", "prenom", "nom"} <= set(p["personne"]) and p["fonction"]
            for s in r["reseau_social"] + r["application_mobile"]:
                assert set(s) == {"valeur", "description", "custom_dico2"}
    assert {h["type_hierarchie"] for r in state for h in r["hierarchie"]} == {"Service Fils", "Autre hiérarchie"}
    assert any(p["valeur_heure_debut_2"] and p["commentaire"] for r in state for p in r["plage_ouverture"])
    assert any("grade" in p["personne"] for r in state for p in r["affectation_personne"])
    assert any(r["organigramme"] for r in state)
    empty = [r for r in local if not any(r[k] for k in ("telephone", "adresse_courriel", "site_internet",
                                                         "plage_ouverture", "affectation_personne", "organigramme",
                                                         "hierarchie", "reseau_social", "application_mobile"))]
    assert len(empty) == 1
    return [r["id"] for r in state], [r["id"] for r in local]


def check_travail():
    with open(path("github/SocialGouv/fiches-travail-data/raw/master/data/fiches-travail.json"), encoding="utf-8") as f:
        records = json.load(f)
    assert len(records) == 4
    for r in records:
        assert list(r) == ["date", "description", "intro", "pubId", "sections", "title", "url"]
        assert re.fullmatch(r"\d\d/\d\d/\d{4}", r["date"])
        for s in r["sections"]:
            assert list(s) == ["anchor", "description", "html", "references", "text", "title"]
    htmls = [s["html"] for r in records for s in r["sections"]]
    assert any("<table" in h and "<ul" in h for h in htmls)
    return [r["pubId"] for r in records]


def check_data_gouv():
    with open(path("data_gouv/export-dataset-20250601-000000.csv"), encoding="utf-8", newline="") as f:
        text = f.read()
    assert not text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    header, body = rows[0], rows[1:]
    assert len(header) == 37 and header[0] == "id" and header[-1] == "metric.resources_downloads"
    assert len(body) == 8 and all(len(r) == 37 for r in body)
    desc = [r[header.index("description")] for r in body]
    assert sum(len(d) < 100 for d in desc) == 2
    assert any(";" in d and "\n" in d and '"' in d for d in desc)
    assert len({r[0] for r in body}) == 8
    return len(body)


def digest_all():
    out = {}
    for root, _, files in os.walk(HERE):
        for name in files:
            if name.endswith((".py", ".md", ".pyc")):
                continue
            p = os.path.join(root, name)
            with open(p, "rb") as f:
                out[os.path.relpath(p, HERE)] = hashlib.sha256(f.read()).hexdigest()
    return out


def main():
    for title, rep in [("cnil", check_cnil()), ("constit", check_constit()),
                       ("dole", check_dole()), ("legi", check_legi())]:
        for name, ids, lines in rep:
            print(f"{title}: {name}: {len(ids)} docs {ids}; suppression: {lines}")
    sp, shared, skipped = check_service_public()
    print(f"service_public: {sp}; shared: {shared}; skipped: {skipped}")
    state, local = check_directories()
    print(f"directories: state {len(state)}, local {len(local)}")
    print(f"travail_emploi: {check_travail()}")
    print(f"data_gouv: {check_data_gouv()} rows")
    if "--determinism" in sys.argv:
        before = digest_all()
        sys.path.insert(0, HERE)
        import make_samples
        import contextlib
        with contextlib.redirect_stdout(io.StringIO()):
            make_samples.main()
        after = digest_all()
        assert before == after, sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        print(f"determinism: {len(after)} files byte-identical after a re-run")
    print("OK")


if __name__ == "__main__":
    main()
