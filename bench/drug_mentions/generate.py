#!/usr/bin/env python3
"""Synthetic inputs for the drug-mentions benchmark, shaped like the real test data.

    generate.py --publications N --drugs M --out DIR [--seed S] [--json-share F] [--split-share F]

Writes DIR/drugs.csv, DIR/pubmed.csv, DIR/pubmed.json and DIR/clinical_trials.csv with the
quirks of the real files (see README.md):

  - about half of the N publications go to PubMed, the rest to clinical_trials; of the PubMed
    ones, --json-share (default 0.1) go to pubmed.json, the others to pubmed.csv;
  - mixed date formats: dd/mm/yyyy, yyyy-mm-dd and "d Month yyyy";
  - pubmed.json is one JSON array with a trailing comma before the closing `]`, and its ids are
    JSON numbers, strings (sometimes padded with blanks), empty strings or null;
  - some ids are empty (those publications get a generated id downstream);
  - literal `\\xNN` escapes: invalid UTF-8 junk glued to some journal names ("...\\xc3\\x28"),
    valid escapes in some titles and journals ("\\xc3\\xb1" = "ñ"), some glued to drug names;
  - blank and whitespace-only titles, blank journals, blanks around some fields;
  - some clinical trials split over two rows (same title, same date possibly written in another
    format; one row without id, the other without journal), in either order, sometimes apart;
  - each CSV ends with a line holding only a tab (and no newline), like the real pubmed.csv.

Drug names are M distinct single upper-case pseudo-words that never occur as filler words.
Titles are random filler words with 0-3 drug names inserted (55% / 30% / 11% / 4%), written in
various cases and forms: plain, Title case, UPPER, "(drug)", "drug-induced", "drug,", "drug_x",
and a few near-misses that are NOT mentions under the rules ("drugs", "drug2", "drug" + "é").
Drug popularity is Zipf-like; about 2% of the drugs are never mentioned.

Everything is streamed: rows are written as they are drawn, so 1,000,000 publications take a
few seconds and little memory. Pure standard library (no pandas needed). Deterministic for a
given --seed.
"""

import argparse
import bisect
import datetime
import itertools
import json
import os
import random
import sys

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]

FILLER = """
a an the of in and with for on to by from after during versus vs or as at into without under
between among within via per patients patient children adults women men mice rats rabbits dogs
cells cell tissue study trial randomized controlled double blind placebo phase pilot open label
multicenter prospective retrospective cohort analysis review systematic meta case report series
effect effects efficacy safety tolerability outcome outcomes risk risks factor factors association
treatment therapy therapeutic management prevention diagnosis prognosis evaluation assessment
comparison response responses resistance sensitivity exposure dose doses dosing high low acute
chronic severe mild moderate early late long short term clinical preclinical experimental novel
new potential possible role impact influence use using based associated related induced mediated
dependent independent chronic inflammation inflammatory infection infections pain postoperative
surgery surgical anesthesia sedation injection infusion oral topical intravenous intramuscular
administration delivery release formulation nanoparticles synthesis green route method model
models mechanism mechanisms pathway pathways receptor receptors expression activity function
levels level concentration concentrations plasma serum blood urine liver kidney heart brain lung
skin bone muscle cardiac myocardial renal hepatic pulmonary neural cognitive behavioral allergy
allergic asthma cancer tumor tumors carcinoma diabetes obesity hypertension stroke infarction
arrest failure disease disorders disorder syndrome symptoms signs poisoning toxicity adverse
events reactions hydrochloride sodium potassium acid sulfate injection autoinjectors cost costs
alternatives practice guidelines recommendations emergency nursing care intensive unit hospital
department primary secondary tertiary population populations national regional international
survey data evidence quality improvement program programme intervention interventions group
groups control versus compared reduced increased improved decreased lower higher rate rates time
mortality morbidity survival recovery follow up year years month months week weeks day days
""".split()

PUNCT = [",", ":", ";", "."]

SYLLABLES = """ba be bi bo bu ca ce ci co cu da de di do du fa fe fi fo fu ga ge gi go gu
la le li lo lu ma me mi mo mu na ne ni no nu pa pe pi po pu ra re ri ro ru sa se si so su
ta te ti to tu va ve vi vo vu xa xe xi za ze zi zo zu tra tri pro pre cla clo bro bri dra
fla flu gra gro pla plu sta stri thi tho phe phi""".split()
SUFFIXES = """ine ol one amide azole mycin cillin pril sartan statin mab olol pine dipine
azepam oxacin cycline vir tidine prazole lukast sone parin afil triptan setron gliptin
tinib zumab ximab""".split()

REAL_JOURNALS = [
    "Journal of emergency nursing",
    "The Journal of pediatrics",
    "Journal of food protection",
    "American journal of veterinary research",
    "Psychopharmacology",
    "The journal of allergy and clinical immunology. In practice",
    "Journal of photochemistry and photobiology. B, Biology",
    "The journal of maternal-fetal & neonatal medicine",
    "Journal of back and musculoskeletal rehabilitation",
    "Hôpitaux Universitaires de Genève",
]
JOURNAL_TOPICS = [t.strip() for t in """cardiology, oncology, neurology, pediatrics, pharmacology,
toxicology, immunology, dermatology, anesthesia, nursing, psychiatry, endocrinology, nephrology,
hepatology, rheumatology, infectious diseases, clinical pharmacy, veterinary research, emergency
medicine, surgery, allergy, virology, microbiology, obstetrics and gynecology, urology,
radiology""".replace("\n", " ").split(",")]
JOURNAL_FORMS = ["Journal of {}", "The journal of {}", "International journal of {}",
                 "Annals of {}", "Archives of {}", "{} reports", "European journal of {}",
                 "Revue de {}", "Acta {}", "Current {}"]

# Literal escapes (4 characters each: backslash, x, two hex digits).
VALID_ESCAPED_WORDS = [
    "\\xc3\\xb1",                      # ñ (as in the real clinical_trials.csv)
    "r\\xc3\\xa9sum\\xc3\\xa9",        # résumé
    "\\xce\\xb2-blockers",              # β-blockers
    "na\\xc3\\xafve",                  # naïve
    "\\xc3\\x89tude",                  # Étude
    "Sj\\xc3\\xb6gren",                # Sjögren
    "QUZYTTIR\\xe2\\x84\\xa2",         # QUZYTTIR™
    "\\xce\\xb1\\xce\\xb2",            # αβ
]
INVALID_JUNK = ["\\xc3\\x28", "\\xff", "\\xe2\\x82", "\\xa0\\xa1", "\\xc3"]
# Journals also written with valid escapes instead of raw UTF-8: decode to the same name.
ESCAPED_JOURNALS = {"Hôpitaux Universitaires de Genève": "H\\xc3\\xb4pitaux Universitaires de Gen\\xc3\\xa8ve"}


def drug_names(rng, m, forbidden):
    names, seen = [], set()
    while len(names) < m:
        n_syl = rng.choice((1, 2, 2, 3))
        word = "".join(rng.choice(SYLLABLES) for _ in range(n_syl)) + rng.choice(SUFFIXES)
        if word in seen or word in forbidden:
            continue
        seen.add(word)
        names.append(word.upper())
    return names


def atc_code(rng, i):
    if i % 37 == 5:                      # some numeric codes, like "6302001" in the real file
        return str(rng.randrange(1000000, 9999999))
    L = "ABCDGHJLMNPRSV"
    return (rng.choice(L) + "%02d" % rng.randrange(1, 99) + rng.choice("ABCDEFGHX")
            + rng.choice("ABCDEFGHX"))


def csv_quote(s):
    return '"' + s.replace('"', '""') + '"'


class Dates:
    """All days 2018-01-01 .. 2024-12-31 pre-formatted in the three formats."""

    def __init__(self):
        d, end = datetime.date(2018, 1, 1), datetime.date(2024, 12, 31)
        self.dmy, self.iso, self.long = [], [], []
        while d <= end:
            self.dmy.append(d.strftime("%d/%m/%Y"))
            self.iso.append(d.isoformat())
            self.long.append("%d %s %d" % (d.day, MONTHS[d.month - 1], d.year))
            d += datetime.timedelta(days=1)
        self.n = len(self.iso)

    def fmt(self, i, r):
        """r in [0,1): share of formats given by the caller's thresholds."""
        return self.dmy[i] if r < 0.6 else (self.iso[i] if r < 0.8 else self.long[i])


class Gen:
    def __init__(self, rng, drugs):
        self.rng = rng
        self.drugs = drugs
        m = len(drugs)
        # Zipf-like popularity; ~2% of the drugs (at least one when M >= 5) never mentioned.
        never = max(1, m // 50) if m >= 5 else 0
        order = list(range(m))
        rng.shuffle(order)
        weights = [0.0] * m
        for rank, idx in enumerate(order[: m - never]):
            weights[idx] = 1.0 / (rank + 1) ** 0.8
        self.drug_cum = list(itertools.accumulate(weights))
        self.drug_total = self.drug_cum[-1] if m else 0.0
        self.lower = [d.lower() for d in drugs]
        self.title_ = [d.capitalize() for d in drugs]
        self.filler = FILLER
        journals = list(REAL_JOURNALS)
        for form in JOURNAL_FORMS:
            for topic in JOURNAL_TOPICS:
                journals.append(form.format(topic).capitalize() if form.startswith("{}")
                                else form.format(topic))
        self.journals = journals
        jw = [1.0 / (i + 1) ** 0.7 for i in range(len(journals))]
        self.journal_cum = list(itertools.accumulate(jw))
        self.dates = Dates()

    def pick_drug(self):
        x = self.rng.random() * self.drug_total
        return bisect.bisect_right(self.drug_cum, x)

    def drug_form(self, i):
        r = self.rng.random()
        low, cap, up = self.lower[i], self.title_[i], self.drugs[i]
        if r < 0.40:
            return low
        if r < 0.65:
            return cap
        if r < 0.75:
            return up
        if r < 0.80:
            return "(" + cap + ")"
        if r < 0.85:
            return low + "-induced"
        if r < 0.89:
            return cap + ","
        if r < 0.91:
            return low + "_hydrochloride"          # "_" separates words: a mention
        if r < 0.93:
            return cap + "\\xe2\\x84\\xa2"          # "™" glued: a separator, still a mention
        if r < 0.94:
            return low + "\\xc3\\x28"              # invalid run dropped: a mention
        if r < 0.96:
            return low + "s"                       # near-miss: not a mention
        if r < 0.98:
            return up + "2"                        # near-miss: digits are word characters
        return low + "\\xc3\\xa9"                  # near-miss: glued "é" is a letter

    def title(self):
        rng = self.rng
        r = rng.random()
        if r < 0.01:
            return rng.choice(("", "  ", " \t "))
        words = rng.choices(self.filler, k=rng.randint(6, 18))
        words[0] = words[0].capitalize()
        # sprinkle punctuation
        for _ in range(rng.randint(0, 2)):
            j = rng.randrange(len(words) - 1)
            words[j] += rng.choice(PUNCT)
        r = rng.random()
        k = 0 if r < 0.55 else (1 if r < 0.85 else (2 if r < 0.96 else 3))
        for _ in range(k):
            words.insert(rng.randrange(len(words) + 1), self.drug_form(self.pick_drug()))
        r = rng.random()
        if r < 0.03:
            words.insert(rng.randrange(len(words) + 1), rng.choice(VALID_ESCAPED_WORDS))
        elif r < 0.035:
            words.insert(rng.randrange(len(words) + 1), '"quoted"')
        t = " ".join(words)
        if rng.random() < 0.5:
            t += "."
        if rng.random() < 0.01:
            t = "  " + t + " "
        return t

    def journal(self):
        rng = self.rng
        r = rng.random()
        if r < 0.01:
            return rng.choice(("", " "))
        j = self.journals[bisect.bisect_right(self.journal_cum, rng.random() * self.journal_cum[-1])]
        r = rng.random()
        if r < 0.03:
            j += rng.choice(INVALID_JUNK)          # junk glued to the name: dropped
        elif r < 0.04:
            j = ESCAPED_JOURNALS.get(j, j)
        elif r < 0.05:
            j = " " + j + "  "
        return j

    def date(self, r_fmt=None):
        i = self.rng.randrange(self.dates.n)
        return i, self.dates.fmt(i, self.rng.random() if r_fmt is None else r_fmt)


def write_pubmed_csv(path, g, n, first_id):
    rng = g.rng
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("id,title,date,journal\n")
        buf = []
        for k in range(n):
            pid = "" if rng.random() < 0.01 else str(first_id + k)
            _, d = g.date()
            buf.append("%s,%s,%s,%s\n" % (pid, csv_quote(g.title()), d, csv_quote(g.journal())))
            if len(buf) >= 10000:
                f.write("".join(buf))
                buf.clear()
        f.write("".join(buf))
        f.write("\t")                               # final line holding only a tab, no newline


def write_pubmed_json(path, g, n, first_id):
    rng = g.rng
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("[\n")
        buf = []
        for k in range(n):
            r = rng.random()
            num = first_id + k
            if r < 0.45:
                pid = num
            elif r < 0.88:
                pid = str(num)
            elif r < 0.93:
                pid = " %d " % num
            elif r < 0.98:
                pid = ""
            else:
                pid = None
            _, d = g.date(0.0 if rng.random() < 0.9 else None)   # mostly dd/mm/yyyy, like the real file
            obj = {"id": pid, "title": g.title(), "date": d, "journal": g.journal()}
            buf.append("  " + dumps(obj) + ",\n")           # every object, the last one too
            if len(buf) >= 10000:
                f.write("".join(buf))
                buf.clear()
        f.write("".join(buf))
        f.write("]\n")


def write_trials_csv(path, g, n, split_share):
    rng = g.rng
    dates = g.dates
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("id,scientific_title,date,journal\n")
        buf = []
        pending = []                                 # (rows_left, line): second halves held back

        def row(tid, title, d, journal):
            return "%s,%s,%s,%s\n" % (tid, csv_quote(title), d, csv_quote(journal))

        for k in range(n):
            tid = "" if rng.random() < 0.005 else "NCT%08d" % (1000000 + k * 7)
            title = g.title()
            i, d = g.date(0.0 if rng.random() < 0.4 else 0.9)  # dd/mm or "d Month yyyy" mostly
            journal = g.journal()
            if tid and title.strip() and rng.random() < split_share:
                # one trial over two rows: (id, no journal) and (no id, journal); same date,
                # possibly in another format; either order; sometimes a few rows apart.
                d2 = dates.fmt(i, rng.random())
                a = row(tid, title, d, "")
                b = row('""', title, d2, journal if journal.strip() else g.journals[0])
                if rng.random() < 0.5:
                    a, b = b, a
                buf.append(a)
                if rng.random() < 0.5:
                    buf.append(b)
                else:
                    pending.append([rng.randint(1, 50), b])
            else:
                buf.append(row(tid, title, d, journal))
            if pending:
                keep = []
                for p in pending:
                    p[0] -= 1
                    if p[0] <= 0:
                        buf.append(p[1])
                    else:
                        keep.append(p)
                pending = keep
            if len(buf) >= 10000:
                f.write("".join(buf))
                buf.clear()
        buf.extend(p[1] for p in pending)
        f.write("".join(buf))
        f.write("\t")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--publications", type=int, required=True, help="total publications (N)")
    ap.add_argument("--drugs", type=int, required=True, help="number of drugs (M)")
    ap.add_argument("--out", required=True, help="output folder (created)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--json-share", type=float, default=0.1,
                    help="share of the PubMed publications written to pubmed.json (default 0.1)")
    ap.add_argument("--split-share", type=float, default=0.02,
                    help="share of the clinical trials split over two rows (default 0.02)")
    a = ap.parse_args(argv)
    if a.publications < 0 or a.drugs < 1:
        ap.error("--publications must be >= 0 and --drugs >= 1")

    rng = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)
    drugs = drug_names(rng, a.drugs, set(FILLER))
    with open(os.path.join(a.out, "drugs.csv"), "w", encoding="utf-8", newline="") as f:
        f.write("atccode,drug\n")
        for i, d in enumerate(drugs):
            f.write("%s,%s\n" % (atc_code(rng, i), d))

    g = Gen(rng, drugs)
    n_pubmed = a.publications // 2
    n_json = round(n_pubmed * a.json_share)
    n_csv = n_pubmed - n_json
    n_trials = a.publications - n_pubmed
    write_pubmed_csv(os.path.join(a.out, "pubmed.csv"), g, n_csv, 1)
    write_pubmed_json(os.path.join(a.out, "pubmed.json"), g, n_json, n_csv + 1)
    write_trials_csv(os.path.join(a.out, "clinical_trials.csv"), g, n_trials, a.split_share)
    print("wrote %s: %d drugs, %d publications (pubmed.csv %d, pubmed.json %d, "
          "clinical_trials %d)" % (a.out, a.drugs, a.publications, n_csv, n_json, n_trials),
          file=sys.stderr)


if __name__ == "__main__":
    main()
