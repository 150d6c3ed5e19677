#!/usr/bin/env python3
"""Synthetic service-public.fr "vos droits" sheets, shaped like the real vosdroits-latest.zip.

    generate.py --sheets N --out DIR [--seed S] [--level L]

Writes DIR/vosdroits-latest.zip holding N sheets (Publication XML, UTF-8), named like the
real ones and stored in name order:

  - about 93% `F<n>.xml` information / question-answer sheets, the body as in the real
    samples (../shared/mediatech-samples/service_public/): a `Texte` of `Chapitre`s
    (55%), a `ListeSituations` of 2-4 `Situation`s each with its own `Texte` (25%), or a
    question-answer `Texte` with `TitreFlottant`s and a `BlocCas` (20%);
  - about 5% `N<n>.xml` theme sheets (SurTitre "Thème", SousTheme/Dossier lists, no Texte:
    parsed, no chunk);
  - about 1% `N<n>.xml` sheets with SurTitre "Dossier" and 1% `F<n>.xml` sheets with SurTitre
    "Recherche guidée": they do have text, and must be skipped (parsed, no chunk);
  - about 0.2% `F<n>.xml` sheets whose spUrl ends with the ID of another sheet (duplicate sid:
    the one coming later in name order is dropped);
  - besides the N sheets: `arborescence.xml` and about 1% small `R<n>.xml` resource files,
    which are not sheets (not named F*/N*) and must be ignored.

Elements emitted: the Dublin Core header (`dc:title`, `dc:description`, `dc:date`...),
`SurTitre`, `Audience` (one or two), `Canal`, `FilDAriane`, `Theme` (with `Titre`),
`SousThemePere`, `DossierPere`, `Introduction` (90%; otherwise the description stands in),
`Texte`, `Chapitre` (sometimes `numerote="true"`), `SousChapitre`, `Titre` (plain text, or
wrapping a `Paragraphe` for Chapitre/SousChapitre), `Paragraphe` with inline `LienInterne`,
`LienIntra`, `LienExterne`, `MiseEnEvidence` (sometimes empty, self-closed), `Expression`,
`Exposant`; `Liste type="puce"|"numero"` of `Item`s (sometimes nested); `BlocCas`/`Cas`;
`Tableau` (in about 30% of the sheets: `Titre` (not always), `Rangée type="header"` then
`Rangée type="normal"` rows of `Cellule`/`Paragraphe`); `ANoter`, `ASavoir`, `Attention`,
`Rappel` (each with a `Titre`); `Exemple`; `TitreFlottant`; `ListeSituations`/`Situation`;
inline and top-level `ServiceEnLigne` (with `Titre`, `Source`), `OuSAdresser` (with
`PivotLocal`, `RessourceWeb`), `Reference`, `Definition`, `Abreviation`, `QuestionReponse`,
`VoirAussi` (whose `Fiche` elements carry their own nested `Theme`, as in the real F2614).
Text: French-looking sentences drawn from a fixed vocabulary, with accents, typographic
apostrophes, `&`, no-break spaces (U+00A0, U+202F) around figures and before ":" that NFKC
turns into plain spaces, and the occasional "ﬁ" ligature.

Sizes follow a log-normal law: median about 8.8 KB, mean about 10.4 KB, from 2.5 KB to
60 KB (--sheets 50000: 518.9 MB of sheet XML, zip 193.0 MB, about 25 s). Deterministic
for a given --seed (the zip entries carry a fixed timestamp, so the same seed gives the same
bytes). Standard library only.
"""

import argparse
import math
import os
import random
import sys
import time
import zipfile

# ------------------------------------------------------------------ vocabulary

FUNCTION = """le la les de des du un une et ou à au aux en pour par sur dans avec sans selon
si qui que ne pas est sont peut doit vous votre vos il elle ils leur leurs ce cette ces son
sa ses lors après avant entre depuis jusqu'à auprès chez dont où même aussi plus moins très
tout tous toute toutes chaque autre autres""".split()

CONTENT = """demande dossier formulaire déclaration attestation justificatif récépissé délai
mois jours semaines année montant plafond revenu revenus ressources allocation aide prestation
indemnité pension retraite salaire employeur salarié contrat préavis licenciement démission
congé arrêt maladie accident travail commune mairie préfecture greffe tribunal caisse organisme
administration service agent fonctionnaire usager particulier entreprise association membre
dirigeant statuts siège assemblée registre publication journal officiel impôt impôts taxe
foncière habitation logement locataire propriétaire bail loyer charges dépôt garantie caution
enfant enfants parent parents famille mariage divorce pacs naissance décès succession héritier
notaire acte état civil nationalité titre séjour passeport carte identité permis conduire
véhicule immatriculation amende infraction contravention point points examen formation diplôme
stage apprentissage bourse étudiant école collège lycée université inscription scolarité santé
assurance sécurité sociale mutuelle remboursement médecin soins hôpital handicap invalidité
dépendance autonomie chômage emploi recherche travail indépendant activité création cessation
cotisations déclaration situation changement adresse document original copie signature courrier
téléservice compte espace personnel procédure recours contestation décision notification
réponse refus accord silence vaut droit droits obligation obligations conditions règles cas
exception dispense prolongation renouvellement durée période date fin début versement paiement
échéance pénalité majoration intérêts remise réduction crédit prêt banque virement chèque
espèces frais coût tarif gratuit gratuite payant montant barème tranche taux pourcentage seuil
départ arrivée résidence domicile territoire département région métropole outre-mer étranger
Europe pays consulat ambassade visa séjour voyage transport train avion énergie chauffage
travaux urbanisme permis construire déclaration préalable terrain parcelle cadastre copropriété
syndic assemblée générale vote majorité règlement intérieur bruit voisinage animaux chien chat
vaccination élection électeur liste électorale scrutin vote procuration bureau candidat mandat
bénévole subvention agrément fondation don reçu fiscal réduction impôt professionnel artisan
commerçant micro-entrepreneur société capital associé gérant immatriculation registre commerce
facture TVA comptabilité bilan exercice clôture liquidation dissolution radiation""".split()

ADJECTIVES = """nécessaire obligatoire possible compétent concerné complet incomplet valable
provisoire définitif annuel mensuel quotidien public privé professionnel personnel familial
fiscal social légal réglementaire général particulier spécifique principal secondaire
applicable exigible éligible prioritaire exceptionnel ordinaire récent ancien nouveau premier
dernier suivant précédent initial final électronique numérique postal recommandé""".split()

VERBS = """demander déposer remplir signer envoyer transmettre recevoir conserver fournir
justifier déclarer informer contacter saisir contester renouveler modifier prolonger bénéficier
percevoir verser calculer vérifier accorder refuser notifier compléter adresser présenter
joindre télécharger consulter effectuer obtenir solliciter prévenir respecter""".split()

NAMES = """Caf CPAM Urssaf France Travail ANTS Dila Insee Anah CNAV MSA Agirc-Arrco Crous
Ameli Légifrance Alsace-Moselle Bas-Rhin Haut-Rhin Moselle Paris Lyon Marseille Guadeloupe
Martinique Guyane Réunion Mayotte""".split()

MONTHS = """janvier février mars avril mai juin juillet août septembre octobre novembre
décembre""".split()

THEMES = [
    ("N19803", "Argent - Impôts - Consommation"), ("N19804", "Étranger - Europe"),
    ("N19805", "Famille - Scolarité"), ("N19806", "Travail - Formation"),
    ("N19807", "Justice"), ("N19808", "Logement"), ("N19809", "Papiers - Citoyenneté - Élections"),
    ("N19810", "Loisirs"), ("N19811", "Social - Santé"), ("N19812", "Transports - Mobilité"),
    ("N20019", "Associations, fondations et fonds de dotation"),
    ("N31403", "Formalités administratives d'une association"),
    ("N24264", "Création d'entreprise"), ("N24267", "Fiscalité et comptabilité de l'entreprise"),
]

AUDIENCES = [("Particuliers", "particuliers"), ("Professionnels", "professionnels-entreprises"),
             ("Associations", "associations")]

SHEET_TYPES = {
    "info": ("Fiche d'information", "Fiche pratique", "Fiche pratique"),
    "cond": ("Fiche d'information conditionnée", "Fiche pratique", "Fiche pratique"),
    "qr": ("Fiche Question-réponse conditionnée", "Question-réponse", "Question-réponse"),
    "rg": ("Fiche Recherche guidée", "Recherche guidée", "Recherche guidée"),
}

NOTE_KINDS = [("ANoter", "À noter"), ("ASavoir", "À savoir"), ("Attention", "Attention"),
              ("Rappel", "Rappel")]

SERVICE_TYPES = ["Téléservice", "Formulaire", "Outil de recherche", "Simulateur",
                 "Modèle de document"]

NBSP, NNBSP = "\u00a0", "\u202f"

HEADER_TMPL = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<Publication xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="{id}" type="{type}" '
    'xsi:noNamespaceSchemaLocation="../Schemas/3.4/Publication.xsd"{dmi} spUrl="{url}">\n'
    '  <dc:title>{title}</dc:title>\n'
    "  <dc:creator>Direction de l'information légale et administrative</dc:creator>\n"
    '  <dc:subject>{subject}</dc:subject>\n'
    '  <dc:description>{description}</dc:description>\n'
    "  <dc:publisher>Direction de l'information légale et administrative</dc:publisher>\n"
    "  <dc:contributor>Service Public / Direction de l'information légale et administrative "
    "(Premier ministre)</dc:contributor>\n"
    '  <dc:date>modified {date}</dc:date>\n'
    '  <dc:type>{dctype}</dc:type>\n'
    '  <dc:format>text/xml</dc:format>\n'
    '  <dc:identifier>{id}</dc:identifier>\n'
    '{source}'
    '  <dc:language>Fr</dc:language>\n'
    '{relation}'
    '  <dc:coverage>France entière</dc:coverage>\n'
    '  <dc:rights>https://www.service-public.gouv.fr/a-propos/mentions-legales</dc:rights>\n'
    '  <SurTitre>{surtitle}</SurTitre>\n'
)


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def esc_attr(s):
    return esc(s).replace('"', "&quot;")


# ------------------------------------------------------------------ text pools

class Words:
    """Pools of pre-escaped sentences, titles and short cell texts, drawn once from the seed."""

    def __init__(self, rng, n_sentences=40000, n_titles=12000):
        self.rng = rng
        # word classes with their shares: function words 42%, nouns 36%, adjectives 10%,
        # verbs 8%, names 4%
        self.vocab, self.cum, acc = [], [], 0.0
        for group, share in ((FUNCTION, 0.42), (CONTENT, 0.36), (ADJECTIVES, 0.10),
                             (VERBS, 0.08), (NAMES, 0.04)):
            for w in group:
                acc += share / len(group)
                self.vocab.append(w)
                self.cum.append(acc)
        self.sentences = [self._sentence() for _ in range(n_sentences)]
        self.colon_sentences = [s[:-1] + self._colon() for s in self.sentences[:4000]]
        self.titles = [self._title() for _ in range(n_titles)]
        self.cells = [self._cell() for _ in range(6000)]

    def description(self):
        return " ".join(self.rng.choice(self.sentences) for _ in range(2))

    def _figure(self):
        r, rng = self.rng.random(), self.rng
        if r < 0.25:
            return "%d jours" % rng.choice((2, 5, 8, 10, 15, 30, 45, 60, 90))
        if r < 0.45:
            n = rng.randrange(10, 40000)
            txt = "{:,}".format(n).replace(",", rng.choice((NBSP, NNBSP, " ")))
            return txt + NBSP + "€"
        if r < 0.6:
            return "%d %s %d" % (rng.randrange(1, 29), rng.choice(MONTHS), rng.randrange(2015, 2027))
        if r < 0.72:
            return "%d" % rng.randrange(2, 100) + NBSP + "%"
        if r < 0.85:
            return "article L%d-%d" % (rng.randrange(100, 9999), rng.randrange(1, 30))
        return "%d mois" % rng.choice((1, 2, 3, 6, 12, 18, 24, 36))

    def _word(self):
        return self.rng.choices(self.vocab, cum_weights=self.cum, k=1)[0]

    def _sentence(self):
        rng = self.rng
        n = rng.randrange(7, 26)
        words = rng.choices(self.vocab, cum_weights=self.cum, k=n)
        for _ in range(rng.choice((0, 0, 1, 1, 2))):
            words.insert(rng.randrange(1, n), self._figure())
        if rng.random() < 0.3:
            i = rng.randrange(2, len(words))
            words[i - 1] += ","
        if rng.random() < 0.25:                       # elision, typographic apostrophe or not
            i = rng.randrange(0, len(words))
            if words[i][:1] in "aeéèiouhAEÉIOU":
                words[i] = rng.choice(("l’", "d’", "qu’", "l'", "d'")) + words[i]
        if rng.random() < 0.1:
            words.insert(rng.randrange(1, len(words)), "&")
        if rng.random() < 0.01:
            words.insert(rng.randrange(1, len(words)), "ﬁxe")   # NFKC: "ﬁ" -> "fi"
        words[0] = words[0][:1].upper() + words[0][1:]
        end = rng.random()
        tail = "." if end < 0.9 else ("?" if end < 0.95 else (" (sauf exception)." if end < 0.98 else "..."))
        return esc(" ".join(words) + tail)

    def _colon(self):
        return self.rng.choice((" :", NBSP + ":", NNBSP + ":"))

    def _title(self):
        rng = self.rng
        n = rng.randrange(2, 9)
        words = [rng.choice(CONTENT) if i % 2 == 0 else rng.choice(FUNCTION + ADJECTIVES)
                 for i in range(n)]
        if rng.random() < 0.2:
            words.append(rng.choice(NAMES))
        t = " ".join(words)
        t = t[:1].upper() + t[1:]
        r = rng.random()
        if r < 0.12:
            t += " ?"
        elif r < 0.16:
            t += " : " + rng.choice(CONTENT)
        return esc(t)

    def _cell(self):
        r = self.rng.random()
        if r < 0.45:
            return esc(self._figure())
        n = self.rng.randrange(1, 6)
        t = " ".join(self._word() for _ in range(n))
        return esc(t[:1].upper() + t[1:])


# ------------------------------------------------------------------ sheet builder

class Sheet:
    """Builds one sheet as a list of lines (each with its indentation)."""

    def __init__(self, rng, words, ids):
        self.rng = rng
        self.w = words
        self.ids = ids            # all F ids, for links
        self.out = []
        self.size = 0

    def emit(self, depth, s):
        line = "  " * depth + s + "\n"
        self.out.append(line)
        self.size += len(line)

    # -- inline text
    def ref_id(self):
        return self.rng.choice(self.ids)

    def para_text(self, n=None, colon=False):
        rng, w = self.rng, self.w
        n = n or rng.choice((1, 1, 2, 2, 2, 3, 3, 4))
        parts = [rng.choice(w.sentences) for _ in range(n)]
        if colon:
            parts[-1] = rng.choice(w.colon_sentences)
        r = rng.random()
        if r < 0.45:                                   # wrap a few words in inline markup
            i = rng.randrange(len(parts))
            toks = parts[i].split(" ")
            if len(toks) > 4:
                a = rng.randrange(0, len(toks) - 3)
                b = a + rng.randrange(1, 4)
                span = " ".join(toks[a:b])
                k = rng.random()
                if k < 0.35:
                    m = ('<LienInterne LienPublication="%s" type="Fiche d\'information" '
                         'audience="Particuliers">%s</LienInterne>' % (self.ref_id(), span))
                elif k < 0.6:
                    m = "<MiseEnEvidence>%s</MiseEnEvidence>" % span
                elif k < 0.75:
                    m = ('<LienIntra LienID="R%d" type="Définition de glossaire">%s</LienIntra>'
                         % (rng.randrange(100, 70000), span))
                elif k < 0.85:
                    m = "<Expression>%s</Expression>" % span
                elif k < 0.93:
                    m = ('<LienExterne URL="https://www.legifrance.gouv.fr/codes/article_lc/'
                         'LEGIARTI%012d">%s</LienExterne>' % (rng.randrange(10 ** 11), span))
                else:
                    m = "1<Exposant>er</Exposant> %s" % span
                toks[a:b] = [m]
                parts[i] = " ".join(toks)
        elif r < 0.5:
            parts[-1] += "<MiseEnEvidence/>"           # empty element, as in the real F1119
        return " ".join(parts)

    def paragraphe(self, d, n=None, colon=False):
        self.emit(d, "<Paragraphe>%s</Paragraphe>" % self.para_text(n, colon))

    # -- blocks
    def liste(self, d, nested_ok=True):
        rng = self.rng
        self.emit(d, '<Liste type="%s">' % ("puce" if rng.random() < 0.8 else "numero"))
        for _ in range(rng.randrange(2, 7)):
            self.emit(d + 1, "<Item>")
            if nested_ok and rng.random() < 0.06:
                self.paragraphe(d + 2, 1, colon=True)
                self.liste(d + 2, nested_ok=False)
            else:
                self.paragraphe(d + 2, rng.choice((1, 1, 1, 2)))
            self.emit(d + 1, "</Item>")
        self.emit(d, "</Liste>")

    def note(self, d):
        tag, title = self.rng.choice(NOTE_KINDS)
        self.emit(d, "<%s>" % tag)
        self.emit(d + 1, "<Titre>%s</Titre>" % title)
        for _ in range(self.rng.choice((1, 1, 2))):
            self.paragraphe(d + 1)
        self.emit(d, "</%s>" % tag)

    def exemple(self, d):
        self.emit(d, "<Exemple>")
        self.emit(d + 1, "<Titre>Exemple</Titre>")
        for _ in range(self.rng.choice((1, 2))):
            self.paragraphe(d + 1)
        self.emit(d, "</Exemple>")

    def tableau(self, d):
        rng, w = self.rng, self.w
        cols = rng.randrange(2, 5)
        self.emit(d, "<Tableau>")
        if rng.random() < 0.85:
            self.emit(d + 1, "<Titre>%s</Titre>" % rng.choice(w.titles))
        self.emit(d + 1, '<Rangée type="header">')
        for _ in range(cols):
            c = rng.choice(w.titles)
            if rng.random() < 0.2:
                c = "<MiseEnEvidence>%s</MiseEnEvidence>" % c
            self.emit(d + 2, "<Cellule>")
            self.emit(d + 3, "<Paragraphe>%s</Paragraphe>" % c)
            self.emit(d + 2, "</Cellule>")
        self.emit(d + 1, "</Rangée>")
        for _ in range(rng.randrange(2, 9)):
            self.emit(d + 1, '<Rangée type="normal">')
            for _ in range(cols):
                self.emit(d + 2, "<Cellule>")
                self.emit(d + 3, "<Paragraphe>%s</Paragraphe>" % rng.choice(w.cells))
                self.emit(d + 2, "</Cellule>")
            self.emit(d + 1, "</Rangée>")
        self.emit(d, "</Tableau>")

    def service_en_ligne(self, d):
        rng = self.rng
        rid = rng.randrange(100, 70000)
        self.emit(d, '<ServiceEnLigne ID="R%d" URL="https://www.service-public.gouv.fr/'
                     'particuliers/vosdroits/R%d" audience="%s" type="%s">'
                  % (rid, rid, rng.choice(AUDIENCES)[0], rng.choice(SERVICE_TYPES)))
        self.emit(d + 1, "<Titre>%s</Titre>" % rng.choice(self.w.titles))
        self.emit(d + 1, '<Source ID="R%d">%s</Source>'
                  % (rng.randrange(30000, 31000), esc(rng.choice(NAMES))))
        self.emit(d, "</ServiceEnLigne>")

    def ou_s_adresser(self, d):
        rng = self.rng
        self.emit(d, '<OuSAdresser ID="R%d" sve="non" type="Local personnalisé sur SP">'
                  % rng.randrange(100, 70000))
        self.emit(d + 1, "<Titre>%s</Titre>" % rng.choice(self.w.titles))
        self.emit(d + 1, "<PivotLocal>%s</PivotLocal>"
                  % rng.choice(("mairie", "prefecture", "caf", "tribunal_judiciaire", "cpam")))
        self.emit(d + 1, '<RessourceWeb URL="https://lannuaire.service-public.gouv.fr/'
                         'recherche?whoWhat=%s&amp;where="/>' % rng.choice(CONTENT))
        self.emit(d, "</OuSAdresser>")

    def bloc_cas(self, d, budget):
        rng = self.rng
        self.emit(d, '<BlocCas affichage="%s">' % rng.choice(("radio", "onglet")))
        n = rng.randrange(2, 5)
        for _ in range(n):
            self.emit(d + 1, "<Cas>")
            self.emit(d + 2, "<Titre>%s</Titre>" % rng.choice(self.w.titles))
            self.blocks(d + 2, budget // n, in_cas=True)
            self.emit(d + 1, "</Cas>")
        self.emit(d, "</BlocCas>")

    def blocks(self, d, budget, in_cas=False, sub_ok=False, tables=False):
        """Block content of a Chapitre / SousChapitre / Cas / Texte until `budget` chars."""
        rng = self.rng
        end = self.size + max(budget, 120)
        self.paragraphe(d)
        while self.size < end:
            r = rng.random()
            if r < 0.5:
                self.paragraphe(d, colon=rng.random() < 0.05)
            elif r < 0.64:
                self.paragraphe(d, 1, colon=True)
                self.liste(d)
            elif r < 0.72:
                self.note(d)
            elif r < 0.76 and tables:
                self.tableau(d)
            elif r < 0.8:
                if in_cas or rng.random() < 0.5:
                    self.exemple(d)
                else:
                    self.paragraphe(d)
            elif r < 0.84 and not in_cas:
                self.bloc_cas(d, min(end - self.size, 2500))
            elif r < 0.87:
                self.service_en_ligne(d)
            elif r < 0.89 and in_cas:
                self.ou_s_adresser(d)
            elif r < 0.93 and sub_ok:
                self.emit(d, "<SousChapitre>")
                self.emit(d + 1, "<Titre>")
                self.emit(d + 2, "<Paragraphe>%s</Paragraphe>" % rng.choice(self.w.titles))
                self.emit(d + 1, "</Titre>")
                self.blocks(d + 1, rng.randrange(300, 1500), tables=tables)
                self.emit(d, "</SousChapitre>")
            else:
                self.paragraphe(d, 1)

    def chapitre(self, d, budget, tables):
        rng = self.rng
        self.emit(d, '<Chapitre numerote="true">' if rng.random() < 0.3 else "<Chapitre>")
        self.emit(d + 1, "<Titre>")
        self.emit(d + 2, "<Paragraphe>%s</Paragraphe>" % rng.choice(self.w.titles))
        self.emit(d + 1, "</Titre>")
        self.blocks(d + 1, budget, sub_ok=True, tables=tables)
        self.emit(d, "</Chapitre>")

    def texte_chapitres(self, d, budget, tables):
        rng = self.rng
        self.emit(d, "<Texte>")
        end = self.size + budget
        if rng.random() < 0.15:                         # text before the first Chapitre
            self.paragraphe(d + 1)
        n = max(1, min(9, budget // rng.randrange(900, 2200)))
        for i in range(n):
            self.chapitre(d + 1, max(200, (end - self.size) // (n - i)), tables)
        self.emit(d, "</Texte>")

    def texte_qr(self, d, budget, tables):
        rng = self.rng
        self.emit(d, "<Texte>")
        end = self.size + budget
        while self.size < end:
            self.emit(d + 1, "<TitreFlottant>")
            self.emit(d + 2, "<Paragraphe>%s</Paragraphe>" % rng.choice(self.w.titles))
            self.emit(d + 1, "</TitreFlottant>")
            self.paragraphe(d + 1)
            if rng.random() < 0.5:
                self.paragraphe(d + 1, 1, colon=True)
                self.bloc_cas(d + 1, min(end - self.size, 3000))
            else:
                self.blocks(d + 1, min(end - self.size, 1500), tables=tables)
        self.emit(d, "</Texte>")

    def situations(self, d, budget, tables):
        rng = self.rng
        n = rng.randrange(2, 5)
        self.emit(d, '<ListeSituations affichage="onglet">')
        for _ in range(n):
            self.emit(d + 1, "<Situation>")
            self.emit(d + 2, "<Titre>%s</Titre>" % rng.choice(self.w.titles))
            if rng.random() < 0.8:
                self.texte_chapitres(d + 2, budget // n, tables)
            else:
                self.emit(d + 2, "<Texte>")
                self.blocks(d + 3, budget // n, tables=tables)
                self.emit(d + 2, "</Texte>")
            self.emit(d + 1, "</Situation>")
        self.emit(d, "</ListeSituations>")


def header(rng, words, sid, url_sid, kind, audiences, title, description):
    type_, dctype, surtitle = SHEET_TYPES[kind]
    aud_path = audiences[0][1]
    dmi = (' dateDerniereModificationImportante="20%02d-%02d-%02dT00:00:00"'
           % (rng.randrange(18, 26), rng.randrange(1, 13), rng.randrange(1, 29))
           if rng.random() < 0.4 else "")
    source = ""
    if rng.random() < 0.8:
        source = "  <dc:source>%s</dc:source>\n" % ", ".join(
            "https://www.legifrance.gouv.fr/codes/id/LEGISCTA%012d/" % rng.randrange(10 ** 11)
            for _ in range(rng.randrange(1, 5)))
    return HEADER_TMPL.format(
        id=sid, type=esc_attr(type_), dmi=dmi,
        url="https://www.service-public.gouv.fr/%s/vosdroits/%s" % (aud_path, url_sid),
        title=title, subject=esc(rng.choice(THEMES)[1]), description=description,
        date="20%02d-%02d-%02d" % (rng.randrange(18, 26), rng.randrange(1, 13), rng.randrange(1, 29)),
        dctype=esc(dctype), source=source,
        relation="  <dc:relation>isPartOf N%d</dc:relation>\n" % rng.randrange(100, 40000),
        surtitle=esc(surtitle))


def draw_audiences(rng):
    r = rng.random()
    first = AUDIENCES[0] if r < 0.7 else (AUDIENCES[1] if r < 0.9 else AUDIENCES[2])
    if rng.random() < 0.12:
        other = rng.choice([a for a in AUDIENCES if a != first])
        return [first, other]
    return [first]


def fiche(rng, words, all_f, sid, url_sid, kind, target):
    """An F sheet (or an N "Dossier" sheet when kind == 'dossier')."""
    dossier = kind == "dossier"
    auds = draw_audiences(rng)
    title = rng.choice(words.titles)
    description = words.description()
    s = Sheet(rng, words, all_f)
    if dossier:
        head = header(rng, words, sid, url_sid, "info", auds, title, description)
        head = head.replace('type="Fiche d\'information"', 'type="Dossier"', 1) \
                   .replace("<dc:type>Fiche pratique</dc:type>", "<dc:type>Dossier</dc:type>", 1) \
                   .replace("<SurTitre>Fiche pratique</SurTitre>", "<SurTitre>Dossier</SurTitre>", 1)
    else:
        if kind == "body_qr":
            head = header(rng, words, sid, url_sid, "qr", auds, title, description)
        elif kind == "rg":
            head = header(rng, words, sid, url_sid, "rg", auds, title, description)
        else:
            head = header(rng, words, sid, url_sid,
                          "cond" if kind == "body_sit" else "info", auds, title, description)
    s.out.append(head)
    s.size += len(head)
    for a in auds:
        s.emit(1, "<Audience>%s</Audience>" % a[0])
    s.emit(1, "<Canal>www.service-public.fr</Canal>")
    theme = rng.choice(THEMES)
    s.emit(1, "<FilDAriane>")
    s.emit(2, '<Niveau ID="%s">Accueil %s</Niveau>' % (auds[0][0], auds[0][0].lower()))
    s.emit(2, '<Niveau ID="%s">%s</Niveau>' % (theme[0], esc(theme[1])))
    s.emit(2, '<Niveau ID="%s">%s</Niveau>' % (sid, title))
    s.emit(1, "</FilDAriane>")
    s.emit(1, '<Theme ID="%s">' % theme[0])
    s.emit(2, "<Titre>%s</Titre>" % esc(theme[1]))
    s.emit(1, "</Theme>")
    if rng.random() < 0.1:                                 # a second Theme
        t2 = rng.choice(THEMES)
        s.emit(1, '<Theme ID="%s">' % t2[0])
        s.emit(2, "<Titre>%s</Titre>" % esc(t2[1]))
        s.emit(1, "</Theme>")
    if rng.random() < 0.5:
        s.emit(1, '<SousThemePere ID="N%d">%s</SousThemePere>'
               % (rng.randrange(100, 40000), rng.choice(words.titles)))
    s.emit(1, '<DossierPere ID="N%d">' % rng.randrange(100, 40000))
    s.emit(2, "<Titre>%s</Titre>" % rng.choice(words.titles))
    for _ in range(rng.randrange(2, 7)):
        s.emit(2, '<Fiche ID="%s">%s</Fiche>' % (rng.choice(all_f), rng.choice(words.titles)))
    s.emit(1, "</DossierPere>")
    if dossier:
        for _ in range(rng.randrange(2, 5)):
            s.emit(1, '<SousDossier ID="N%d-%d">' % (rng.randrange(100, 40000), rng.randrange(1, 9)))
            s.emit(2, "<Titre>%s</Titre>" % rng.choice(words.titles))
            for _ in range(rng.randrange(2, 6)):
                s.emit(2, '<Fiche ID="%s">%s</Fiche>' % (rng.choice(all_f), rng.choice(words.titles)))
            s.emit(1, "</SousDossier>")
    if rng.random() < 0.9:
        s.emit(1, "<Introduction>")
        s.emit(2, "<Texte>")
        for _ in range(rng.choice((1, 1, 2))):
            s.paragraphe(3)
        s.emit(2, "</Texte>")
        s.emit(1, "</Introduction>")

    tail_reserve = 900
    budget = max(400, target - s.size - tail_reserve)
    tables = rng.random() < 0.3
    if dossier:
        s.texte_chapitres(1, min(budget, 3000), tables)
    elif kind == "body_qr":
        s.texte_qr(1, budget, tables)
    elif kind == "body_sit":
        s.situations(1, budget, tables)
    else:
        s.texte_chapitres(1, budget, tables)

    # tail: where to go, references, services, glossary, related questions, see also
    if rng.random() < 0.15:
        s.ou_s_adresser(1)
    for _ in range(rng.choice((0, 1, 1, 2, 3))):
        s.emit(1, '<Reference type="Texte de référence" URL="https://www.legifrance.gouv.fr/'
                  'loda/id/LEGITEXT%012d/" ID="R%d">' % (rng.randrange(10 ** 11), rng.randrange(100, 70000)))
        s.emit(2, "<Titre>%s</Titre>" % rng.choice(words.titles))
        if rng.random() < 0.6:
            s.emit(2, "<Complement>Articles %d à %d</Complement>"
                   % (rng.randrange(1, 50), rng.randrange(50, 99)))
        s.emit(1, "</Reference>")
    for _ in range(rng.choice((0, 0, 1, 1, 2, 3))):
        s.service_en_ligne(1)
    for _ in range(rng.choice((0, 1, 1, 2))):
        tag = "Definition" if rng.random() < 0.8 else "Abreviation"
        s.emit(1, '<%s ID="R%d">' % (tag, rng.randrange(100, 70000)))
        s.emit(2, "<Titre>%s</Titre>" % rng.choice(words.titles))
        s.emit(2, "<Texte>")
        s.paragraphe(3, 1)
        s.emit(2, "</Texte>")
        s.emit(1, "</%s>" % tag)
    for _ in range(rng.choice((0, 1, 1, 2, 3))):
        s.emit(1, '<QuestionReponse ID="%s" audience="%s">' % (rng.choice(all_f), rng.choice(AUDIENCES)[0]))
        s.emit(2, "<Titre>%s</Titre>" % rng.choice(words.titles))
        s.emit(1, "</QuestionReponse>")
    if rng.random() < 0.3:
        s.emit(1, '<VoirAussi important="non">')
        for _ in range(rng.randrange(1, 4)):
            t = rng.choice(THEMES)
            s.emit(2, '<Fiche ID="%s" audience="%s">' % (rng.choice(all_f), auds[0][0]))
            s.emit(3, "<Titre>%s</Titre>" % rng.choice(words.titles))
            s.emit(3, '<Theme ID="%s">' % t[0])
            s.emit(4, "<Titre>%s</Titre>" % esc(t[1]))
            s.emit(3, "</Theme>")
            s.emit(2, "</Fiche>")
        s.emit(1, "</VoirAussi>")
    s.out.append("</Publication>")
    return "".join(s.out)


def theme_sheet(rng, words, sid):
    """An N theme sheet (like the real N19806): SousTheme/Dossier lists, no Texte."""
    theme = rng.choice(THEMES)
    aud = draw_audiences(rng)[:1]
    name = esc(theme[1])
    out = [HEADER_TMPL.format(
        id=sid, type="Theme", dmi="",
        url="https://www.service-public.gouv.fr/%s/vosdroits/%s" % (aud[0][1], sid),
        title=name, subject=name, description=name,
        date="20%02d-%02d-%02d" % (rng.randrange(18, 26), rng.randrange(1, 13), rng.randrange(1, 29)),
        dctype="Thème", source="", relation="", surtitle="Thème")]
    out.append("  <Audience>%s</Audience>\n  <Canal>www.service-public.fr</Canal>\n" % aud[0][0])
    out.append('  <FilDAriane>\n    <Niveau ID="%s">Accueil %s</Niveau>\n'
               '    <Niveau ID="%s" type="Theme">%s</Niveau>\n  </FilDAriane>\n'
               % (aud[0][0], aud[0][0].lower(), sid, name))
    for _ in range(rng.randrange(5, 13)):
        out.append('  <SousTheme ID="N%d">\n    <Titre>%s</Titre>\n'
                   % (rng.randrange(100, 40000), rng.choice(words.titles)))
        for _ in range(rng.randrange(2, 6)):
            out.append('    <Dossier ID="N%d">%s</Dossier>\n'
                       % (rng.randrange(100, 40000), rng.choice(words.titles)))
        out.append("  </SousTheme>\n")
    out.append("</Publication>")
    return "".join(out)


def resource_file(rng, words, rid):
    """Not a sheet (R*.xml): must be ignored by the readers."""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<Publication xmlns:dc="http://purl.org/dc/elements/1.1/" ID="%s" type="Téléservice" '
            'spUrl="https://www.service-public.gouv.fr/particuliers/vosdroits/%s">\n'
            '  <dc:title>%s</dc:title>\n  <SurTitre>Téléservice</SurTitre>\n'
            '  <Texte>\n    <Paragraphe>%s</Paragraphe>\n  </Texte>\n</Publication>'
            % (rid, rid, rng.choice(words.titles), rng.choice(words.sentences)))


def sheet_size(rng):
    # target in characters: log-normal, median 7,200, clipped to 2,500-50,000 (a sheet ends
    # up ~1.5 KB above its target: the last block, the tail, accented letters)
    return int(min(50000, max(2500, math.exp(rng.gauss(math.log(7200), 0.6)))))


def main(argv=None):
    ap = argparse.ArgumentParser(description="synthetic service-public vosdroits-latest.zip")
    ap.add_argument("--sheets", type=int, required=True, help="number of F*/N* sheets")
    ap.add_argument("--out", required=True, help="output folder (created)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--level", type=int, default=6, help="deflate level (default 6)")
    a = ap.parse_args(argv)

    t0 = time.perf_counter()
    rng = random.Random(a.seed)
    words = Words(rng)
    n = a.sheets
    n_theme = round(n * 0.05)
    n_dossier = round(n * 0.01)
    n_f = n - n_theme - n_dossier
    n_rg = round(n * 0.01)
    n_res = round(n * 0.01)
    # distinct numeric ids, as in the real feed (F1 ... F40000+, N100 ... N40000+)
    f_nums = rng.sample(range(1, max(4 * n_f, 100)), n_f)
    n_nums = rng.sample(range(100, max(4 * (n_theme + n_dossier), 300)), n_theme + n_dossier)
    r_nums = rng.sample(range(1, max(4 * n_res, 100)), n_res)
    all_f = ["F%d" % i for i in f_nums]
    entries = []                                    # (name, kind)
    f_kinds = ["rg"] * n_rg
    rest = n_f - n_rg
    for _ in range(rest):
        r = rng.random()
        f_kinds.append("body_chap" if r < 0.55 else ("body_sit" if r < 0.8 else "body_qr"))
    rng.shuffle(f_kinds)
    for fid, kind in zip(all_f, f_kinds):
        entries.append((fid + ".xml", kind))
    n_ids = ["N%d" % i for i in n_nums]
    for i, nid in enumerate(n_ids):
        entries.append((nid + ".xml", "theme" if i < n_theme else "dossier"))
    for i in r_nums:
        entries.append(("R%d.xml" % i, "resource"))
    entries.append(("arborescence.xml", "tree"))
    entries.sort(key=lambda e: e[0])
    dup_alias = set(rng.sample(range(len(entries)), max(1, n // 500) if n >= 50 else 0))

    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, "vosdroits-latest.zip")
    tmp = path + ".part"
    sheet_bytes = 0
    counts = {}
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=a.level) as zf:
        for k, (name, kind) in enumerate(entries):
            sid = name[:-4]
            if kind == "theme":
                xml = theme_sheet(rng, words, sid)
            elif kind == "resource":
                xml = resource_file(rng, words, sid)
            elif kind == "tree":
                xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<Arborescence>\n%s</Arborescence>'
                       % "".join('  <Item ID="%s" type="Theme"><Titre>%s</Titre></Item>\n'
                                 % (t[0], esc(t[1])) for t in THEMES))
            else:
                url_sid = sid
                if k in dup_alias and kind != "dossier":
                    url_sid = rng.choice(all_f)     # duplicate sid (one of the two is dropped)
                    kind_l = kind + "+dupsid"
                else:
                    kind_l = kind
                counts[kind_l] = counts.get(kind_l, 0) + 1
                xml = fiche(rng, words, all_f, sid, url_sid, kind, sheet_size(rng))
            data = xml.encode("utf-8")
            if kind in ("theme", "dossier") or name.startswith("F"):
                sheet_bytes += len(data)
                if kind in ("theme",):
                    counts[kind] = counts.get(kind, 0) + 1
            info = zipfile.ZipInfo(name, date_time=(2025, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=a.level)
    os.replace(tmp, path)
    secs = time.perf_counter() - t0
    zip_bytes = os.path.getsize(path)
    print("wrote %s: %d sheets (%s), %d other entries; %.1f MB of sheet XML, zip %.1f MB, %.1f s"
          % (path, n, ", ".join("%s %d" % kv for kv in sorted(counts.items())),
             len(entries) - n, sheet_bytes / 1e6, zip_bytes / 1e6, secs), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
