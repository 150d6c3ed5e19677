#!/usr/bin/env python3
"""Deterministic generator of French / English texts for the embedding fixtures and benchmark.

    texts.py --kind varied --count 1000 --seed 1 --out texts.jsonl
    texts.py --kind bench  --count 2000 --seed 2 --out bench.jsonl

Writes JSON Lines, one object per line: {"id": N, "text": "..."} (N = 0, 1, 2...), UTF-8,
non-ASCII characters written as themselves (ensure_ascii=False).

Every word list and sentence template below was written for this file (no text is copied
from elsewhere); standard library only, so any Python 3.8+ runs it. Same --kind, --count and
--seed give byte-identical output (random.Random(seed) only).

--kind varied: texts of 3 to 400 words (word = a maximal run of non-whitespace characters,
  i.e. len(text.split())), spread over the range: about 8 % of 3-5 words (headlines), 32 % of
  6-60, 32 % of 61-180, 28 % of 181-400. About half French (accents, elisions such as
  « l'article », typographic apostrophes in some texts, numbers such as « 1 250 », dates such
  as « 1er janvier 2024 », percentages such as « 12,5 % » with a normal or a no-break space,
  guillemets), half English, about 4 % mixed (French and English sentences alternate).
  Seven edge cases sit at fixed ids (when --count allows): an emoji text, a URL and an
  e-mail address, repeated punctuation, upper case, a 60-letter word, tabs and newlines,
  CJK characters (see EDGE_IDS). Long French texts exceed 256 WordPiece tokens of
  all-MiniLM-L6-v2 (so truncation is exercised).
  Texts are whole sentences drawn from templates; a text is cut after exactly N words (and
  ends with a period) only when whole sentences cannot come within 85 % of the N drawn.
--kind bench: texts of 80 to 112 words (about 96 on average), even ids French, odd ids
  English, administrative / legal prose.

The module is also imported by make_tiny_xlmr.py (sentences() feeds the tokenizer trainer)
and bench.py.
"""

import argparse
import json
import re
import sys

import random

# --------------------------------------------------------------------------------------
# French word lists
# --------------------------------------------------------------------------------------

# (noun phrase, plural?)
FR_SUBJECTS = [
    ("le conseil municipal", False), ("la préfecture", False),
    ("l'administration fiscale", False), ("le ministère de l'Intérieur", False),
    ("la direction régionale de l'environnement", False), ("l'établissement public", False),
    ("le tribunal administratif", False), ("la caisse d'allocations familiales", False),
    ("l'employeur", False), ("le locataire", False), ("la propriétaire", False),
    ("la commission d'enquête", False), ("l'agence de l'eau", False),
    ("le syndicat intercommunal", False), ("la mairie", False), ("le rectorat", False),
    ("l'hôpital départemental", False), ("la chambre d'agriculture", False),
    ("l'office de tourisme", False), ("le comité de pilotage", False),
    ("les services de l'État", True), ("les habitants du quartier", True),
    ("les entreprises du secteur", True), ("l'assemblée générale", False),
    ("le juge des référés", False), ("la cour d'appel", False),
    ("l'inspection du travail", False), ("le bailleur social", False),
    ("l'université", False), ("la bibliothèque municipale", False),
    ("les élus de l'opposition", True), ("la communauté de communes", False),
    ("le conseil départemental", False), ("les agents du service technique", True),
    ("un collectif de riverains", False), ("la société d'économie mixte", False),
    ("les associations de parents d'élèves", True), ("le médiateur", False),
    ("la Cour des comptes", False), ("l'observatoire régional de la santé", False),
]

# past participle; auxiliary "a" / "ont" is added by agreement
FR_PARTICIPLES = [
    "adopté", "publié", "examiné", "rejeté", "approuvé", "modifié", "présenté", "financé",
    "annoncé", "reporté", "signé", "validé", "contesté", "prolongé", "suspendu", "réduit",
    "étendu", "transmis", "reçu", "déposé", "évalué", "révisé", "simplifié", "réexaminé",
    "accepté", "complété", "dématérialisé", "mis en consultation",
]

# (singular, plural) present tense
FR_PRESENT = [
    ("prévoit", "prévoient"), ("examine", "examinent"), ("finance", "financent"),
    ("rappelle", "rappellent"), ("précise", "précisent"), ("organise", "organisent"),
    ("accompagne", "accompagnent"), ("instruit", "instruisent"), ("délivre", "délivrent"),
    ("contrôle", "contrôlent"), ("met à jour", "mettent à jour"), ("propose", "proposent"),
    ("soutient", "soutiennent"), ("réclame", "réclament"), ("publie", "publient"),
    ("prépare", "préparent"), ("conteste", "contestent"), ("étudie", "étudient"),
]

FR_OBJECTS = [
    "le budget primitif", "la délibération", "le plan local d'urbanisme",
    "un nouveau règlement intérieur", "la demande de subvention", "le contrat de location",
    "l'avis de la commission", "le rapport d'activité", "une convention de partenariat",
    "le marché public", "la déclaration de revenus", "le permis de construire",
    "l'aide au logement", "la prime d'activité", "le schéma directeur",
    "les comptes de l'exercice", "une étude d'impact", "le calendrier des travaux",
    "la grille tarifaire", "le dossier d'inscription", "l'attestation d'assurance",
    "le certificat d'immatriculation", "le titre de séjour", "l'autorisation d'exploitation",
    "la réforme des retraites", "le projet de loi", "l'appel d'offres",
    "la clause de non-concurrence", "le bail commercial", "la pension alimentaire",
    "le programme de rénovation thermique", "la carte scolaire", "le plan de circulation",
    "l'extension du réseau de chaleur", "la tarification sociale de la cantine",
    "le protocole d'accord", "la liste des pièces justificatives", "le règlement du concours",
]

FR_COMPLEMENTS = [
    "pour l'année {year}", "dans un délai de {n} jours", "après un long débat",
    "à l'unanimité", "sous réserve de l'avis du préfet", "avant la fin du mois de {month}",
    "au titre de l'exercice {year}", "en séance publique", "malgré l'opposition de {small} élus",
    "dans le cadre du plan de relance", "à compter du {date}", "pour un montant de {amount}",
    "sans modification", "avec effet rétroactif", "conformément aux dispositions en vigueur",
    "à hauteur de {pct}", "jusqu'au {date}", "sur l'ensemble du territoire",
    "dans les communes de moins de {bignum} habitants", "auprès du guichet unique",
    "lors de la dernière séance", "en attendant la décision du Conseil d'État",
    "à titre expérimental", "pour une durée de {small} ans", "dès le {date}",
]

FR_QUOTES = [
    "Nous devons agir rapidement", "Cette décision est historique",
    "Le dossier n'est pas clos", "Les usagers attendent des réponses concrètes",
    "Il s'agit d'une étape importante", "Rien n'est encore décidé",
    "Nous avons entendu les inquiétudes des habitants", "Le calendrier sera tenu",
    "C'est une question d'équité entre les territoires", "On ne peut pas continuer ainsi",
    "Les chiffres parlent d'eux-mêmes", "L'État prendra ses responsabilités",
]

FR_PERSONS = [
    "la maire", "le président du conseil départemental", "la directrice générale des services",
    "le rapporteur public", "la porte-parole du gouvernement", "un représentant syndical",
    "Mme Lefèvre", "M. Garnier", "le docteur Béranger", "la présidente de l'association",
    "Mme Nguyen-Moreau", "M. Château", "l'adjoint chargé des finances", "Mme Øster-Gaël",
]

FR_EVENTS = [
    "la séance du conseil", "une conférence de presse", "l'assemblée générale annuelle",
    "la réunion publique", "l'audience", "la visite du chantier", "l'inauguration du gymnase",
]

FR_CONNECTORS = [
    "Par ailleurs", "En outre", "Toutefois", "Néanmoins", "De plus", "En revanche", "Ainsi",
    "Dès lors", "Au demeurant", "Par conséquent", "À cet égard", "En pratique", "Enfin",
    "Pour mémoire", "Dans l'immédiat",
]

FR_PLACES = [
    "à Saint-Étienne", "à Besançon", "dans l'Hérault", "en Île-de-France", "à Pointe-à-Pitre",
    "dans le Finistère", "à Aix-en-Provence", "en Corrèze", "à Châlons-en-Champagne",
    "dans les Hautes-Pyrénées", "à Mâcon", "à L'Haÿ-les-Roses", "en Ardèche", "à Nîmes",
]

FR_TOWNS = [
    "Quimper", "Valence", "Épinal", "Arles", "Cahors", "Vichy", "Sète", "Dole", "Auch",
    "Béziers", "Périgueux", "Orléans",
]

FR_SOURCES = [
    "l'Insee", "le dernier rapport annuel", "une note de la direction du budget",
    "les services préfectoraux", "une enquête de l'observatoire", "le compte rendu de séance",
    "une étude publiée en {month}", "les chiffres du ministère",
]

FR_INDICATORS = [
    "chômage", "participation", "remplissage", "réussite au baccalauréat", "couverture vaccinale",
    "vacance des logements", "recouvrement", "fréquentation", "artificialisation des sols",
]

FR_PEOPLE = [
    "ménages", "allocataires", "locataires", "agriculteurs", "étudiants", "retraités",
    "demandeurs d'emploi", "usagers", "commerçants", "salariés",
]

FR_OPINIONS = [
    "les démarches en ligne sont trop complexes", "le service s'est amélioré",
    "les délais de traitement restent trop longs", "l'information n'est pas assez claire",
    "les horaires d'ouverture devraient être élargis", "la réforme va dans le bon sens",
]

FR_OFFICES = [
    "le service de l'état civil", "la direction des ressources humaines",
    "le guichet France services", "le secrétariat de la mairie", "le greffe du tribunal",
    "la cellule d'accueil", "le bureau des affaires scolaires",
]

FR_MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
             "septembre", "octobre", "novembre", "décembre"]
FR_DAYS = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]

FR_WEATHER = [
    "le ciel reste couvert", "de fortes averses sont attendues", "le soleil revient",
    "un vent violent souffle", "le brouillard persiste", "la neige tombe en abondance",
]
FR_REGIONS = ["la Bretagne", "le Massif central", "la vallée du Rhône", "l'Alsace",
              "la côte atlantique", "les Alpes du Sud"]
FR_PRODUCE = ["tomates", "pommes de terre", "cerises", "courgettes", "poireaux", "fraises",
              "châtaignes", "haricots verts"]
FR_TRENDS = ["en nette hausse", "un prix stable", "en légère baisse", "du jamais-vu",
             "comme l'an dernier"]
FR_ACTIVITIES = ["un atelier d'écriture", "une heure du conte", "un club de lecture",
                 "une initiation au numérique", "un atelier de réparation de vélos"]
FR_DISHES = ["une tarte aux poireaux", "la galette", "une brioche", "le pain de campagne",
             "une quiche lorraine"]

# --------------------------------------------------------------------------------------
# English word lists
# --------------------------------------------------------------------------------------

EN_SUBJECTS = [
    ("the city council", False), ("the county clerk", False), ("the regional office", False),
    ("the tenant", False), ("the landlord", False), ("the board of directors", False),
    ("the court of appeals", False), ("the planning committee", False),
    ("the tax authority", False), ("the school district", False), ("the water utility", False),
    ("the hospital trust", False), ("local residents", True), ("small businesses", True),
    ("the housing association", False), ("the state auditor", False),
    ("the transport authority", False), ("the licensing board", False),
    ("the ombudsman", False), ("county officials", True), ("the parish council", False),
    ("the employment tribunal", False), ("the inspectorate", False),
    ("volunteers from the food bank", True), ("the university senate", False),
    ("the health department", False), ("the finance committee", False),
    ("opposition members", True), ("the fire district", False), ("the library trustees", True),
]

EN_PAST = [
    "approved", "published", "reviewed", "rejected", "amended", "funded", "announced",
    "postponed", "signed", "endorsed", "challenged", "extended", "suspended", "reduced",
    "forwarded", "received", "filed", "assessed", "revised", "simplified", "reopened",
    "accepted", "completed", "digitized", "put out for consultation",
]

EN_PRESENT = [
    ("provides for", "provide for"), ("examines", "examine"), ("funds", "fund"),
    ("points out", "point out"), ("specifies", "specify"), ("organizes", "organize"),
    ("supports", "support"), ("processes", "process"), ("issues", "issue"),
    ("monitors", "monitor"), ("updates", "update"), ("proposes", "propose"),
    ("demands", "demand"), ("publishes", "publish"), ("prepares", "prepare"),
    ("disputes", "dispute"), ("studies", "study"),
]

EN_OBJECTS = [
    "the annual budget", "the zoning ordinance", "a new code of conduct",
    "the grant application", "the lease agreement", "the committee's opinion",
    "the activity report", "a partnership agreement", "the public contract",
    "the income tax return", "the building permit", "the housing allowance",
    "the master plan", "the year-end accounts", "an environmental impact study",
    "the works schedule", "the fee schedule", "the enrollment form", "the insurance certificate",
    "the vehicle registration", "the residence permit", "the operating license",
    "the pension reform", "the draft bill", "the call for tenders", "the non-compete clause",
    "the commercial lease", "the child support order", "the energy retrofit program",
    "the school catchment map", "the traffic plan", "the district heating extension",
    "the means-tested meal price", "the memorandum of understanding",
    "the list of supporting documents", "the competition rules",
]

EN_COMPLEMENTS = [
    "for fiscal year {year}", "within {n} days", "after a lengthy debate", "unanimously",
    "subject to the governor's approval", "before the end of {month}",
    "at a public hearing", "despite objections from {small} members",
    "as part of the recovery plan", "effective {date}", "for a total of {amount}",
    "without amendment", "retroactively", "in accordance with the regulations in force",
    "up to {pct}", "until {date}", "across the whole county",
    "in towns with fewer than {bignum} inhabitants", "at the one-stop desk",
    "at its last meeting", "pending a ruling from the supreme court", "on a trial basis",
    "for a period of {small} years", "as of {date}",
]

EN_QUOTES = [
    "We need to act quickly", "This is a historic decision", "The file isn't closed",
    "Residents expect concrete answers", "It's an important step", "Nothing has been decided yet",
    "We've heard the neighborhood's concerns", "The timetable will be kept",
    "It's a matter of fairness between regions", "We can't go on like this",
    "The numbers speak for themselves", "The state will take responsibility",
]

EN_PERSONS = [
    "the mayor", "the county executive", "the city manager", "the deputy clerk",
    "a union representative", "Ms. Holloway", "Mr. Okafor", "Dr. Lindqvist",
    "the chair of the residents' association", "Councilwoman Reyes", "Judge Abernathy",
    "the finance director", "a spokesperson for the governor",
]

EN_EVENTS = [
    "the council meeting", "a press conference", "the annual general meeting",
    "the town hall", "the hearing", "a site visit", "the opening of the new gym",
]

EN_CONNECTORS = [
    "In addition", "Moreover", "However", "Nevertheless", "Furthermore", "By contrast",
    "Accordingly", "As a result", "In practice", "Finally", "For the record", "Meanwhile",
]

EN_PLACES = [
    "in Springfield", "in the Lake District", "in Saskatoon", "in County Cork", "in Tucson",
    "in the Highlands", "in Ballarat", "in Duluth", "in Cornwall", "downtown",
]

EN_TOWNS = ["Riverton", "Millbrook", "Ashford", "Kingsport", "Fairview", "Oakdale",
            "Redwater", "Hollis", "Brampton", "Eastleigh"]

EN_SOURCES = [
    "the census bureau", "the latest annual report", "a budget office memo",
    "county officials", "a survey by the observatory", "the meeting minutes",
    "a study published in {month}", "the department's figures",
]

EN_INDICATORS = [
    "unemployment", "turnout", "occupancy", "graduation", "vaccination", "vacancy",
    "collection", "ridership", "land take",
]

EN_PEOPLE = [
    "households", "claimants", "tenants", "farmers", "students", "retirees", "job seekers",
    "users", "shopkeepers", "employees",
]

EN_OPINIONS = [
    "online procedures are too complicated", "the service has improved",
    "processing times are still too long", "the information isn't clear enough",
    "opening hours should be extended", "the reform is a step in the right direction",
]

EN_OFFICES = [
    "the registrar's office", "the human resources department", "the citizens' advice desk",
    "the town clerk", "the court registry", "the front desk", "the school enrollment office",
]

EN_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
             "September", "October", "November", "December"]
EN_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

EN_WEATHER = [
    "skies stay overcast", "heavy showers are expected", "the sun is back",
    "strong winds are blowing", "fog lingers", "snow is falling heavily",
]
EN_REGIONS = ["the Midwest", "the Pacific Northwest", "the Welsh valleys", "the Prairies",
              "the East Coast", "the Scottish Borders"]
EN_PRODUCE = ["tomatoes", "potatoes", "cherries", "zucchini", "leeks", "strawberries",
              "chestnuts", "green beans"]
EN_TRENDS = ["up sharply", "a steady price", "slightly down", "a record high",
             "much like last year"]
EN_ACTIVITIES = ["a writing workshop", "story time", "a book club", "a digital skills class",
                 "a bike repair clinic"]
EN_DISHES = ["leek pie", "sourdough loaf", "brioche", "country bread", "apple crumble"]

# --------------------------------------------------------------------------------------
# Templates: {slot} filled by fill(); a slot whose name starts with a capital letter gets
# its first letter capitalised.
# --------------------------------------------------------------------------------------

FR_TEMPLATES = {
    "admin": [
        "{Sv_pc} {obj} {comp}.",
        "Selon {source}, {sv_pres} {obj} {comp}.",
        "« {quote} », a déclaré {person} lors de {event}.",
        "« {quote} », a indiqué {person}, {comp}.",
        "Le taux de {indic} atteint {pct} en {year}, contre {pct} l'année précédente.",
        "L'article {artnum} du règlement prévoit que {sv_pres} {obj} {comp}.",
        "Il convient de noter que {sv_pc} {obj} {comp}.",
        "En application de l'arrêté du {date}, {sv_pres} {obj} {comp}.",
        "{Conn}, {sv_pc} {obj} {comp}.",
        "Le montant total s'élève à {amount}, soit une hausse de {pct} par rapport à {year}.",
        "La réunion est prévue le {date} à {hour}, {place}.",
        "Les demandes doivent être déposées avant le {date} auprès de {office}.",
        "D'après {source}, près de {pct} des {people} estiment que {opinion}.",
        "Depuis le {date}, {sv_pres} {obj} {place}.",
        "{Sv_pc} {obj} {place}, {comp}.",
        "Cette mesure concerne environ {bignum} {people} et représente {amount}.",
        "Le dossier n° {refnum} a été transmis {comp}.",
        "Pour toute question, il est possible de contacter {office} du lundi au vendredi, de {hour} à {hour}.",
        "{Conn}, {person} rappelle que {sv_pres} {obj} {comp}.",
        "Sur les {bignum} dossiers reçus en {year}, {pct} ont été acceptés.",
    ],
    "daily": [
        "Ce {day} matin, {weather} sur {region}, avec des températures comprises entre {t1} et {t2} degrés.",
        "Au marché de {town}, le kilo de {produce} se vend {price} euros, {trend}.",
        "L'équipe de {town} s'est imposée {score} face à celle de {town} devant {bignum} spectateurs.",
        "La médiathèque propose {activity} tous les {day}s à {hour}, l'entrée est libre.",
        "Pour réussir {dish}, il faut laisser reposer la pâte pendant {n} minutes avant la cuisson.",
        "Le festival, qui fête sa {ordfr} édition, attend plus de {bignum} visiteurs du {date} au {date}.",
        "Les travaux de la rue principale de {town} devraient s'achever le {date}, avec {small} semaines de retard.",
        "Le train de {hour} pour {town} est supprimé ; un car de substitution part de la gare routière.",
        "À {town}, la fête des voisins a réuni {bignum} personnes malgré la pluie.",
        "Selon la météo, {weather} sur {region} jusqu'à {day} soir.",
        "La piscine de {town} rouvre ses portes après {small} mois de travaux, avec un bassin de {n} mètres.",
        "Il reste {small} places pour {activity} de {day} prochain : l'inscription est obligatoire.",
    ],
    "legal": [
        "Aux termes de l'article {artcode} du code {codename}, {sv_pres} {obj} {comp}.",
        "Le présent arrêté entre en vigueur le {date} et s'applique à {scopefr}.",
        "Sous réserve des dispositions de l'article {artcode}, {sv_pres} {obj} {comp}.",
        "Le silence gardé par l'administration pendant {small} mois vaut décision {decfr}.",
        "Toute personne justifiant d'un intérêt à agir peut saisir {courtfr} dans un délai de {small} mois à compter de la notification de la présente décision.",
        "Les pièces justificatives mentionnées à l'annexe {roman} sont jointes à la demande.",
        "En cas de manquement aux obligations prévues au présent article, {sanctionfr}.",
        "Le bénéficiaire s'engage à informer {office} de tout changement de situation dans un délai de {n} jours.",
        "La décision est notifiée à l'intéressé par lettre recommandée avec demande d'avis de réception.",
        "Vu le code {codename}, notamment son article {artcode}, et l'avis rendu le {date}, {sv_pc} {obj}.",
        "Les dispositions du présent titre ne s'appliquent pas aux contrats conclus avant le {date}.",
        "Le montant de l'aide est plafonné à {amount} par foyer et ne peut excéder {pct} du coût total.",
        "Le délai mentionné au premier alinéa est porté à {n} jours pour les collectivités d'outre-mer.",
        "L'autorité compétente peut, par décision motivée, {sanctionfr_inf}.",
    ],
}

EN_TEMPLATES = {
    "admin": [
        "{Sv_past} {obj} {comp}.",
        "According to {source}, {sv_pres} {obj} {comp}.",
        "\"{quote},\" {person} said during {event}.",
        "\"{quote},\" {person} noted, {comp}.",
        "The {indic} rate reached {pct} in {year}, compared with {pct} the year before.",
        "Section {artnum} of the bylaws provides that {sv_pres} {obj} {comp}.",
        "It should be noted that {sv_past} {obj} {comp}.",
        "Under the order of {date}, {sv_pres} {obj} {comp}.",
        "{Conn}, {sv_past} {obj} {comp}.",
        "The total amount comes to {amount}, an increase of {pct} over {year}.",
        "The meeting is scheduled for {date} at {hour}, {place}.",
        "Applications must be filed before {date} with {office}.",
        "According to {source}, nearly {pct} of {people} believe that {opinion}.",
        "Since {date}, {sv_pres} {obj} {place}.",
        "{Sv_past} {obj} {place}, {comp}.",
        "This measure affects about {bignum} {people} and represents {amount}.",
        "File no. {refnum} was forwarded to {office} {comp}.",
        "For any question, you can contact {office} Monday to Friday, from {hour} to {hour}.",
        "{Conn}, {person} pointed out that {sv_pres} {obj} {comp}.",
        "Of the {bignum} applications received in {year}, {pct} were accepted.",
        "{Person} doesn't expect the council's decision before {date}.",
    ],
    "daily": [
        "This {day} morning, {weather} across {region}, with temperatures between {t1} and {t2} degrees.",
        "At the {town} market, a pound of {produce} sells for ${price}, {trend}.",
        "The {town} team won {score} against {town} in front of {bignum} fans.",
        "The library runs {activity} every {day} at {hour}; admission is free.",
        "To get the {dish} right, let the dough rest for {n} minutes before baking.",
        "The festival, now in its {orden} year, expects more than {bignum} visitors from {date} to {date}.",
        "Roadworks on {town}'s main street should be finished by {date}, {small} weeks behind schedule.",
        "The {hour} train to {town} is cancelled; a replacement bus leaves from the coach station.",
        "In {town}, the street party drew {bignum} people despite the rain.",
        "The forecast says {weather} over {region} until {day} night.",
        "The {town} pool reopens after {small} months of work, with a {n}-meter lane.",
        "There are {small} places left for {activity} next {day}: registration is required.",
    ],
    "legal": [
        "Pursuant to section {artcode} of the {codenameen}, {sv_pres} {obj} {comp}.",
        "This order shall enter into force on {date} and shall apply to {scopeen}.",
        "Subject to the provisions of section {artcode}, {sv_pres} {obj} {comp}.",
        "Failure by the authority to respond within {small} months shall be deemed a decision of {decen}.",
        "Any person with standing may bring the matter before {courten} within {small} months of notification of this decision.",
        "The supporting documents listed in Schedule {roman} shall be attached to the application.",
        "In the event of a breach of the obligations laid down in this section, {sanctionen}.",
        "The beneficiary undertakes to notify {office} of any change in circumstances within {n} days.",
        "The decision shall be served on the person concerned by registered mail with acknowledgement of receipt.",
        "Having regard to the {codenameen}, and in particular section {artcode}, and to the opinion delivered on {date}, {sv_past} {obj}.",
        "The provisions of this title shall not apply to contracts concluded before {date}.",
        "The grant is capped at {amount} per household and may not exceed {pct} of the total cost.",
        "The period referred to in the first paragraph is extended to {n} days for overseas territories.",
        "The competent authority may, by reasoned decision, {sanctionen_inf}.",
    ],
}

FR_CODENAMES = ["de l'urbanisme", "de la construction et de l'habitation", "du travail",
                "général des collectivités territoriales", "de l'environnement",
                "des relations entre le public et l'administration", "de la santé publique",
                "rural et de la pêche maritime", "de l'éducation"]
EN_CODENAMES = ["Planning Act", "Housing Code", "Employment Rights Act", "Local Government Act",
                "Environmental Protection Act", "Administrative Procedure Act",
                "Public Health Act", "Education Act"]
FR_SCOPES = ["l'ensemble des demandes déposées à compter de cette date",
             "toutes les communes du département", "les contrats en cours d'exécution",
             "les établissements recevant du public"]
EN_SCOPES = ["all applications filed on or after that date", "every municipality in the county",
             "contracts currently being performed", "premises open to the public"]
FR_DECISIONS = ["d'acceptation", "de rejet", "implicite d'acceptation", "implicite de rejet"]
EN_DECISIONS = ["acceptance", "refusal", "implied acceptance", "implied refusal"]
FR_COURTS = ["le tribunal administratif", "le tribunal judiciaire", "le conseil de prud'hommes",
             "la commission de recours amiable", "le juge des contentieux de la protection"]
EN_COURTS = ["the administrative court", "the county court", "the employment tribunal",
             "the appeals board", "the small claims court"]
FR_SANCTIONS = ["l'aide est suspendue jusqu'à régularisation de la situation",
                "une amende administrative de {amount} peut être prononcée",
                "l'autorisation peut être retirée après mise en demeure restée sans effet",
                "les sommes indûment perçues font l'objet d'un reversement"]
EN_SANCTIONS = ["the grant is suspended until the situation is remedied",
                "an administrative fine of {amount} may be imposed",
                "the authorization may be withdrawn after a formal notice has gone unheeded",
                "any sums unduly received shall be repaid"]
FR_SANCTIONS_INF = ["suspendre l'autorisation pour une durée maximale de {small} mois",
                    "ordonner la fermeture temporaire de l'établissement",
                    "mettre en demeure l'exploitant de se conformer aux prescriptions"]
EN_SANCTIONS_INF = ["suspend the authorization for up to {small} months",
                    "order the temporary closure of the premises",
                    "serve notice on the operator to comply with the requirements"]
ROMANS = ["I", "II", "III", "IV", "V", "VI", "VII", "IX", "XII"]
FR_ORDINALS = ["2e", "5e", "10e", "12e", "20e", "25e", "31e", "40e"]
EN_ORDINALS = ["2nd", "5th", "10th", "12th", "20th", "25th", "31st", "40th"]

NBSP = "\u00a0"
NNBSP = "\u202f"


def _fr_int(n, rng):
    """French thousands grouping: 1 250, 12 400 (space or no-break space)."""
    s = "{:,}".format(n)
    sep = rng.choice([" ", " ", NBSP, NNBSP, ""]) if n >= 1000 else ""
    return s.replace(",", sep)


def _fr_pct(rng):
    v = rng.randint(1, 999) / 10
    num = ("%.1f" % v).replace(".", ",")
    if num.endswith(",0") and rng.random() < 0.5:
        num = num[:-2]
    return num + rng.choice([" ", NBSP, NNBSP]) + "%"


def _en_pct(rng):
    v = rng.randint(1, 999) / 10
    num = "%.1f" % v
    if num.endswith(".0") and rng.random() < 0.5:
        num = num[:-2]
    return num + rng.choice(["%", "%", " percent"])


def _fr_date(rng):
    day = "1er" if rng.random() < 0.25 else str(rng.randint(2, 28))
    return "%s %s %d" % (day, rng.choice(FR_MONTHS), rng.randint(2015, 2026))


def _en_date(rng):
    y, m, d = rng.randint(2015, 2026), rng.randrange(12), rng.randint(1, 28)
    style = rng.randrange(3)
    if style == 0:
        return "%s %d, %d" % (EN_MONTHS[m], d, y)
    if style == 1:
        return "%d %s %d" % (d, EN_MONTHS[m], y)
    return "%d-%02d-%02d" % (y, m + 1, d)


def _fr_amount(rng):
    r = rng.random()
    if r < 0.4:
        return _fr_int(rng.randint(150, 95000), rng) + rng.choice([" euros", " €", NBSP + "€"])
    if r < 0.7:
        return ("%.1f" % (rng.randint(11, 990) / 10)).replace(".", ",") + " millions d'euros"
    return _fr_int(rng.randint(2, 900) * 1000, rng) + " euros"


def _en_amount(rng):
    r = rng.random()
    cur = rng.choice(["$", "$", "£", "€"])
    if r < 0.5:
        return "%s%s" % (cur, "{:,}".format(rng.randint(150, 95000)))
    return "%s%.1f million" % (cur, rng.randint(11, 990) / 10)


def _fr_hour(rng):
    h, m = rng.randint(7, 20), rng.choice([0, 0, 15, 30, 45])
    return ("%dh" % h) + ("%02d" % m if m else "") if rng.random() < 0.7 else "%d h %02d" % (h, m)


def _en_hour(rng):
    h, m = rng.randint(7, 20), rng.choice([0, 0, 15, 30, 45])
    if rng.random() < 0.5:
        return "%d:%02d" % (h, m)
    return "%d:%02d %s" % ((h - 1) % 12 + 1, m, "a.m." if h < 12 else "p.m.")


def _slot_values(lang, rng, name):
    """Value of one slot (lower-case name) in language lang."""
    fr = lang == "fr"
    if name in ("sv_pc", "sv_past", "sv_pres"):
        subj, plural = rng.choice(FR_SUBJECTS if fr else EN_SUBJECTS)
        if name == "sv_pc":
            return "%s %s %s" % (subj, "ont" if plural else "a", rng.choice(FR_PARTICIPLES))
        if name == "sv_past":
            return "%s %s" % (subj, rng.choice(EN_PAST))
        verb = rng.choice(FR_PRESENT if fr else EN_PRESENT)[1 if plural else 0]
        return "%s %s" % (subj, verb)
    simple = {
        "obj": (FR_OBJECTS, EN_OBJECTS), "comp": (FR_COMPLEMENTS, EN_COMPLEMENTS),
        "quote": (FR_QUOTES, EN_QUOTES), "person": (FR_PERSONS, EN_PERSONS),
        "event": (FR_EVENTS, EN_EVENTS), "conn": (FR_CONNECTORS, EN_CONNECTORS),
        "place": (FR_PLACES, EN_PLACES), "town": (FR_TOWNS, EN_TOWNS),
        "source": (FR_SOURCES, EN_SOURCES), "indic": (FR_INDICATORS, EN_INDICATORS),
        "people": (FR_PEOPLE, EN_PEOPLE), "opinion": (FR_OPINIONS, EN_OPINIONS),
        "office": (FR_OFFICES, EN_OFFICES), "month": (FR_MONTHS, EN_MONTHS),
        "day": (FR_DAYS, EN_DAYS), "weather": (FR_WEATHER, EN_WEATHER),
        "region": (FR_REGIONS, EN_REGIONS), "produce": (FR_PRODUCE, EN_PRODUCE),
        "trend": (FR_TRENDS, EN_TRENDS), "activity": (FR_ACTIVITIES, EN_ACTIVITIES),
        "dish": (FR_DISHES, EN_DISHES),
    }
    if name in simple:
        return rng.choice(simple[name][0 if fr else 1])
    table = {
        "codename": FR_CODENAMES, "codenameen": EN_CODENAMES, "scopefr": FR_SCOPES,
        "scopeen": EN_SCOPES, "decfr": FR_DECISIONS, "decen": EN_DECISIONS,
        "courtfr": FR_COURTS, "courten": EN_COURTS, "sanctionfr": FR_SANCTIONS,
        "sanctionen": EN_SANCTIONS, "sanctionfr_inf": FR_SANCTIONS_INF,
        "sanctionen_inf": EN_SANCTIONS_INF, "roman": ROMANS, "ordfr": FR_ORDINALS,
        "orden": EN_ORDINALS,
    }
    if name in table:
        return rng.choice(table[name])
    if name == "year":
        return str(rng.randint(2012, 2026))
    if name == "n":
        return str(rng.choice([8, 10, 15, 21, 30, 45, 60, 90]))
    if name == "small":
        return str(rng.randint(2, 12))
    if name == "bignum":
        n = rng.choice([rng.randint(120, 990), rng.randint(1000, 99000)])
        return _fr_int(n, rng) if fr else "{:,}".format(n)
    if name == "date":
        return _fr_date(rng) if fr else _en_date(rng)
    if name == "pct":
        return _fr_pct(rng) if fr else _en_pct(rng)
    if name == "amount":
        return _fr_amount(rng) if fr else _en_amount(rng)
    if name == "hour":
        return _fr_hour(rng) if fr else _en_hour(rng)
    if name == "artnum":
        return str(rng.randint(1, 48))
    if name == "artcode":
        return "%s. %d-%d" % (rng.choice("LRD"), rng.randint(100, 800), rng.randint(1, 30)) if fr \
            else "%d(%d)" % (rng.randint(1, 240), rng.randint(1, 9))
    if name == "refnum":
        return "%d-%05d" % (rng.randint(2018, 2026), rng.randint(1, 99999))
    if name in ("t1", "t2"):
        return str(rng.randint(-5, 12) if name == "t1" else rng.randint(13, 34))
    if name == "price":
        v = rng.randint(80, 990) / 100
        return ("%.2f" % v).replace(".", ",") if fr else "%.2f" % v
    if name == "score":
        a, b = rng.randint(1, 5), rng.randint(0, 4)
        a, b = max(a, b + 1), min(a, b)
        if rng.random() < 0.5:
            return "%d-%d" % (a, b)
        return ("%d à %d" if fr else "%d to %d") % (a, b)
    raise KeyError(name)


_SLOT = re.compile(r"\{([A-Za-z_]+)\}")

# French contractions after filling: "de le" -> "du", "que un" -> "qu'un"...
_FR_FIXES = [
    (re.compile(r"\bde le\b"), "du"), (re.compile(r"\bde les\b"), "des"),
    (re.compile(r"\bà le\b"), "au"), (re.compile(r"\bà les\b"), "aux"),
    (re.compile(r"\bque ([aeiouéèêàâîôAEIOUÉÈÊÀÂÎÔ])"), r"qu'\1"),
    (re.compile(r"\bde ([aeiouéèêàâîôAEIOUÉÈÊÀÂÎÔ])"), r"d'\1"),
]


def fill(template, lang, rng):
    def sub(m):
        name = m.group(1)
        value = _slot_values(lang, rng, name.lower())
        value = _SLOT.sub(sub, value)  # slot values may hold slots ({year} in complements)
        return value[0].upper() + value[1:] if name[0].isupper() else value

    s = _SLOT.sub(sub, template)
    if lang == "fr":
        for pat, rep in _FR_FIXES:
            s = pat.sub(rep, s)
    return s


def sentence(lang, family, rng):
    templates = (FR_TEMPLATES if lang == "fr" else EN_TEMPLATES)[family]
    return fill(rng.choice(templates), lang, rng)


# --------------------------------------------------------------------------------------
# Short texts (3-5 words): headline-like phrases
# --------------------------------------------------------------------------------------

FR_HEADS = ["Fermeture", "Réouverture", "Report", "Annulation", "Modification", "Ouverture",
            "Prolongation", "Suspension", "Reprise", "Extension", "Gratuité", "Rénovation"]
FR_HEAD_ADJ = ["provisoire", "temporaire", "rapide", "probable", "immédiate", "partielle"]
FR_HEAD_OBJ = ["du marché", "des travaux", "de la piscine", "du service", "de l'enquête publique",
               "de la ligne 4", "des inscriptions", "du chantier", "de la déchetterie",
               "du guichet", "de la cantine", "du musée", "des parkings"]
FR_HEAD_SUFFIX = ["lundi", "dès demain", "cet été", "jusqu'au 12 mai", "le 3 juin",
                  "à Vichy", "en 2025", "samedi"]
EN_HEAD_SUBJ = ["Council", "City library", "School board", "Water utility", "Town hall",
                "Bus service", "Court", "County", "Museum", "Pool"]
EN_HEAD_VERB = ["approves", "delays", "rejects", "reopens", "extends", "suspends", "reviews",
                "cancels", "raises", "cuts"]
EN_HEAD_OBJ = ["budget", "new budget", "bus route", "the plan", "parking fees", "summer hours",
               "housing grant", "road works", "opening hours", "school meals"]
EN_HEAD_SUFFIX = ["today", "again", "until Monday", "next week", "for now", "in 2025"]


def headline(lang, n_words, rng):
    """A headline of exactly n_words words (3 to 5)."""
    for _ in range(1000):
        if lang == "fr":
            parts = [rng.choice(FR_HEADS)]
            if rng.random() < 0.5:
                parts.append(rng.choice(FR_HEAD_ADJ))
            parts.append(rng.choice(FR_HEAD_OBJ))
            if rng.random() < 0.5:
                parts.append(rng.choice(FR_HEAD_SUFFIX))
        else:
            parts = [rng.choice(EN_HEAD_SUBJ), rng.choice(EN_HEAD_VERB), rng.choice(EN_HEAD_OBJ)]
            if rng.random() < 0.5:
                parts.append(rng.choice(EN_HEAD_SUFFIX))
        s = _fr_fix_only(" ".join(parts)) if lang == "fr" else " ".join(parts)
        if len(s.split()) == n_words:
            return s + rng.choice(["", "", "."])
    raise RuntimeError("no headline of %d words" % n_words)


def _fr_fix_only(s):
    for pat, rep in _FR_FIXES:
        s = pat.sub(rep, s)
    return s


# --------------------------------------------------------------------------------------
# Edge cases (written here, fixed)
# --------------------------------------------------------------------------------------

def _long_word(rng):
    """A 60-letter lower-case word made of syllables (no separator)."""
    syll = ["anti", "con", "sti", "tu", "tion", "nel", "le", "ment", "hyper", "trans", "for",
            "ma", "ti", "sa", "bi", "li", "té", "ré", "or", "ga", "ni", "pro", "vi", "so", "re"]
    while True:
        w = ""
        while len(w) < 60:
            w += rng.choice(syll)
        if len(w) == 60:
            return w


def edge_cases(rng):
    return [
        ("emoji", "Merci à toutes et à tous pour votre participation à la fête du quartier 🎉👍 "
                  "Rendez-vous l'année prochaine ! Thanks to everyone who came 😊🌻 — see you "
                  "next year ❤️"),
        ("url_email", "Pour plus d'informations, consultez "
                      "https://www.example.org/demarches/aide-logement?id=42&lang=fr#eligibilite "
                      "ou écrivez à contact.mairie@example.fr avant le 30 juin 2024. English "
                      "speakers can email help-desk+housing@example.com or visit "
                      "http://example.com/en/housing/apply."),
        ("punctuation", "Quoi ?!?! Encore un report... Vraiment ??? Incroyable !!! "
                        "Wait... what?!?! No way!!! ---- **** ((( ))) ;;; ,,,, .... "
                        "« » « » ?? !! ... ???!!!"),
        ("upper", "AVIS AUX USAGERS : LE GUICHET DE L'ÉTAT CIVIL SERA FERMÉ LE LUNDI 15 AVRIL "
                  "2024 POUR CAUSE DE TRAVAUX. MERCI DE VOTRE COMPRÉHENSION. NOTICE TO THE "
                  "PUBLIC: THE OFFICE WILL BE CLOSED ALL DAY."),
        ("long_word", "Le rapporteur a inventé le mot %s pour désigner la procédure, ce qui a "
                      "fait sourire l'assemblée." % _long_word(rng)),
        ("whitespace", "Ligne 1\tcolonne A\tcolonne B\nLigne 2\t12,5 %\t1er mars 2024\n\n"
                       "Second paragraph:\ttabs\tand\r\nWindows line endings,   several   "
                       "spaces,\n\t\tindented line.\n"),
        ("cjk", "Le rapport sera traduit en japonais et en chinois : 報告書は来月公開されます。"
                "报告将于下月发布。 The Korean summary reads 보고서는 다음 달에 공개됩니다."),
    ]


EDGE_IDS = [7, 150, 301, 452, 603, 777, 901]


# --------------------------------------------------------------------------------------
# Texts
# --------------------------------------------------------------------------------------

_WORD = re.compile(r"\S+")
_OPENERS = {"«", "(", "\"", "—", "-", "–"}


def _cut(text, n_words):
    """text cut after its n_words-th word (whitespace kept as is), ending with punctuation."""
    ends = [m.end() for m in _WORD.finditer(text)]
    if len(ends) <= n_words:
        return text
    words = _WORD.findall(text)
    k = n_words
    if words[k - 1] in _OPENERS and k > 1:
        k -= 1
    s = text[:ends[k - 1]].rstrip(",;:")
    if s[-1] not in ".!?»\"":
        s += "."
    return s


def _body(langs, n_words, family_weights, rng, apostrophe, min_words=None):
    """About n_words words of whole sentences (languages alternating over langs).

    Whole sentences are added while they fit; the gap left is filled with sentences short
    enough (up to 200 draws each). When that leaves fewer than min_words words (default
    85 % of n_words, at least 3), one more sentence is added and the text is cut after
    exactly n_words words (a period is put at the end).
    """
    families, weights = zip(*family_weights)
    if min_words is None:
        min_words = max(3, -(-n_words * 85 // 100))

    def draw(lang):
        s = sentence(lang, rng.choices(families, weights)[0], rng)
        return s.replace("'", "’") if lang == "fr" and apostrophe else s

    parts, count, i = [], 0, 0
    while True:
        lang = langs[i % len(langs)]
        for _ in range(200):
            s = draw(lang)
            if count + len(s.split()) <= n_words:
                break
        else:
            break
        parts.append(s)
        count += len(s.split())
        i += 1
        if count == n_words:
            break
    if count < min_words:
        parts.append(draw(langs[i % len(langs)]))
        return _cut(" ".join(parts), n_words)
    return " ".join(parts)


def varied(count, seed):
    rng = random.Random(seed)
    edges = dict(zip(EDGE_IDS, edge_cases(rng)))
    out = []
    for i in range(count):
        if i in edges:
            out.append(edges[i][1])
            continue
        u = rng.random()
        if u < 0.08:
            n = rng.randint(3, 5)
        elif u < 0.40:
            n = rng.randint(6, 60)
        elif u < 0.72:
            n = rng.randint(61, 180)
        else:
            n = rng.randint(181, 400)
        r = rng.random()
        langs = ["fr"] if r < 0.48 else ["en"] if r < 0.96 else ["fr", "en"]
        if n <= 5:
            out.append(headline(rng.choice(langs), n, rng))
            continue
        fam = rng.choice([[("admin", 6), ("daily", 3), ("legal", 1)],
                          [("daily", 6), ("admin", 2), ("legal", 1)],
                          [("legal", 6), ("admin", 3)]])
        apostrophe = langs[0] == "fr" and rng.random() < 0.2
        out.append(_body(langs, n, fam, rng, apostrophe))
    return out


def bench(count, seed):
    rng = random.Random(seed)
    out = []
    for i in range(count):
        lang = "fr" if i % 2 == 0 else "en"
        n = rng.randint(84, 112)
        out.append(_body([lang], n, [("legal", 6), ("admin", 4)], rng, False, min_words=80))
    return out


def sentences(count, seed, langs=("fr", "en"), families=("admin", "daily", "legal")):
    """count single sentences, languages and families drawn at random (tokenizer training)."""
    rng = random.Random(seed)
    return [sentence(rng.choice(langs), rng.choice(families), rng) for _ in range(count)]


def generate(kind, count, seed):
    if kind == "varied":
        return varied(count, seed)
    if kind == "bench":
        return bench(count, seed)
    raise ValueError("unknown kind %r" % kind)


def write_jsonl(texts, path):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n")


def read_jsonl(path):
    """[(id, text)] of a texts JSON Lines file."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                o = json.loads(line)
                rows.append((o["id"], o["text"]))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description="generate French/English texts as JSON Lines")
    ap.add_argument("--kind", choices=["varied", "bench"], required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out", required=True, help="output .jsonl file ('-' for stdout)")
    a = ap.parse_args(argv)
    texts = generate(a.kind, a.count, a.seed)
    if a.out == "-":
        for i, t in enumerate(texts):
            sys.stdout.write(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n")
    else:
        write_jsonl(texts, a.out)
    words = [len(t.split()) for t in texts]
    print("%d texts (%s, seed %d): %d to %d words, %.1f on average"
          % (len(texts), a.kind, a.seed, min(words), max(words), sum(words) / len(words)),
          file=sys.stderr)


if __name__ == "__main__":
    main()
