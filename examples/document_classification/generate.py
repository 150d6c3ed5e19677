#!/usr/bin/env python3
"""Synthetic *scanned* documents in the 16 RVL-CDIP classes, labelled, for the document
classification example and the OCR tests of sluice.

    generate.py OUT --per-class N [--seed 7] [--start 0] [--dpi 100]
                [--formats png,jpg,tif,bmp] [--truth DIR] [--bad DIR]

Writes OUT/doc-CC-NNNN/page.EXT (a one-page grayscale image) and OUT/doc-CC-NNNN/label.txt
(the class index, e.g. "6\\n"), CC the class index, NNNN the document number (--start ...
--start + N - 1). The exact text drawn on each page (lines joined with "\\n", in reading
order: column by column where a page has columns) goes to TRUTH/doc-CC-NNNN.txt, TRUTH
being --truth (default: a `truth` folder beside OUT), so that it is not in the folder that
is ingested. The image format cycles over --formats by document number: PNG, JPEG at quality
60 (with its artefacts), single-page LZW TIFF, plain BMP. --bad DIR also writes the bad
inputs the tests feed to the pipeline (truncated, empty, 20000x20000, PDF, no label, label
17).

Determinism: every document draws from its own generators seeded with (seed, class,
number), never from the order of the calls, so `--start 10 --per-class 3` adds three new
documents per class, identical to the ones a single `--start 0 --per-class 13` call writes.
Only the six fonts of Debian's fonts-dejavu-core are used (the oblique/condensed ones of
fonts-dejavu-extra would make the pages depend on what is installed).

Layout descriptors: each class has its own page structure and its own vocabulary (a list of
about 60-120 words, mixed with shared common words), with variations drawn per document
(fonts, sizes, margins, optional blocks, number of paragraphs/rows):

  0 letter          letterhead or sender block, date, recipient address, "Dear ...",
                    paragraphs, "Sincerely," and a signature
  1 form            title and form number, grey section bars, boxes with small labels and
                    typed values, "Name:" lines, check boxes, signature/date lines
  2 email           "From:/Sent:/To:/Subject:" (Outlook) or RFC 822 header lines, rule,
                    short paragraphs, sign-off, maybe a quoted original message
  3 handwritten     a few short lines of sheared, rotated, jittered words in pen grey,
                    maybe on ruled paper
  4 advertisement   framed page, huge centred headline ("SALE", "NEW"), prices, features,
                    "Call now" and a phone number
  5 sci. report     report number, title, "Abstract", numbered sections, numbers with
                    p-values, "Table 1" with rules
  6 sci. publication journal header, title, authors, abstract, two columns, citations
                    "[3]", "et al.", "References"
  7 specification   specification number/revision header, numbered clauses "3.2.1" with
                    hanging indents, "shall", units
  8 file folder     mostly blank page: folder outline, tab with a label, a sticker, a few
                    words
  9 news article    masthead, date line, big headline, byline, two or three ruled columns
 10 budget          title, fiscal year, a ruled table of line items and amounts, totals
 11 invoice         company, "INVOICE", "Invoice No.", "Bill To:", a boxed table "Qty /
                    Description / Unit price / Amount", "Total due"
 12 presentation    one big slide or two slides per page: title bar, big bullet points,
                    slide number
 13 questionnaire   title, instructions, numbered questions with Yes/No or scale boxes
 14 resume          name, contact line, "OBJECTIVE/EXPERIENCE/EDUCATION/SKILLS" sections
 15 memo            "MEMORANDUM", "TO:/FROM:/DATE:/RE:" lines, rule, paragraphs

Then scan artefacts, seeded too: skew of +-1.5 degrees (white fill), Gaussian blur of radius
0.3-0.8, grey paper, Gaussian noise (sigma 2.5-6; on half of the pages the background is
then flattened again, as scanners with background removal do, which also keeps those PNGs
small), and sometimes speckles. Text sizes are for 100 dpi
(body 18-21 px) so that Tesseract reads the pages well at that resolution; all coordinates
scale with --dpi.

Needs Pillow and numpy. No network.
"""

import argparse
import io
import os
import random
import struct
import sys
import zlib

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

CLASSES = [
    "letter", "form", "email", "handwritten", "advertisement", "scientific report",
    "scientific publication", "specification", "file folder", "news article", "budget",
    "invoice", "presentation", "questionnaire", "resume", "memo",
]

FONT_DIR = "/usr/share/fonts/truetype/dejavu"
FONT_FILES = {  # all six in fonts-dejavu-core
    "sans": "DejaVuSans.ttf",
    "sans-bold": "DejaVuSans-Bold.ttf",
    "serif": "DejaVuSerif.ttf",
    "serif-bold": "DejaVuSerif-Bold.ttf",
    "mono": "DejaVuSansMono.ttf",
    "mono-bold": "DejaVuSansMono-Bold.ttf",
}
_FONTS = {}


def check_fonts():
    """Exit with a clear message when a DejaVu font of fonts-dejavu-core is missing."""
    missing = [f for f in FONT_FILES.values() if not os.path.exists(os.path.join(FONT_DIR, f))]
    if missing:
        sys.exit("generate.py: missing %s under %s: install the Debian/Ubuntu package "
                 "fonts-dejavu-core (apt-get install fonts-dejavu-core)"
                 % (", ".join(missing), FONT_DIR))


def font(name, px):
    """The DejaVu font `name` (a FONT_FILES key) at `px` pixels, cached."""
    key = (name, px)
    if key not in _FONTS:
        _FONTS[key] = ImageFont.truetype(os.path.join(FONT_DIR, FONT_FILES[name]), px)
    return _FONTS[key]


# ---------------------------------------------------------------------------------------
# Vocabularies
# ---------------------------------------------------------------------------------------

def _w(s):
    return s.split()


COMMON = _w("""the of and to in for with on is this that will be by as are from at we our
your all have has an it which please any new not may also more other each such these their
would should can into than been under about after before per following during within between
both some very most only first last next well made time year part number program information""")

VOCAB = {
    0: _w("""letter pleased inform thank opportunity appreciate response request regarding
matter consideration attention kindly forward meeting discuss hearing assistance
correspondence recent concerning grateful hope writing reply hesitate contact questions
confirm arrangement visit behalf sincerely enclosed copy interest receipt acknowledge support
honored invitation recommend personally understand concern favor courtesy regret decision
earliest convenience delighted trust assure gladly reference prior advise note cooperation
letterhead dear friend"""),
    1: _w("""form applicant signature date name address telephone birth social security
number sex male female marital status single married employer occupation print type complete
section office use only approved denied received reviewed initial check applicable box
attach copy return instructions required field code county state zip account claim amount
payment method authorization certify true correct knowledge item total page official
registration renewal application license permit effective expiration issued verify
department revised blank enter"""),
    2: _w("""email message sent received reply forward attached attachment thanks regards
meeting call conference update draft review comments quick note fyi heads folks team today
tomorrow morning afternoon asap list distribution server inbox mailbox link online network
password login folder file version update discussion thread original subject schedule
available deadline check cheers hi hello soon shortly ping confirm copied loop question
weekend pdf doc spreadsheet slides"""),
    3: _w("""note call remember tomorrow thanks please pick meet monday tuesday friday
lunch dinner milk bread bring back later soon see love dear mom dad john home tonight phone
number pay bills bank store buy send mail keep check ask tell after before wait ready done
book car keys doctor school kids party birthday gift list things weekend"""),
    4: _w("""sale new now free save off only today limited offer special price buy get
best value quality introducing discover enjoy amazing great exclusive deal order call visit
store stores coupon bonus gift fresh taste flavor smooth rich premium brand choice favorite
family stylish comfort delicious refreshing guaranteed satisfaction prices low lowest
everyday club members hurry while supplies last genuine original classic"""),
    5: _w("""abstract results method methods analysis data sample samples measured
measurement experiment experimental study studies observed significant mean standard
deviation table figure report technical laboratory procedure test tests tested conditions
concentration temperature rate response control group effect effects level levels values
estimated evaluation performance model parameters summary conclusions introduction
discussion appendix protocol subjects exposure dose trial batch variance statistical
correlation observed assay findings recommendations objective scope"""),
    6: _w("""journal et al. references abstract introduction fig. eq. theory proposed
approach previous studies recent reported shown obtained present paper investigate
investigated model models function distribution spectra molecular cells protein binding
activity mechanism structure structures properties analysis derived experimental
theoretical equation surface energy phase interaction interactions respectively hypothesis
significantly vitro vivo mice receptor expression observed consistent literature
characterized vol. pp. university department received accepted keywords"""),
    7: _w("""shall specification requirements requirement material materials
conform compliance accordance standard standards tolerance dimensions minimum maximum
nominal temperature pressure tested test testing inspection acceptance supplier contractor
purchaser clause section paragraph applicable drawing grade type class coating finish
surface thickness diameter length width weight rated rating operating voltage current
frequency shall not be less than exceed approved quality assurance sampling procedure
marking packaging delivery certification revision scope defined equipment component
components assembly installation"""),
    8: _w("""file files folder records confidential personnel correspondence
miscellaneous active inactive archive archives index tab drawer box contents cabinet
legal accounts reports general dept department private retention"""),
    9: _w("""said says told officials reported yesterday week city county police
president government state federal council mayor residents spokesman according announced
plan plans public people year vote court judge officials meeting local national million
billion percent news report community leaders agency election campaign senator governor
commission investigation issue told interview program school district board downtown
economic market workers union strike protest new"""),
    10: _w("""budget fiscal year actual estimated proposed approved revised total totals
subtotal expenditures expenses revenue revenues income salaries wages benefits fringe travel
supplies equipment contractual services printing postage telephone rent utilities insurance
maintenance training consultants overhead indirect costs capital operating personnel
allocation appropriation variance balance reserve fund funds grant grants account line item
quarter annual increase decrease"""),
    11: _w("""invoice qty quantity unit price amount total due subtotal tax shipping
handling description item items bill ship customer account terms net payment remit order
purchase date number balance paid discount freight sales charge charges each service
services delivery terms thank business please make checks payable due upon receipt
statement credit"""),
    12: _w("""overview agenda objectives strategy strategic key issues goals results
growth market share opportunities challenges next steps summary recommendations plan
initiatives priorities timeline phase review status update vision mission approach
performance trends customers brand launch roadmap drivers metrics focus leverage value
proposition competitive landscape segment target options benefits risks actions questions"""),
    13: _w("""questionnaire survey question questions answer please circle check box
yes no don't know agree disagree strongly neutral often sometimes never always rarely how
many much often satisfied dissatisfied very somewhat respondent rate rating scale following
best describes which would you your opinion experience age group household frequently
usually daily weekly monthly past months smoke smoked drink use used prefer recommend"""),
    14: _w("""resume experience education skills objective employment history
professional summary responsible managed developed designed implemented coordinated
supervised led achieved improved increased reduced created trained analyzed prepared
position seeking qualifications degree university college bachelor master science arts
graduated honors certification languages fluent proficient computer software references
available upon request activities awards member association volunteer internship
leadership"""),
    15: _w("""memorandum memo subject distribution attached please note effective
immediately policy procedure procedures staff employees department management review
approval meeting schedule request recommend action required follow update information
purpose background discussion recommendation decision budget project status deadline
responsibility coordinate ensure advise circulate confidential internal office division
supervisor manager director regarding"""),
}

FIRST = _w("""James Mary John Patricia Robert Linda Michael Barbara William Elizabeth David
Susan Richard Jessica Joseph Sarah Thomas Karen Charles Nancy Daniel Lisa Mark Margaret
Paul Sandra Steven Donna Kenneth Carol George Helen Edward Ruth Frank Anne Peter Laura""")
LAST = _w("""Smith Johnson Williams Brown Jones Miller Davis Wilson Anderson Taylor Thomas
Moore Martin Jackson Thompson White Harris Clark Lewis Robinson Walker Young Allen King
Wright Scott Green Baker Adams Nelson Hill Campbell Mitchell Roberts Carter Phillips Evans
Turner Parker Collins Edwards Stewart Morris Murphy Cook Rogers Morgan Cooper Peterson""")
CITIES = [("Richmond", "VA"), ("Atlanta", "GA"), ("Chicago", "IL"), ("Denver", "CO"),
          ("Boston", "MA"), ("Austin", "TX"), ("Portland", "OR"), ("Raleigh", "NC"),
          ("Columbus", "OH"), ("Phoenix", "AZ"), ("Madison", "WI"), ("Albany", "NY"),
          ("Nashville", "TN"), ("Omaha", "NE"), ("Tampa", "FL"), ("Louisville", "KY")]
STREETS = _w("Main Oak Maple Park Elm Lake Hill Cedar Pine Washington Lincoln Market Church")
SUFFIX = ["Street", "Avenue", "Road", "Drive", "Boulevard", "Lane"]
COMPANY_WORDS = _w("""General National American United Consolidated Pacific Atlantic
Northern Southern Central Standard Allied Continental Premier Summit Liberty Pioneer""")
COMPANY_KINDS = _w("""Industries Products Laboratories Corporation Associates Systems
Services Chemical Foods Supply Tobacco Research Manufacturing""")
MONTHS = _w("""January February March April May June July August September October
November December""")
DAYS = _w("Monday Tuesday Wednesday Thursday Friday")
TITLES = ["Director of Research", "Vice President", "Sales Manager", "Project Manager",
          "Senior Scientist", "Account Executive", "Marketing Director", "Office Manager",
          "General Counsel", "Plant Manager", "Regional Manager", "Chief Engineer"]


# ---------------------------------------------------------------------------------------
# Random text helpers
# ---------------------------------------------------------------------------------------

def person(r):
    """A full name."""
    return "%s %s" % (r.choice(FIRST), r.choice(LAST))


def initials_name(r):
    """An author name as 'J. Smith'."""
    return "%s. %s" % (r.choice(FIRST)[0], r.choice(LAST))


def company(r):
    """A company name."""
    return "%s %s %s" % (r.choice(COMPANY_WORDS), r.choice(COMPANY_KINDS),
                         r.choice(["Inc.", "Corporation", "Company", "Ltd."]))


def street(r):
    """A street address line."""
    return "%d %s %s" % (r.randint(10, 9899), r.choice(STREETS), r.choice(SUFFIX))


def city_line(r):
    """'City, ST 12345'."""
    c, s = r.choice(CITIES)
    return "%s, %s %05d" % (c, s, r.randint(10000, 99999))


def date(r, style=None):
    """A date in one of three styles."""
    y = r.randint(1985, 2003)
    m, d = r.randint(1, 12), r.randint(1, 28)
    style = r.randint(0, 2) if style is None else style
    if style == 0:
        return "%s %d, %d" % (MONTHS[m - 1], d, y)
    if style == 1:
        return "%d %s %d" % (d, MONTHS[m - 1], y)
    return "%02d/%02d/%02d" % (m, d, y % 100)


def phone(r):
    """A phone number."""
    return "(%03d) %03d-%04d" % (r.randint(201, 989), r.randint(200, 989), r.randint(0, 9999))


def money(r, lo, hi, cents=True):
    """An amount with thousands separators, e.g. '$12,345.67'."""
    v = r.uniform(lo, hi)
    return ("$%s" % format(v, ",.2f")) if cents else format(int(v), ",")


def words(r, vocab, n, p_class=0.55):
    """n words, each from the class vocabulary with probability p_class, else common."""
    return [r.choice(vocab) if r.random() < p_class else r.choice(COMMON) for _ in range(n)]


def sentence(r, vocab, lo=6, hi=14):
    """A capitalised pseudo-sentence ending with a full stop, sometimes with a comma."""
    ws = words(r, vocab, r.randint(lo, hi))
    if len(ws) > 7 and r.random() < 0.4:
        k = r.randint(3, len(ws) - 3)
        ws[k] += ","
    s = " ".join(ws)
    return s[0].upper() + s[1:] + "."


def paragraph(r, vocab, lo=2, hi=5):
    """A few sentences."""
    return " ".join(sentence(r, vocab) for _ in range(r.randint(lo, hi)))


def title_case(ws):
    """Words with an initial capital each."""
    return " ".join(w[0].upper() + w[1:] for w in ws)


# ---------------------------------------------------------------------------------------
# Page: drawing primitives that also record the ground-truth lines
# ---------------------------------------------------------------------------------------

class Page:
    """A white US-letter page. Coordinates are in 1/100 inch and scaled to the dpi; every
    text drawn is recorded (in drawing order) as a ground-truth line unless record=False."""

    W, H = 850, 1100

    def __init__(self, dpi, r):
        self.s = dpi / 100.0
        self.r = r
        self.img = Image.new("L", (round(self.W * self.s), round(self.H * self.s)), 255)
        self.d = ImageDraw.Draw(self.img)
        self.lines = []

    def p(self, v):
        """A length in 1/100 inch to pixels."""
        return int(round(v * self.s))

    def f(self, name, size):
        """A font at `size` 1/100 inch."""
        return font(name, max(6, self.p(size)))

    def width(self, s, name, size):
        """Width of s in 1/100 inch."""
        return self.f(name, size).getlength(s) / self.s

    def text(self, x, y, s, name, size, fill=0, align="l", record=True, lead=1.45):
        """Draw s with its top at y; x is the left, centre or right edge (align l/c/r).
        Returns the y of the next line."""
        w = self.width(s, name, size)
        if align == "c":
            x = x - w / 2
        elif align == "r":
            x = x - w
        self.d.text((self.p(x), self.p(y)), s, font=self.f(name, size), fill=fill)
        if record and s.strip():
            self.lines.append(s)
        return y + size * lead

    def wrap(self, s, width, name, size):
        """Greedy word wrap of s to `width` (1/100 inch)."""
        out, cur = [], ""
        for w in s.split():
            t = (cur + " " + w) if cur else w
            if cur and self.width(t, name, size) > width:
                out.append(cur)
                cur = w
            else:
                cur = t
        if cur:
            out.append(cur)
        return out

    def para(self, x, y, width, s, name, size, lead=1.45, ymax=None, align="l"):
        """Draw s wrapped to width; stops before ymax. Returns the next y."""
        ymax = self.H - 60 if ymax is None else ymax
        for line in self.wrap(s, width, name, size):
            if y + size * lead > ymax:
                break
            if align == "c":
                y = self.text(x + width / 2, y, line, name, size, align="c", lead=lead)
            else:
                y = self.text(x, y, line, name, size, lead=lead)
        return y

    def row(self, y, cells, name, size, lead=1.5):
        """One table row: cells are (x, text, align); recorded as one line, cells joined by
        a space. Returns the next y."""
        for x, s, a in cells:
            self.text(x, y, s, name, size, align=a, record=False)
        line = " ".join(s for _, s, _ in cells if s.strip())
        if line:
            self.lines.append(line)
        return y + size * lead

    def hline(self, x0, x1, y, w=1, fill=0):
        """A horizontal rule."""
        self.d.line([(self.p(x0), self.p(y)), (self.p(x1), self.p(y))], fill=fill,
                    width=max(1, self.p(w)))

    def vline(self, x, y0, y1, w=1, fill=0):
        """A vertical rule."""
        self.d.line([(self.p(x), self.p(y0)), (self.p(x), self.p(y1))], fill=fill,
                    width=max(1, self.p(w)))

    def box(self, x0, y0, x1, y1, w=1, fill=None, outline=0):
        """A rectangle."""
        self.d.rectangle([self.p(x0), self.p(y0), self.p(x1), self.p(y1)], fill=fill,
                         outline=outline, width=max(1, self.p(w)))

    def dot(self, x, y, rad):
        """A filled bullet."""
        self.d.ellipse([self.p(x - rad), self.p(y - rad), self.p(x + rad), self.p(y + rad)],
                       fill=0)

    def scribble(self, x, y, w):
        """A signature-like squiggle (not text)."""
        r = self.r
        pts, n = [], r.randint(8, 14)
        for i in range(n):
            pts.append((self.p(x + w * i / (n - 1)), self.p(y + r.uniform(-12, 12))))
        self.d.line(pts, fill=30, width=max(1, self.p(2)), joint="curve")


# ---------------------------------------------------------------------------------------
# Class layouts: each draws on a Page with the document's random generator r
# ---------------------------------------------------------------------------------------

def body_font(r, choices=("serif", "sans")):
    """A body font name and size (1/100 inch)."""
    return r.choice(choices), r.choice([18, 19, 20, 21])


def layout_letter(P, r):
    """Letterhead or sender block, date, recipient, salutation, paragraphs, closing."""
    V = VOCAB[0]
    fn, fs = body_font(r)
    bold = fn + "-bold"
    L, R = r.randint(70, 100), r.randint(750, 780)
    y = r.randint(50, 80)
    sender = person(r)
    if r.random() < 0.6:
        y = P.text(425, y, company(r).upper(), bold, 26, align="c")
        y = P.text(425, y, "%s, %s" % (street(r), city_line(r)), fn, 16, align="c")
        P.hline(L, R, y, 2)
        y += 30
    else:
        for s in (sender, street(r), city_line(r)):
            y = P.text(480, y, s, fn, fs)
        y += 10
    y = P.text(L if r.random() < 0.5 else 480, y, date(r, 0), fn, fs) + fs
    rec_last = r.choice(LAST)
    rec = ["%s %s %s" % (r.choice(["Mr.", "Ms.", "Dr."]), r.choice(FIRST), rec_last),
           r.choice(TITLES), company(r), street(r), city_line(r)]
    if r.random() < 0.4:
        del rec[1]
    for s in rec:
        y = P.text(L, y, s, fn, fs)
    y += fs
    if r.random() < 0.3:
        y = P.text(L, y, "Re: " + title_case(words(r, V, r.randint(2, 4), 0.8)), bold, fs)
        y += fs * 0.5
    sal = r.choice(["Dear Mr. %s:" % rec_last, "Dear Dr. %s," % rec_last,
                    "Dear Sir or Madam:", "Dear %s:" % r.choice(FIRST)])
    y = P.text(L, y, sal, fn, fs) + fs * 0.4
    for _ in range(r.randint(2, 4)):
        if y > 820:
            break
        y = P.para(L, y, R - L, paragraph(r, V, 2, 4), fn, fs, ymax=900) + fs * 0.6
    y = max(y, 0) + 5
    y = P.text(L, y, r.choice(["Sincerely,", "Yours truly,", "Very truly yours,",
                                "Best regards,", "Sincerely yours,"]), fn, fs)
    P.scribble(L + 10, y + 22, r.randint(120, 200))
    y += 50
    y = P.text(L, y, sender, fn, fs)
    y = P.text(L, y, r.choice(TITLES), fn, fs)
    if r.random() < 0.4 and y < 1010:
        P.text(L, y + 8, r.choice(["Enclosure", "Enclosures (2)", "cc: " + person(r)]), fn, 16)


def layout_form(P, r):
    """Title, form number, grey section bars, labelled boxes, lines, check boxes."""
    V = VOCAB[1]
    L, R = 60, 790
    y = 45
    P.text(L, y, "Form %d-%s (Rev. %d/%02d)" % (r.randint(100, 9999), r.choice("ABCDE"),
                                               r.randint(1, 12), r.randint(85, 99)),
           "sans", 16)
    y += 30
    kind = r.choice(["APPLICATION", "REGISTRATION", "CLAIM", "ORDER", "ENROLLMENT", "REQUEST",
                     "CHANGE OF ADDRESS", "AUTHORIZATION"])
    y = P.text(425, y, kind + " FORM", "sans-bold", r.choice([28, 30, 32]), align="c")
    y = P.text(425, y, company(r), "sans", 18, align="c") + 10
    fields = ["Last name", "First name", "Middle initial", "Date of birth", "Social Security No.",
              "Street address", "City", "State", "Zip code", "Telephone", "Employer",
              "Occupation", "Account number", "Date", "Amount", "Signature", "County",
              "Department", "Policy number", "Effective date"]
    sec = 0
    while y < 900:
        sec += 1
        P.box(L, y, R, y + 28, w=1, fill=215)
        P.text(L + 8, y + 4, "SECTION %d - %s" % (sec, " ".join(words(r, V, r.randint(2, 4),
                                                                      0.9)).upper()),
               "sans-bold", 17)
        y += 28
        style = r.random()
        for _ in range(r.randint(2, 4)):
            if y > 950:
                break
            if style < 0.5:  # a row of boxes: small labels at the top, values below
                n = r.randint(2, 3)
                xs = [L + (R - L) * i / n for i in range(n + 1)]
                labels = r.sample(fields, n)
                vals = []
                for i in range(n):
                    P.box(xs[i], y, xs[i + 1], y + 60)
                    P.text(xs[i] + 6, y + 3, labels[i], "sans", 16, record=False)
                    v = r.choice([person(r), date(r, 2), str(r.randint(1000, 99999)),
                                  r.choice(CITIES)[0], ""]) if r.random() < 0.7 else ""
                    if P.width(v, "mono", 19) > xs[i + 1] - xs[i] - 12:
                        v = v.split()[0]
                    vals.append((xs[i] + 10, v))
                P.lines.append(" ".join(labels))
                for x, v in vals:
                    P.text(x, y + 30, v, "mono", 19, record=False)
                if any(v for _, v in vals):
                    P.lines.append(" ".join(v for _, v in vals if v))
                y += 60
            elif style < 0.8:  # "Label:" followed by a line to the margin
                y += 14
                lab = r.choice(fields) + ":"
                P.text(L + 6, y, lab, "sans", 19)
                x = L + 12 + P.width(lab, "sans", 19)
                P.hline(x, R, y + 22)
                y += 38
            else:  # check boxes
                y += 12
                q = sentence(r, V, 4, 8)[:-1] + "?"
                y = P.text(L + 6, y, q, "sans", 19)
                x, parts = L + 20, []
                for opt in r.sample(["Yes", "No", "Single", "Married", "Male", "Female",
                                     "New", "Renewal", "Other"], 3):
                    P.box(x, y + 2, x + 16, y + 18, w=2)
                    P.text(x + 30, y, opt, "sans", 19, record=False)
                    parts.append(opt)
                    x += 60 + P.width(opt, "sans", 19)
                P.lines.append(" ".join(parts))
                y += 34
        y += 16
    y = max(y, 960) + 20
    P.text(L + 6, y, "Signature", "sans", 18)
    P.hline(L + 100, 500, y + 20)
    P.text(520, y, "Date", "sans", 18, record=False)
    P.lines[-1] += " Date"
    P.hline(570, R, y + 20)


def layout_email(P, r):
    """Outlook-style or RFC 822 header block, rule, short paragraphs, sign-off."""
    V = VOCAB[2]
    L, R = 60, 790
    y = r.randint(40, 70)
    sender, to = person(r), person(r)
    dom = r.choice(COMPANY_WORDS).lower() + r.choice([".com", ".org", ".net"])

    def addr(n):
        a, b = n.lower().split()
        return "%s.%s@%s" % (a, b, dom)

    subj = title_case(words(r, V, r.randint(2, 6), 0.8))
    if r.random() < 0.6:
        fn, fs = "sans", r.choice([18, 19, 20])
        y = P.text(L, y, sender, "sans-bold", 24)
        P.hline(L, R, y, 3)
        y += 14
        hdr = [("From:", "%s [%s]" % (sender, addr(sender))),
               ("Sent:", "%s, %s %d, %d %d:%02d %s" % (r.choice(DAYS), r.choice(MONTHS),
                                                     r.randint(1, 28), r.randint(1996, 2003),
                                                     r.randint(1, 12), r.randint(0, 59),
                                                     r.choice(["AM", "PM"]))),
               ("To:", to)]
        if r.random() < 0.5:
            hdr.append(("Cc:", "%s; %s" % (person(r), person(r))))
        hdr.append(("Subject:", subj))
        for k, v in hdr:
            P.text(L, y, k, "sans-bold", fs, record=False)
            y = P.row(y, [(L + 110, v, "l")], fn, fs)
            P.lines[-1] = k + " " + P.lines[-1]
    else:
        fn, fs = "mono", r.choice([17, 18])
        hdr = [("From:", "%s <%s>" % (sender, addr(sender))),
               ("Date:", "%s, %d %s %d %02d:%02d:%02d -0%d00" % (
                   r.choice(DAYS)[:3], r.randint(1, 28), r.choice(MONTHS)[:3],
                   r.randint(1996, 2003), r.randint(0, 23), r.randint(0, 59),
                   r.randint(0, 59), r.randint(4, 8))),
               ("To:", addr(to)),
               ("Subject:", subj)]
        if r.random() < 0.5:
            hdr.insert(3, ("Message-ID:", "<%d.%d@mail.%s>" % (r.randint(10000, 99999),
                                                               r.randint(100, 999), dom)))
        for k, v in hdr:
            y = P.text(L, y, "%s %s" % (k, v), fn, fs)
    y += 8
    P.hline(L, R, y, 1)
    y += 20
    y = P.text(L, y, r.choice(["Hi %s," % to.split()[0], "%s," % to.split()[0], "All,",
                               "Hello team,"]), fn, fs) + 6
    for _ in range(r.randint(2, 4)):
        y = P.para(L, y, R - L, paragraph(r, V, 1, 3), fn, fs, ymax=900) + fs * 0.6
    y = P.text(L, y, r.choice(["Thanks,", "Regards,", "Cheers,", "Best,"]), fn, fs)
    y = P.text(L, y, sender.split()[0], fn, fs)
    if r.random() < 0.5 and y < 800:
        y += 20
        y = P.text(L, y, "-----Original Message-----", fn, fs)
        y = P.text(L, y, "From: " + to, fn, fs)
        y = P.text(L, y, "Subject: " + subj, fn, fs) + 8
        P.para(L, y, R - L, paragraph(r, V, 1, 3), fn, fs, ymax=1030)


def paste_word(P, x, y, s, size, shear, angle, ink, stroke):
    """Draw one sheared and rotated word (handwriting imitation) with its top left near
    (x, y); returns its width in 1/100 inch."""
    f = P.f("sans", size)
    l, t, rr, b = f.getbbox(s, stroke_width=stroke)
    pad = P.p(size)
    w, h = rr + 2 * pad, b + 2 * pad
    m = Image.new("L", (w, h), 0)
    ImageDraw.Draw(m).text((pad, pad), s, font=f, fill=255, stroke_width=stroke,
                           stroke_fill=255)
    m = m.transform(m.size, Image.Transform.AFFINE, (1, shear, -shear * h / 2, 0, 1, 0),
                    resample=Image.Resampling.BILINEAR)
    m = m.rotate(angle, resample=Image.Resampling.BILINEAR, expand=True)
    bb = m.getbbox()
    if bb:
        m = m.crop(bb)
        P.img.paste(ink, (P.p(x), P.p(y)), m)
        return m.size[0] / P.s
    return 0


def layout_handwritten(P, r):
    """Few short lines of jittered, sheared, rotated words, maybe on ruled paper."""
    V = VOCAB[3]
    ruled = r.random() < 0.4
    size = r.choice([26, 28, 30, 32])
    gap = size * r.uniform(1.9, 2.4)
    L = r.randint(60, 160)
    y = r.randint(70, 260)
    if ruled:
        for yy in range(int(y + size * 1.25), 1040, int(gap)):
            P.hline(40, 810, yy, 1, fill=185)
    shear = r.uniform(0.15, 0.35)
    ink = r.randint(20, 80)
    stroke = r.choice([0, 0, 1])
    for i in range(r.randint(3, 8)):
        x = L + r.uniform(-10, 25)
        ws = words(r, V, r.randint(2, 6), 0.75)
        if i == 0 and r.random() < 0.5:
            ws = [r.choice(["Dear", "Hi", "Note:", "To", "Call"]), r.choice(FIRST)]
        kept = []
        for w in ws:
            sz = size + r.randint(-2, 2)
            wid = P.width(w, "sans", sz) * 1.1 + size * shear
            if x + wid > 800:
                break
            adv = paste_word(P, x, y + r.uniform(-4, 4), w, sz, shear + r.uniform(-0.05, 0.05),
                             r.uniform(-3, 3), ink, stroke)
            x += adv + size * r.uniform(0.35, 0.6)
            kept.append(w)
        if kept:
            P.lines.append(" ".join(kept))
        y += gap
        if y > 1000:
            break


def layout_advertisement(P, r):
    """Framed page, huge centred headline, prices, features, call to action."""
    V = VOCAB[4]
    fn = r.choice(["sans", "serif"])
    C = 425
    P.box(30, 30, 820, 1070, w=r.choice([3, 5, 8]))
    if r.random() < 0.5:
        P.box(44, 44, 806, 1056, w=1)
    y = r.randint(80, 130)
    product = title_case([r.choice(COMPANY_WORDS), r.choice(["Gold", "Lights", "Fresh",
                                                             "Classic", "Select", "Plus"])])
    head = r.choice(["SALE", "NEW!", "SAVE %d%%" % r.choice([20, 25, 30, 40, 50]),
                     "FREE GIFT", "HUGE SALE", "INTRODUCING", "LIMITED OFFER"])
    y = P.text(C, y, head, fn + "-bold", r.choice([64, 72, 80]), align="c", lead=1.3) + 10
    y = P.text(C, y, product, fn + "-bold", r.choice([40, 44, 48]), align="c", lead=1.35)
    y = P.text(C, y, sentence(r, V, 3, 6)[:-1] + "!", fn, 26, align="c") + 30
    for _ in range(r.randint(3, 5)):
        y = P.text(C, y, title_case(words(r, V, r.randint(2, 4), 0.85)), fn, r.choice([24, 26]),
                   align="c")
    y += 25
    price = r.choice(["Only %s" % money(r, 1, 99), "%s each" % money(r, 1, 49),
                      "Now %s" % money(r, 5, 499), "2 for %s" % money(r, 1, 20)])
    y = P.text(C, y, price, fn + "-bold", r.choice([48, 56]), align="c", lead=1.4) + 15
    if r.random() < 0.5:
        y = P.text(C, y, "Regular price %s" % money(r, 100, 600), fn, 22, align="c")
    y += 20
    y = P.text(C, y, r.choice(["Call now %s" % phone(r), "Call now toll free 1-800-%03d-%04d"
                               % (r.randint(200, 999), r.randint(0, 9999)),
                               "Visit our store today", "Order now at %s" % phone(r)]),
               fn + "-bold", 28, align="c")
    y = P.text(C, y, "Offer ends %s" % date(r, 0), fn, 22, align="c")
    if y < 960:
        P.para(90, max(y + 20, 960), 670, "Offer valid while supplies last. " +
               sentence(r, V, 5, 9), fn, 16, ymax=1050, align="c")


def layout_sci_report(P, r):
    """Report number, title, abstract, numbered sections, a ruled numeric table."""
    V = VOCAB[5]
    fn, fs = body_font(r)
    bold = fn + "-bold"
    L, R = 80, 770
    y = 50
    y = P.text(L, y, "TECHNICAL REPORT No. %s-%d-%02d" % (r.choice(["TR", "RD", "RR"]),
                                                        r.randint(100, 999),
                                                        r.randint(1, 99)), bold, 16)
    P.hline(L, R, y)
    y += 20
    for line in P.wrap(title_case(words(r, V, r.randint(5, 9), 0.85)), R - L - 60, bold, 26):
        y = P.text(425, y, line, bold, 26, align="c", lead=1.3)
    y += 6
    y = P.text(425, y, "%s and %s" % (person(r), person(r)), fn, 19, align="c")
    y = P.text(425, y, "%s, %s" % (company(r), date(r, 0)), fn, 17, align="c") + 14
    y = P.text(L, y, "Abstract", bold, 20)
    y = P.para(L + 20, y, R - L - 40, paragraph(r, V, 2, 3), fn, fs) + 10
    secs = ["Introduction", "Methods", "Results", "Discussion", "Conclusions"]
    for i, sec in enumerate(secs):
        if y > 900:
            break
        y = P.text(L, y, "%d. %s" % (i + 1, sec), bold, 20)
        if sec == "Results" and y < 700:
            txt = paragraph(r, V, 1, 2) + " The mean was %.2f (SD %.2f, n = %d, p < 0.0%d)." % (
                r.uniform(1, 99), r.uniform(0.1, 9), r.randint(8, 120), r.randint(1, 5))
            y = P.para(L, y, R - L, txt, fn, fs) + 8
            ncol = r.randint(3, 4)
            y = P.text(L, y, "Table 1. " + title_case(words(r, V, r.randint(3, 5), 0.9)),
                       bold, 18)
            P.hline(L, R, y, 2)
            xs = [L + 10] + [L + 260 + (R - L - 280) * (i + 1) / ncol for i in range(ncol)]
            y += 6
            hdr = [(xs[0], "Sample", "l")] + [(xs[j + 1], r.choice(["Mean", "SD", "Rate",
                                                                    "Level", "Dose", "Time"]),
                                               "r") for j in range(ncol)]
            y = P.row(y, hdr, bold, 18, lead=1.6)
            P.hline(L, R, y - 2)
            y += 4
            for k in range(r.randint(3, 5)):
                cells = [(xs[0], "%s %d" % (r.choice(["Group", "Batch", "Test", "Lot"]), k + 1),
                          "l")]
                cells += [(xs[j + 1], "%.*f" % (r.randint(1, 3), r.uniform(0, 500)), "r")
                          for j in range(ncol)]
                y = P.row(y, cells, fn, 18)
            P.hline(L, R, y, 2)
            y += 16
        else:
            y = P.para(L, y, R - L, paragraph(r, V, 2, 4), fn, fs) + 10


def layout_sci_publication(P, r):
    """Journal header, title, authors, abstract, two columns with citations, references."""
    V = VOCAB[6]
    fn = r.choice(["serif", "sans"])
    bold = fn + "-bold"
    fs = r.choice([16, 17, 18])
    L, R, G = 55, 795, 40
    y = 40
    jn = "Journal of %s" % r.choice(["Applied Chemistry", "Molecular Biology", "Toxicology",
                                     "Clinical Research", "Physical Science", "Pharmacology",
                                     "Cell Science", "Environmental Health"])
    y = P.text(L, y, "%s, Vol. %d, No. %d, pp. %d-%d, %d" % (
        jn, r.randint(1, 90), r.randint(1, 12), r.randint(1, 400), r.randint(401, 900),
        r.randint(1980, 2003)), fn, 15)
    P.hline(L, R, y, 1)
    y += 24
    for line in P.wrap(title_case(words(r, V, r.randint(6, 11), 0.85)), R - L - 80, bold, 24):
        y = P.text(425, y, line, bold, 24, align="c", lead=1.3)
    y += 4
    authors = [initials_name(r) for _ in range(r.randint(2, 4))]
    y = P.text(425, y, ", ".join(authors[:-1]) + " and " + authors[-1], fn, 18, align="c")
    y = P.text(425, y, "Department of %s, %s University" % (
        r.choice(["Chemistry", "Biology", "Medicine", "Physics"]), r.choice(CITIES)[0]),
        fn, 16, align="c") + 10
    y = P.text(L + 40, y, "Abstract", bold, 17)
    y = P.para(L + 40, y, R - L - 80, paragraph(r, V, 2, 3), fn, fs) + 14
    P.hline(L, R, y - 6)
    cw = (R - L - G) / 2
    top = y + 6

    def body():
        s = sentence(r, V, 8, 16)
        if r.random() < 0.5:
            s = s[:-1] + " [%d]." % r.randint(1, 30)
        if r.random() < 0.3:
            s = "%s et al. [%d] reported that %s" % (r.choice(LAST), r.randint(1, 30),
                                                      s[0].lower() + s[1:])
        return s

    secs = ["1. Introduction", "2. Materials and methods", "3. Results", "4. Discussion"]
    col, x, y = 0, L, top
    for sec in secs:
        if y > 980:
            if col == 1:
                break
            col, x, y = 1, L + cw + G, top
        y = P.text(x, y, sec, bold, fs + 1) + 2
        txt = " ".join(body() for _ in range(r.randint(3, 6)))
        for line in P.wrap(txt, cw, fn, fs):
            if y > 1040:
                if col == 1:
                    break
                col, x, y = 1, L + cw + G, top
            y = P.text(x, y, line, fn, fs, lead=1.4)
        y += 10
    if col == 0:
        col, x, y = 1, L + cw + G, top
    if y < 940:
        y = P.text(x, y, "References", bold, fs + 1) + 2
        for i in range(1, 9):
            ref = "[%d] %s, %s et al., %s %d (%d) %d-%d." % (
                i, initials_name(r), initials_name(r), r.choice(["J. Biol. Chem.", "Nature",
                                                                "Science", "Cancer Res.",
                                                                "Phys. Rev."]),
                r.randint(1, 99), r.randint(1970, 2002), r.randint(1, 500), r.randint(501, 999))
            for line in P.wrap(ref, cw, fn, fs - 1):
                if y > 1040:
                    return
                y = P.text(x, y, line, fn, fs - 1, lead=1.4)


def layout_specification(P, r):
    """Specification header, section title, numbered clauses with hanging indent."""
    V = VOCAB[7]
    fn, fs = body_font(r, ("sans", "mono", "serif"))
    bold = fn + "-bold"
    L, R = 70, 780
    y = 45
    pg = "Page %d of %d" % (r.randint(2, 9), r.randint(10, 30))
    P.text(R, y, pg, fn, 16, align="r", record=False)
    y = P.text(L, y, "SPECIFICATION No. %d-%04d" % (r.randint(10, 99), r.randint(0, 9999)),
               bold, 18)
    P.lines[-1] += " " + pg
    y = P.text(L, y, "Revision %s, %s" % (r.choice("ABCDEFG"), date(r, 0)), fn, 16)
    P.hline(L, R, y, 2)
    y += 24
    sec = r.randint(2, 9)
    y = P.text(L, y, "SECTION %d - %s" % (sec, " ".join(words(r, V, r.randint(2, 3),
                                                            0.95)).upper()), bold, 22) + 8
    units = ["mm", "kg", "kPa", "psi", "V", "Hz", "percent", "hours", "N", "m"]
    sub = 0
    while y < 960:
        sub += 1
        y = P.text(L, y, "%d.%d %s" % (sec, sub, title_case(words(r, V, r.randint(1, 3), 1))),
                   bold, fs) + 2
        for k in range(r.randint(1, 3)):
            num = "%d.%d.%d" % (sec, sub, k + 1)
            s = "The %s shall %s %s %s %d %s. %s" % (
                r.choice(V), r.choice(["not exceed", "be not less than", "conform to",
                                       "be tested at", "have a maximum of"]),
                r.choice(V), r.choice(["of", "at", "within"]), r.randint(1, 500),
                r.choice(units), sentence(r, V, 5, 10))
            lines = P.wrap(s, R - L - 90, fn, fs)
            if y + len(lines) * fs * 1.45 > 1040:
                return
            P.text(L + 10, y, num, fn, fs, record=False)
            first = True
            for line in lines:
                y = P.text(L + 90, y, line, fn, fs)
                if first:
                    P.lines[-1] = num + " " + P.lines[-1]
                    first = False
            y += 6
        y += 8


def layout_file_folder(P, r):
    """Mostly blank: folder outline, a tab with its label, a sticker, a few words."""
    V = VOCAB[8]
    tx = r.randint(80, 500)
    tw = r.randint(230, 300)
    top = r.randint(60, 120)
    grey = r.randint(225, 245)
    P.d.polygon([(P.p(tx), P.p(top + 60)), (P.p(tx + 20), P.p(top)), (P.p(tx + tw - 20),
                 P.p(top)), (P.p(tx + tw), P.p(top + 60)), (P.p(800), P.p(top + 60)),
                 (P.p(800), P.p(1060)), (P.p(50), P.p(1060)), (P.p(50), P.p(top + 60))],
                fill=grey, outline=0)
    P.box(tx + 24, top + 12, tx + tw - 24, top + 52, fill=255, w=1)
    label = r.choice([r.choice(LAST).upper() + ", " + r.choice(FIRST).upper(),
                      " ".join(words(r, V, 2, 1)).upper()])
    while P.width(label, "mono-bold", 22) > tw - 60:
        label = label[:-1]
    P.text(tx + tw / 2, top + 20, label.strip(" ,"), "mono-bold", 22, align="c")
    if r.random() < 0.7:
        sx, sy = r.randint(150, 450), r.randint(300, 700)
        P.box(sx, sy, sx + 300, sy + 110, fill=255, w=2)
        yy = P.text(sx + 150, sy + 14, title_case(words(r, V, 2, 1)).upper(), "sans-bold", 24,
                    align="c")
        P.text(sx + 150, yy, "File No. %d-%03d" % (r.randint(1, 99), r.randint(1, 999)),
               "sans", 20, align="c")
    if r.random() < 0.5:
        P.text(425, r.randint(850, 980), r.choice(["CONFIDENTIAL", "DO NOT REMOVE",
                                                   "%d - %d" % (r.randint(1970, 1990),
                                                                r.randint(1991, 2000))]),
               "sans-bold", 30, align="c")
    for _ in range(r.randint(0, 3)):  # coffee-ring-like smudges / stripes
        y0 = r.randint(200, 1000)
        P.hline(60, 790, y0, r.randint(1, 3), fill=r.randint(170, 210))


def layout_news(P, r):
    """Masthead, date line, headline, byline, two or three ruled columns."""
    V = VOCAB[9]
    fn = "serif"
    L, R = 50, 800
    y = 35
    paper = "The %s %s" % (r.choice(CITIES)[0], r.choice(["Courier", "Herald", "Tribune",
                                                        "Gazette", "Times", "Post", "Star"]))
    y = P.text(425, y, paper, "serif-bold", r.choice([40, 44]), align="c", lead=1.3)
    P.hline(L, R, y, 1)
    y += 6
    y = P.text(425, y, "%s, %s  -  Vol. %d, No. %d  -  %d cents" % (
        r.choice(DAYS), date(r, 0), r.randint(10, 150), r.randint(1, 365), r.choice([25, 35, 50])),
        fn, 15, align="c")
    P.hline(L, R, y - 2, 3)
    y += 18
    hs = r.choice([32, 34, 36])
    for line in P.wrap(title_case(words(r, V, r.randint(5, 9), 0.85)), R - L, "serif-bold", hs):
        y = P.text(L, y, line, "serif-bold", hs, lead=1.25)
    y += 6
    if r.random() < 0.5:
        y = P.para(L, y, R - L, sentence(r, V, 6, 12), fn, 22, lead=1.35) + 4
    y = P.text(L, y, "By %s, %s" % (person(r), r.choice(["Staff Writer", "Associated Press",
                                                         "Staff Reporter", "Correspondent"])),
               "sans-bold", 16) + 8
    ncol = r.choice([2, 3])
    fs = 17 if ncol == 2 else 16
    G = 34
    cw = (R - L - G * (ncol - 1)) / ncol
    top = y
    text = "%s - %s" % (r.choice(CITIES)[0].upper(), " ".join(
        paragraph(r, V, 3, 5) for _ in range(10)))
    lines = P.wrap(text, cw, fn, fs)
    per = int((1050 - top) / (fs * 1.4))
    for c in range(ncol):
        x = L + c * (cw + G)
        if c:
            P.vline(x - G / 2, top, 1050, 1)
        yy = top
        for line in lines[c * per:(c + 1) * per]:
            yy = P.text(x, yy, line, fn, fs, lead=1.4)


def layout_budget(P, r):
    """Title, fiscal year, ruled table of line items and amounts, totals, notes."""
    V = VOCAB[10]
    fn = r.choice(["sans", "serif", "mono"])
    bold = fn + "-bold"
    L, R = 60, 790
    fy = r.randint(1985, 2002)
    y = 50
    y = P.text(425, y, company(r).upper(), bold, 22, align="c")
    y = P.text(425, y, r.choice(["PROPOSED BUDGET", "OPERATING BUDGET", "BUDGET SUMMARY",
                                 "PROJECT BUDGET", "CAPITAL BUDGET"]), bold, 28, align="c")
    y = P.text(425, y, "Fiscal Year %d-%d" % (fy, fy + 1), fn, 20, align="c") + 14
    cols = [("Actual", fy - 1), ("Budget", fy), ("Proposed", fy + 1)]
    if r.random() < 0.5:
        cols.append(("Variance", None))
    xs = [R - (len(cols) - 1 - i) * 125 - 10 for i in range(len(cols))]
    P.hline(L, R, y, 2)
    y += 6
    y = P.row(y, [(L + 6, "Line item", "l")] + [(xs[i], c, "r") for i, (c, _) in
                                                enumerate(cols)], bold, 17, lead=1.3)
    y = P.row(y, [(xs[i], "FY %d" % n, "r") for i, (_, n) in enumerate(cols) if n],
              bold, 17, lead=1.6)
    P.hline(L, R, y - 2, 1)
    y += 4
    items = ["Salaries and wages", "Fringe benefits", "Travel", "Supplies", "Equipment",
             "Contractual services", "Printing", "Postage", "Telephone", "Rent", "Utilities",
             "Insurance", "Maintenance", "Training", "Consultants", "Overhead", "Advertising",
             "Computer services", "Publications", "Meetings", "Indirect costs", "Legal fees"]
    tot = [0] * len(cols)
    fs = r.choice([17, 18])
    for k, it in enumerate(r.sample(items, r.randint(10, 16))):
        vals = [r.randint(1000, 900000) for _ in range(3)]
        if len(cols) == 4:
            vals.append(vals[2] - vals[1])
        tot = [a + b for a, b in zip(tot, vals)]
        cells = [(L + 6, it, "l")] + [(xs[i], format(v, ","), "r") for i, v in enumerate(vals)]
        if r.random() < 0.15 and k:
            P.hline(L, R, y - 3, 1, fill=160)
        y = P.row(y, cells, fn, fs, lead=1.6)
    P.hline(L, R, y - 2, 2)
    y += 6
    y = P.row(y, [(L + 6, "Total", "l")] + [(xs[i], format(v, ","), "r") for i, v in
                                             enumerate(tot)], bold, fs, lead=1.6)
    P.hline(L, R, y - 2, 1)
    P.hline(L, R, y + 1, 1)
    y += 30
    if y < 900:
        y = P.text(L, y, "Notes:", bold, 18)
        P.para(L, y, R - L, paragraph(r, V, 1, 3), fn, 18, ymax=1050)


def layout_invoice(P, r):
    """Company block, INVOICE, number/date lines, bill-to, boxed item table, totals."""
    V = VOCAB[11]
    fn = r.choice(["sans", "serif"])
    bold = fn + "-bold"
    L, R = 60, 790
    y = 50
    y = P.text(L, y, company(r), bold, 26)
    y = P.text(L, y, street(r), fn, 17)
    y = P.text(L, y, city_line(r) + "  Tel. " + phone(r), fn, 17) + 10
    y = P.text(R, y, "INVOICE", bold, r.choice([40, 44]), align="r", lead=1.3) + 6
    for k, v in [("Invoice No.:", str(r.randint(10000, 999999))), ("Date:", date(r, 0)),
                 ("Customer ID:", "%s-%d" % (r.choice("ABCKMX"), r.randint(100, 9999))),
                 ("Terms:", r.choice(["Net 30", "Net 15", "Due on receipt", "2% 10 Net 30"]))]:
        y = P.text(R - 420, y, "%s %s" % (k, v), fn, 19)
    y += 10
    y = P.text(L, y, "Bill To:", bold, 19)
    for s in (person(r), company(r), street(r), city_line(r)):
        y = P.text(L + 20, y, s, fn, 19)
    y += 20
    xs = [L, L + 80, L + 440, L + 590, R]
    P.box(L, y, R, y + 32, fill=220)
    y = P.row(y + 5, [(xs[0] + 10, "Qty", "l"), (xs[1] + 10, "Description", "l"),
                      (xs[3] - 10, "Unit price", "r"), (xs[4] - 10, "Amount", "r")],
              bold, 18, lead=1.5)
    top = y - 32
    sub = 0.0
    n = r.randint(3, 8)
    for _ in range(n):
        q, up = r.randint(1, 50), round(r.uniform(1, 400), 2)
        sub += q * up
        desc = title_case(words(r, V + ["widget", "cartons", "cases", "labor", "parts",
                                        "model", "paper", "toner", "service"], r.randint(2, 3),
                                0.5))
        y = P.row(y + 4, [(xs[0] + 10, str(q), "l"), (xs[1] + 10, desc, "l"),
                          (xs[3] - 10, format(up, ",.2f"), "r"),
                          (xs[4] - 10, format(q * up, ",.2f"), "r")], fn, 18, lead=1.5)
    y += 8
    P.box(L, top, R, y)
    for x in xs[1:4]:
        P.vline(x, top, y)
    y += 14
    tax = sub * r.choice([0.05, 0.06, 0.07, 0.08])
    ship = r.uniform(5, 80)
    for k, v, f in [("Subtotal", sub, fn), ("Sales tax", tax, fn), ("Shipping", ship, fn),
                    ("Total due", sub + tax + ship, bold)]:
        y = P.row(y, [(R - 200, k, "r"), (R - 10, "$" + format(v, ",.2f"), "r")], f, 19)
    y += 30
    if y < 1000:
        y = P.text(L, y, r.choice(["Thank you for your business.",
                                   "Please make checks payable to the company above.",
                                   "Please remit payment within 30 days."]), fn, 18)


def layout_presentation(P, r):
    """One big slide or two slides per page: title bar, bullet points, slide number."""
    V = VOCAB[12]
    fn = r.choice(["sans", "serif"])
    bold = fn + "-bold"
    two = r.random() < 0.4
    slides = [(60, 60, 790, 520), (60, 580, 790, 1040)] if two else [(40, 80, 810, 1020)]
    first = r.randint(1, 30)
    for k, (x0, y0, x1, y1) in enumerate(slides):
        P.box(x0, y0, x1, y1, w=2)
        ts = 32 if two else 40
        bs = 24 if two else 28
        bar = r.random() < 0.5
        if bar:
            P.box(x0, y0, x1, y0 + ts * 2, fill=215, w=2)
        title = title_case(words(r, V, r.randint(1, 4), 0.9))
        while P.width(title, bold, ts) > x1 - x0 - 60:
            title = title.rsplit(" ", 1)[0]
        y = P.text((x0 + x1) / 2, y0 + ts * 0.45, title, bold, ts, align="c") + ts * 0.6
        n = r.randint(3, 4) if two else r.randint(4, 6)
        for _ in range(n):
            s = title_case(words(r, V, r.randint(2, 5), 0.8)[:1]) + " " + " ".join(
                words(r, V, r.randint(1, 4), 0.8))
            lines = P.wrap(s, x1 - x0 - 110, fn, bs)
            if y + len(lines) * bs * 1.4 > y1 - 40:
                break
            P.dot(x0 + 45, y + bs * 0.6, bs * 0.2)
            for line in lines:
                y = P.text(x0 + 70, y, line, fn, bs, lead=1.4)
            y += bs * 0.5
        P.text(x1 - 15, y1 - 30, str(first + k), fn, 16, align="r")


def layout_questionnaire(P, r):
    """Title, instructions, numbered questions each with a line of option boxes."""
    V = VOCAB[13]
    fn = r.choice(["sans", "serif"])
    bold = fn + "-bold"
    fs = r.choice([18, 19, 20])
    L, R = 60, 790
    y = 50
    y = P.text(425, y, r.choice(["QUESTIONNAIRE", "SURVEY QUESTIONNAIRE",
                                 "CUSTOMER SATISFACTION SURVEY", "HEALTH QUESTIONNAIRE",
                                 "CONSUMER SURVEY"]), bold, 28, align="c") + 4
    y = P.para(L, y, R - L, "Please answer the following questions. Check one box for each "
               "question. " + sentence(r, V, 5, 9), fn, fs - 1) + 10
    scales = [["Yes", "No"], ["Yes", "No", "Don't know"],
              ["Never", "Sometimes", "Often", "Always"],
              ["Agree", "Neutral", "Disagree"],
              ["Very satisfied", "Satisfied", "Dissatisfied"]]
    q = r.randint(1, 5)
    while y < 960:
        s = "%d. %s" % (q, sentence(r, V, 5, 11)[:-1] + "?")
        lines = P.wrap(s, R - L, fn, fs)
        if y + (len(lines) + 1) * fs * 1.5 > 1040:
            break
        for line in lines:
            y = P.text(L, y, line, fn, fs)
        opts = r.choice(scales)
        x = L + 30
        for o in opts:
            P.box(x, y + 2, x + 17, y + 19, w=1)
            if r.random() < 0.25:
                P.d.line([(P.p(x + 3), P.p(y + 10)), (P.p(x + 8), P.p(y + 16)),
                          (P.p(x + 16), P.p(y - 2))], fill=20, width=max(1, P.p(2)))
            P.text(x + 32, y, o, fn, fs, record=False)
            x += 70 + P.width(o, fn, fs)
        P.lines.append(" ".join(opts))
        y += fs * 1.5 + 14
        q += 1


def layout_resume(P, r):
    """Name, contact line, sections OBJECTIVE / EXPERIENCE / EDUCATION / SKILLS."""
    V = VOCAB[14]
    fn, fs = body_font(r)
    bold = fn + "-bold"
    L, R = 70, 780
    name = person(r)
    y = 45
    y = P.text(425, y, name.upper() if r.random() < 0.5 else name, bold, 32, align="c")
    y = P.text(425, y, "%s, %s" % (street(r), city_line(r)), fn, 17, align="c")
    a, b = name.lower().split()
    y = P.text(425, y, "%s  -  %s%s@%s.com" % (phone(r), a[0], b,
                                              r.choice(COMPANY_WORDS).lower()), fn, 17,
               align="c")
    P.hline(L, R, y, 2)
    y += 16
    year = r.randint(1975, 1990)
    for sec in ["OBJECTIVE", "EXPERIENCE", "EDUCATION", "SKILLS"]:
        if y > 960:
            break
        y = P.text(L, y, sec if r.random() < 0.5 else sec.title(), bold, 21)
        P.hline(L, R, y, 1, fill=120)
        y += 8
        if sec == "OBJECTIVE":
            y = P.para(L + 20, y, R - L - 20, "Seeking a position as %s. %s" % (
                r.choice(TITLES), sentence(r, V, 6, 12)), fn, fs)
        elif sec == "EXPERIENCE":
            for _ in range(r.randint(2, 3)):
                if y > 850:
                    break
                y0, year = year, year + r.randint(2, 6)
                y = P.text(L + 20, y, "%d - %d  %s" % (y0, year, r.choice(TITLES)), bold, fs)
                y = P.text(L + 20, y, "%s, %s" % (company(r), r.choice(CITIES)[0]), fn, fs)
                for _ in range(r.randint(2, 3)):
                    P.dot(L + 36, y + fs * 0.6, 3.5)
                    y = P.para(L + 50, y, R - L - 50, sentence(r, V, 5, 10), fn, fs)
                y += 6
        elif sec == "EDUCATION":
            for _ in range(r.randint(1, 2)):
                y = P.text(L + 20, y, "%d  %s in %s, %s University" % (
                    r.randint(1970, 1990), r.choice(["B.S.", "B.A.", "M.S.", "M.B.A.", "Ph.D."]),
                    r.choice(["Chemistry", "Economics", "Marketing", "Biology", "Engineering",
                              "Finance"]), r.choice(CITIES)[0]), fn, fs)
        else:
            skills = r.sample(["word processing", "spreadsheets", "statistics", "public speaking",
                               "project management", "Spanish", "French", "laboratory methods",
                               "budgeting", "negotiation", "database design", "sales"], 5)
            y = P.para(L + 20, y, R - L - 20, ", ".join(skills) + ".", fn, fs)
        y += 12
    if y < 1000:
        P.text(L, y, "References available upon request.", fn, fs)


def layout_memo(P, r):
    """MEMORANDUM, TO/FROM/DATE/RE lines, a rule, paragraphs, initials."""
    V = VOCAB[15]
    fn, fs = body_font(r, ("serif", "sans", "mono"))
    bold = fn + "-bold"
    L, R = 70, 780
    y = 50
    if r.random() < 0.5:
        y = P.text(425, y, company(r).upper(), bold, 20, align="c") + 4
    center = r.random() < 0.5
    y = P.text(425 if center else L, y, r.choice(["MEMORANDUM", "M E M O R A N D U M",
                                                  "INTEROFFICE MEMORANDUM", "MEMO"]),
               bold, r.choice([30, 34]), align="c" if center else "l") + 16
    sender = person(r)
    fields = [("TO:", "%s, %s" % (person(r), r.choice(TITLES))),
              ("FROM:", sender),
              ("DATE:", date(r)),
              (r.choice(["RE:", "SUBJECT:"]), title_case(words(r, V, r.randint(2, 5), 0.85)))]
    if r.random() < 0.4:
        fields.insert(2, ("CC:", person(r)))
    for k, v in fields:
        P.text(L, y, k, bold, fs, record=False)
        y = P.row(y, [(L + 130, v, "l")], fn, fs, lead=1.7)
        P.lines[-1] = k + " " + P.lines[-1]
    P.hline(L, R, y, 3)
    y += 26
    for _ in range(r.randint(2, 5)):
        if y > 900:
            break
        y = P.para(L, y, R - L, paragraph(r, V, 2, 4), fn, fs, ymax=1000) + fs * 0.7
    if y < 1000:
        a, b = sender.split()
        P.text(L, y + 6, "%s%s:%s" % (a[0], b[0], r.choice(["jm", "ls", "kt", "rw"])), fn, fs)


LAYOUTS = [layout_letter, layout_form, layout_email, layout_handwritten, layout_advertisement,
           layout_sci_report, layout_sci_publication, layout_specification, layout_file_folder,
           layout_news, layout_budget, layout_invoice, layout_presentation,
           layout_questionnaire, layout_resume, layout_memo]


# ---------------------------------------------------------------------------------------
# Scanning, saving, bad inputs
# ---------------------------------------------------------------------------------------

def scan(img, r, nr, dpi):
    """Skew (+-1.5 degrees, white fill), blur, grey paper, Gaussian noise, speckles."""
    img = img.rotate(r.uniform(-1.5, 1.5), resample=Image.Resampling.BICUBIC, fillcolor=255)
    img = img.filter(ImageFilter.GaussianBlur(r.uniform(0.3, 0.8) * dpi / 100))
    a = np.asarray(img, dtype=np.float32)
    paper = r.uniform(235, 252)
    a = a * (paper / 255.0)
    sigma = r.uniform(2.5, 6.0)
    a += nr.normal(0.0, sigma, a.shape).astype(np.float32)
    if r.random() < 0.5:  # a scanner that removes the background: noise stays near the ink
        a[a > paper - 3 * sigma] = paper
    if r.random() < 0.5:  # speckles: dust on the glass
        n = r.randint(20, 300)
        ys = nr.integers(0, a.shape[0], n)
        xs = nr.integers(0, a.shape[1], n)
        a[ys, xs] = nr.uniform(0, 120, n)
        big = max(1, n // 10)
        ys, xs = ys[:big], xs[:big]
        a[np.minimum(ys + 1, a.shape[0] - 1), xs] = 40
        a[ys, np.minimum(xs + 1, a.shape[1] - 1)] = 40
    return Image.fromarray(np.clip(a + 0.5, 0, 255).astype(np.uint8))


def render(cls, num, seed, dpi):
    """The scanned page image and the truth text of document (cls, num)."""
    r = random.Random("sluice-docs/%d/%d/%d" % (seed, cls, num))
    nr = np.random.default_rng([seed, cls, num])
    P = Page(dpi, r)
    LAYOUTS[cls](P, r)
    return scan(P.img, r, nr, dpi), "\n".join(P.lines)


def save(img, path, fmt, dpi):
    """Save as png, jpg (quality 60), tif (LZW, one page) or bmp."""
    if fmt == "png":
        img.save(path, "PNG", dpi=(dpi, dpi), compress_level=6)
    elif fmt in ("jpg", "jpeg"):
        img.save(path, "JPEG", quality=60, dpi=(dpi, dpi))
    elif fmt in ("tif", "tiff"):
        img.save(path, "TIFF", compression="tiff_lzw", dpi=(dpi, dpi))
    elif fmt == "bmp":
        img.save(path, "BMP")
    else:
        raise ValueError("unknown format %r" % fmt)


def write_label(d, text):
    """Write d/label.txt."""
    with open(os.path.join(d, "label.txt"), "w") as f:
        f.write(text)


def huge_png(path, w=20000, h=20000):
    """A 1-bit greyscale PNG declaring w x h white pixels, written by hand: the IDAT is a
    zlib stream fed one row at a time (memory: one 2.5 kB row); the file is about 80 kB."""
    def chunk(tag, data):
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))
    comp = zlib.compressobj(9)
    row = b"\x00" + b"\xff" * ((w + 7) // 8)
    parts = [comp.compress(row) for _ in range(h)]
    parts.append(comp.flush())
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0)))
        f.write(chunk(b"IDAT", b"".join(parts)))
        f.write(chunk(b"IEND", b""))


def minimal_pdf(text="Dear Sir, thank you for your letter."):
    """A valid one-page PDF 1.4 (Helvetica text), with a correct xref table."""
    stream = ("BT /F1 14 Tf 72 720 Td (%s) Tj ET" % text).encode("latin-1")
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offs = []
    for i, o in enumerate(objs, 1):
        offs.append(len(out))
        out += b"%d 0 obj\n" % i + o + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for o in offs:
        out += b"%010d 00000 n \n" % o
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1,
                                                                              xref)
    return bytes(out)


def write_bad(bad, seed, dpi):
    """The bad inputs of the tests, one folder each under `bad`."""
    def folder(name):
        d = os.path.join(bad, name)
        os.makedirs(d, exist_ok=True)
        return d

    def png_bytes(cls, num):
        buf = io.BytesIO()
        render(cls, num, seed, dpi)[0].save(buf, "PNG", dpi=(dpi, dpi))
        return buf.getvalue()

    good = png_bytes(0, 9000)
    d = folder("corrupt")
    with open(os.path.join(d, "page.png"), "wb") as f:
        f.write(good[:len(good) // 2])
    write_label(d, "0\n")
    d = folder("empty")
    open(os.path.join(d, "page.png"), "wb").close()
    write_label(d, "2\n")
    d = folder("huge")
    huge_png(os.path.join(d, "page.png"))
    write_label(d, "8\n")
    d = folder("pdf")
    with open(os.path.join(d, "page.pdf"), "wb") as f:
        f.write(minimal_pdf())
    write_label(d, "0\n")
    d = folder("nolabel")
    with open(os.path.join(d, "page.png"), "wb") as f:
        f.write(png_bytes(15, 9001))
    lbl = os.path.join(d, "label.txt")
    if os.path.exists(lbl):
        os.remove(lbl)
    d = folder("badlabel")
    with open(os.path.join(d, "page.png"), "wb") as f:
        f.write(png_bytes(9, 9002))
    write_label(d, "17\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description="Synthetic scanned documents in the 16 RVL-CDIP "
                                 "classes, with labels and ground-truth text.")
    ap.add_argument("out", nargs="?", metavar="OUT", help="output folder of the documents")
    ap.add_argument("--per-class", type=int, help="documents per class")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--start", type=int, default=0, help="first document number")
    ap.add_argument("--dpi", type=int, default=100)
    ap.add_argument("--formats", default="png",
                    help="comma-separated, cycled by document number: png,jpg,tif,bmp")
    ap.add_argument("--truth", help="folder of the truth texts (default: OUT/../truth)")
    ap.add_argument("--bad", metavar="DIR", help="also write the bad test inputs into DIR")
    a = ap.parse_args(argv)
    if a.out is None and a.bad is None:
        ap.error("give OUT (with --per-class) and/or --bad DIR")
    if a.out is not None and (a.per_class is None or a.per_class < 0):
        ap.error("OUT needs --per-class N")
    if a.start < 0 or a.start + (a.per_class or 0) > 10000:
        ap.error("document numbers must stay within 0..9999")
    formats = [f.strip().lower() for f in a.formats.split(",") if f.strip()]
    for f in formats:
        if f not in ("png", "jpg", "jpeg", "tif", "tiff", "bmp"):
            ap.error("unknown format %r (png, jpg, tif, bmp)" % f)
    check_fonts()
    if a.bad:
        write_bad(a.bad, a.seed, a.dpi)
    if a.out is None:
        print("bad inputs in %s" % a.bad)
        return 0
    out = os.path.normpath(a.out)
    truth = a.truth or os.path.join(os.path.dirname(os.path.abspath(out)), "truth")
    os.makedirs(truth, exist_ok=True)
    n = 0
    for cls in range(len(CLASSES)):
        for num in range(a.start, a.start + a.per_class):
            name = "doc-%02d-%04d" % (cls, num)
            d = os.path.join(out, name)
            os.makedirs(d, exist_ok=True)
            img, text = render(cls, num, a.seed, a.dpi)
            fmt = formats[num % len(formats)]
            for old in os.listdir(d):  # a different --formats earlier: one page file only
                if old.startswith("page.") and old != "page." + fmt:
                    os.remove(os.path.join(d, old))
            save(img, os.path.join(d, "page." + fmt), fmt, a.dpi)
            write_label(d, "%d\n" % cls)
            with open(os.path.join(truth, name + ".txt"), "w", encoding="utf-8") as f:
                f.write(text)
            n += 1
    print("%d documents in %s (truth in %s)" % (n, out, truth), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
