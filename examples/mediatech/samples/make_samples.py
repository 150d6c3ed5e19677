#!/usr/bin/env python3
"""Write synthetic sample inputs for the mediatech example pipelines.

Every text in these files was written for these samples: titles, ids,
people and companies are invented. The *structure* (archive layout, file
names, XML elements and attributes, JSON keys, CSV header) follows the real
DILA / service-public.fr / travail-emploi / data.gouv.fr files.

Standard library only. The output is deterministic: archive members carry fixed
mtimes, members are written in sorted order, gzip headers carry no name and a
fixed time, and nothing random is used. Running this twice gives byte-identical
files.

    python3 examples/mediatech/samples/make_samples.py
"""

import bz2
import csv
import gzip
import hashlib
import io
import json
import os
import tarfile
import uuid
import zipfile
from datetime import datetime, timezone
from xml.sax.saxutils import escape

HERE = os.path.dirname(os.path.abspath(__file__))

# 2025-01-01T00:00:00Z: mtime of every zip member and of the files of the
# full dumps; delta archives use the time of their own stamp.
EPOCH_2025 = 1735689600
ZIP_DATE = (2025, 1, 1, 0, 0, 0)

XML_DECL = '<?xml version="1.0" encoding="UTF-8"?>\n'


# --------------------------------------------------------------------------
# writing helpers
# --------------------------------------------------------------------------

def out_path(rel):
    path = os.path.join(HERE, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


def write_file(rel, data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(out_path(rel), "wb") as f:
        f.write(data)
    return data


def stamp_time(stamp):
    """'20250711-212007' -> POSIX seconds (UTC)."""
    dt = datetime.strptime(stamp, "%Y%m%d-%H%M%S").replace(tzinfo=timezone.utc)
    return int(dt.timestamp())


def tar_bytes(members, mtime):
    """members: {path: bytes}. Directory entries are added for every parent
    folder, as GNU tar does; everything is sorted by path."""
    dirs = set()
    for path in members:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    entries = [(d, None) for d in dirs] + list(members.items())
    entries.sort(key=lambda e: e[0])
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.mtime = mtime
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if data is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tf.addfile(info)
            else:
                if isinstance(data, str):
                    data = data.encode("utf-8")
                info.mode = 0o644
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def gzip_bytes(data, mtime):
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=mtime, compresslevel=9) as gz:
        gz.write(data)
    return buf.getvalue()


def zip_bytes(members):
    """members: {path: bytes}; written sorted, fixed date, unix 0644."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in sorted(members):
            data = members[name]
            if isinstance(data, str):
                data = data.encode("utf-8")
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o100644 << 16
            zf.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return buf.getvalue()


def id_dirs(doc_id):
    """DILA layout: the first ten of the id's twelve digits, in pairs.
    CNILTEXT000026026270 -> '00/00/26/02/62'."""
    digits = doc_id[-12:]
    assert digits.isdigit(), doc_id
    return "/".join(digits[i:i + 2] for i in range(0, 10, 2))


def dila_archive(rel, stamp, docs, suppression=None, fonds=None):
    """docs: {path under the stamp folder: xml text}; suppression: list of
    lines (None = no list, as in a full dump)."""
    members = {f"{stamp}/{path}": text for path, text in docs.items()}
    if suppression is not None:
        body = "".join(line + "\n" for line in suppression)
        members[f"{stamp}/liste_suppression_{fonds}.dat"] = body
    mtime = stamp_time(stamp)
    return write_file(rel, gzip_bytes(tar_bytes(members, mtime), mtime))


def human_size(n):
    if n < 1024:
        return str(n)
    return f"{n / 1024:.1f}K"


def dila_index(folder, listing_name, files):
    """Apache-style listing as served by echanges.dila.gouv.fr.
    files: [(name, size, 'YYYY-MM-DD HH:MM')], shown sorted by name."""
    rows = []
    for name, size, date in sorted(files):
        icon = "compressed.gif" if name.endswith(".gz") else "layout.gif"
        rows.append(
            f'<tr><td valign="top"><img src="/icons/{icon}" alt="[   ]"></td>'
            f'<td><a href="{name}">{name}</a></td><td align="right">{date}  </td>'
            f'<td align="right">{human_size(size)}</td><td>&nbsp;</td></tr>'
        )
    html = f"""<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">
<html>
 <head>
  <title>Index of /OPENDATA/{listing_name}</title>
 </head>
 <body>
<h1>Index of /OPENDATA/{listing_name}</h1>
  <table>
   <tr><th valign="top"><img src="/icons/blank.gif" alt="[ICO]"></th><th><a href="?C=N;O=D">Name</a></th><th><a href="?C=M;O=A">Last modified</a></th><th><a href="?C=S;O=A">Size</a></th><th><a href="?C=D;O=A">Description</a></th></tr>
   <tr><th colspan="5"><hr></th></tr>
<tr><td valign="top"><img src="/icons/back.gif" alt="[PARENTDIR]"></td><td><a href="/OPENDATA/">Parent Directory</a></td><td>&nbsp;</td><td align="right">  - </td><td>&nbsp;</td></tr>
{chr(10).join(rows)}
   <tr><th colspan="5"><hr></th></tr>
</table>
<address>Apache Server at echanges.dila.gouv.fr Port 443</address>
</body></html>
"""
    write_file(f"{folder}/index.html", html)


def stamp_display(stamp):
    return f"{stamp[0:4]}-{stamp[4:6]}-{stamp[6:8]} {stamp[9:11]}:{stamp[11:13]}"


def write_dila_folder(folder, listing_name, fonds, archives, pdf_name):
    """archives: [(file name, stamp, docs, suppression or None)]."""
    listing = []
    for name, stamp, docs, suppression in archives:
        data = dila_archive(f"{folder}/{name}", stamp, docs, suppression, fonds)
        listing.append((name, len(data), stamp_display(stamp)))
    # The real listings also link a presentation PDF; only the link is kept
    # here (the pipeline takes links ending with .tar.gz).
    listing.append((pdf_name, 187392, "2024-12-16 10:42"))
    dila_index(folder, listing_name, listing)


# --------------------------------------------------------------------------
# CNIL (TEXTE_CNIL)
# --------------------------------------------------------------------------

def cnil_xml(d):
    doc_id = d["id"]
    meta = [
        f"<TITRE>{escape(d['titre'])}</TITRE>",
        f"<TITREFULL>{escape(d['titrefull'])}&#13;\n</TITREFULL>",
        f"<NUMERO>{d['numero']}</NUMERO>",
        f"<NOR>{d['nor']}</NOR>" if d.get("nor") else "<NOR/>",
        f"<NATURE_DELIB>{escape(d['nature_delib'])}</NATURE_DELIB>",
        f"<DATE_TEXTE>{d['date_texte']}</DATE_TEXTE>",
        f"<ORIGINE_PUBLI>{escape(d['origine_publi'])}</ORIGINE_PUBLI>" if d.get("origine_publi") else "<ORIGINE_PUBLI/>",
        f"<PAGE_DEB_PUBLI>{d['page']}</PAGE_DEB_PUBLI>" if d.get("page") else "<PAGE_DEB_PUBLI/>",
        f"<PAGE_FIN_PUBLI>{d['page']}</PAGE_FIN_PUBLI>" if d.get("page") else "<PAGE_FIN_PUBLI/>",
        "<NUM_SEQUENCE/>",
        f"<DATE_PUBLI>{d['date_publi']}</DATE_PUBLI>",
        f"<ETAT_JURIDIQUE>{d.get('etat', 'VIGUEUR')}</ETAT_JURIDIQUE>",
    ]
    liens = d.get("liens")
    liens_xml = "<LIENS>\n" + "\n".join(liens) + "\n</LIENS>" if liens else "<LIENS/>"
    return (
        XML_DECL
        + "<TEXTE_CNIL>\n<META>\n<META_COMMUN>\n"
        + f"<ID>{doc_id}</ID>\n<ANCIEN_ID/>\n<ORIGINE>CNIL</ORIGINE>\n"
        + f"<URL>texte/cnil/CNIL/TEXT/{id_dirs(doc_id)}/{doc_id}.xml</URL>\n"
        + "<NATURE>DELIBERATION</NATURE>\n</META_COMMUN>\n<META_SPEC>\n<META_CNIL>\n"
        + "\n".join(meta)
        + "\n</META_CNIL>\n</META_SPEC>\n</META>\n<BLOC_TEXTUEL>\n<CONTENU>\n"
        + d["contenu"].strip("\n")
        + "\n</CONTENU>\n</BLOC_TEXTUEL>\n"
        + liens_xml
        + "\n</TEXTE_CNIL>\n"
    )


def cnil_path(doc_id):
    return f"cnil/global/CNIL/TEXT/{id_dirs(doc_id)}/{doc_id}"


CNIL_1 = {
    "id": "CNILTEXT000049857312",
    "titre": "Délibération 2024-045 du 30 mai 2024",
    "titrefull": "Délibération n° 2024-045 du 30 mai 2024 portant avis sur un projet de décret relatif au traitement de données à caractère personnel dénommé « Mon parcours formation » (demande d’avis n° 24007815)",
    "numero": "2024-045",
    "nor": "CNIL2415873X",
    "nature_delib": "Avis",
    "date_texte": "2024-05-30",
    "origine_publi": "JORF n°0152 du 29 juin 2024",
    "page": "41",
    "date_publi": "2024-06-29",
    "contenu": """
<p>La Commission nationale de l'informatique et des libertés,</p>
<p>Saisie par la ministre du travail et de l'emploi d'une demande d'avis concernant un projet de décret relatif au traitement de données à caractère personnel dénommé « Mon parcours formation » ;</p>
<p>Vu le règlement (UE) 2016/679 du Parlement européen et du Conseil du 27 avril 2016 relatif à la protection des personnes physiques à l'égard du traitement des données à caractère personnel et à la libre circulation de ces données (RGPD) ;</p>
<p>Vu le code du travail, notamment ses articles L. 6323-1 et suivants ;</p>
<p>Vu la loi n° 78-17 du 6 janvier 1978 modifiée relative à l'informatique, aux fichiers et aux libertés ;</p>
<p>Après avoir entendu le rapport de Mme Sophie ARNAUDIN, commissaire, et les observations de M. Olivier BRESSAND, commissaire du Gouvernement,</p>
<p>Émet l'avis suivant :</p>
<p>
<b>I. Sur la finalité du traitement</b>
</p>
<p>Le projet de décret crée un traitement permettant aux titulaires d'un compte personnel de formation de consulter l'historique de leurs formations, de conserver leurs attestations et de partager, s'ils le souhaitent, ces éléments avec un conseiller en évolution professionnelle.<br/>La Commission relève que ce partage repose sur une démarche active de la personne concernée et qu'il peut être retiré à tout moment.</p>
<p>Elle considère que la finalité poursuivie est déterminée, explicite et légitime au sens de l'article 5 du RGPD.</p>
<p>
<b>II. Sur les données traitées et leur durée de conservation</b>
</p>
<p>Les données collectées comprennent l'identité du titulaire, son numéro d'inscription au répertoire, les intitulés et dates des formations suivies ainsi que les certifications obtenues.<br/>Elles sont conservées pendant toute la durée d'ouverture du compte, puis pendant deux ans à compter de sa clôture.</p>
<p>La Commission estime cette durée proportionnée à la finalité du traitement.</p>
<p>
<b>III. Sur les droits des personnes</b>
</p>
<p>Les droits d'accès, de rectification et de limitation s'exercent en ligne depuis l'espace personnel du titulaire. La Commission prend acte de ce que le droit d'opposition ne s'applique pas, le traitement étant nécessaire à l'exécution d'une mission d'intérêt public.</p>
<p align="center">La Présidente</p>
<p align="center">
<font size="2">Hélène VASSEUR-ROCHE</font>
</p>
""",
}

# Same id in the first delta: a published corrigendum changed the text.
CNIL_1_V2 = dict(CNIL_1)
CNIL_1_V2.update({
    "date_publi": "2025-07-10",
    "contenu": CNIL_1["contenu"].replace(
        "puis pendant deux ans à compter de sa clôture.</p>",
        "puis pendant trois ans à compter de sa clôture, afin de permettre le traitement des réclamations.</p>\n"
        "<p>Le ministère a précisé, postérieurement à la saisine, que les données relatives aux formations non achevées sont effacées au terme d'un délai de six mois.</p>",
    ).replace(
        "<p>La Commission estime cette durée proportionnée à la finalité du traitement.</p>",
        "<p>La Commission estime ces durées proportionnées à la finalité du traitement, sous réserve que l'effacement soit automatisé.</p>",
    ),
})

CNIL_2 = {
    "id": "CNILTEXT000050012874",
    "titre": "Délibération SAN-2024-012 du 18 juillet 2024",
    "titrefull": "Délibération de la formation restreinte n° SAN-2024-012 du 18 juillet 2024 concernant la société LOGIVIA",
    "numero": "SAN-2024-012",
    "nature_delib": "Sanction",
    "date_texte": "2024-07-18",
    "date_publi": "2024-07-25",
    "contenu": """
<p>La formation restreinte de la Commission nationale de l'informatique et des libertés, réunie en sa formation composée de M. Antoine DELCOURT, président, Mme Nadia FERRAND et M. Julien OSTROWSKI, membres ;</p>
<p>Vu le règlement (UE) 2016/679 du Parlement européen et du Conseil du 27 avril 2016 ;</p>
<p>Vu la décision n° 2023-187C de la présidente de la Commission de charger le secrétaire général de procéder à une mission de contrôle des traitements mis en œuvre par la société LOGIVIA ;</p>
<p>Vu le rapport de M. Marc PELLEGRIN, commissaire rapporteur, notifié à la société le 14 mars 2024 ;</p>
<p>Après avoir entendu, lors de la séance du 20 juin 2024, le commissaire rapporteur en son rapport et les représentants de la société en leurs observations ;</p>
<p>A adopté la décision suivante :</p>
<p>
<b>I. Faits et procédure</b>
</p>
<p>La société LOGIVIA, qui emploie environ 240 salariés, édite un logiciel de gestion locative destiné aux agences immobilières.<br/>Le contrôle réalisé dans ses locaux a révélé que les mots de passe des comptes clients étaient conservés en clair dans une base de données accessible à l'ensemble des développeurs.<br/>Il a également été constaté que les données des locataires ayant quitté leur logement étaient conservées sans limitation de durée.</p>
<p>
<b>II. Motifs de la décision</b>
</p>
<p>Sur le manquement à l'obligation d'assurer la sécurité des données (article 32 du RGPD) :<br/>La formation restreinte considère que la conservation en clair des mots de passe ne permet pas de garantir un niveau de sécurité adapté au risque.</p>
<p>Sur le manquement à l'obligation de limiter la durée de conservation (article 5-1-e du RGPD) :<br/>La société ne justifie d'aucune politique de durée de conservation pour les données des anciens locataires.</p>
<p>
<b>III. Sanction et publicité</b>
</p>
<p>Au regard de la gravité des manquements et de la taille de la société, la formation restreinte prononce une amende administrative de 75 000 euros et une injonction de mettre le traitement en conformité dans un délai de trois mois, assortie d'une astreinte de 500 euros par jour de retard.</p>
<p>Elle décide de rendre publique sa décision, qui n'identifiera plus la société à l'expiration d'un délai de deux ans.</p>
<p align="center">Le président</p>
<p align="center">Antoine DELCOURT</p>
""",
    "liens": [
        '<LIEN cidtexte="JORFTEXT000000886460" datesignatexte="1978-01-06" id="" naturetexte="LOI" nortexte="" num="" numtexte="78-17" sens="source" typelien="CITATION">Loi n° 78-17 du 6 janvier 1978</LIEN>',
    ],
}

# Deleted by the first delta (flagged " D" in the suppression list).
CNIL_3 = {
    "id": "CNILTEXT000026026299",
    "titre": "Délibération 2012-141 du 3 mai 2012",
    "titrefull": "Délibération n° 2012-141 du 3 mai 2012 autorisant la société TRANSALPES LOGISTIQUE à mettre en œuvre un traitement automatisé de données à caractère personnel ayant pour finalité la géolocalisation des véhicules de livraison (Demande d’autorisation n° 1574012)",
    "numero": "2012-141",
    "nature_delib": "Autre autorisation",
    "date_texte": "2012-05-03",
    "date_publi": "2019-11-13",
    "contenu": """
<p>La Commission nationale de l'informatique et des libertés, </p>
<p>Saisie par la société TRANSALPES LOGISTIQUE d'une demande d'autorisation concernant un traitement automatisé de données à caractère personnel ayant pour finalité la géolocalisation des véhicules de livraison,</p>
<p>Vu la loi n° 78-17 du 6 janvier 1978 modifiée relative à l'informatique, aux fichiers et aux libertés, notamment son article 25-I-4° ;</p>
<p>Vu le dossier et ses compléments ;</p>
<p>Sur la proposition de M. Bertrand LAFORGE, rapporteur,</p>
<p>Formule les observations suivantes :</p>
<table border="1" cellpadding="0" cellspacing="0" width="641">
<tbody>
<tr>
<td valign="top" width="175">
<p>Sur la finalité</p>
</td>
<td valign="top" width="466">
<p>Le traitement a pour finalité l'optimisation des tournées de livraison et la justification des heures de passage auprès des clients.</p>
<p>La Commission considère que la finalité poursuivie est déterminée, explicite et légitime.</p>
</td>
</tr>
<tr>
<td valign="top" width="175">
<p>Sur les données traitées</p>
</td>
<td valign="top" width="466">
<p>Sont collectées : l'identité du conducteur, l'immatriculation du véhicule, la position géographique relevée toutes les cinq minutes pendant les horaires de travail.</p>
<p>• Aucune donnée n'est collectée en dehors du temps de travail ;</p>
<p>• Le conducteur peut désactiver le dispositif pendant ses pauses.</p>
</td>
</tr>
<tr>
<td valign="top" width="175">
<p>Sur la durée de conservation</p>
</td>
<td valign="top" width="466">
<p>Les données de localisation sont conservées deux mois, puis agrégées à des fins statistiques.</p>
</td>
</tr>
</tbody>
</table>
<p>Autorise, conformément à la présente délibération, la société TRANSALPES LOGISTIQUE à mettre en œuvre le traitement susmentionné.</p>
<p align="center">Le Président</p>
<p align="center">
<font size="2">Gérard MONTEIL</font>
</p>
""",
}

CNIL_4 = {
    "id": "CNILTEXT000048765120",
    "titre": "Délibération 2023-102 du 12 octobre 2023",
    "titrefull": "Délibération n° 2023-102 du 12 octobre 2023 portant adoption d'une recommandation relative à la durée de conservation des données des candidats à un emploi",
    "numero": "2023-102",
    "nature_delib": "Recommandation",
    "date_texte": "2023-10-12",
    "date_publi": "2023-11-07",
    "contenu": """
<p>La Commission nationale de l'informatique et des libertés,</p>
<p>Vu le règlement (UE) 2016/679 du 27 avril 2016, notamment son article 5 ;</p>
<p>Vu le code du travail, notamment ses articles L. 1221-6 à L. 1221-9 ;</p>
<p>Considérant que de nombreux employeurs conservent les candidatures non retenues sans limitation de durée ;</p>
<p>Adopte la recommandation suivante :</p>
<p>1. Les données d'un candidat dont la candidature n'a pas été retenue ne devraient pas être conservées plus de deux ans après le dernier contact, sauf accord exprès de l'intéressé.<br/>2. Le candidat est informé, lors de la collecte, de la durée de conservation et de la possibilité de demander l'effacement anticipé de ses données.<br/>3. Les résultats des tests et évaluations sont supprimés dès la fin du processus de recrutement lorsqu'ils ne sont plus nécessaires.</p>
<p>La présente délibération sera publiée au Journal officiel de la République française.</p>
<p align="center">La Présidente</p>
<p align="center">Hélène VASSEUR-ROCHE</p>
""",
}

# New in the first delta.
CNIL_5 = {
    "id": "CNILTEXT000051880710",
    "titre": "Délibération 2025-031 du 3 avril 2025",
    "titrefull": "Délibération n° 2025-031 du 3 avril 2025 portant avis sur un projet d'arrêté relatif au téléservice « Déclaration de chantier » (demande d’avis n° 25002144)",
    "numero": "2025-031",
    "nature_delib": "Avis",
    "date_texte": "2025-04-03",
    "date_publi": "2025-07-09",
    "contenu": """
<p>La Commission nationale de l'informatique et des libertés,</p>
<p>Saisie par le ministre chargé du logement d'une demande d'avis concernant un projet d'arrêté relatif au téléservice « Déclaration de chantier » ;</p>
<p>Vu le code de la construction et de l'habitation ;</p>
<p>Vu la loi n° 78-17 du 6 janvier 1978 modifiée relative à l'informatique, aux fichiers et aux libertés, notamment son article 31 ;</p>
<p>Émet l'avis suivant :</p>
<p>Le téléservice permet aux maîtres d'ouvrage de déclarer l'ouverture et l'achèvement des chantiers. Les données traitées se limitent à l'identité du déclarant, à l'adresse du chantier et aux références de l'autorisation d'urbanisme.<br/>La Commission prend acte de ce que les données sont conservées cinq ans à compter de la déclaration d'achèvement.</p>
<p>Elle recommande que l'information des personnes figure directement sur le formulaire en ligne.</p>
<p align="center">La Présidente</p>
<p align="center">Hélène VASSEUR-ROCHE</p>
""",
}

# New in the second delta.
CNIL_6 = {
    "id": "CNILTEXT000051912233",
    "titre": "Délibération 2025-048 du 22 mai 2025",
    "titrefull": "Délibération n° 2025-048 du 22 mai 2025 portant adoption d'un référentiel relatif aux traitements de données à caractère personnel mis en œuvre pour la gestion de la restauration scolaire",
    "numero": "2025-048",
    "nature_delib": "Référentiel",
    "date_texte": "2025-05-22",
    "date_publi": "2025-07-17",
    "contenu": """
<p>La Commission nationale de l'informatique et des libertés,</p>
<p>Vu le règlement (UE) 2016/679 du 27 avril 2016, notamment son article 57 ;</p>
<p>Vu le code de l'éducation ;</p>
<p>Adopte un référentiel relatif aux traitements mis en œuvre par les collectivités territoriales pour la gestion de la restauration scolaire, annexé à la présente délibération.</p>
<p>Le référentiel précise les finalités admises (inscription, facturation, gestion des régimes alimentaires), les catégories de données pouvant être collectées et les durées de conservation recommandées.<br/>Les données relatives aux allergies ne sont collectées que sur la base d'un projet d'accueil individualisé.</p>
<p align="center">La Présidente</p>
<p align="center">Hélène VASSEUR-ROCHE</p>
""",
}


def cnil_docs(*docs):
    return {cnil_path(d["id"]) + ".xml": cnil_xml(d) for d in docs}


def build_cnil():
    folder = "dila/CNIL"
    absent_id = "CNILTEXT000047112058"  # listed for deletion, never in these samples
    archives = [
        ("Freemium_cnil_global_20250101-000000.tar.gz", "20250101-000000",
         cnil_docs(CNIL_1, CNIL_2, CNIL_3, CNIL_4), None),
        ("CNIL_20250711-212007.tar.gz", "20250711-212007",
         cnil_docs(CNIL_1_V2, CNIL_5),
         [cnil_path(CNIL_3["id"]) + " D", cnil_path(absent_id)]),
        ("CNIL_20250718-211500.tar.gz", "20250718-211500",
         cnil_docs(CNIL_6), []),
    ]
    write_dila_folder(folder, "CNIL", "cnil", archives, "DILA_CNIL_Presentation_20241216.pdf")


# --------------------------------------------------------------------------
# CONSTIT (TEXTE_JURI_CONSTIT)
# --------------------------------------------------------------------------

def constit_xml(d):
    doc_id = d["id"]
    url_cc = f"https://www.conseil-constitutionnel.fr/decision/{d['date_dec'][:4]}/{d['numero'].replace('-', '')}{d['nature']}.htm"
    ecli = f"ECLI:FR:CC:{d['date_dec'][:4]}:{d['numero'].replace('-', '.')}.{d['nature']}"
    return (
        XML_DECL
        + "<TEXTE_JURI_CONSTIT>\n<META>\n<META_COMMUN>\n"
        + f"<ID>{doc_id}</ID>\n<ANCIEN_ID/>\n<ORIGINE>CONSTIT</ORIGINE>\n"
        + f"<URL>juri/constit/CONS/TEXT/{id_dirs(doc_id)}/{doc_id}.xml</URL>\n"
        + f"<NATURE>{d['nature']}</NATURE>\n</META_COMMUN>\n<META_SPEC>\n<META_JURI>\n"
        + f"<TITRE>{escape(d['titre'])}</TITRE>\n"
        + f"<DATE_DEC>{d['date_dec']}</DATE_DEC>\n"
        + "<JURIDICTION>Conseil constitutionnel</JURIDICTION>\n"
        + f"<NUMERO>{d['numero']}</NUMERO>\n"
        + f"<SOLUTION>{escape(d['solution'])}</SOLUTION>\n"
        + "</META_JURI>\n<META_JURI_CONSTIT>\n"
        + f"<NATURE_QUALIFIEE>{d['nature']}</NATURE_QUALIFIEE>\n"
        + f"<NOR>{d['nor']}</NOR>\n"
        + (f'<LOI_DEF date="{d["loi_def"][0]}" nor="{d["loi_def"][1]}" num="{d["loi_def"][2]}"/>\n'
           if d.get("loi_def") else '<LOI_DEF date="2999-01-01" nor="SUPPRIME" num=""/>\n')
        + f"<TITRE_JO>{escape(d['titre_jo'])}</TITRE_JO>\n"
        + f"<URL_CC>{url_cc}</URL_CC>\n"
        + f"<ECLI>{ecli}</ECLI>\n"
        + "</META_JURI_CONSTIT>\n</META_SPEC>\n</META>\n<TEXTE>\n<BLOC_TEXTUEL>\n<CONTENU>"
        + "<br/>".join(d["paragraphs"])
        + "</CONTENU>\n</BLOC_TEXTUEL>\n"
        + (f"<SAISINES>\n<CONTENU>{'<br/>'.join(d['saisines'])}</CONTENU>\n</SAISINES>\n" if d.get("saisines") else "")
        + (f"<OBSERVATIONS>\n<CONTENU>{'<br/>'.join(d['observations'])}</CONTENU>\n</OBSERVATIONS>\n" if d.get("observations") else "")
        + "</TEXTE>\n"
        + '<LIENS>\n<LIEN cidtexte="" datesignatexte="" id="" naturetexte="" nortexte="" num="" numtexte="" sens="source" typelien="CITATION"/>\n</LIENS>\n'
        + "</TEXTE_JURI_CONSTIT>\n"
    )


def constit_path(doc_id):
    return f"constit/global/CONS/TEXT/{id_dirs(doc_id)}/{doc_id}"


CC_MEMBERS = ("M. Henri VALLIER, Président, Mme Claire BONNEMAISON, MM. Étienne CASTAGNE, "
              "Jacques DORVAL, Mmes Isabelle GUÉRIN-LAMBERT, Odile MARCHAND, M. Pierre-Yves NOLLET, "
              "Mme Véronique SABATIER et M. Alain TESSIER.")

CONSTIT_1 = {
    "id": "CONSTEXT000049563412",
    "nature": "QPC",
    "titre": "M. Yannick L. [Point de départ du délai de prescription de l'action en paiement de l'indemnité de licenciement]",
    "date_dec": "2024-05-17",
    "numero": "2024-1089",
    "solution": "Conformité",
    "nor": "CSCX2413355S",
    "titre_jo": "JORF n°0115 du 18 mai 2024, texte n° 97",
    "paragraphs": [
        "LE CONSEIL CONSTITUTIONNEL A ÉTÉ SAISI le 20 février 2024 par la Cour de cassation (chambre sociale, arrêt n° 312 du 14 février 2024), dans les conditions prévues à l'article 61-1 de la Constitution, d'une question prioritaire de constitutionnalité. Cette question a été posée pour M. Yannick L. par Me Amélie ROUSSET, avocate au barreau de Lyon. Elle a été enregistrée au secrétariat général du Conseil constitutionnel sous le n° 2024-1089 QPC. Elle est relative à la conformité aux droits et libertés que la Constitution garantit du premier alinéa de l'article L. 1471-1 du code du travail.",
        "Au vu des textes suivants :",
        "- la Constitution ;",
        "- l'ordonnance n° 58-1067 du 7 novembre 1958 portant loi organique sur le Conseil constitutionnel ;",
        "- le code du travail ;",
        "- le règlement du 4 février 2010 sur la procédure suivie devant le Conseil constitutionnel pour les questions prioritaires de constitutionnalité ;",
        "Au vu des pièces suivantes :",
        "- les observations présentées pour le requérant par Me ROUSSET, enregistrées le 12 mars 2024 ;",
        "- les observations présentées par le Premier ministre, enregistrées le 13 mars 2024 ;",
        "Après avoir entendu Me ROUSSET, pour le requérant, et M. Bastien CORNU, désigné par le Premier ministre, à l'audience publique du 7 mai 2024 ;",
        "Et après avoir entendu le rapporteur ;",
        "LE CONSEIL CONSTITUTIONNEL S'EST FONDÉ SUR CE QUI SUIT :",
        "1. La question prioritaire de constitutionnalité doit être considérée comme portant sur les dispositions applicables au litige, dans leur rédaction résultant de l'ordonnance du 22 septembre 2017.",
        "2. Le requérant reproche à ces dispositions de faire courir le délai de prescription à compter de la notification de la rupture, alors que le salarié peut ignorer à cette date le montant des sommes qui lui sont dues. Il en résulterait une atteinte au droit à un recours juridictionnel effectif.",
        "3. En premier lieu, en fixant un délai de douze mois, le législateur a entendu assurer la sécurité juridique des relations de travail en limitant dans le temps la contestation de la rupture du contrat.",
        "4. En second lieu, le salarié dispose, dès la notification de la rupture, des éléments lui permettant d'apprécier l'opportunité d'une action. Ainsi, les dispositions contestées ne portent pas d'atteinte disproportionnée au droit à un recours juridictionnel effectif.",
        "5. Il résulte de tout ce qui précède que ces dispositions, qui ne méconnaissent aucun autre droit ou liberté que la Constitution garantit, doivent être déclarées conformes à la Constitution.",
        "LE CONSEIL CONSTITUTIONNEL DÉCIDE :",
        "Article 1er. - Le premier alinéa de l'article L. 1471-1 du code du travail est conforme à la Constitution.",
        "Article 2. - Cette décision sera publiée au Journal officiel de la République française et notifiée dans les conditions prévues à l'article 23-11 de l'ordonnance du 7 novembre 1958 susvisée.",
        "Jugé par le Conseil constitutionnel dans sa séance du 16 mai 2024, où siégeaient : " + CC_MEMBERS,
        "Rendu public le 17 mai 2024.",
    ],
}

CONSTIT_2 = {
    "id": "CONSTEXT000049871205",
    "nature": "DC",
    "titre": "Loi visant à renforcer la sécurité des usagers des transports collectifs",
    "date_dec": "2024-07-11",
    "numero": "2024-866",
    "solution": "Non conformité partielle",
    "nor": "CSCL2418204S",
    "loi_def": ("2024-07-16", "TRAX2331122L", "2024-701"),
    "titre_jo": "JORF n°0168 du 17 juillet 2024, texte n° 2",
    "paragraphs": [
        "LE CONSEIL CONSTITUTIONNEL A ÉTÉ SAISI, dans les conditions prévues au deuxième alinéa de l'article 61 de la Constitution, de la loi visant à renforcer la sécurité des usagers des transports collectifs, sous le n° 2024-866 DC, le 14 juin 2024, par Mme Lucie ANDRIEUX et soixante autres députés.",
        "Au vu des textes suivants :",
        "- la Constitution ;",
        "- l'ordonnance n° 58-1067 du 7 novembre 1958 portant loi organique sur le Conseil constitutionnel ;",
        "- le code des transports ;",
        "Au vu des observations du Gouvernement, enregistrées le 28 juin 2024 ;",
        "Et après avoir entendu le rapporteur ;",
        "LE CONSEIL CONSTITUTIONNEL S'EST FONDÉ SUR CE QUI SUIT :",
        "1. Les députés requérants défèrent au Conseil constitutionnel la loi visant à renforcer la sécurité des usagers des transports collectifs. Ils contestent la conformité à la Constitution de ses articles 4 et 9.",
        "- Sur l'article 4 :",
        "2. L'article 4 autorise les agents des services internes de sécurité des exploitants à procéder à des palpations de sécurité sans l'accord de la personne concernée.",
        "3. En permettant des palpations sans consentement, en dehors de toute circonstance particulière et sans contrôle d'un officier de police judiciaire, le législateur n'a pas assuré une conciliation équilibrée entre la prévention des atteintes à l'ordre public et le droit au respect de la vie privée. Par conséquent, l'article 4 est contraire à la Constitution.",
        "- Sur l'article 9 :",
        "4. L'article 9 permet aux exploitants de conserver pendant trente jours les images des caméras embarquées. Ces dispositions, entourées de garanties suffisantes, ne méconnaissent aucune exigence constitutionnelle.",
        "LE CONSEIL CONSTITUTIONNEL DÉCIDE :",
        "Article 1er. - L'article 4 de la loi visant à renforcer la sécurité des usagers des transports collectifs est contraire à la Constitution.",
        "Article 2. - L'article 9 de la même loi est conforme à la Constitution.",
        "Article 3. - Cette décision sera publiée au Journal officiel de la République française.",
        "Jugé par le Conseil constitutionnel dans sa séance du 11 juillet 2024, où siégeaient : " + CC_MEMBERS,
        "Rendu public le 11 juillet 2024.",
    ],
    "saisines": [
        "Saisine par 60 députés - 2024-866 DC",
        "Les députés soussignés ont l'honneur de déférer au Conseil constitutionnel la loi visant à renforcer la sécurité des usagers des transports collectifs, définitivement adoptée le 12 juin 2024.",
        "Ils estiment que ses articles 4 et 9 portent une atteinte excessive au droit au respect de la vie privée.",
    ],
    "observations": [
        "Observations du Gouvernement sur la loi visant à renforcer la sécurité des usagers des transports collectifs",
        "Le Gouvernement considère que les dispositions contestées sont entourées de garanties suffisantes.",
    ],
}

CONSTIT_3 = {
    "id": "CONSTEXT000050234118",
    "nature": "QPC",
    "titre": "Association Les Amis du littoral breton [Dérogation à l'interdiction de construire dans la bande littorale des cent mètres]",
    "date_dec": "2024-09-20",
    "numero": "2024-1102",
    "solution": "Conformité - réserve",
    "nor": "CSCX2425601S",
    "titre_jo": "JORF n°0224 du 21 septembre 2024, texte n° 83",
    "paragraphs": [
        "LE CONSEIL CONSTITUTIONNEL A ÉTÉ SAISI le 2 juillet 2024 par le Conseil d'État (décision n° 493317 du 28 juin 2024), dans les conditions prévues à l'article 61-1 de la Constitution, d'une question prioritaire de constitutionnalité. Cette question a été posée pour l'association Les Amis du littoral breton par la SCP Marchal et associés, avocat au Conseil d'État et à la Cour de cassation. Elle a été enregistrée sous le n° 2024-1102 QPC. Elle est relative à la conformité aux droits et libertés que la Constitution garantit de l'article L. 121-17 du code de l'urbanisme.",
        "Au vu des textes suivants :",
        "- la Constitution ;",
        "- la Charte de l'environnement ;",
        "- le code de l'urbanisme ;",
        "Et après avoir entendu le rapporteur ;",
        "LE CONSEIL CONSTITUTIONNEL S'EST FONDÉ SUR CE QUI SUIT :",
        "1. L'association requérante soutient que la dérogation prévue par les dispositions contestées, qui permet d'autoriser certains équipements dans la bande littorale, méconnaît l'article 1er de la Charte de l'environnement.",
        "2. Toutefois, ces dispositions ne sauraient, sans méconnaître le droit de chacun de vivre dans un environnement équilibré et respectueux de la santé, être interprétées comme permettant d'autoriser des constructions dont l'implantation n'exige pas la proximité immédiate de l'eau.",
        "3. Sous cette réserve, les dispositions contestées ne méconnaissent pas l'article 1er de la Charte de l'environnement.",
        "LE CONSEIL CONSTITUTIONNEL DÉCIDE :",
        "Article 1er. - Sous la réserve énoncée au paragraphe 2, l'article L. 121-17 du code de l'urbanisme est conforme à la Constitution.",
        "Article 2. - Cette décision sera publiée au Journal officiel de la République française.",
        "Jugé par le Conseil constitutionnel dans sa séance du 19 septembre 2024, où siégeaient : " + CC_MEMBERS,
        "Rendu public le 20 septembre 2024.",
    ],
}

# New in the delta.
CONSTIT_4 = {
    "id": "CONSTEXT000051766054",
    "nature": "QPC",
    "titre": "Société Transports Berthelot [Cumul de sanctions administratives en matière de temps de conduite]",
    "date_dec": "2025-06-27",
    "numero": "2025-1134",
    "solution": "Non conformité totale",
    "nor": "CSCX2517730S",
    "titre_jo": "JORF n°0149 du 28 juin 2025, texte n° 120",
    "paragraphs": [
        "LE CONSEIL CONSTITUTIONNEL A ÉTÉ SAISI le 3 avril 2025 par le Conseil d'État (décision n° 500412 du 1er avril 2025), dans les conditions prévues à l'article 61-1 de la Constitution, d'une question prioritaire de constitutionnalité posée pour la société Transports Berthelot. Elle a été enregistrée sous le n° 2025-1134 QPC. Elle est relative à la conformité aux droits et libertés que la Constitution garantit de l'article L. 3452-2 du code des transports.",
        "Au vu des textes suivants :",
        "- la Constitution ;",
        "- le code des transports ;",
        "Et après avoir entendu le rapporteur ;",
        "LE CONSEIL CONSTITUTIONNEL S'EST FONDÉ SUR CE QUI SUIT :",
        "1. La société requérante soutient que les dispositions contestées permettent de sanctionner deux fois les mêmes faits, par une amende administrative et par le retrait de la licence de transport, sans que le cumul des sanctions soit plafonné.",
        "2. Faute pour le législateur d'avoir prévu que le montant global des sanctions éventuellement prononcées ne dépasse pas le montant le plus élevé de l'une des sanctions encourues, les dispositions contestées méconnaissent le principe de proportionnalité des peines.",
        "3. L'abrogation immédiate des dispositions déclarées inconstitutionnelles aurait des conséquences manifestement excessives. Il y a lieu de reporter au 1er juillet 2026 la date de cette abrogation.",
        "LE CONSEIL CONSTITUTIONNEL DÉCIDE :",
        "Article 1er. - L'article L. 3452-2 du code des transports est contraire à la Constitution.",
        "Article 2. - La déclaration d'inconstitutionnalité de l'article 1er prend effet dans les conditions fixées au paragraphe 3 de cette décision.",
        "Article 3. - Cette décision sera publiée au Journal officiel de la République française.",
        "Jugé par le Conseil constitutionnel dans sa séance du 26 juin 2025, où siégeaient : " + CC_MEMBERS,
        "Rendu public le 27 juin 2025.",
    ],
}


def build_constit():
    folder = "dila/CONSTIT"
    docs = lambda *ds: {constit_path(d["id"]) + ".xml": constit_xml(d) for d in ds}  # noqa: E731
    archives = [
        ("Freemium_constit_global_20250101-000000.tar.gz", "20250101-000000",
         docs(CONSTIT_1, CONSTIT_2, CONSTIT_3), None),
        ("CONSTIT_20250704-203015.tar.gz", "20250704-203015",
         docs(CONSTIT_4), [constit_path(CONSTIT_1["id"])]),
    ]
    write_dila_folder(folder, "CONSTIT", "constit", archives, "DILA_CONSTIT_Presentation_20241216.pdf")


# --------------------------------------------------------------------------
# DOLE (DOSSIER_LEGISLATIF)
# --------------------------------------------------------------------------

LEGISLATURES = {
    16: ("XVIème législature", "2022-06-22", "2024-06-09"),
    17: ("XVIIème législature", "2024-07-18", "2999-01-01"),
}


def paras(*texts):
    return "".join(f"<p>{t}</p>" for t in texts)


def dole_xml(d):
    doc_id = d["id"]
    libelle, deb, fin = LEGISLATURES[d["legislature"]]
    meta = [
        f"<TITRE>{escape(d['titre'])}</TITRE>",
        f"<DATE_CREATION>{d['date_creation']}</DATE_CREATION>",
        f"<DATE_DERNIERE_MODIFICATION>{d['date_maj']}</DATE_DERNIERE_MODIFICATION>",
        f"<LEGISLATURE>\n<NUMERO>{d['legislature']}</NUMERO>\n<LIBELLE>{libelle}</LIBELLE>\n"
        f"<DATE_DEBUT>{deb}</DATE_DEBUT>\n<DATE_FIN>{fin}</DATE_FIN>\n</LEGISLATURE>",
        f"<TYPE>{d['type']}</TYPE>",
    ]
    for i, text_id in enumerate(d.get("id_textes", []), 1):
        meta.append(f"<ID_TEXTE_{i}>{text_id}</ID_TEXTE_{i}>")
    contenu = ["<ARBORESCENCE>", d["arborescence"].strip("\n"), "</ARBORESCENCE>"]
    if d.get("expose") is not None:
        contenu.append(f"<EXPOSE_MOTIF>{d['expose']}</EXPOSE_MOTIF>")
    for i, (libelle_texte, body) in enumerate(d.get("contenus", []), 1):
        contenu.append(f"<CONTENU_DOSSIER_{i}>{body}</CONTENU_DOSSIER_{i}>")
        contenu.append(f"<LIBELLE_TEXTE_{i}>{escape(libelle_texte)}</LIBELLE_TEXTE_{i}>")
    if d.get("echeancier"):
        contenu.append(d["echeancier"].strip("\n"))
    return (
        XML_DECL
        + "<DOSSIER_LEGISLATIF>\n<META>\n<META_COMMUN>\n"
        + f"<ID>{doc_id}</ID>\n<ANCIEN_ID/>\n<ORIGINE>JORF</ORIGINE>\n"
        + f"<URL>dossier_legislatif/JORF/DOLE/{id_dirs(doc_id)}/{doc_id}.xml</URL>\n"
        + "<NATURE/>\n</META_COMMUN>\n<META_DOSSIER_LEGISLATIF>\n"
        + "\n".join(meta)
        + "\n</META_DOSSIER_LEGISLATIF>\n</META>\n<CONTENU>\n"
        + "\n".join(contenu)
        + "\n</CONTENU>\n</DOSSIER_LEGISLATIF>\n"
    )


def dole_path(doc_id):
    return f"dole/global/JORF/DOLE/{id_dirs(doc_id)}/{doc_id}"


# Expose with <p> children: an introduction, then TITRE / Article syntheses.
# Both CONTENU_DOSSIER parts number their articles from "Article 1er": the
# article numbers repeat across parts.
DOLE_1 = {
    "id": "JORFDOLE000047251836",
    "titre": "LOI n° 2024-513 du 3 juin 2024 relative à l'accessibilité des démarches administratives en ligne",
    "date_creation": "2023-11-15",
    "date_maj": "2024-12-05",
    "legislature": 16,
    "type": "LOI_PUBLIEE",
    "id_textes": ["JORFTEXT000049654321"],
    "arborescence": """
<NIVEAU id="" libelle="Assemblée nationale - première lecture">
<LIEN id="" libelle="Projet de loi n° 1874 déposé le 15 novembre 2023" lien="https://www.assemblee-nationale.fr/dyn/16/textes/l16b1874_projet-loi">Projet de loi relatif à l'accessibilité des démarches administratives en ligne, n° 1874, déposé le 15 novembre 2023</LIEN>
<LIEN id="" libelle="Rapport n° 1956" lien="https://www.assemblee-nationale.fr/dyn/16/rapports/cion_lois/l16b1956_rapport-fond">Rapport de Mme Pauline RENAUDIN, au nom de la commission des lois, n° 1956, déposé le 10 janvier 2024</LIEN>
<LIEN id="" libelle="Texte adopté n° 231" lien="https://www.assemblee-nationale.fr/dyn/16/textes/l16t0231_texte-adopte-seance">Texte adopté n° 231 le 23 janvier 2024</LIEN>
</NIVEAU>
<NIVEAU id="" libelle="Sénat - première lecture">
<LIEN id="" libelle="Projet de loi n° 289 (2023-2024)" lien="https://www.senat.fr/dossier-legislatif/pjl23-289.html">Projet de loi, adopté par l'Assemblée nationale, n° 289 (2023-2024), transmis au Sénat le 24 janvier 2024</LIEN>
<LIEN id="" libelle="Texte adopté n° 98 (2023-2024)" lien="https://www.senat.fr/leg/tas23-098.html">Texte adopté sans modification n° 98 (2023-2024) le 21 mai 2024</LIEN>
</NIVEAU>
<LIEN id="JORFTEXT000049654321" libelle="LOI n° 2024-513 du 3 juin 2024" lien="https://www.legifrance.gouv.fr/jorf/id/JORFTEXT000049654321">LOI n° 2024-513 du 3 juin 2024 relative à l'accessibilité des démarches administratives en ligne</LIEN>
""",
    "expose": paras(
        "Le présent projet de loi a pour objet de garantir à chaque usager un accès effectif aux démarches administratives dématérialisées, quelle que soit sa situation ou son handicap.",
        "Près de la moitié des démarches les plus courantes ne sont plus accessibles qu'en ligne. Cette évolution, source de simplification pour la majorité des usagers, a pour contrepartie l'exclusion de ceux qui ne disposent pas d'un équipement adapté ou qui rencontrent des difficultés avec les outils numériques.",
        "Le Gouvernement entend y répondre par deux séries de mesures : renforcer les obligations d'accessibilité pesant sur les téléservices, d'une part, et garantir un accompagnement humain, d'autre part.",
        "TITRE Ier : DISPOSITIONS RELATIVES À L'ACCESSIBILITÉ DES SERVICES NUMÉRIQUES",
        "Article 1er",
        "Cet article impose aux administrations de l'État, aux collectivités territoriales et aux organismes de sécurité sociale de rendre leurs téléservices conformes au référentiel général d'amélioration de l'accessibilité dans un délai de deux ans.",
        "Article 2",
        "Cet article prévoit la publication, sur la page d'accueil de chaque téléservice, d'une déclaration d'accessibilité et d'un moyen simple de signaler un défaut d'accessibilité.",
        "TITRE II : DISPOSITIONS RELATIVES À L'ACCOMPAGNEMENT DES USAGERS",
        "Article 3",
        "Cet article garantit le maintien, pour toute démarche, d'une voie d'accès non dématérialisée ou d'un accompagnement dans une structure de proximité labellisée France services.",
    ),
    "contenus": [
        ("Projet de loi relatif à l'accessibilité des démarches administratives en ligne (texte déposé)", paras(
            "Article 1er",
            "Les téléservices mis en œuvre par les administrations mentionnées à l'article L. 100-3 du code des relations entre le public et l'administration sont rendus accessibles aux personnes handicapées dans un délai de deux ans à compter de la publication de la présente loi.",
            "Article 2",
            "Chaque téléservice comporte, sur sa page d'accueil, une déclaration d'accessibilité précisant son niveau de conformité ainsi qu'un moyen de signaler un défaut d'accessibilité.",
            "Article 3",
            "Aucune démarche administrative ne peut être accomplie exclusivement par voie électronique lorsque l'usager justifie ne pas être en mesure d'y recourir.",
        )),
        ("Texte adopté définitivement par le Parlement", paras(
            "Article 1er",
            "Les téléservices mis en œuvre par les administrations mentionnées à l'article L. 100-3 du code des relations entre le public et l'administration sont rendus accessibles aux personnes handicapées dans un délai de trois ans à compter de la promulgation de la présente loi.",
            "Article 2",
            "Chaque téléservice comporte, sur sa page d'accueil, une déclaration d'accessibilité précisant son niveau de conformité, la date de sa dernière mise à jour et un moyen de signaler un défaut d'accessibilité.<br/>Un décret en Conseil d'État précise les modalités d'application du présent article.",
            "Article 3",
            "Aucune démarche administrative ne peut être accomplie exclusivement par voie électronique. L'usager peut toujours s'adresser à un guichet ou à une structure France services.",
            "Article 4",
            "Le Gouvernement remet au Parlement, dans un délai de dix-huit mois à compter de la promulgation de la présente loi, un rapport évaluant le taux d'accessibilité des cent démarches les plus utilisées.",
        )),
    ],
    "echeancier": """
<ECHEANCIER derniere_maj="2024-12-05">
<LIGNE>
<NUMERO_ORDRE>1</NUMERO_ORDRE>
<ARTICLE>2</ARTICLE>
<LIEN_ARTICLE id="JORFARTI000049654324">Article 2</LIEN_ARTICLE>
<BASE_LEGALE>Article L. 112-8-1 du code des relations entre le public et l'administration</BASE_LEGALE>
<OBJET>Contenu de la déclaration d'accessibilité des téléservices et modalités de signalement</OBJET>
<DATE_PREVUE>Décembre 2024</DATE_PREVUE>
<CID_LOI_CIBLE>JORFTEXT000049654321</CID_LOI_CIBLE>
<DECRET>Décret n° 2024-1097 du 4 décembre 2024</DECRET>
</LIGNE>
<LIGNE>
<NUMERO_ORDRE>2</NUMERO_ORDRE>
<ARTICLE>3</ARTICLE>
<LIEN_ARTICLE id="JORFARTI000049654325">Article 3</LIEN_ARTICLE>
<BASE_LEGALE>Article L. 112-9 du code des relations entre le public et l'administration</BASE_LEGALE>
<OBJET>Conditions d'accès à une voie non dématérialisée</OBJET>
<DATE_PREVUE>Mars 2025</DATE_PREVUE>
<CID_LOI_CIBLE>JORFTEXT000049654321</CID_LOI_CIBLE>
<DECRET/>
</LIGNE>
</ECHEANCIER>
""",
}

# EXPOSE_MOTIF holding only text (no child element).
_DOLE_2_EXPOSE = (
    "\nLe présent projet de loi adapte le droit national à plusieurs actes de l'Union européenne adoptés en matière économique et financière."
    "\nIl comporte des mesures de transposition dont le délai expire au cours de l'année 2025."
    "\nArticle 1er : l'article 1er transpose les règles relatives à la transparence des frais bancaires appliqués aux virements instantanés."
    "\nArticle 2 : l'article 2 habilite le Gouvernement à prendre par ordonnance les mesures d'adaptation du code monétaire et financier.\n"
)

DOLE_2 = {
    "id": "JORFDOLE000048123456",
    "titre": "Projet de loi portant diverses dispositions d'adaptation au droit de l'Union européenne en matière économique et financière",
    "date_creation": "2024-10-16",
    "date_maj": "2024-10-16",
    "legislature": 17,
    "type": "PROJET_LOI",
    "arborescence": """
<NIVEAU id="" libelle="Assemblée nationale - première lecture">
<LIEN id="" libelle="Projet de loi n° 412 déposé le 16 octobre 2024" lien="https://www.assemblee-nationale.fr/dyn/17/textes/l17b0412_projet-loi">Projet de loi portant diverses dispositions d'adaptation au droit de l'Union européenne en matière économique et financière, n° 412, déposé le 16 octobre 2024</LIEN>
</NIVEAU>
""",
    "expose": escape(_DOLE_2_EXPOSE),
    "contenus": [
        ("Projet de loi n° 412 déposé le 16 octobre 2024", paras(
            "Article 1er",
            "Le chapitre III du titre III du livre Ier du code monétaire et financier est complété par un article L. 133-45 ainsi rédigé : « Art. L. 133-45. - Les frais appliqués à un virement instantané ne peuvent excéder ceux appliqués à un virement ordinaire de même nature. »",
            "Article 2",
            "Dans les conditions prévues à l'article 38 de la Constitution, le Gouvernement est autorisé à prendre par ordonnance, dans un délai de neuf mois à compter de la promulgation de la présente loi, les mesures relevant du domaine de la loi nécessaires à l'adaptation du code monétaire et financier.",
        )),
    ],
}

# Changed in the delta: the bill became a law.
DOLE_2_V2 = dict(DOLE_2)
DOLE_2_V2.update({
    "titre": "LOI n° 2025-391 du 30 avril 2025 portant diverses dispositions d'adaptation au droit de l'Union européenne en matière économique et financière",
    "date_maj": "2025-05-02",
    "type": "LOI_PUBLIEE",
    "id_textes": ["JORFTEXT000051542187"],
    "arborescence": DOLE_2["arborescence"].rstrip("\n") + """
<NIVEAU id="" libelle="Sénat - première lecture">
<LIEN id="" libelle="Texte adopté n° 87 (2024-2025)" lien="https://www.senat.fr/leg/tas24-087.html">Texte adopté sans modification n° 87 (2024-2025) le 15 avril 2025</LIEN>
</NIVEAU>
<LIEN id="JORFTEXT000051542187" libelle="LOI n° 2025-391 du 30 avril 2025" lien="https://www.legifrance.gouv.fr/jorf/id/JORFTEXT000051542187">LOI n° 2025-391 du 30 avril 2025 portant diverses dispositions d'adaptation au droit de l'Union européenne en matière économique et financière</LIEN>
""",
    "contenus": DOLE_2["contenus"] + [
        ("Texte adopté définitivement par le Parlement", paras(
            "Article 1er",
            "Le chapitre III du titre III du livre Ier du code monétaire et financier est complété par un article L. 133-45 ainsi rédigé : « Art. L. 133-45. - Les frais appliqués à un virement instantané en euros ne peuvent excéder ceux appliqués à un virement ordinaire de même nature. »",
            "Article 2",
            "Dans les conditions prévues à l'article 38 de la Constitution, le Gouvernement est autorisé à prendre par ordonnance, dans un délai de six mois à compter de la promulgation de la présente loi, les mesures d'adaptation du code monétaire et financier.",
        )),
    ],
})

# Expose with an introduction and an "Article unique"; a second part with no
# article number at all.
DOLE_3 = {
    "id": "JORFDOLE000050087731",
    "titre": "Proposition de loi visant à faciliter le don de jours de repos entre agents publics",
    "date_creation": "2024-12-04",
    "date_maj": "2025-01-22",
    "legislature": 17,
    "type": "PROPOSITION_LOI",
    "arborescence": """
<NIVEAU id="" libelle="Assemblée nationale - première lecture">
<LIEN id="" libelle="Proposition de loi n° 655 déposée le 4 décembre 2024" lien="https://www.assemblee-nationale.fr/dyn/17/textes/l17b0655_proposition-loi">Proposition de loi de M. Thomas GIRARDEAU et plusieurs de ses collègues visant à faciliter le don de jours de repos entre agents publics, n° 655, déposée le 4 décembre 2024</LIEN>
</NIVEAU>
""",
    "expose": paras(
        "Mesdames, Messieurs,",
        "Le don de jours de repos permet à un agent de renoncer à une partie de ses congés au profit d'un collègue qui assume la charge d'un enfant gravement malade ou qui vient en aide à un proche en perte d'autonomie.",
        "Dans la fonction publique, ce dispositif reste limité aux agents relevant du même employeur, ce qui en réduit la portée dans les petites collectivités.",
        "Article unique",
        "L'article unique ouvre le don de jours de repos aux agents relevant d'employeurs publics différents situés dans le même département.",
    ),
    "contenus": [
        ("Proposition de loi n° 655", paras(
            "Article unique",
            "Après le premier alinéa de l'article L. 622-4 du code général de la fonction publique, il est inséré un alinéa ainsi rédigé : « Le don peut bénéficier à un agent relevant d'un autre employeur public dont le siège est situé dans le même département. »",
        )),
        ("Procédure", paras(
            "Procédure accélérée engagée par le Gouvernement le 15 janvier 2025.",
            "Renvoyée à la commission des lois constitutionnelles, de la législation et de l'administration générale de la République.",
        )),
    ],
}


def build_dole():
    folder = "dila/DOLE"
    docs = lambda *ds: {dole_path(d["id"]) + ".xml": dole_xml(d) for d in ds}  # noqa: E731
    archives = [
        ("Freemium_dole_global_20250101-000000.tar.gz", "20250101-000000",
         docs(DOLE_1, DOLE_2, DOLE_3), None),
        ("DOLE_20250502-204512.tar.gz", "20250502-204512", docs(DOLE_2_V2), []),
    ]
    write_dila_folder(folder, "DOLE", "dole", archives, "DILA_DOLE_Presentation_20241216.pdf")


# --------------------------------------------------------------------------
# LEGI (ARTICLE, plus SECTION_TA / TEXTELR / TEXTE_VERSION to be skipped)
# --------------------------------------------------------------------------

CODE_MONETAIRE = {
    "cid": "LEGITEXT000006070666",
    "base": "code_et_TNC_en_vigueur/code_en_vigueur/LEGI/TEXT",
    "attrs": 'autorite="" cid="LEGITEXT000006070666" date_publi="2999-01-01" date_signature="2999-01-01" ministere="" nature="CODE" nor="" num=""',
    "titre_txt": '<TITRE_TXT c_titre_court="Code des instruments monétaires et des médailles" debut="1952-06-29" fin="2999-01-01" id_txt="LEGITEXT000006070666">Code des instruments monétaires et des médailles</TITRE_TXT>',
}

CODE_TRAVAIL = {
    "cid": "LEGITEXT000006072050",
    "base": "code_et_TNC_en_vigueur/code_en_vigueur/LEGI/TEXT",
    "attrs": 'autorite="" cid="LEGITEXT000006072050" date_publi="2999-01-01" date_signature="2999-01-01" ministere="" nature="CODE" nor="" num="" num_parution_jo=""',
    "titre_txt": '<TITRE_TXT c_titre_court="Code du travail" debut="2008-05-01" fin="2999-01-01" id_txt="LEGITEXT000006072050">Code du travail</TITRE_TXT>',
}

# A decree (texte non codifié): its short title ends with a dot, and it has
# a ministry.
DECRET_DONS = {
    "cid": "JORFTEXT000044102345",
    "base": "code_et_TNC_en_vigueur/TNC_en_vigueur/JORF/TEXT",
    "attrs": 'autorite="" cid="JORFTEXT000044102345" date_publi="2021-09-25" date_signature="2021-09-24" ministere="Ministère de l\'économie, des finances et de la relance" nature="DECRET" nor="ECOE2126781D" num="2021-1234" num_parution_jo="224"',
    "titre_txt": '<TITRE_TXT c_titre_court="Décret n° 2021-1234 du 24 septembre 2021 relatif à la déclaration en ligne des dons manuels." debut="2021-10-01" fin="2999-01-01" id_txt="JORFTEXT000044102345">Décret n° 2021-1234 du 24 septembre 2021 relatif à la déclaration en ligne des dons manuels</TITRE_TXT>',
}


def text_dir(text):
    return f"legi/global/{text['base']}/{id_dirs(text['cid'])}/{text['cid']}"


def article_path(text, art_id):
    return f"{text_dir(text)}/article/LEGI/ARTI/{id_dirs(art_id)}/{art_id}"


def tm_xml(tms):
    """tms: [(debut, fin, id, title)], nested from the outermost."""
    if not tms:
        return ""
    opening = "".join(f'<TM>\n<TITRE_TM debut="{d}" fin="{f}" id="{i}">{escape(t)}</TITRE_TM>\n' for d, f, i, t in tms)
    return opening + "</TM>\n" * len(tms)


def legi_article_xml(a):
    text = a["text"]
    versions = "".join(
        f'<VERSION etat="{etat}">\n<LIEN_ART debut="{deb}" etat="{etat}" fin="{fin}" id="{vid}" num="{escape(a["num"])}" origine="LEGI"/>\n</VERSION>\n'
        for etat, deb, fin, vid in a["versions"]
    )
    if a.get("nota"):
        nota = "<NOTA>\n<CONTENU>\n" + "\n".join(f"<p>{p}</p>" for p in a["nota"]) + "\n</CONTENU>\n</NOTA>\n"
    else:
        nota = "<NOTA>\n<CONTENU/>\n</NOTA>\n"
    liens = a.get("liens", [])
    liens_xml = "<LIENS>\n" + "".join(
        f'<LIEN cidtexte="{l[0]}" datesignatexte="{l[1]}" id="{l[2]}" naturetexte="{l[3]}" nortexte="{l[4]}" num="{l[5]}" numtexte="{l[6]}" sens="{l[7]}" typelien="{l[8]}">{escape(l[9])}</LIEN>\n'
        for l in liens
    ) + "</LIENS>\n" if liens else "<LIENS/>\n"
    return (
        XML_DECL
        + "<ARTICLE>\n<META>\n<META_COMMUN>\n"
        + f"<ID>{a['id']}</ID>\n<ANCIEN_ID/>\n<ORIGINE>LEGI</ORIGINE>\n"
        + f"<URL>article/LEGI/ARTI/{id_dirs(a['id'])}/{a['id']}.xml</URL>\n"
        + "<NATURE>Article</NATURE>\n</META_COMMUN>\n<META_SPEC>\n<META_ARTICLE>\n\n"
        + f"<NUM>{escape(a['num'])}</NUM>\n\n<ETAT>{a['etat']}</ETAT>\n\n"
        + f"<DATE_DEBUT>{a['debut']}</DATE_DEBUT>\n<DATE_FIN>{a['fin']}</DATE_FIN>\n\n\n\n"
        + "<TYPE>AUTONOME</TYPE>\n</META_ARTICLE>\n</META_SPEC>\n</META>\n<CONTEXTE>\n"
        + f"<TEXTE {text['attrs']}>\n{text['titre_txt']}\n"
        + tm_xml(a.get("tms", []))
        + "</TEXTE>\n</CONTEXTE>\n\n<VERSIONS>\n" + versions + "</VERSIONS>\n"
        + nota
        + "<BLOC_TEXTUEL>\n<CONTENU>\n" + a["contenu"].strip("\n") + "\n</CONTENU>\n</BLOC_TEXTUEL>\n"
        + liens_xml
        + "</ARTICLE>\n"
    )


TM_MONNAIES = [
    ("1952-06-29", "2999-01-01", "LEGISCTA000006088035", "Chapitre I : Monnaies et médailles"),
    ("1952-06-29", "2999-01-01", "LEGISCTA000006116670", "Section I : Fabrication des monnaies et médailles"),
]
TM_FRAPPE_MONNAIES = TM_MONNAIES + [("1952-06-29", "2005-08-25", "LEGISCTA000006135572", "Paragraphe I : Frappe des monnaies métalliques.")]
TM_FRAPPE_MEDAILLES = TM_MONNAIES + [("1952-06-29", "2999-01-01", "LEGISCTA000006135575", "Paragraphe II : Frappe des médailles.")]

TM_DUREE_TRAVAIL = [
    ("2008-05-01", "2999-01-01", "LEGISCTA000006113891", "Partie législative"),
    ("2008-05-01", "2999-01-01", "LEGISCTA000006132979", "Troisième partie : Durée du travail, salaire, intéressement, participation et épargne salariale"),
    ("2008-05-01", "2999-01-01", "LEGISCTA000006145385", "Livre Ier : Durée du travail, repos et congés"),
    ("2016-08-10", "2999-01-01", "LEGISCTA000033003640", "Titre II : Durée du travail, répartition et aménagement des horaires"),
    ("2016-08-10", "2999-01-01", "LEGISCTA000033020447", "Chapitre Ier : Durée du travail, travail effectif et astreintes"),
    ("2016-08-10", "2999-01-01", "LEGISCTA000033020505", "Section 3 : Durée légale et heures supplémentaires"),
]

TM_ACCORDS = [
    ("2008-05-01", "2999-01-01", "LEGISCTA000006113891", "Partie législative"),
    ("2008-05-01", "2999-01-01", "LEGISCTA000006132960", "Deuxième partie : Les relations collectives de travail"),
    ("2008-05-01", "2999-01-01", "LEGISCTA000006145376", "Livre II : La négociation collective - Les conventions et accords de travail"),
    ("2017-09-24", "2999-01-01", "LEGISCTA000035609412", "Titre V : Articulation des conventions et accords"),
    ("2017-09-24", "2999-01-01", "LEGISCTA000035609420", "Chapitre IV : Rapports entre les conventions ou accords et le contrat de travail"),
]

LEGI_A1 = {  # ABROGE; deleted by the delta (line flagged " D")
    "id": "LEGIARTI000006398130", "text": CODE_MONETAIRE, "num": "3", "etat": "ABROGE",
    "debut": "1952-06-29", "fin": "2001-01-01", "tms": TM_FRAPPE_MONNAIES,
    "versions": [("ABROGE", "1952-06-29", "2001-01-01", "LEGIARTI000006398130")],
    "contenu": """
<br/>   Les pièces métalliques sont frappées dans les ateliers de l'administration des monnaies et médailles, selon les caractéristiques de poids, de titre et de diamètre arrêtées par le ministre des finances.<br/>
<br/>
""",
    "liens": [
        ("", "", "", "", "", "", "", "source", "CODIFICATION", "Décret 52-751 1952-06-26"),
        ("JORFTEXT000000574488", "2000-12-14", "LEGIARTI000006716770", "ORDONNANCE", "ECOX0000098R", "4", "2000-1223", "source", "ABROGATION", "Ordonnance n°2000-1223 du 14 décembre 2000 - art. 4 (V)"),
    ],
}

LEGI_A2 = {  # VIGUEUR, with a NOTA and <br/> inside <p>
    "id": "LEGIARTI000006398192", "text": CODE_MONETAIRE, "num": "9", "etat": "VIGUEUR",
    "debut": "2006-12-27", "fin": "2999-01-01", "tms": TM_FRAPPE_MEDAILLES,
    "versions": [
        ("MODIFIE", "1952-06-29", "2006-12-27", "LEGIARTI000006398191"),
        ("VIGUEUR", "2006-12-27", "2999-01-01", "LEGIARTI000006398192"),
    ],
    "nota": [
        "Conformément à l'article 12 de l'ordonnance n° 2006-1674 du 21 décembre 2006, les autorisations de frappe délivrées avant cette date demeurent valables jusqu'à leur terme.",
    ],
    "contenu": """
<p>La frappe des médailles, jetons et insignes en métal précieux est réservée à l'établissement public de la Monnaie de Paris.<br/>Toutefois, des dérogations peuvent être accordées par le ministre chargé de l'économie aux fabricants qui en font la demande, pour une durée maximale de cinq ans.</p>
<p>Les conditions de délivrance et de retrait des dérogations sont fixées par arrêté.</p>
""",
    "liens": [
        ("JORFTEXT000000818512", "2006-12-21", "LEGIARTI000006434720", "ORDONNANCE", "ECOX0600181R", "12", "2006-1674", "source", "MODIFICATION", "Ordonnance n°2006-1674 du 21 décembre 2006 - art. 12 (V)"),
        ("LEGITEXT000006070666", "2999-01-01", "LEGIARTI000006398201", "CODE", "", "10", "", "cible", "CITATION", "Code des instruments monétaires et des médailles - art. 10 (V)"),
    ],
}

LEGI_A3 = {  # MODIFIE: previous version of A2
    "id": "LEGIARTI000006398191", "text": CODE_MONETAIRE, "num": "9", "etat": "MODIFIE",
    "debut": "1952-06-29", "fin": "2006-12-27", "tms": TM_FRAPPE_MEDAILLES,
    "versions": LEGI_A2["versions"],
    "contenu": """
<br/>   La frappe des médailles et jetons est réservée à l'administration des monnaies et médailles. Des autorisations exceptionnelles peuvent être accordées par le ministre des finances.<br/>
<br/>
""",
    "liens": [
        ("JORFTEXT000000818512", "2006-12-21", "LEGIARTI000006434720", "ORDONNANCE", "ECOX0600181R", "12", "2006-1674", "source", "MODIFICATION", "Ordonnance n°2006-1674 du 21 décembre 2006 - art. 12 (V)"),
    ],
}

LEGI_A4 = {  # VIGUEUR, short text, deep TM
    "id": "LEGIARTI000033020517", "text": CODE_TRAVAIL, "num": "L3121-27", "etat": "VIGUEUR",
    "debut": "2016-08-10", "fin": "2999-01-01", "tms": TM_DUREE_TRAVAIL,
    "versions": [("VIGUEUR", "2016-08-10", "2999-01-01", "LEGIARTI000033020517")],
    "contenu": """
<p>La durée légale du travail effectif des salariés employés à temps complet est fixée à trente-cinq heures par semaine civile.</p>
""",
    "liens": [
        ("JORFTEXT000032983213", "2016-08-08", "LEGIARTI000032984185", "LOI", "ETSX1604461L", "8", "2016-1088", "source", "CREATION", "LOI n°2016-1088 du 8 août 2016 - art. 8 (V)"),
    ],
}

_A5_TEXT = """
<p>Les stipulations de l'accord mentionné à l'article L. 2254-1 se substituent de plein droit aux clauses contraires et incompatibles du contrat de travail, y compris en matière de rémunération, de durée du travail et de mobilité professionnelle ou géographique interne à l'entreprise.</p>
<p>Le salarié peut refuser la modification de son contrat de travail résultant de l'application de l'accord. Il dispose d'un délai d'un mois pour faire connaître son refus par écrit à l'employeur, à compter de la date à laquelle celui-ci l'a informé de l'existence et du contenu de l'accord.<br/>L'employeur peut engager une procédure de licenciement à l'encontre du salarié ayant refusé l'application de l'accord. Ce licenciement repose sur un motif spécifique qui constitue une cause réelle et sérieuse.</p>
"""

LEGI_A5 = {  # VIGUEUR in the dump; turned MODIFIE by the delta
    "id": "LEGIARTI000035652034", "text": CODE_TRAVAIL, "num": "L2254-2", "etat": "VIGUEUR",
    "debut": "2017-09-24", "fin": "2999-01-01", "tms": TM_ACCORDS,
    "versions": [("VIGUEUR", "2017-09-24", "2999-01-01", "LEGIARTI000035652034")],
    "contenu": _A5_TEXT,
    "liens": [
        ("JORFTEXT000035607388", "2017-09-22", "LEGIARTI000035609701", "ORDONNANCE", "MTRT1724786R", "3", "2017-1385", "source", "MODIFICATION", "Ordonnance n°2017-1385 du 22 septembre 2017 - art. 3 (V)"),
        ("LEGITEXT000006072050", "2999-01-01", "LEGIARTI000035652030", "CODE", "", "L2254-1", "", "source", "CITATION", "Code du travail - art. L2254-1 (V)"),
    ],
}

LEGI_A5_V2 = dict(LEGI_A5)
LEGI_A5_V2.update({
    "etat": "MODIFIE", "fin": "2025-07-01",
    "versions": [
        ("MODIFIE", "2017-09-24", "2025-07-01", "LEGIARTI000035652034"),
        ("VIGUEUR", "2025-07-01", "2999-01-01", "LEGIARTI000051834217"),
    ],
    "liens": LEGI_A5["liens"] + [
        ("JORFTEXT000051830012", "2025-06-26", "LEGIARTI000051831205", "LOI", "TSSX2507715L", "7", "2025-588", "cible", "MODIFICATION", "LOI n°2025-588 du 26 juin 2025 - art. 7"),
    ],
})

LEGI_A8 = {  # new in the delta: next version of A5
    "id": "LEGIARTI000051834217", "text": CODE_TRAVAIL, "num": "L2254-2", "etat": "VIGUEUR",
    "debut": "2025-07-01", "fin": "2999-01-01", "tms": TM_ACCORDS,
    "versions": LEGI_A5_V2["versions"],
    "contenu": _A5_TEXT.replace("d'un délai d'un mois", "d'un délai de deux mois").replace(
        "cause réelle et sérieuse.</p>",
        "cause réelle et sérieuse.<br/>Le salarié licencié bénéficie d'un abondement de son compte personnel de formation dont le montant est fixé par décret.</p>",
    ),
    "liens": [
        ("JORFTEXT000051830012", "2025-06-26", "LEGIARTI000051831205", "LOI", "TSSX2507715L", "7", "2025-588", "source", "MODIFICATION", "LOI n°2025-588 du 26 juin 2025 - art. 7"),
    ],
}

LEGI_A6 = {  # decree article, VIGUEUR
    "id": "LEGIARTI000044103018", "text": DECRET_DONS, "num": "1", "etat": "VIGUEUR",
    "debut": "2021-10-01", "fin": "2999-01-01",
    "tms": [("2021-10-01", "2999-01-01", "LEGISCTA000044103015", "Chapitre Ier : Dispositions générales")],
    "versions": [("VIGUEUR", "2021-10-01", "2999-01-01", "LEGIARTI000044103018")],
    "contenu": """
<p>La déclaration des dons manuels mentionnée à l'article 635 A du code général des impôts peut être souscrite par voie électronique sur le site impots.gouv.fr.</p>
<p>Le donataire y indique :<br/>1° Son identité et celle du donateur ;<br/>2° La nature et la valeur du bien donné ;<br/>3° La date de la donation.</p>
""",
}

LEGI_A7 = {  # decree article, ABROGE_DIFF
    "id": "LEGIARTI000044103020", "text": DECRET_DONS, "num": "2", "etat": "ABROGE_DIFF",
    "debut": "2021-10-01", "fin": "2026-01-01",
    "versions": [("ABROGE_DIFF", "2021-10-01", "2026-01-01", "LEGIARTI000044103020")],
    "contenu": """
<p>Les déclarations souscrites sur formulaire papier avant le 1er octobre 2021 restent valables. Le présent article cesse de s'appliquer le 1er janvier 2026.</p>
""",
    "liens": [
        ("JORFTEXT000048001122", "2023-08-03", "LEGIARTI000048001140", "DECRET", "ECOE2319956D", "5", "2023-702", "cible", "ABROGATION", "Décret n°2023-702 du 3 août 2023 - art. 5"),
    ],
}

LEGISCTA_XML = XML_DECL + """<SECTION_TA>
<ID>LEGISCTA000006135575</ID>
<TITRE_TA>Paragraphe II : Frappe des médailles.</TITRE_TA>
<STRUCTURE_TA>
<LIEN_ART debut="2006-12-27" etat="VIGUEUR" fin="2999-01-01" id="LEGIARTI000006398192" num="9" origine="LEGI"/>
<LIEN_ART debut="1952-06-29" etat="MODIFIE" fin="2006-12-27" id="LEGIARTI000006398191" num="9" origine="LEGI"/>
</STRUCTURE_TA>
<CONTEXTE>
<TEXTE autorite="" cid="LEGITEXT000006070666" date_publi="2999-01-01" date_signature="2999-01-01" ministere="" nature="CODE" nor="" num="">
<TITRE_TXT c_titre_court="Code des instruments monétaires et des médailles" debut="1952-06-29" fin="2999-01-01" id_txt="LEGITEXT000006070666">Code des instruments monétaires et des médailles</TITRE_TXT>
<TM>
<TITRE_TM debut="1952-06-29" fin="2999-01-01" id="LEGISCTA000006088035">Chapitre I : Monnaies et médailles</TITRE_TM>
<TM>
<TITRE_TM debut="1952-06-29" fin="2999-01-01" id="LEGISCTA000006116670">Section I : Fabrication des monnaies et médailles</TITRE_TM>
</TM>
</TM>
</TEXTE>
</CONTEXTE>
</SECTION_TA>
"""

TEXTELR_XML = XML_DECL + """<TEXTELR>
<META>
<META_COMMUN>
<ID>LEGITEXT000006070666</ID>
<ANCIEN_ID/>
<ORIGINE>LEGI</ORIGINE>
<URL>texte/struct/LEGI/TEXT/00/00/06/07/06/LEGITEXT000006070666.xml</URL>
<NATURE>CODE</NATURE>
</META_COMMUN>
<META_SPEC>
<META_TEXTE_CHRONICLE>
<CID>LEGITEXT000006070666</CID>
<NUM/>
<NUM_SEQUENCE>0</NUM_SEQUENCE>
<NOR/>
<DATE_PUBLI>2999-01-01</DATE_PUBLI>
<DATE_TEXTE>2999-01-01</DATE_TEXTE>
<DERNIERE_MODIFICATION>2006-12-27</DERNIERE_MODIFICATION>
<VERSIONS_A_VENIR/>
<ORIGINE_PUBLI/>
<PAGE_DEB_PUBLI>0</PAGE_DEB_PUBLI>
<PAGE_FIN_PUBLI>0</PAGE_FIN_PUBLI>
</META_TEXTE_CHRONICLE>
</META_SPEC>
</META>
<VERSIONS>
<VERSION etat="VIGUEUR">
<LIEN_TXT debut="1952-06-29" fin="2999-01-01" id="LEGITEXT000006070666" num=""/>
</VERSION>
</VERSIONS>
<STRUCT>
<LIEN_SECTION_TA cid="LEGISCTA000006088035" debut="1952-06-29" etat="VIGUEUR" fin="2999-01-01" id="LEGISCTA000006088035" niv="1" url="/LEGI/SCTA/00/00/06/08/80/LEGISCTA000006088035.xml">Chapitre I : Monnaies et médailles</LIEN_SECTION_TA>
</STRUCT>
</TEXTELR>
"""

TEXTE_VERSION_XML = XML_DECL + """<TEXTE_VERSION>
<META>
<META_COMMUN>
<ID>LEGITEXT000006070666</ID>
<ANCIEN_ID/>
<ORIGINE>LEGI</ORIGINE>
<URL>texte/version/LEGI/TEXT/00/00/06/07/06/LEGITEXT000006070666.xml</URL>
<NATURE>CODE</NATURE>
</META_COMMUN>
<META_SPEC>
<META_TEXTE_VERSION>
<TITRE>Code des instruments monétaires et des médailles</TITRE>
<TITREFULL>Code des instruments monétaires et des médailles</TITREFULL>
<ETAT>VIGUEUR</ETAT>
<DATE_DEBUT>1952-06-29</DATE_DEBUT>
<DATE_FIN>2999-01-01</DATE_FIN>
<AUTORITE/>
<MINISTERE/>
</META_TEXTE_VERSION>
</META_SPEC>
</META>
<VISAS>
<CONTENU/>
</VISAS>
<SIGNATAIRES>
<CONTENU/>
</SIGNATAIRES>
<NOTA>
<CONTENU/>
</NOTA>
</TEXTE_VERSION>
"""


def legi_docs(*articles):
    return {article_path(a["text"], a["id"]) + ".xml": legi_article_xml(a) for a in articles}


def build_legi():
    folder = "dila/LEGI"
    code_dir = text_dir(CODE_MONETAIRE)
    dump = legi_docs(LEGI_A1, LEGI_A2, LEGI_A3, LEGI_A4, LEGI_A5, LEGI_A6, LEGI_A7)
    dump[f"{code_dir}/section_ta/LEGI/SCTA/{id_dirs('LEGISCTA000006135575')}/LEGISCTA000006135575.xml"] = LEGISCTA_XML
    dump[f"{code_dir}/texte/struct/LEGITEXT000006070666.xml"] = TEXTELR_XML
    dump[f"{code_dir}/texte/version/LEGITEXT000006070666.xml"] = TEXTE_VERSION_XML
    suppression = [
        article_path(CODE_MONETAIRE, LEGI_A1["id"]) + " D",
        # a directory: the whole decree (its two articles, A6 and A7)
        text_dir(DECRET_DONS),
    ]
    archives = [
        ("Freemium_legi_global_20250101-000000.tar.gz", "20250101-000000", dump, None),
        ("LEGI_20250711-211004.tar.gz", "20250711-211004", legi_docs(LEGI_A5_V2, LEGI_A8), suppression),
    ]
    write_dila_folder(folder, "LEGI", "legi", archives, "DILA_LEGI_Presentation_20241216.pdf")


# --------------------------------------------------------------------------
# service-public.fr "vos droits" sheets (Publication)
# --------------------------------------------------------------------------

SP_PART = "https://www.service-public.gouv.fr/particuliers/vosdroits"
SP_PRO = "https://entreprendre.service-public.gouv.fr/vosdroits"
DILA = "Direction de l'information légale et administrative"


def publication(sid, ptype, url_base, title, subject, description, modified, dctype, surtitre,
                audiences, fil, body, source=None, relation=None, important=None):
    """fil: [(ID, type or None, label)]; body: the XML after FilDAriane,
    already indented by two spaces."""
    attrs = (f'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
             f'ID="{sid}" type="{escape(ptype)}" xsi:noNamespaceSchemaLocation="../Schemas/3.4/Publication.xsd"')
    if important:
        attrs += f' dateDerniereModificationImportante="{important}"'
    attrs += f' spUrl="{url_base}/{sid}"'
    dc = [
        f"<dc:title>{escape(title)}</dc:title>",
        f"<dc:creator>{DILA}</dc:creator>",
        f"<dc:subject>{escape(subject)}</dc:subject>",
        f"<dc:description>{escape(description)}</dc:description>",
        f"<dc:publisher>{DILA}</dc:publisher>",
        f"<dc:contributor>Service Public / {DILA} (Premier ministre)</dc:contributor>",
        f"<dc:date>modified {modified}</dc:date>",
        f"<dc:type>{escape(dctype)}</dc:type>",
        "<dc:format>text/xml</dc:format>",
        f"<dc:identifier>{sid}</dc:identifier>",
    ]
    if source:
        dc.append(f"<dc:source>{escape(source)}</dc:source>")
    dc.append("<dc:language>Fr</dc:language>")
    if relation:
        dc.append(f"<dc:relation>{relation}</dc:relation>")
    dc += ["<dc:coverage>France entière</dc:coverage>",
           "<dc:rights>https://www.service-public.gouv.fr/a-propos/mentions-legales</dc:rights>"]
    head = [f"<SurTitre>{escape(surtitre)}</SurTitre>"]
    head += [f"<Audience>{a}</Audience>" for a in audiences]
    head.append("<Canal>www.service-public.fr</Canal>")
    head.append("<FilDAriane>")
    for nid, ntype, label in fil:
        type_attr = f' type="{escape(ntype)}"' if ntype else ""
        head.append(f'  <Niveau ID="{nid}"{type_attr}>{escape(label)}</Niveau>')
    head.append("</FilDAriane>")
    lines = ["  " + l for l in dc + head]
    return (XML_DECL + f"<Publication {attrs}>\n" + "\n".join(lines) + "\n"
            + body.strip("\n") + "\n</Publication>")


def tableau(title, header, rows, indent):
    """Tableau with a header row (type="header") and normal rows."""
    pad = " " * indent
    out = [f"{pad}<Tableau>", f"{pad}  <Titre>{title}</Titre>"]
    for kind, cells in [("header", header)] + [("normal", r) for r in rows]:
        out.append(f'{pad}  <Rangée type="{kind}">')
        for cell in cells:
            out.append(f"{pad}    <Cellule>")
            out.append(f"{pad}      <Paragraphe>{cell}</Paragraphe>")
            out.append(f"{pad}    </Cellule>")
        out.append(f"{pad}  </Rangée>")
    out.append(f"{pad}</Tableau>")
    return "\n".join(out)


def liste(kind, items, indent):
    pad = " " * indent
    out = [f'{pad}<Liste type="{kind}">']
    for item in items:
        out += [f"{pad}  <Item>", f"{pad}    <Paragraphe>{item}</Paragraphe>", f"{pad}  </Item>"]
    out.append(f"{pad}</Liste>")
    return "\n".join(out)


# --- Particuliers ---------------------------------------------------------

F1878 = publication(
    "F1878", "Fiche d'information", SP_PART,
    "Allocation de rentrée scolaire (ARS)",
    "Social - Santé",
    "L'allocation de rentrée scolaire (ARS) aide les familles à financer les frais de scolarité de leurs enfants de 6 à 18 ans. Elle est versée sous conditions de ressources.",
    "2024-08-19", "Fiche pratique", "Fiche pratique", ["Particuliers"],
    [("Particuliers", None, "Accueil particuliers"), ("N19811", None, "Social - Santé"),
     ("N156", None, "Prestations familiales"), ("F1878", "Fiche d'information", "Allocation de rentrée scolaire (ARS)")],
    f"""
  <Theme ID="N19811">
    <Titre>Social - Santé</Titre>
  </Theme>
  <SousThemePere ID="N20174">Aides sociales et prestations familiales</SousThemePere>
  <DossierPere ID="N156">
    <Titre>Prestations familiales</Titre>
    <Fiche ID="F13213">Allocations familiales</Fiche>
    <Fiche ID="F1878">Allocation de rentrée scolaire (ARS)</Fiche>
    <Fiche ID="F13214">Complément familial</Fiche>
  </DossierPere>
  <Introduction>
    <Texte>
      <Paragraphe>L'allocation de rentrée scolaire (ARS) aide les familles à payer les dépenses de la rentrée des enfants de 6 à 18 ans. Elle est versée sous <LienIntra LienID="R52014" type="Définition de glossaire">conditions de ressources</LienIntra>. Son montant dépend de l'âge de l'enfant.</Paragraphe>
    </Texte>
  </Introduction>
  <Texte>
    <Chapitre>
      <Titre>
        <Paragraphe>Conditions d'attribution</Paragraphe>
      </Titre>
      <SousChapitre>
        <Titre>
          <Paragraphe>Enfant concerné</Paragraphe>
        </Titre>
        <Paragraphe>L'enfant doit avoir au moins 6 ans au 31 décembre de l'année de la rentrée et moins de 18 ans au 15 septembre de cette même année.</Paragraphe>
        <Paragraphe>À partir de 16 ans, l'enfant doit être inscrit dans l'un des établissements suivants :</Paragraphe>
{liste("puce", ["Établissement d'enseignement public ou privé (lycée, collège)", "Centre de formation d'apprentis, s'il n'est pas rémunéré plus de 55 % du Smic", "Établissement d'enseignement à distance (par exemple le Cned)"], 8)}
      </SousChapitre>
      <SousChapitre>
        <Titre>
          <Paragraphe>Ressources du foyer</Paragraphe>
        </Titre>
        <Paragraphe>Vos ressources de l'année 2023 ne doivent pas dépasser un plafond qui varie selon le nombre d'enfants à votre charge.</Paragraphe>
{tableau("Plafond de ressources selon le nombre d'enfants à charge", ["Nombre d'enfants à charge", "Plafond de ressources 2023"], [["1 enfant", "26 300 €"], ["2 enfants", "32 370 €"], ["3 enfants", "38 440 €"], ["Par enfant supplémentaire", "+ 6 070 €"]], 8)}
        <ANoter>
          <Titre>À noter</Titre>
          <Paragraphe>Si vos ressources dépassent légèrement le plafond, vous pouvez percevoir une <MiseEnEvidence>allocation réduite</MiseEnEvidence>, calculée en fonction de vos revenus.</Paragraphe>
        </ANoter>
      </SousChapitre>
    </Chapitre>
    <Chapitre>
      <Titre>
        <Paragraphe>Montant</Paragraphe>
      </Titre>
      <Paragraphe>Le montant de l'ARS dépend de l'âge de l'enfant au 31 décembre de l'année de la rentrée.</Paragraphe>
{tableau("Montant de l'ARS pour la rentrée 2024", ["Âge de l'enfant", "Montant par enfant"], [["6 à 10 ans", "416,40 €"], ["11 à 14 ans", "439,38 €"], ["15 à 18 ans", "454,60 €"]], 6)}
      <Paragraphe>L'allocation est versée à partir du 20 août en métropole, et fin juillet dans certains départements d'outre-mer.</Paragraphe>
    </Chapitre>
    <Chapitre>
      <Titre>
        <Paragraphe>Démarche</Paragraphe>
      </Titre>
      <BlocCas affichage="radio">
        <Cas>
          <Titre>Enfant de 6 à 15 ans</Titre>
          <Paragraphe>Vous n'avez aucune démarche à faire. L'allocation est versée automatiquement par la Caf ou la MSA si vous percevez déjà une prestation.</Paragraphe>
        </Cas>
        <Cas>
          <Titre>Enfant de 16 à 18 ans</Titre>
          <Paragraphe>Vous devez déclarer que votre enfant poursuit sa scolarité. La démarche se fait en 3 étapes :</Paragraphe>
{liste("numero", ["Connectez-vous à votre espace personnel", "Sélectionnez la rubrique <Expression>Déclarer la situation scolaire</Expression>", "Validez la déclaration pour chaque enfant concerné"], 10)}
          <ServiceEnLigne ID="R17785" URL="https://wwwd.caf.fr/wps/portal/caffr/moncompte" audience="Particuliers" type="Téléservice">
            <Titre>Déclarer la scolarité d'un enfant de 16 à 18 ans</Titre>
            <Source ID="R30651">Caisse nationale des allocations familiales (Cnaf)</Source>
          </ServiceEnLigne>
        </Cas>
      </BlocCas>
      <Attention>
        <Titre>Attention</Titre>
        <Paragraphe>Si vous ne percevez aucune prestation, vous devez d'abord créer un dossier auprès de votre caisse d'allocations familiales.</Paragraphe>
      </Attention>
    </Chapitre>
  </Texte>
  <VoirAussi important="non">
    <Fiche ID="F13213" audience="Particuliers">
      <Titre>Allocations familiales</Titre>
      <Theme ID="N19811">
        <Titre>Social - Santé</Titre>
      </Theme>
    </Fiche>
  </VoirAussi>
  <OuSAdresser ID="R1206" sve="non" type="Local personnalisé sur SP">
    <Titre>Caisse d'allocations familiales (Caf)</Titre>
    <PivotLocal>caf</PivotLocal>
    <RessourceWeb URL="https://www.caf.fr/allocataires/caf-de-ma-ville"/>
  </OuSAdresser>
  <Reference type="Texte de référence" URL="https://www.legifrance.gouv.fr/codes/id/LEGISCTA000006156144/" ID="R11852">
    <Titre>Code de la sécurité sociale : articles L543-1 à L543-3</Titre>
    <Complement>Conditions d'attribution</Complement>
  </Reference>
  <ServiceEnLigne ID="R1958" URL="https://wwwd.caf.fr/wps/portal/caffr/aidesetdemarches/mesdemarches/faireunesimulation" audience="Particuliers" type="Simulateur">
    <Titre>Simulateur de droits aux prestations familiales</Titre>
    <Source ID="R30651">Caisse nationale des allocations familiales (Cnaf)</Source>
  </ServiceEnLigne>
  <Definition ID="R52014">
    <Titre>Conditions de ressources</Titre>
    <Texte>
      <Paragraphe>Montant des revenus du foyer au-dessous duquel une aide est accordée</Paragraphe>
    </Texte>
  </Definition>
  <QuestionReponse ID="F2132" audience="Particuliers">
    <Titre>Comment est calculé le quotient familial de la Caf ?</Titre>
  </QuestionReponse>
  <RefActualite ID="A17436" URL="https://www.service-public.gouv.fr/particuliers/actualites/A17436" type="Actualité">
    <Titre>Allocation de rentrée scolaire : versement à partir du 20 août</Titre>
    <Date>2024-08-12</Date>
  </RefActualite>
""",
    source="https://www.legifrance.gouv.fr/codes/id/LEGISCTA000006156144/",
    relation="isPartOf N156",
)

# Its QuestionReponse F2405 appears twice (the pipeline de-duplicates them).
F2923 = publication(
    "F2923", "Fiche Question-réponse conditionnée", SP_PART,
    "Jour férié : le salarié est-il payé s'il ne travaille pas ?",
    "Travail - Formation",
    "Un jour férié chômé n'entraîne pas de perte de salaire pour le salarié ayant au moins 3 mois d'ancienneté. Le 1er mai obéit à des règles particulières.",
    "2025-03-04", "Question-réponse", "Question-réponse", ["Particuliers"],
    [("Particuliers", None, "Accueil particuliers"), ("N19806", None, "Travail - Formation"),
     ("N510", None, "Congés dans le secteur privé"), ("F2923", "Fiche Question-réponse conditionnée", "Jour férié : le salarié est-il payé s'il ne travaille pas ?")],
    f"""
  <Theme ID="N19806">
    <Titre>Travail - Formation</Titre>
  </Theme>
  <SousThemePere ID="N19964">Congés</SousThemePere>
  <DossierPere ID="N510">
    <Titre>Congés dans le secteur privé</Titre>
    <Fiche ID="F2258">Congés payés</Fiche>
    <Fiche ID="F2405">Jours fériés</Fiche>
  </DossierPere>
  <Texte>
    <Paragraphe>La réponse dépend du jour férié concerné.</Paragraphe>
    <BlocCas affichage="radio">
      <Cas>
        <Titre>Jour férié ordinaire</Titre>
        <Paragraphe>Si le jour férié est chômé dans l'entreprise, vous conservez votre salaire si vous remplissez les 2 conditions suivantes :</Paragraphe>
{liste("puce", ["Vous avez au moins 3 mois d'ancienneté dans l'entreprise", "Vous n'êtes ni travailleur à domicile, ni travailleur saisonnier, ni intermittent"], 8)}
        <Paragraphe>Si vous ne remplissez pas ces conditions, l'employeur n'est pas tenu de vous payer, sauf si la <LienIntra LienID="R15946" type="Définition de glossaire">convention collective</LienIntra> le prévoit.</Paragraphe>
      </Cas>
      <Cas>
        <Titre>1er mai</Titre>
        <Paragraphe>Le 1<Exposant>er</Exposant> mai est obligatoirement chômé et payé, <MiseEnEvidence>quelle que soit votre ancienneté</MiseEnEvidence>.</Paragraphe>
        <Paragraphe>Si vous travaillez ce jour-là parce que l'activité de l'entreprise ne peut pas être interrompue, vous recevez une indemnité égale au montant de votre salaire, en plus de celui-ci.</Paragraphe>
        <ASavoir>
          <Titre>À savoir</Titre>
          <Paragraphe>Le travail du 1<Exposant>er</Exposant> mai ne peut pas être compensé par un repos à la place de l'indemnité.</Paragraphe>
        </ASavoir>
      </Cas>
    </BlocCas>
  </Texte>
  <Reference type="Texte de référence" URL="https://www.legifrance.gouv.fr/codes/id/LEGISCTA000033020198/" ID="R42101">
    <Titre>Code du travail : articles L3133-1 à L3133-6</Titre>
    <Complement>Jours fériés et 1er mai</Complement>
  </Reference>
  <Definition ID="R15946">
    <Titre>Convention collective</Titre>
    <Texte>
      <Paragraphe>Accord conclu entre employeurs et syndicats de salariés pour adapter les règles du code du travail à un secteur d'activité</Paragraphe>
    </Texte>
  </Definition>
  <QuestionReponse ID="F2405" audience="Particuliers">
    <Titre>Quels sont les jours fériés en France ?</Titre>
  </QuestionReponse>
  <QuestionReponse ID="F2405" audience="Particuliers">
    <Titre>Quels sont les jours fériés en France ?</Titre>
  </QuestionReponse>
""",
    relation="isPartOf N510",
)

# Present, byte-identical, in both the part and the pro zip.
F35138 = publication(
    "F35138", "Fiche d'information conditionnée", SP_PART,
    "Démarchage téléphonique : inscription sur la liste d'opposition Bloctel",
    "Argent - Impôts - Consommation, Vente à distance",
    "Un consommateur peut s'inscrire gratuitement sur la liste Bloctel pour ne plus être démarché par téléphone. Les professionnels doivent consulter cette liste avant toute campagne d'appels.",
    "2025-02-11", "Fiche pratique", "Fiche pratique", ["Particuliers", "Professionnels"],
    [("Particuliers", None, "Accueil particuliers"), ("N19803", None, "Argent - Impôts - Consommation"),
     ("N31324", None, "Démarchage et vente à distance"), ("F35138", "Fiche d'information conditionnée", "Démarchage téléphonique : inscription sur la liste d'opposition Bloctel")],
    f"""
  <Theme ID="N19803">
    <Titre>Argent - Impôts - Consommation</Titre>
  </Theme>
  <DossierPere ID="N31324">
    <Titre>Démarchage et vente à distance</Titre>
    <Fiche ID="F35138">Démarchage téléphonique</Fiche>
    <Fiche ID="F10485">Vente à domicile</Fiche>
  </DossierPere>
  <Introduction>
    <Texte>
      <Paragraphe>La liste d'opposition au démarchage téléphonique, appelée <Expression>Bloctel</Expression>, permet à toute personne de refuser d'être appelée par des professionnels avec lesquels elle n'a pas de contrat en cours.</Paragraphe>
    </Texte>
  </Introduction>
  <ListeSituations affichage="onglet">
    <Situation>
      <Titre>Vous êtes un consommateur</Titre>
      <Texte>
        <Chapitre>
          <Titre>
            <Paragraphe>Comment s'inscrire ?</Paragraphe>
          </Titre>
          <Paragraphe>L'inscription est gratuite et se fait en ligne. Vous pouvez inscrire jusqu'à 8 numéros de téléphone fixes ou mobiles.</Paragraphe>
          <Paragraphe>Elle est valable <MiseEnEvidence>3 ans</MiseEnEvidence> et peut être renouvelée.</Paragraphe>
        </Chapitre>
        <Chapitre>
          <Titre>
            <Paragraphe>Que faire si vous êtes encore démarché ?</Paragraphe>
          </Titre>
          <Paragraphe>Un délai de 30 jours est nécessaire pour que l'inscription soit prise en compte. Au-delà, vous pouvez signaler l'appel sur le site Bloctel en indiquant le numéro appelant, la date et l'heure de l'appel.</Paragraphe>
        </Chapitre>
      </Texte>
    </Situation>
    <Situation>
      <Titre>Vous êtes un professionnel</Titre>
      <Texte>
        <Chapitre>
          <Titre>
            <Paragraphe>Obligations avant une campagne d'appels</Paragraphe>
          </Titre>
          <Paragraphe>Vous devez faire vérifier votre fichier de prospects par l'organisme gestionnaire de la liste au moins une fois par mois.</Paragraphe>
          <Paragraphe>Les appels ne sont autorisés que du lundi au vendredi, de 10 h à 13 h et de 14 h à 20 h.</Paragraphe>
          <Attention>
            <Titre>Attention</Titre>
            <Paragraphe>Le démarchage d'un consommateur inscrit sur la liste est puni d'une amende administrative pouvant atteindre 75 000 € pour une personne physique et 375 000 € pour une société.</Paragraphe>
          </Attention>
        </Chapitre>
      </Texte>
    </Situation>
  </ListeSituations>
  <Reference type="Texte de référence" URL="https://www.legifrance.gouv.fr/codes/id/LEGISCTA000032226812/" ID="R45612">
    <Titre>Code de la consommation : articles L223-1 à L223-7</Titre>
    <Complement>Opposition au démarchage téléphonique</Complement>
  </Reference>
  <ServiceEnLigne ID="R42618" URL="https://www.bloctel.gouv.fr/" commentaireLien="Inscription sur la liste Bloctel" audience="Particuliers" type="Téléservice">
    <Titre>S'inscrire sur la liste d'opposition au démarchage téléphonique (Bloctel)</Titre>
    <Source ID="R30612">Ministère chargé de l'économie</Source>
  </ServiceEnLigne>
  <QuestionReponse ID="F35139" audience="Particuliers">
    <Titre>Démarchage téléphonique : quels sont les horaires autorisés ?</Titre>
  </QuestionReponse>
  <QuestionReponse ID="F31501" audience="Professionnels">
    <Titre>Comment faire vérifier un fichier de prospection téléphonique ?</Titre>
  </QuestionReponse>
""",
    relation="isPartOf N31324",
    important="2025-02-11T00:00:00",
)

N19808 = publication(
    "N19808", "Theme", SP_PART, "Logement", "Logement", "Logement",
    "2024-09-30", "Thème", "Thème", ["Particuliers"],
    [("Particuliers", None, "Accueil particuliers"), ("N19808", "Theme", "Logement")],
    """
  <SousTheme ID="N20316">
    <Titre>Location</Titre>
    <Dossier ID="N337">Location immobilière</Dossier>
    <Dossier ID="N20318">Logement social</Dossier>
  </SousTheme>
  <SousTheme ID="N20317">
    <Titre>Achat et vente</Titre>
    <Dossier ID="N318">Achat immobilier</Dossier>
    <Dossier ID="N20290">Vente immobilière</Dossier>
  </SousTheme>
  <SousTheme ID="N20320">
    <Titre>Aides et travaux</Titre>
    <Dossier ID="N20360">Aides au logement</Dossier>
    <Dossier ID="N31375">Travaux de rénovation énergétique</Dossier>
  </SousTheme>
""",
)

# Skipped by the pipeline: SurTitre "Dossier".
N360 = publication(
    "N360", "Dossier", SP_PART, "Impôt sur le revenu",
    "Argent - Impôts - Consommation",
    "Déclaration, calcul, paiement et réductions de l'impôt sur le revenu.",
    "2025-04-10", "Dossier", "Dossier", ["Particuliers"],
    [("Particuliers", None, "Accueil particuliers"), ("N19803", None, "Argent - Impôts - Consommation"),
     ("N360", "Dossier", "Impôt sur le revenu")],
    """
  <Theme ID="N19803">
    <Titre>Argent - Impôts - Consommation</Titre>
  </Theme>
  <SousThemePere ID="N20282">Impôts, taxes et douane</SousThemePere>
  <Introduction>
    <Texte>
      <Paragraphe>Retrouvez toutes les informations utiles pour déclarer vos revenus, comprendre le calcul de votre impôt et choisir votre mode de paiement.</Paragraphe>
    </Texte>
  </Introduction>
  <SousDossier ID="N360-1">
    <Titre>Déclaration</Titre>
    <Fiche ID="F358">Déclaration de revenus</Fiche>
    <Fiche ID="F13902">Revenus à déclarer</Fiche>
  </SousDossier>
  <SousDossier ID="N360-2">
    <Titre>Calcul et paiement</Titre>
    <Fiche ID="F1419">Calcul de l'impôt</Fiche>
    <Fiche ID="F34009">Prélèvement à la source</Fiche>
  </SousDossier>
""",
)

# --- Professionnels -------------------------------------------------------

F23107 = publication(
    "F23107", "Fiche d'information", SP_PRO,
    "Déclaration préalable à l'embauche (DPAE)",
    "Ressources humaines, Recrutement",
    "L'employeur doit déclarer chaque salarié qu'il embauche à l'Urssaf ou à la MSA, au plus tôt 8 jours avant la prise de poste.",
    "2024-11-05", "Fiche pratique", "Fiche pratique", ["Professionnels"],
    [("Professionnels", None, "Accueil professionnels"), ("N24267", None, "Ressources humaines"),
     ("N31144", None, "Recrutement"), ("F23107", "Fiche d'information", "Déclaration préalable à l'embauche (DPAE)")],
    f"""
  <Theme ID="N24267">
    <Titre>Ressources humaines</Titre>
  </Theme>
  <DossierPere ID="N31144">
    <Titre>Recrutement</Titre>
    <Fiche ID="F23107">Déclaration préalable à l'embauche</Fiche>
    <Fiche ID="F31228">Registre unique du personnel</Fiche>
  </DossierPere>
  <Introduction>
    <Texte>
      <Paragraphe>Avant d'embaucher un salarié, l'employeur doit effectuer une déclaration préalable à l'embauche (DPAE). Elle permet notamment l'immatriculation du salarié à la Sécurité sociale et son affiliation à l'assurance chômage.</Paragraphe>
    </Texte>
  </Introduction>
  <Texte>
    <Chapitre>
      <Titre>
        <Paragraphe>Employeurs concernés</Paragraphe>
      </Titre>
      <Paragraphe>Tout employeur de droit privé doit effectuer la DPAE, quel que soit le contrat de travail (CDI, CDD, contrat saisonnier, apprentissage).</Paragraphe>
      <ANoter>
        <Titre>À noter</Titre>
        <Paragraphe>Les particuliers employeurs utilisent le <LienInterne LienPublication="F1455" type="Fiche d'information" audience="Particuliers">chèque emploi service universel</LienInterne> et n'ont pas à faire de DPAE.</Paragraphe>
      </ANoter>
    </Chapitre>
    <Chapitre>
      <Titre>
        <Paragraphe>Délai</Paragraphe>
      </Titre>
      <Paragraphe>La DPAE est faite <MiseEnEvidence>au plus tôt 8 jours</MiseEnEvidence> avant l'embauche et au plus tard dans les instants qui précèdent la prise de poste.</Paragraphe>
    </Chapitre>
    <Chapitre>
      <Titre>
        <Paragraphe>Démarche</Paragraphe>
      </Titre>
      <SousChapitre>
        <Titre>
          <Paragraphe>Informations à fournir</Paragraphe>
        </Titre>
        <Paragraphe>La déclaration comporte les informations suivantes :</Paragraphe>
{liste("puce", ["Dénomination sociale et numéro Siret de l'employeur", "Nom, prénom, sexe, date et lieu de naissance du salarié", "Numéro de sécurité sociale du salarié, s'il est connu", "Date et heure d'embauche", "Nature du contrat et durée de la période d'essai"], 8)}
      </SousChapitre>
      <SousChapitre>
        <Titre>
          <Paragraphe>Transmission</Paragraphe>
        </Titre>
        <Paragraphe>La déclaration est transmise en ligne :</Paragraphe>
        <ServiceEnLigne ID="R10842" URL="https://www.net-entreprises.fr/declaration/dpae/" audience="Professionnels" type="Téléservice">
          <Titre>Déclaration préalable à l'embauche (DPAE)</Titre>
          <Source ID="R30745">Net-entreprises.fr</Source>
        </ServiceEnLigne>
        <Paragraphe>L'Urssaf adresse ensuite un accusé de réception, à conserver et à remettre au salarié.</Paragraphe>
      </SousChapitre>
    </Chapitre>
    <Chapitre>
      <Titre>
        <Paragraphe>Sanctions</Paragraphe>
      </Titre>
{tableau("Sanctions en cas de manquement", ["Manquement", "Sanction encourue"], [["Absence de DPAE", "Pénalité égale à 300 fois le taux horaire du minimum garanti, soit 1 245 € en 2024"], ["Travail dissimulé", "3 ans d'emprisonnement et 45 000 € d'amende"]], 6)}
      <Attention>
        <Titre>Attention</Titre>
        <Paragraphe>L'absence de DPAE est l'un des éléments constitutifs du <MiseEnEvidence>travail dissimulé</MiseEnEvidence>.</Paragraphe>
      </Attention>
    </Chapitre>
  </Texte>
  <Reference type="Texte de référence" URL="https://www.legifrance.gouv.fr/codes/id/LEGISCTA000006177834/" ID="R33016">
    <Titre>Code du travail : articles L1221-10 à L1221-12-1</Titre>
    <Complement>Déclaration préalable à l'embauche</Complement>
  </Reference>
  <QuestionReponse ID="F31229" audience="Professionnels">
    <Titre>Comment annuler une déclaration préalable à l'embauche ?</Titre>
  </QuestionReponse>
""",
    relation="isPartOf N31144",
)

F31228 = publication(
    "F31228", "Fiche Question-réponse conditionnée", SP_PRO,
    "Quels sont les délais de paiement entre professionnels ?",
    "Gestion et finances",
    "Les délais de paiement entre entreprises sont plafonnés par la loi. Des pénalités de retard s'appliquent en cas de dépassement.",
    "2025-01-20", "Question-réponse", "Question-réponse", ["Professionnels"],
    [("Professionnels", None, "Accueil professionnels"), ("N24265", None, "Gestion et finances"),
     ("F31228", "Fiche Question-réponse conditionnée", "Quels sont les délais de paiement entre professionnels ?")],
    f"""
  <Theme ID="N24265">
    <Titre>Gestion et finances</Titre>
  </Theme>
  <Texte>
    <Paragraphe>Le délai de paiement convenu entre professionnels ne peut pas dépasser certaines durées maximales.</Paragraphe>
    <BlocCas affichage="radio">
      <Cas>
        <Titre>Cas général</Titre>
{tableau("Délais maximaux de paiement", ["Type de délai", "Durée maximale"], [["Délai convenu entre les parties", "60 jours à compter de la date d'émission de la facture"], ["Délai convenu, par dérogation", "45 jours fin de mois"], ["Aucun délai convenu", "30 jours après la réception des marchandises"]], 8)}
      </Cas>
      <Cas>
        <Titre>Transport routier de marchandises</Titre>
        <Paragraphe>Le délai ne peut pas dépasser <MiseEnEvidence>30 jours</MiseEnEvidence> à compter de la date d'émission de la facture.</Paragraphe>
      </Cas>
    </BlocCas>
    <ANoter>
      <Titre>À noter</Titre>
      <Paragraphe>Tout retard de paiement entraîne des pénalités de retard et une indemnité forfaitaire de 40 € pour frais de recouvrement.</Paragraphe>
    </ANoter>
  </Texte>
  <Reference type="Texte de référence" URL="https://www.legifrance.gouv.fr/codes/article_lc/LEGIARTI000038414159" ID="R44311">
    <Titre>Code de commerce : article L441-10</Titre>
    <Complement>Délais de paiement</Complement>
  </Reference>
  <QuestionReponse ID="F31229" audience="Professionnels">
    <Titre>Comment calculer les pénalités de retard ?</Titre>
  </QuestionReponse>
""",
)

N24267 = publication(
    "N24267", "Theme", SP_PRO, "Ressources humaines", "Ressources humaines", "Ressources humaines",
    "2024-06-03", "Thème", "Thème", ["Professionnels"],
    [("Professionnels", None, "Accueil professionnels"), ("N24267", "Theme", "Ressources humaines")],
    """
  <SousTheme ID="N31144">
    <Titre>Recrutement</Titre>
    <Dossier ID="N31144">Recrutement</Dossier>
  </SousTheme>
  <SousTheme ID="N31150">
    <Titre>Rémunération et paie</Titre>
    <Dossier ID="N31151">Bulletin de paie</Dossier>
    <Dossier ID="N31152">Cotisations sociales</Dossier>
  </SousTheme>
""",
)

# Skipped by the pipeline: SurTitre "Recherche guidée".
F35650 = publication(
    "F35650", "Recherche guidée", SP_PRO,
    "Embaucher un premier salarié : quelles démarches ?",
    "Ressources humaines",
    "Répondez à quelques questions pour connaître les démarches à accomplir lors de votre première embauche.",
    "2024-10-14", "Recherche guidée", "Recherche guidée", ["Professionnels"],
    [("Professionnels", None, "Accueil professionnels"), ("N24267", None, "Ressources humaines"),
     ("F35650", "Recherche guidée", "Embaucher un premier salarié : quelles démarches ?")],
    """
  <Theme ID="N24267">
    <Titre>Ressources humaines</Titre>
  </Theme>
  <Introduction>
    <Texte>
      <Paragraphe>Vous allez embaucher votre premier salarié. Les démarches dépendent de votre statut et du contrat envisagé.</Paragraphe>
    </Texte>
  </Introduction>
  <Texte>
    <Paragraphe>Étapes principales :</Paragraphe>
    <Liste type="numero">
      <Item>
        <Paragraphe>Effectuer la <LienInterne LienPublication="F23107" type="Fiche d'information" audience="Professionnels">déclaration préalable à l'embauche</LienInterne></Paragraphe>
      </Item>
      <Item>
        <Paragraphe>Tenir le registre unique du personnel</Paragraphe>
      </Item>
      <Item>
        <Paragraphe>Adhérer à un service de prévention et de santé au travail</Paragraphe>
      </Item>
    </Liste>
  </Texte>
""",
)

SCHEMA_XSD = """<?xml version="1.0" encoding="UTF-8"?>
<!-- Extrait synthétique : le vrai schéma Publication.xsd est bien plus long. -->
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" elementFormDefault="qualified">
  <xs:element name="Publication">
    <xs:complexType>
      <xs:sequence>
        <xs:any processContents="lax" minOccurs="0" maxOccurs="unbounded"/>
      </xs:sequence>
      <xs:attribute name="ID" type="xs:string" use="required"/>
      <xs:attribute name="type" type="xs:string" use="required"/>
      <xs:attribute name="spUrl" type="xs:anyURI"/>
    </xs:complexType>
  </xs:element>
</xs:schema>
"""


def menu_xml(audience, themes):
    items = "\n".join(f'  <Niveau ID="{nid}" type="Theme">{escape(t)}</Niveau>' for nid, t in themes)
    return XML_DECL + f'<Menu audience="{audience}">\n{items}\n</Menu>\n'


def build_service_public():
    part = {
        "F1878.xml": F1878, "F2923.xml": F2923, "F35138.xml": F35138,
        "N19808.xml": N19808, "N360.xml": N360,
        "menu.xml": menu_xml("Particuliers", [("N19803", "Argent - Impôts - Consommation"), ("N19806", "Travail - Formation"), ("N19808", "Logement"), ("N19811", "Social - Santé")]),
        "Schemas/3.4/Publication.xsd": SCHEMA_XSD,
    }
    pro = {
        "F35138.xml": F35138, "F23107.xml": F23107, "F31228.xml": F31228,
        "N24267.xml": N24267, "F35650.xml": F35650,
        "menu.xml": menu_xml("Professionnels", [("N24265", "Gestion et finances"), ("N24267", "Ressources humaines")]),
        "Schemas/3.4/Publication.xsd": SCHEMA_XSD,
    }
    write_file("lecomarquage/vdd/3.4/part/zip/vosdroits-latest.zip", zip_bytes(part))
    write_file("lecomarquage/vdd/3.4/pro/zip/vosdroits-latest.zip", zip_bytes(pro))


# --------------------------------------------------------------------------
# Directories (state and local): {"service": [...]}
# --------------------------------------------------------------------------

UUID_NS = uuid.UUID("6f1c3d1e-2b7a-4c39-9a53-0c1b5e7d9a01")


def sid(name):
    return str(uuid.uuid5(UUID_NS, name))


def adresse(numero_voie, code_postal, commune, lon, lat, complement1="", complement2="",
            service_distribution="", type_adresse="Adresse", accessibilite="ACC", note=""):
    return {
        "type_adresse": type_adresse, "complement1": complement1, "complement2": complement2,
        "numero_voie": numero_voie, "service_distribution": service_distribution,
        "code_postal": code_postal, "nom_commune": commune, "pays": "France", "continent": "Europe",
        "longitude": lon, "latitude": lat, "accessibilite": accessibilite, "note_accessibilite": note,
    }


def plage(jour_debut, jour_fin, d1, f1, d2="", f2="", commentaire=""):
    return {
        "nom_jour_debut": jour_debut, "nom_jour_fin": jour_fin,
        "valeur_heure_debut_1": d1, "valeur_heure_fin_1": f1,
        "valeur_heure_debut_2": d2, "valeur_heure_fin_2": f2, "commentaire": commentaire,
    }


def service_record(**kw):
    """Every key of the DILA record, in a fixed order; kw fills them."""
    record = {
        "id": kw["id"], "nom": kw["nom"], "sigle": kw.get("sigle", ""), "categorie": kw.get("categorie", "SL"),
        "pivot": kw.get("pivot", []), "type_organisme": kw.get("type_organisme", ""),
        "code_insee_commune": kw.get("code_insee_commune", ""), "ancien_code_pivot": kw.get("ancien_code_pivot", ""),
        "itm_identifiant": kw.get("itm_identifiant", ""), "siret": kw.get("siret", ""), "siren": kw.get("siren", ""),
        "adresse": kw.get("adresse", []), "telephone": kw.get("telephone", []),
        "telephone_accessible": kw.get("telephone_accessible", []), "telecopie": kw.get("telecopie", []),
        "adresse_courriel": kw.get("adresse_courriel", []), "site_internet": kw.get("site_internet", []),
        "formulaire_contact": kw.get("formulaire_contact", []), "reseau_social": kw.get("reseau_social", []),
        "application_mobile": kw.get("application_mobile", []), "tchat": kw.get("tchat", []),
        "sve": kw.get("sve", []), "annuaire": kw.get("annuaire", []),
        "plage_ouverture": kw.get("plage_ouverture", []),
        "commentaire_plage_ouverture": kw.get("commentaire_plage_ouverture", ""),
        "mission": kw.get("mission", ""), "information_complementaire": kw.get("information_complementaire", ""),
        "affectation_personne": kw.get("affectation_personne", []), "organigramme": kw.get("organigramme", []),
        "hierarchie": kw.get("hierarchie", []), "texte_reference": kw.get("texte_reference", []),
        "service_disponible": kw.get("service_disponible", ""),
        "url_service_public": kw.get("url_service_public", ""),
        "date_creation": kw.get("date_creation", ""), "date_modification": kw.get("date_modification", ""),
        "date_diffusion": kw.get("date_diffusion", ""), "statut_de_diffusion": "true",
        "version_type": "Publiable", "version_source": "", "version_etat_modification": "",
        "partenaire": kw.get("partenaire", ""), "partenaire_identifiant": kw.get("partenaire_identifiant", ""),
        "partenaire_date_modification": kw.get("partenaire_date_modification", ""),
        "ancien_identifiant": kw.get("ancien_identifiant", []), "ancien_nom": kw.get("ancien_nom", []),
        "type_repertoire": kw.get("type_repertoire", ""),
        "copyright": "Direction de l'information légale et administrative (Première ministre)",
    }
    unknown = set(kw) - set(record)
    assert not unknown, unknown
    return record


def personne(civilite, prenom, nom, fonction, grade=None, telephone=""):
    p = {"civilite": civilite, "prenom": prenom, "nom": nom}
    if grade:
        p["grade"] = grade
    return {"personne": p, "fonction": fonction, "telephone": telephone}


ST_MIN = sid("state:ministere-travail")
ST_DGT = sid("state:dgt")
ST_DGEFP = sid("state:dgefp")
ST_DREETS = sid("state:dreets-ara")
ST_IGAS = sid("state:igas")
LANNUAIRE = "https://lannuaire.service-public.gouv.fr"


def state_services():
    return [
        service_record(
            id=ST_MIN, nom="Ministère du Travail, de la Santé, des Solidarités et des Familles",
            categorie="SN", type_organisme="Administration centrale (ou Ministère)",
            siret="11000201100044", siren="110002011",
            adresse=[adresse("127 rue de Grenelle", "75007", "Paris", "2.3176", "48.8566")],
            telephone=[{"valeur": "01 44 38 38 38", "description": "Standard"}],
            site_internet=[{"libelle": "Site du ministère", "valeur": "https://travail-emploi.gouv.fr"}],
            formulaire_contact=["https://travail-emploi.gouv.fr/contact"],
            mission="Le ministère prépare et met en œuvre la politique du Gouvernement dans les domaines du travail, de l'emploi, de la formation professionnelle, de la santé et des solidarités.",
            affectation_personne=[personne("Mme", "Élisabeth", "Moréno-Garnier", "Ministre")],
            organigramme=[{"libelle": "Organigramme de l'administration centrale", "valeur": "https://travail-emploi.gouv.fr/organigramme.pdf"}],
            hierarchie=[{"type_hierarchie": "Service Fils", "service": ST_DGT},
                        {"type_hierarchie": "Service Fils", "service": ST_DGEFP},
                        {"type_hierarchie": "Service Fils", "service": ST_IGAS}],
            texte_reference=[{"libelle": "Décret relatif aux attributions du ministre du travail", "valeur": "https://www.legifrance.gouv.fr/jorf/id/JORFTEXT000050871122"}],
            url_service_public=f"{LANNUAIRE}/gouvernement/{ST_MIN}",
            date_creation="02/01/2008 00:00:00", date_modification="14/05/2025 09:12:44",
            type_repertoire="Gouvernement",
        ),
        service_record(
            id=ST_DGT, nom="Direction générale du travail (DGT)", sigle="DGT",
            categorie="SN", type_organisme="Administration centrale (ou Ministère)",
            siret="11000201100119", siren="110002011",
            adresse=[adresse("39-43 quai André-Citroën", "75015", "Paris", "2.2780", "48.8441", service_distribution="75739 Paris Cedex 15")],
            telephone=[{"valeur": "01 44 38 38 38", "description": "Standard du ministère"}],
            adresse_courriel=["dgt.secretariat@travail.gouv.example"],
            mission="La DGT élabore la réglementation relative aux relations individuelles et collectives de travail, à la santé et à la sécurité au travail. Elle anime le système d'inspection du travail.",
            affectation_personne=[
                personne("M.", "Laurent", "Castelnau", "Directeur général du travail", grade="Conseiller d'État"),
                personne("Mme", "Inès", "Boudjemaa", "Cheffe du service des relations et des conditions de travail"),
            ],
            organigramme=[{"libelle": "Organigramme de la DGT", "valeur": "https://travail-emploi.gouv.fr/organigramme-dgt.pdf"}],
            hierarchie=[{"type_hierarchie": "Service Fils", "service": ST_DREETS}],
            url_service_public=f"{LANNUAIRE}/gouvernement/{ST_DGT}",
            date_creation="15/03/2008 00:00:00", date_modification="02/04/2025 16:40:03",
            type_repertoire="Gouvernement",
        ),
        service_record(
            id=ST_DGEFP, nom="Délégation générale à l'emploi et à la formation professionnelle (DGEFP)", sigle="DGEFP",
            categorie="SN", type_organisme="Administration centrale (ou Ministère)",
            adresse=[adresse("14 avenue Duquesne", "75007", "Paris", "2.3105", "48.8520")],
            telephone=[{"valeur": "01 44 38 38 38", "description": "Standard"}],
            mission="La DGEFP conçoit et pilote les politiques de l'emploi et de la formation professionnelle continue, en lien avec France Travail et les régions.",
            affectation_personne=[personne("M.", "Bruno", "Lefaucheux", "Délégué général", grade="Inspecteur général des affaires sociales")],
            url_service_public=f"{LANNUAIRE}/gouvernement/{ST_DGEFP}",
            date_creation="15/03/2008 00:00:00", date_modification="20/01/2025 11:05:27",
            type_repertoire="Gouvernement",
        ),
        service_record(
            id=ST_DREETS,
            nom="Direction régionale de l'économie, de l'emploi, du travail et des solidarités (DREETS) - Auvergne-Rhône-Alpes",
            sigle="DREETS ARA", categorie="SN", type_organisme="Service déconcentré de l'État",
            siret="13002631400016", siren="130026314",
            adresse=[adresse("1 boulevard Vivier-Merle", "69003", "Lyon", "4.8592", "45.7605", complement1="Tour Swiss Life", accessibilite="ACC")],
            telephone=[{"valeur": "04 72 68 29 00", "description": "Accueil"},
                       {"valeur": "0 806 000 126", "description": "Renseignements en droit du travail"}],
            adresse_courriel=["ara.direction@dreets.gouv.example"],
            site_internet=[{"libelle": "", "valeur": "https://auvergne-rhone-alpes.dreets.gouv.fr"}],
            plage_ouverture=[
                plage("Lundi", "Jeudi", "09:00:00", "12:00:00", "13:30:00", "16:30:00", "Accueil sur rendez-vous l'après-midi."),
                plage("Vendredi", "Vendredi", "09:00:00", "12:00:00"),
            ],
            mission="La DREETS met en œuvre en région les politiques du travail, de l'emploi, du développement économique et de la cohésion sociale.",
            affectation_personne=[personne("Mme", "Catherine", "Vidal-Roussel", "Directrice régionale")],
            hierarchie=[{"type_hierarchie": "Autre hiérarchie", "service": ST_DGEFP}],
            url_service_public=f"{LANNUAIRE}/auvergne-rhone-alpes/rhone/{ST_DREETS}",
            date_creation="01/04/2021 00:00:00", date_modification="26/05/2025 08:47:51",
            type_repertoire="Services déconcentrés",
        ),
        service_record(
            id=ST_IGAS, nom="Inspection générale des affaires sociales (IGAS)", sigle="IGAS",
            categorie="SN", type_organisme="Service à compétence nationale",
            adresse=[adresse("39-43 quai André-Citroën", "75015", "Paris", "2.2780", "48.8441")],
            telephone=[{"valeur": "01 40 56 60 00", "description": ""}],
            site_internet=[{"libelle": "", "valeur": "https://www.igas.gouv.fr"}],
            reseau_social=[{"valeur": "https://www.linkedin.com/company/igas-exemple", "description": "Compte officiel", "custom_dico2": "LinkedIn"}],
            application_mobile=[{"valeur": "https://apps.apple.com/fr/app/igas-rapports/id000000001", "description": "Rapports publics de l'IGAS", "custom_dico2": "iOS"}],
            mission="L'IGAS contrôle, audite et évalue les structures et politiques sociales, et conseille les pouvoirs publics.",
            affectation_personne=[personne("M.", "Philippe", "Aubertin", "Chef de l'inspection générale")],
            url_service_public=f"{LANNUAIRE}/gouvernement/{ST_IGAS}",
            date_creation="10/10/2009 00:00:00", date_modification="03/03/2025 14:22:10",
            type_repertoire="Gouvernement",
        ),
    ]


def local_services():
    mairie = sid("local:mairie-saint-martin-en-haut")
    caf = sid("local:caf-rhone-lyon3")
    ft = sid("local:france-travail-villeurbanne")
    cpam = sid("local:cpam-givors")
    fs = sid("local:france-services-tarare")
    return [
        service_record(
            id=mairie, nom="Mairie - Saint-Martin-en-Haut",
            pivot=[{"type_service_local": "mairie", "code_insee_commune": ["69227"]}],
            code_insee_commune="69227", ancien_code_pivot="mairie-69227-01", itm_identifiant="412077",
            siret="21690227400015",
            adresse=[adresse("Place de l'Église", "69850", "Saint-Martin-en-Haut", "4.5612", "45.6597", accessibilite="DEM"),
                     adresse("", "69850", "Saint-Martin-en-Haut", "", "", service_distribution="BP 12", type_adresse="Adresse postale")],
            telephone=[{"valeur": "04 78 48 61 25", "description": ""}],
            adresse_courriel=["accueil@mairie-stmartinenhaut.example"],
            site_internet=[{"libelle": "", "valeur": "https://www.saint-martin-en-haut.example"}],
            plage_ouverture=[
                plage("Lundi", "Vendredi", "08:30:00", "12:00:00", "14:00:00", "17:00:00"),
                plage("Samedi", "Samedi", "09:00:00", "11:30:00", commentaire="Permanence état civil uniquement."),
            ],
            information_complementaire="Le service urbanisme reçoit uniquement sur rendez-vous.",
            affectation_personne=[personne("M.", "Gilles", "Perrichon", "Maire")],
            url_service_public="https://lannuaire.service-public.gouv.fr/auvergne-rhone-alpes/rhone/" + mairie,
            date_creation="18/01/2012 00:00:00", date_modification="11/02/2025 10:02:51",
        ),
        service_record(
            id=caf, nom="Caisse d'allocations familiales (Caf) du Rhône - accueil de Lyon 3e", sigle="Caf",
            pivot=[{"type_service_local": "caf", "code_insee_commune": ["69383", "69384", "69388"]}],
            code_insee_commune="69383", ancien_code_pivot="caf-69383-01", itm_identifiant="388120",
            adresse=[adresse("67 boulevard Vivier-Merle", "69003", "Lyon", "4.8578", "45.7571")],
            telephone=[{"valeur": "32 30", "description": "Service gratuit + prix d'un appel"}],
            site_internet=[{"libelle": "", "valeur": "https://www.caf.fr/allocataires/caf-du-rhone"}],
            formulaire_contact=["https://www.caf.fr/allocataires/caf-du-rhone/contacter-ma-caf"],
            plage_ouverture=[plage("Lundi", "Vendredi", "08:30:00", "16:30:00", commentaire="Accueil sur rendez-vous le mercredi après-midi.")],
            url_service_public="https://lannuaire.service-public.gouv.fr/auvergne-rhone-alpes/rhone/" + caf,
            date_creation="05/06/2013 00:00:00", date_modification="28/04/2025 15:31:09",
        ),
        service_record(
            id=ft, nom="France Travail - agence de Villeurbanne",
            pivot=[{"type_service_local": "pole_emploi", "code_insee_commune": ["69266"]}],
            code_insee_commune="69266", ancien_code_pivot="pole_emploi-69266-01",
            adresse=[adresse("24 rue Alexis-Perroncel", "69100", "Villeurbanne", "4.8801", "45.7670")],
            telephone=[{"valeur": "39 49", "description": "Demandeurs d'emploi"},
                       {"valeur": "39 95", "description": "Employeurs"}],
            site_internet=[{"libelle": "", "valeur": "https://www.francetravail.fr"}],
            plage_ouverture=[
                plage("Lundi", "Mercredi", "08:30:00", "12:30:00", "13:30:00", "16:30:00"),
                plage("Jeudi", "Jeudi", "08:30:00", "12:30:00", commentaire="Fermé l'après-midi."),
                plage("Vendredi", "Vendredi", "08:30:00", "12:30:00", "13:30:00", "15:30:00"),
            ],
            ancien_nom=["Pôle emploi - agence de Villeurbanne"],
            url_service_public="https://lannuaire.service-public.gouv.fr/auvergne-rhone-alpes/rhone/" + ft,
            date_creation="12/09/2014 00:00:00", date_modification="02/01/2025 07:58:30",
        ),
        service_record(
            id=cpam, nom="Caisse primaire d'assurance maladie (CPAM) du Rhône - point d'accueil de Givors", sigle="CPAM",
            pivot=[{"type_service_local": "cpam", "code_insee_commune": ["69091", "69097"]}],
            code_insee_commune="69091",
            adresse=[adresse("3 rue Joseph-Faure", "69700", "Givors", "4.7705", "45.5901", complement1="Centre social", accessibilite="NACC")],
            telephone=[{"valeur": "36 46", "description": "Service gratuit + prix d'un appel"}],
            plage_ouverture=[plage("Mardi", "Mardi", "09:00:00", "12:00:00"),
                             plage("Jeudi", "Jeudi", "13:30:00", "16:30:00")],
            commentaire_plage_ouverture="Fermé pendant les vacances scolaires d'été.",
            url_service_public="https://lannuaire.service-public.gouv.fr/auvergne-rhone-alpes/rhone/" + cpam,
            date_creation="21/03/2016 00:00:00", date_modification="14/11/2024 12:10:00",
        ),
        # All optional lists empty.
        service_record(
            id=fs, nom="France services - Tarare",
            pivot=[{"type_service_local": "france_services", "code_insee_commune": ["69243"]}],
            code_insee_commune="69243",
            adresse=[adresse("", "69170", "Tarare", "", "")],
            url_service_public="https://lannuaire.service-public.gouv.fr/auvergne-rhone-alpes/rhone/" + fs,
            date_creation="01/01/2022 00:00:00", date_modification="01/01/2022 00:00:00",
        ),
    ]


def build_directories():
    state = json.dumps({"service": state_services()}, ensure_ascii=False, indent=2) + "\n"
    write_file("dila/RefOrgaAdminEtat/FluxAnneeCourante/dila_refOrga_admin_Etat_fr_latest.zip",
               zip_bytes({"dila_refOrga_admin_Etat_fr_20250526.json": state}))
    local = json.dumps({"service": local_services()}, ensure_ascii=False, indent=2) + "\n"
    tar = tar_bytes({"base-donnees-locales.json": local}, EPOCH_2025)
    write_file("lecomarquage/donnees_locales_v4/all_latest.tar.bz2", bz2.compress(tar, 9))


# --------------------------------------------------------------------------
# travail-emploi.gouv.fr sheets (fiches-travail.json)
# --------------------------------------------------------------------------

def html_to_text(html):
    """Plain text as in fiches-travail: tags dropped, blocks glued."""
    import html as htmlmod
    import re
    text = re.sub(r"<br[^>]*>", " ", html)
    text = re.sub(r"</li>", " ", text)
    text = re.sub(r"</t[dh]>", " ", text)
    text = re.sub(r"<[^>]+>", "", text)
    text = htmlmod.unescape(text).replace("\xa0", " ")
    return re.sub(r"[ \t]+", " ", text).strip()


def te_section(anchor, title, html, references=None):
    text = html_to_text(html)
    return {"anchor": anchor, "description": text[:200], "html": html,
            "references": references or {}, "text": text, "title": title}


def te_record(pub_id, date, title, url, intro, sections):
    first = sections[0]
    desc = (first["title"] + " " + first["text"])[:140].rsplit(" ", 1)[0] + " (...)"
    return {"date": date, "description": desc, "intro": intro, "pubId": pub_id,
            "sections": sections, "title": title, "url": url}


CT = "code du travail"


def ct_ref(*articles):
    return {"LEGITEXT000006072050": {
        "articles": [{"text": t, "fmt": t.replace(". ", "").replace(" ", ""), "cid": cid, "id": aid} for t, cid, aid in articles],
        "name": CT}}


TRAVAIL_RECORDS = [
    te_record(
        "article378412", "14/01/2025", "Le télétravail",
        "https://travail-emploi.gouv.fr/droit-du-travail/les-contrats-de-travail/article/le-teletravail",
        "<p>Le télétravail désigne toute forme d’organisation du travail dans laquelle un travail qui aurait pu être exécuté dans les locaux de l’employeur est effectué par un salarié hors de ces locaux, de façon volontaire, en utilisant les technologies de l’information et de la communication.</p>",
        [
            te_section("Comment-mettre-en-place-le-teletravail", "Comment mettre en place le télétravail ?",
                       "<p>Le télétravail est mis en place dans le cadre d’un accord collectif ou, à défaut, d’une charte élaborée par l’employeur après avis du comité social et économique, s’il existe.</p><p>En l’absence d’accord ou de charte, le salarié et l’employeur peuvent convenir de recourir au télétravail en formalisant leur accord <strong>par tout moyen</strong>.</p><p>L’accord collectif ou la charte précise notamment&nbsp;:</p><ul class=\"spip\"><li> les conditions de passage en télétravail et de retour à une exécution du contrat sans télétravail&nbsp;;</li><li> les modalités d’acceptation par le salarié des conditions de mise en œuvre&nbsp;;</li><li> les plages horaires durant lesquelles l’employeur peut habituellement contacter le salarié.</li></ul>",
                       ct_ref(("L. 1222-9", "LEGIARTI000006901118", "LEGIARTI000037388897"))),
            te_section("Quels-sont-les-droits-du-teletravailleur", "Quels sont les droits du télétravailleur ?",
                       "<p>Le télétravailleur a les mêmes droits que le salarié qui exécute son travail dans les locaux de l’entreprise, notamment en ce qui concerne l’accès à la formation, les titres-restaurant et le respect de la vie privée.<br class=\"autobr\">L’accident survenu sur le lieu du télétravail pendant les heures de travail est présumé être un accident du travail.</p>"),
        ],
    ),
    te_record(
        "article101342", "03/06/2024", "Les congés payés",
        "https://travail-emploi.gouv.fr/droit-du-travail/temps-de-travail-et-conges/article/les-conges-payes",
        "<p>Tout salarié a droit chaque année à des congés payés à la charge de l’employeur. Le droit aux congés est ouvert dès l’embauche.</p>",
        [
            te_section("Combien-de-jours-de-conges", "Combien de jours de congés ?",
                       "<p>Le salarié acquiert <strong>2,5 jours ouvrables</strong> de congé par mois de travail effectif chez le même employeur, soit 30 jours ouvrables (5 semaines) pour une année complète.</p><p>Sont assimilées à du travail effectif&nbsp;:</p><ul class=\"spip\"><li> les périodes de congé payé de l’année précédente&nbsp;;</li><li> les périodes de congé de maternité, de paternité et d’adoption&nbsp;;</li><li> les périodes d’arrêt pour accident du travail ou maladie professionnelle.</li></ul><table class=\"spip\"><thead><tr class=\"row_first\"><th id=\"id1\">Période de travail effectif</th><th id=\"id2\">Congés acquis</th></tr></thead><tbody><tr class=\"row_odd odd\"><td>1 mois</td><td>2,5 jours ouvrables</td></tr><tr class=\"row_even even\"><td>6 mois</td><td>15 jours ouvrables</td></tr><tr class=\"row_odd odd\"><td>12 mois</td><td>30 jours ouvrables</td></tr></tbody></table>",
                       ct_ref(("L. 3141-3", "LEGIARTI000006902649", "LEGIARTI000033020838"),
                              ("L. 3141-5", "LEGIARTI000006902651", "LEGIARTI000049454082"))),
            te_section("Quand-prendre-ses-conges", "Quand prendre ses congés ?",
                       "<p>La période de prise des congés comprend dans tous les cas la période du 1er mai au 31 octobre. L’ordre des départs est fixé par l’employeur après avis du comité social et économique, en tenant compte de la situation de famille des salariés.</p>"),
            te_section("Que-se-passe-t-il-en-cas-de-maladie", "Que se passe-t-il en cas de maladie pendant les congés ?",
                       "<p>Le salarié tombé malade pendant ses congés peut bénéficier ultérieurement des jours de congé coïncidant avec l’arrêt de travail, à condition d’en informer son employeur.</p>"),
        ],
    ),
    te_record(
        "article377950", "22/09/2023", "5 questions sur l’indemnité de rupture conventionnelle",
        "https://travail-emploi.gouv.fr/actualites/l-actualite-du-ministere/article/5-questions-sur-l-indemnite-de-rupture-conventionnelle",
        "",
        [
            te_section("t1-Quel-est-le-montant-minimum", "1) Quel est le montant minimum de l’indemnité ?",
                       "<p>L’indemnité spécifique de rupture conventionnelle ne peut pas être inférieure à l’indemnité légale de licenciement, soit un quart de mois de salaire par année d’ancienneté pour les dix premières années.</p>"),
            te_section("t2-Est-elle-soumise-a-cotisations", "2) Est-elle soumise à cotisations ?",
                       "<p>Depuis le 1er septembre 2023, l’indemnité est soumise à une contribution patronale unique de 30&nbsp;% sur la part exonérée de cotisations sociales.</p>"),
        ],
    ),
    te_record(
        "article380221", "07/02/2025", "Le contrat de professionnalisation",
        "https://travail-emploi.gouv.fr/formation-professionnelle/formation-en-alternance-10751/article/le-contrat-de-professionnalisation",
        "<p>Le contrat de professionnalisation associe formation pratique en entreprise et enseignement théorique, en vue d’acquérir une qualification professionnelle reconnue.</p>",
        [
            te_section("", "Le contrat de professionnalisation",
                       "<p>Il s’adresse aux jeunes de 16 à 25 ans révolus, aux demandeurs d’emploi âgés de 26 ans et plus et aux bénéficiaires de certains minima sociaux. Il peut être conclu pour une durée déterminée de 6 à 12 mois ou pour une durée indéterminée.</p>",
                       ct_ref(("L. 6325-1", "LEGIARTI000006904393", "LEGIARTI000037385830"))),
        ],
    ),
]


def build_travail():
    write_file("github/SocialGouv/fiches-travail-data/raw/master/data/fiches-travail.json",
               json.dumps(TRAVAIL_RECORDS, ensure_ascii=False, indent=2) + "\n")


# --------------------------------------------------------------------------
# data.gouv.fr catalogue export (export-dataset-*.csv)
# --------------------------------------------------------------------------

DATA_GOUV_HEADER = (
    "id;title;slug;acronym;url;organization;organization_id;owner;owner_id;description;frequency;license;"
    "temporal_coverage.start;temporal_coverage.end;spatial.granularity;spatial.zones;featured;created_at;"
    "last_modified;tags;archived;resources_count;main_resources_count;resources_formats;harvest.backend;"
    "harvest.domain;harvest.created_at;harvest.modified_at;harvest.remote_url;quality_score;metric.discussions;"
    "metric.reuses;metric.reuses_by_months;metric.followers;metric.followers_by_months;metric.views;"
    "metric.resources_downloads"
).split(";")


def oid(name):
    return hashlib.sha1(name.encode("utf-8")).hexdigest()[:24]


def dataset(slug, title, org, description, **kw):
    row = dict.fromkeys(DATA_GOUV_HEADER, "")
    row.update({
        "id": oid("dataset:" + slug), "title": title, "slug": slug,
        "url": f"https://www.data.gouv.fr/fr/datasets/{slug}/",
        "description": description, "featured": "False", "archived": "False",
    })
    if org:
        row["organization"] = org
        row["organization_id"] = oid("org:" + org)
    else:
        row["owner"] = kw.pop("owner")
        row["owner_id"] = oid("user:" + row["owner"])
    for key, value in kw.items():
        row[key.replace("__", ".")] = value
    return row


DATA_GOUV_ROWS = [
    dataset("repertoire-national-des-elus-1", "Répertoire national des élus (RNE)",
            "Ministère de l'Intérieur et des Outre-mer",
            "Le répertoire national des élus recense les élus municipaux, communautaires, départementaux, régionaux, les parlementaires et les représentants au Parlement européen. Il est mis à jour à partir des informations transmises par les préfectures.",
            acronym="RNE", frequency="quarterly", license="Licence Ouverte / Open Licence version 2.0",
            temporal_coverage__start="2014-03-30", spatial__granularity="fr:commune", spatial__zones="country:fr",
            featured="True", created_at="2017-05-05T16:51:05.093000", last_modified="2025-04-14T09:12:30.418000",
            tags="elections,elus,mandats", resources_count="12", main_resources_count="11", resources_formats="csv",
            quality_score="0.89", metric__discussions="14", metric__reuses="23",
            metric__reuses_by_months='{"2025-03": 1, "2025-04": 0}', metric__followers="312",
            metric__followers_by_months='{"2025-03": 4, "2025-04": 2}', metric__views="48211",
            metric__resources_downloads="18422.0"),
    dataset("base-sirene-des-entreprises-et-de-leurs-etablissements-siren-siret", "Base Sirene des entreprises et de leurs établissements (SIREN, SIRET)",
            "Institut national de la statistique et des études économiques (Insee)",
            "La base Sirene rassemble les informations économiques et juridiques de plus de 30 millions d'établissements. Les fichiers « stock » sont publiés le premier jour de chaque mois ; les mises à jour quotidiennes sont disponibles par API.",
            acronym="Sirene", frequency="monthly", license="Licence Ouverte / Open Licence version 2.0",
            spatial__granularity="other", spatial__zones="country:fr", featured="True",
            created_at="2016-12-20T14:08:02.110000", last_modified="2025-05-01T03:10:44.002000",
            tags="entreprises,etablissements,siren,siret,sirene", resources_count="9", main_resources_count="6",
            resources_formats="zip,parquet,csv", quality_score="1.0", metric__discussions="121", metric__reuses="97",
            metric__reuses_by_months='{"2025-03": 3, "2025-04": 2}', metric__followers="1520",
            metric__followers_by_months='{"2025-03": 11, "2025-04": 9}', metric__views="402117",
            metric__resources_downloads="210455.0"),
    # description with a ';', a newline and double quotes
    dataset("indicateurs-de-suivi-de-lepidemie-de-grippe", "Indicateurs de suivi de l'épidémie de grippe",
            "Santé publique France",
            'Indicateurs hebdomadaires de passages aux urgences pour syndrome grippal ; données par région et classe d\'âge.\nSource : réseau OSCOUR®. Voir la note "Méthodologie des indicateurs" avant toute réutilisation.',
            frequency="weekly", license="Licence Ouverte / Open Licence version 2.0",
            temporal_coverage__start="2018-10-01", temporal_coverage__end="2025-04-27", spatial__granularity="fr:region",
            spatial__zones="country:fr", created_at="2020-01-21T10:00:00.000000", last_modified="2025-04-30T17:45:09.331000",
            tags="grippe,sante,urgences", resources_count="4", main_resources_count="4", resources_formats="csv,xlsx",
            quality_score="0.78", metric__discussions="3", metric__reuses="5",
            metric__reuses_by_months='{"2025-03": 0, "2025-04": 1}', metric__followers="88",
            metric__followers_by_months='{"2025-03": 1, "2025-04": 0}', metric__views="9120",
            metric__resources_downloads="4410.0"),
    # short description (< 100 characters)
    dataset("horaires-des-piscines-municipales", "Horaires des piscines municipales", "Ville de Lyon",
            "Horaires d'ouverture des piscines municipales de la ville.",
            frequency="irregular", license="Licence Ouverte / Open Licence version 2.0",
            spatial__granularity="fr:commune", spatial__zones="fr:commune:69123",
            created_at="2019-06-11T08:30:12.000000", last_modified="2024-06-03T10:23:37.601000",
            tags="equipements-sportifs,piscines", resources_count="1", main_resources_count="1", resources_formats="json",
            harvest__backend="DCAT", harvest__domain="data.grandlyon.com", harvest__created_at="2019-06-11T08:30:12",
            harvest__modified_at="2024-06-03T10:20:00", harvest__remote_url="https://data.grandlyon.com/jeux-de-donnees/horaires-piscines/info",
            quality_score="0.44", metric__discussions="0", metric__reuses="0",
            metric__reuses_by_months="{}", metric__followers="2", metric__followers_by_months="{}",
            metric__views="311", metric__resources_downloads="97.0"),
    dataset("donnees-climatologiques-de-base-quotidiennes", "Données climatologiques de base - quotidiennes", "Météo-France",
            "Données quotidiennes des stations météorologiques : températures minimales et maximales, précipitations, vent et ensoleillement. Les fichiers sont découpés par département et par période.",
            frequency="daily", license="Licence Ouverte / Open Licence version 2.0",
            temporal_coverage__start="1950-01-01", spatial__granularity="fr:departement", spatial__zones="country:fr",
            created_at="2023-06-30T12:00:00.000000", last_modified="2025-05-02T06:00:51.920000",
            tags="climat,meteo,observations", resources_count="303", main_resources_count="300", resources_formats="csv.gz",
            quality_score="0.83", metric__discussions="27", metric__reuses="41",
            metric__reuses_by_months='{"2025-03": 2, "2025-04": 1}', metric__followers="640",
            metric__followers_by_months='{"2025-03": 5, "2025-04": 6}', metric__views="120554",
            metric__resources_downloads="85210.0"),
    dataset("demandes-de-valeurs-foncieres", "Demandes de valeurs foncières", "Direction générale des Finances publiques",
            "La base DVF recense les mutations immobilières à titre onéreux publiées dans les services de publicité foncière depuis cinq ans, en métropole et dans les départements d'outre-mer, à l'exception de l'Alsace, de la Moselle et de Mayotte.",
            acronym="DVF", frequency="semiannual", license="Licence Ouverte / Open Licence version 2.0",
            temporal_coverage__start="2020-01-01", temporal_coverage__end="2024-12-31", spatial__granularity="other",
            spatial__zones="country:fr", featured="True", created_at="2019-04-23T15:11:46.000000",
            last_modified="2025-04-08T11:02:18.517000", tags="foncier,immobilier,transactions", resources_count="7",
            main_resources_count="6", resources_formats="txt,pdf", quality_score="0.67", metric__discussions="210",
            metric__reuses="186", metric__reuses_by_months='{"2025-03": 4, "2025-04": 3}', metric__followers="2140",
            metric__followers_by_months='{"2025-03": 20, "2025-04": 15}', metric__views="611032",
            metric__resources_downloads="402331.0"),
    # short description, owned by a user, archived
    dataset("liste-des-fontaines-a-eau-potable-de-rennes", "Liste des fontaines à eau potable de Rennes", None,
            "Fontaines à eau potable recensées en 2021.",
            owner="Camille Perrin", frequency="unknown", license="Open Data Commons Open Database License (ODbL)",
            spatial__granularity="poi", spatial__zones="fr:commune:35238", archived="True",
            created_at="2021-07-02T18:44:00.000000", last_modified="2021-07-02T18:47:12.000000",
            tags="eau,fontaines", resources_count="1", main_resources_count="1", resources_formats="geojson",
            quality_score="0.22", metric__discussions="1", metric__reuses="0", metric__reuses_by_months="{}",
            metric__followers="0", metric__followers_by_months="{}", metric__views="58",
            metric__resources_downloads="12.0"),
    dataset("aides-regionales-aux-entreprises-bretagne", "Aides régionales aux entreprises", "Région Bretagne",
            "Liste des aides attribuées par la Région aux entreprises bretonnes : bénéficiaire, montant, dispositif, date de la décision et commune d'implantation. Mise à jour après chaque commission permanente.",
            frequency="monthly", license="Licence Ouverte / Open Licence version 2.0",
            temporal_coverage__start="2016-01-01", spatial__granularity="fr:commune", spatial__zones="fr:region:53",
            created_at="2018-02-14T09:20:00.000000", last_modified="2025-04-25T14:00:03.000000",
            tags="aides,economie,entreprises,subventions", resources_count="2", main_resources_count="2",
            resources_formats="csv,json", harvest__backend="OpenDataSoft", harvest__domain="data.bretagne.bzh",
            harvest__created_at="2018-02-14T09:20:00", harvest__modified_at="2025-04-25T14:00:03",
            harvest__remote_url="https://data.bretagne.bzh/explore/dataset/aides-regionales-entreprises/",
            quality_score="0.72", metric__discussions="0", metric__reuses="2",
            metric__reuses_by_months='{"2025-03": 0, "2025-04": 0}', metric__followers="9",
            metric__followers_by_months='{"2025-03": 0, "2025-04": 1}', metric__views="2031",
            metric__resources_downloads="744.0"),
]


def build_data_gouv():
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=";", quotechar='"', quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(DATA_GOUV_HEADER)
    for row in DATA_GOUV_ROWS:
        writer.writerow([row[k] for k in DATA_GOUV_HEADER])
    write_file("data_gouv/export-dataset-20250601-000000.csv", buf.getvalue())


# --------------------------------------------------------------------------

def main():
    build_cnil()
    build_constit()
    build_dole()
    build_legi()
    build_service_public()
    build_directories()
    build_travail()
    build_data_gouv()
    total = 0
    for root, _, files in sorted(os.walk(HERE)):
        for name in sorted(files):
            if name.endswith((".py", ".md")):
                continue
            path = os.path.join(root, name)
            size = os.path.getsize(path)
            total += size
            print(f"{size:8d}  {os.path.relpath(path, HERE)}")
    print(f"{total:8d}  total")


if __name__ == "__main__":
    main()
