#!/usr/bin/env python3
"""Synthetic person records shaped like the FEBRL record-linkage data sets.

    generate.py --link N --out DIR [--seed S]
    generate.py --dedup N --dups M --out DIR --name FILE.csv [--zipf] [--max-dups K] [--seed S]

The committed sample in examples/record_linkage/data/ was made, from the repository root, with:

    python3 bench/link/generate.py --dedup 500 --dups 500 --max-dups 1 \\
        --out examples/record_linkage/data --name dataset1.csv
    python3 bench/link/generate.py --dedup 600 --dups 400 --zipf \\
        --out examples/record_linkage/data --name dataset3.csv
    python3 bench/link/generate.py --link 500 --out examples/record_linkage/data

(seed 1, the default).

Modes:

  --link N     DIR/dataset4a.csv holds N originals `rec-<i>-org` and DIR/dataset4b.csv one
               corrupted duplicate `rec-<i>-dup-0` of each, both files in shuffled order, like
               FEBRL4 (i in 0..N-1). The true pairs are (rec-i-org, rec-i-dup-0): N of them.
  --dedup N    DIR/FILE.csv (--name) holds N originals and M (--dups) duplicates, shuffled
               together, like FEBRL1/2/3. Duplicates go to randomly chosen originals, between 1
               and --max-dups (default 5) each, the count drawn from a truncated Poisson(1)
               (FEBRL2) or, with --zipf, from P(k) ~ 1/k (FEBRL3); the duplicates of original i
               are `rec-<i>-dup-0` .. `rec-<i>-dup-<k-1>`. The true pairs are all the pairs of a
               group (original and its duplicates). FEBRL1: --dedup 500 --dups 500 --max-dups 1;
               FEBRL3: --dedup 2000 --dups 3000 --zipf.

Format, as in the FEBRL files: header

    rec_id, given_name, surname, street_number, address_1, address_2, suburb, postcode, state, date_of_birth, soc_sec_id

fields separated by ", " (comma and one space), an empty value written as nothing (", , "),
lower-case text, no value ever holding a comma or a quote, `date_of_birth` as YYYYMMDD (1900 to
2010), `postcode` four digits (NT ones start with 0: read them as strings), `soc_sec_id` seven
digits (distinct among the originals), `state` one of the eight Australian ones. Each file
ends with a newline.

Values come from built-in lists made combinatorially (real names first, then names built from
stems and endings), drawn with Zipf-like popularity so that 1,000,000 records have realistic
cardinalities: about 5,000 given names, 25,000 surnames, 2,000 street names x 16 street types,
3,000 suburbs (each with its postcode and state), 5,000 address_2 locality / property names.
Originals have a few missing values (2% given_name, 1% surname, 3% street_number, 2% address_1,
8% address_2, 1% suburb, 1% state, 2% date_of_birth; never postcode nor soc_sec_id).

Each duplicate gets 1 to 3 modifications (45% / 35% / 20%), each on a field picked with the
weights of the differences between FEBRL4's originals and duplicates (address_2 and address_1
most, state least):
  - a typo in a text field: one character inserted, deleted, substituted (a neighbouring key on
    a QWERTY keyboard) or two neighbours transposed;
  - a missing value (the field emptied; never rec_id, postcode or soc_sec_id);
  - a swapped word: two words of a multi-word address_1 / address_2 / suburb swapped, or
    given_name and surname exchanged;
  - a digit typo in street_number, postcode, soc_sec_id or date_of_birth (substitute,
    transpose, and for street_number insert/delete), or the state replaced by another one.

Pure standard library. Written out in blocks of 20,000 lines; the originals (and, with
--dedup, the duplicates) are held in memory because the files are shuffled: `--link 500000`
(1,000,000 records, 2 x 53 MB) takes about 16 s and 290 MB. Deterministic for a given --seed
(the name lists do not depend on it).
"""

import argparse
import datetime
import itertools
import os
import random
import sys

HEADER = ("rec_id, given_name, surname, street_number, address_1, address_2, suburb, postcode, "
          "state, date_of_birth, soc_sec_id")
FIELDS = [f.strip() for f in HEADER.split(",")]
GIVEN, SURNAME, STREET_NO, ADDR1, ADDR2, SUBURB, POSTCODE, STATE, DOB, SSN = range(1, 11)

# ------------------------------------------------------------------ built-in lists

REAL_GIVEN = """
jack joshua lachlan thomas william james ethan samuel daniel ryan benjamin matthew liam jacob
nicholas alexander luke dylan jayden cooper riley oliver noah max charlie harrison lucas mitchell
jordan tyler isaac connor blake callum zachary jake nathan kai aidan bailey hayden harry henry
xavier jesse caleb kyle patrick sebastian archie angus hamish lincoln jackson flynn levi hugo
toby oscar elijah logan mason hunter beau darcy fletcher jett marcus adam aaron andrew anthony
brendan bradley cameron christopher damien david edward gabriel george jonathan joseph kieran
michael peter robert scott simon stephen timothy vincent wayne brian craig dean gregory keith
kevin mark paul phillip raymond ross shane trent warren neil glen gary colin barry allan
emily chloe olivia sophie jessica charlotte ella isabella sarah grace lily emma hannah mia ruby
zoe georgia amelia madison abbey lucy jasmine holly caitlin samantha lauren rebecca courtney
isabelle alyssa tahlia brooke jade ashley alice eliza matilda phoebe scarlett imogen ava
annabelle gemma laura megan amber bianca kayla kiara tayla paige stephanie nicole rachel natalie
michelle melissa kate katie elizabeth claire amy danielle emma sienna summer willow violet
harper evie maya layla hayley jacinta kirsten leah madeline maddison mikayla monique rose tara
victoria zara abigail bella erin eve freya heidi indiana jaida kristen lara mackenzie naomi
alannah anna ashleigh brianna chelsea ellie elise gabrielle jorja kasey kelsey mary margaret
patricia jennifer linda barbara susan karen helen sandra donna carol ruth sharon deborah julie
joanne kerry tracey wendy lisa kylie belinda cheryl dianne fiona janet jillian leanne lynette
marie nerida pamela robyn rhonda sally tania vanessa yvonne beverley christine denise heather
""".split()

GIVEN_STEMS = """
ab ad ael al am an ar ash aub bel ben bri bro cad cal cam car cas cel char cla cor cyr dal
dam dar del der dom dor el em er ev fal fen fer fin gab gal gar gil gwen hal har hel ian ir
isa jal jar jas jen jer jes jo jul kal kar kas kel ken kir lan lar lau lei len lil lor lu
mad mal mar mel mer mil mir mor nal nat nel nic nor od ol or pal par per quin ra ren rho rob
ros ry sal sam sel ser sha sil sol tal tam tar ter tia tor val ven vic wil wyn xan yas zan
zel zor
""".split()
GIVEN_ENDINGS = """
a ah an ana and ard as den die don e el ell ella en ena er ette ey i ia ian ie iel in ina
ine io is ish ita ius la lan le lee ley lie lin line lo ly lyn lynn ma mon na ne nie o on
ona or ra ren ric rick rie ron sa sey son ta ton ty us wen y
""".split()

REAL_SURNAMES = """
smith jones williams brown wilson taylor johnson white martin anderson thompson nguyen thomas
walker harris lee ryan robinson kelly king davis wright evans roberts green hall wood jackson
clarke patel khan lewis james phillips mitchell turner campbell edwards murphy hughes allen
baker young cooper harrison morris stewart ward scott collins watson moore parker murray miller
bell shaw davies cook richardson graham kennedy morgan carter mills price hill adams marshall
clark russell bennett mason chapman hunt fraser ross wallace simpson reid gray grant jenkins
elliott johnston dixon ellis burke henderson hamilton black lawrence gibson knight sullivan
watts murphy hayes dunn holmes webb fisher payne pearce hart barnes kaur singh tran le pham
wang li zhang chen liu yang huang zhao wu zhou xu sun ma zhu hu guo he lin luo gao
obrien oconnor mcdonald macdonald mckenzie mclean mcintyre macleod morrison ferguson
robertson paterson stevenson armstrong sutherland cameron gordon hunter duncan findlay
rossi russo ferrari esposito bianchi romano colombo ricci marino greco bruno gallo conti
costa giordano mancini lombardi moretti barbieri fontana santoro mariani rinaldi caruso
papadopoulos georgiou nikolaidis konstantinou dimitriou vlahos karagiannis economou
schmidt schneider fischer weber meyer wagner becker schulz hoffmann koch richter klein wolf
neumann schwarz zimmermann braun kruger hofmann hartmann lange werner krause lehmann kohler
jansen visser bakker janssen devries dekker smit meijer bos vos dejong vandenberg
kowalski nowak wisniewski wojcik kaminski lewandowski zielinski szymanski
sondergeld waller berry efthimiou bruhn lanyon painter neumann maxon
""".split()
SUR_PREFIXES = """
ab ack ad ald alder all ash ather att bab back bad bag bail bain bald ban bar bark barn
bat bax bay beck bed bel ben bent ber bever bick bing birk black blan blen bol bon
boot bor bos bot bour bow brad bram bran brent brid brig brock brom brook bud bull bur
burk bush but cal calder cam can car carl carr cart cas caul chad cham chap char chat
ches chil clay clem clif coat cock col cole colt comb con cope cor corn cot court cow
crad cram craw crom cross crow cum cun dal dan dar daw day dean den der dick dit dod
don dor dow drum dud dun dur east eck ed eg eld ell elm em en er ev fair fal far faw
fell fen fer fet field fil finch fitz flem flet ford fos fox frank fran ful gal gar
gat gil glad glen god gold good gore gos graf gran green gres grim grin gud gun hack
had hag hal ham han har has hat haw hay heath hed hem hen her hes hew hick high hil
hob hod hol holl hop hor how hud hul hum hun hurl hut ing ir jar jen jer kel ken ker
kil kin king kirk knap lam lan lang lar law lay led len les lid lin lind ling lit
lock long lor low lud lum lyn mad mal man mar mas mat maw may mer mid mil mor mos
nash new nor north not oak ock old or os ot ox pad pag pal pan par pat pem pen per
pick pil pin pit pol pom pot pres pud pur rad ram ran rat raw ray red rich rid rig
rit rock rod rom ros row rud rum rus ry sad sal san sat saw sax scar sel shar shel
shep sher shel sid sin slat smal sned som south spar spen stack stam stan star sted
stock stone strat sud sum sun sut swan swin tal tan tat tem ten ther thorn thur tid
til tim tod tom tor tow trem tren tur twy up vale vin wad wak wal war wat way web
wed wel wen wes west whit wick wil win wind wit wol wood wor wray wy yar yat yor
""".split()
SUR_SUFFIXES = """
by bury combe cott croft dale den don er ers ett ey field ford gate ham hart hill hurst
ing ington kin land ley lock low man mere more ney ridge rige son stead stone ton ville
ward well wick win wood worth
""".split()
SUR_FOREIGN = """
ini ino elli etti ucci opoulos akis idis ou escu ovic evic ic ski ska wicz czyk berg
mann stein feld baum hardt ez ez es az os ian yan oglu sen sson gaard
""".split()
SYLLABLES = """
ba be bi bo bu da de di do du ga ge gi go gu ka ke ki ko ku la le li lo lu ma me mi mo
mu na ne ni no nu pa pe pi po pu ra re ri ro ru sa se si so su ta te ti to tu va ve vi
vo za ze zi zo bra bre bri dra dre fra fre gra gre kra kre pra pre pri tra tre tri sta
ste sti sto
""".split()

REAL_STREETS = """
stanley pinkerton salkauskas giblin tullaroop goldfinch forbes milne sturdee wallaby
hoseason pridham light edkins lambrigg totterdell badimara paul coe mcintyre dunlop
hawker kent george king queen elizabeth victoria albert william charles edward john james
high church station bridge park hill mill school railway beach ocean river creek lake
mountain valley forest garden spring wattle banksia acacia eucalypt jacaranda waratah
grevillea boronia bottlebrush kookaburra magpie rosella cockatoo wombat koala possum echidna
platypus emu lyrebird currawong galah lorikeet brolga jabiru pelican heron ibis egret curlew
mabo namatjira flinders cook banks hume hovell sturt leichhardt burke wills macquarie phillip
bligh hunter darling bourke gipps lachlan murray murrumbidgee macarthur lawson blaxland
wentworth oxley mitchell kennedy eyre stuart forrest giles lindsay kingsford smith hargrave
chisholm parkes deakin barton reid fisher cook hughes bruce scullin lyons menzies curtin
chifley holt gorton mcmahon whitlam fraser hawke keating howard monash chauvel gellibrand
blamey birdwood bean lawson paterson gilmore wright mackellar franklin richardson white
boyd nolan drysdale streeton roberts mccubbin conder heysen preston dobell tucker olsen
anzac federation commonwealth parliament constitution northbourne canberra limestone
ainslie mugga majura coranderrk wirraway tuggeranong jerrabomberra burrangong yarralumla
kambah weston belconnen gungahlin florey higgins kaleen giralang evatt spence melba
""".split()
STREET_TYPES = [("street", 40), ("crescent", 12), ("place", 12), ("circuit", 7), ("avenue", 5),
                ("close", 4), ("drive", 4), ("court", 3), ("road", 3), ("way", 2), ("terrace", 1),
                ("grove", 1), ("lane", 1), ("parade", 1), ("circle", 1), ("retreat", 1)]

REAL_SUBURBS = [s.strip() for s in """
toowoomba, frankston, bundaberg, brighton, winston hills, richlands, dapto, windermere,
north ryde, broadbeach waters, st james, bittern, canterbury, kellerberrin,
beaconsfield upper, scarborough, cleveland, marsden, granville, miami, sorrento, ferndale,
belmont, albury, wodonga, ballarat, bendigo, geelong, mildura, shepparton, wangaratta,
warrnambool, horsham, sale, traralgon, morwell, moe, bairnsdale, dubbo, orange, bathurst,
goulburn, wagga wagga, tamworth, armidale, lismore, grafton, coffs harbour, port macquarie,
taree, newcastle, maitland, cessnock, gosford, wyong, wollongong, nowra, bowral, queanbeyan,
yass, cooma, parkes, forbes, griffith, leeton, narrandera, deniliquin, broken hill, cairns,
townsville, mackay, rockhampton, gladstone, hervey bay, maryborough, gympie, nambour,
caloundra, maroochydore, noosa, ipswich, logan, beenleigh, southport, surfers paradise,
coolangatta, mount isa, emerald, dalby, warwick, stanthorpe, kingaroy, charters towers,
bowen, ayr, innisfail, adelaide, glenelg, mount gambier, whyalla, port augusta, port pirie,
port lincoln, murray bridge, victor harbor, gawler, elizabeth, salisbury, mawson lakes,
perth, fremantle, mandurah, bunbury, busselton, albany, geraldton, kalgoorlie, broome,
karratha, port hedland, esperance, northam, hobart, launceston, devonport, burnie,
ulverstone, kingston, glenorchy, sandy bay, bellerive, darwin, palmerston, alice springs,
katherine, tennant creek, nhulunbuy, parramatta, blacktown, penrith, liverpool, campbelltown,
bankstown, hurstville, kogarah, chatswood, hornsby, manly, dee why, mona vale, bondi,
randwick, maroubra, cronulla, sutherland, rockdale, marrickville, newtown, glebe, balmain,
leichhardt, ashfield, burwood, strathfield, ryde, epping, castle hill, baulkham hills,
rouse hill, kellyville, richmond, windsor, dandenong, ringwood, box hill, doncaster,
heidelberg, preston, coburg, brunswick, footscray, sunshine, werribee, melton, sunbury,
broadmeadows, craigieburn, mill park, bundoora, camberwell, hawthorn, kew, st kilda, prahran,
caulfield, moorabbin, cheltenham, mentone, mordialloc, chelsea, carrum, seaford, mornington,
rosebud, rye, portsea, cranbourne, pakenham, berwick, narre warren, belconnen, tuggeranong,
woden, gungahlin, weston creek, kambah
""".split(",")]
SUB_FORMS = [("{}", 30), ("north {}", 5), ("south {}", 4), ("east {}", 3), ("west {}", 3),
             ("{} heights", 3), ("{} park", 4), ("{} hills", 3), ("{} beach", 2),
             ("mount {}", 3), ("{} vale", 2), ("{} downs", 2), ("{} point", 2),
             ("{} valley", 2), ("port {}", 1), ("{} creek", 2), ("{} waters", 1),
             ("upper {}", 1), ("lower {}", 1), ("{} springs", 1)]
ADDR2_FORMS = [("{}", 40), ("{} village", 5), ("{} vlge", 3), ("{} park", 3), ("{} house", 2),
               ("{} retirement village", 2), ("{} homestead", 1), ("{} estate", 2),
               ("{} farm", 1), ("the {}", 2), ("{} caravan park", 1), ("{} lodge", 1),
               ("{} hostel", 1), ("{} gardens", 1), ("{} manor", 1), ("{} towers", 1),
               ("apt {n}", 2), ("unit {n}", 2), ("locn {n}", 1), ("{} medical centre", 1)]

# state, share of records, postcode ranges (inclusive)
STATES = [("nsw", 32, [(2000, 2599), (2619, 2899)]), ("vic", 26, [(3000, 3999)]),
          ("qld", 20, [(4000, 4999)]), ("wa", 10, [(6000, 6797)]), ("sa", 7, [(5000, 5799)]),
          ("tas", 2, [(7000, 7799)]), ("act", 2, [(2600, 2618), (2900, 2920)]),
          ("nt", 1, [(800, 899)])]

KEYBOARD = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _neighbours():
    pos = {}
    for r, row in enumerate(KEYBOARD):
        for c, ch in enumerate(row):
            pos[ch] = (r, c)
    out = {}
    for ch, (r, c) in pos.items():
        out[ch] = "".join(o for o, (r2, c2) in pos.items()
                          if o != ch and abs(r2 - r) <= 1 and abs(c2 - c) <= 1)
    return out


NEIGHBOURS = _neighbours()


def _distinct(items):
    seen, out = set(), []
    for x in items:
        if x and x not in seen:
            seen.add(x)
            out.append(x)
    return out


def _made_up(rng, k, first, combos, taken):
    """`first` followed by up to k-len(first) distinct entries of `combos()` (a generator of
    candidates), none of them in `taken`, in a deterministic shuffled order."""
    out = _distinct(first)
    seen = set(out) | taken
    extra = []
    for x in combos():
        if len(out) + len(extra) >= k:
            break
        if x not in seen:
            seen.add(x)
            extra.append(x)
    rng.shuffle(extra)
    return out + extra


class Lists:
    """The value lists, independent of --seed."""

    def __init__(self):
        rng = random.Random("sluice-link-lists-v1")

        def given_combos():
            pairs = [s + e for s in GIVEN_STEMS for e in GIVEN_ENDINGS]
            rng.shuffle(pairs)
            yield from pairs

        self.given = _made_up(rng, 5000, REAL_GIVEN, given_combos, set())

        def sur_combos():
            a = [p + s for p in SUR_PREFIXES for s in SUR_SUFFIXES]
            rng.shuffle(a)
            b = []
            for _ in range(20000):
                w = "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 2, 3))))
                b.append(w + rng.choice(SUR_FOREIGN))
            both = a + b
            rng.shuffle(both)
            yield from both

        self.surname = _made_up(rng, 25000, [s for s in REAL_SURNAMES if len(s) > 2],
                                sur_combos, set())

        def word_combos(n_syl):
            while True:
                yield "".join(rng.choice(SYLLABLES) for _ in range(rng.choice(n_syl))) + \
                    rng.choice(("", "", "n", "r", "l", "s", "ton", "ra", "la", "wood", "dale"))

        self.street = _made_up(rng, 2000, REAL_STREETS, lambda: word_combos((2, 3)), set())
        self.street_types = [t for t, _ in STREET_TYPES]
        self.street_type_w = [w for _, w in STREET_TYPES]

        # suburbs: real ones, then forms of real ones and of made-up words
        bases = _made_up(rng, 1500, REAL_SUBURBS, lambda: word_combos((2, 3)), set())
        forms = [f for f, _ in SUB_FORMS]
        form_w = [w for _, w in SUB_FORMS]

        def suburb_combos():
            while True:
                yield rng.choices(forms, form_w)[0].format(rng.choice(bases))

        self.suburb = _made_up(rng, 3000, bases[:400], suburb_combos, set())
        # each suburb its state and postcode (several suburbs share a postcode)
        st_names = [s for s, _, _ in STATES]
        st_w = [w for _, w, _ in STATES]
        ranges = {s: r for s, _, r in STATES}
        self.suburb_state, self.suburb_postcode = [], []
        for _ in self.suburb:
            st = rng.choices(st_names, st_w)[0]
            lo, hi = rng.choice(ranges[st])
            self.suburb_state.append(st)
            self.suburb_postcode.append("%04d" % rng.randint(lo, hi))
        self.states = st_names

        a2_forms = [f for f, _ in ADDR2_FORMS]
        a2_w = [w for _, w in ADDR2_FORMS]

        def addr2_combos():
            while True:
                f = rng.choices(a2_forms, a2_w)[0]
                if "{n}" in f:
                    yield f.format(n=rng.randint(1, 9999))
                else:
                    w = rng.choice(bases) if rng.random() < 0.3 else next(words)
                    yield f.format(w)

        words = word_combos((2, 3, 3))
        self.addr2 = _made_up(rng, 5000, [], addr2_combos, set())

        # all the dates of birth, pre-formatted
        d, end = datetime.date(1900, 1, 1), datetime.date(2010, 12, 31)
        self.dates = []
        while d <= end:
            self.dates.append(d.strftime("%Y%m%d"))
            d += datetime.timedelta(days=1)
        self.street_numbers = [str(i) for i in range(1, 1000)]
        sn_w = [1.0 / (i ** 1.1) for i in range(1, 1000)]
        self.street_number_cum = list(itertools.accumulate(sn_w))


def zipf_cum(n, s):
    return list(itertools.accumulate(1.0 / (r + 1) ** s for r in range(n)))


# ------------------------------------------------------------------ originals

class Gen:
    # share of empty values in the originals, per field index
    EMPTY = {GIVEN: 0.02, SURNAME: 0.01, STREET_NO: 0.03, ADDR1: 0.02, ADDR2: 0.08,
             SUBURB: 0.01, STATE: 0.01, DOB: 0.02}
    # which field a modification hits: FEBRL4's differences between originals and duplicates
    MOD_WEIGHTS = [(GIVEN, 1611), (SURNAME, 1632), (STREET_NO, 775), (ADDR1, 1913),
                   (ADDR2, 2157), (SUBURB, 1226), (POSTCODE, 781), (STATE, 246), (DOB, 444),
                   (SSN, 439)]

    def __init__(self, rng, lists):
        self.rng = rng
        self.L = lists
        self.given_cum = zipf_cum(len(lists.given), 0.65)
        self.surname_cum = zipf_cum(len(lists.surname), 0.7)
        self.street_cum = zipf_cum(len(lists.street), 0.5)
        self.suburb_cum = zipf_cum(len(lists.suburb), 0.6)
        self.addr2_cum = zipf_cum(len(lists.addr2), 0.6)
        self.type_cum = list(itertools.accumulate(lists.street_type_w))
        self.mod_fields = [f for f, _ in self.MOD_WEIGHTS]
        self.mod_cum = list(itertools.accumulate(w for _, w in self.MOD_WEIGHTS))

    def originals(self, n):
        """n originals as lists of the 10 field values (rec_id left out), drawn column-wise."""
        rng, L = self.rng, self.L
        ch = rng.choices
        given = ch(L.given, cum_weights=self.given_cum, k=n)
        surname = ch(L.surname, cum_weights=self.surname_cum, k=n)
        stno = ch(L.street_numbers, cum_weights=L.street_number_cum, k=n)
        street = ch(L.street, cum_weights=self.street_cum, k=n)
        stype = ch(L.street_types, cum_weights=self.type_cum, k=n)
        addr2 = ch(L.addr2, cum_weights=self.addr2_cum, k=n)
        sub_idx = ch(range(len(L.suburb)), cum_weights=self.suburb_cum, k=n)
        dob = ch(L.dates, k=n)
        ssn = rng.sample(range(1000000, 10000000), n)
        suburb, postcode, state = L.suburb, L.suburb_postcode, L.suburb_state
        rnd = rng.random
        empty = self.EMPTY
        e_given, e_sur, e_stno, e_a1, e_a2, e_sub, e_st, e_dob = (
            empty[GIVEN], empty[SURNAME], empty[STREET_NO], empty[ADDR1], empty[ADDR2],
            empty[SUBURB], empty[STATE], empty[DOB])
        out = []
        for i in range(n):
            s = sub_idx[i]
            out.append([
                "" if rnd() < e_given else given[i],
                "" if rnd() < e_sur else surname[i],
                "" if rnd() < e_stno else stno[i],
                "" if rnd() < e_a1 else street[i] + " " + stype[i],
                "" if rnd() < e_a2 else addr2[i],
                "" if rnd() < e_sub else suburb[s],
                postcode[s],
                "" if rnd() < e_st else state[s],
                "" if rnd() < e_dob else dob[i],
                str(ssn[i]),
            ])
        return out

    # -------------------------------------------------------------- corruption

    def typo(self, v, alphabet=None):
        """One character inserted, deleted, substituted or two transposed."""
        rng = self.rng
        n = len(v)
        r = rng.random()
        if n >= 2 and r < 0.2:                                  # transpose two neighbours
            i = rng.randrange(n - 1)
            if v[i] != v[i + 1]:
                return v[:i] + v[i + 1] + v[i] + v[i + 2:]
        if n >= 2 and r < 0.45:                                 # delete
            i = rng.randrange(n)
            return v[:i] + v[i + 1:]
        if r < 0.7:                                             # insert
            i = rng.randrange(n + 1)
            c = rng.choice(alphabet) if alphabet else rng.choice(
                NEIGHBOURS.get(v[i - 1] if i else v[0], LETTERS) or LETTERS)
            return v[:i] + c + v[i:]
        i = rng.randrange(n)                                    # substitute
        old = v[i]
        if alphabet:
            c = rng.choice(alphabet.replace(old, "") or alphabet)
        else:
            c = rng.choice(NEIGHBOURS.get(old) or LETTERS.replace(old, ""))
        return v[:i] + c + v[i + 1:]

    def digit_typo(self, v):
        """A digit substituted or two neighbouring digits transposed (same length)."""
        rng = self.rng
        n = len(v)
        if n >= 2 and rng.random() < 0.3:
            i = rng.randrange(n - 1)
            if v[i] != v[i + 1]:
                return v[:i] + v[i + 1] + v[i] + v[i + 2:]
        i = rng.randrange(n)
        return v[:i] + rng.choice("0123456789".replace(v[i], "")) + v[i + 1:]

    def modify(self, rec, f):
        """Apply one modification to field f of rec (a list, rec_id at index 0). Returns False
        when it could not change anything (e.g. the value is already empty)."""
        rng = self.rng
        v = rec[f]
        r = rng.random()
        if f in (GIVEN, SURNAME, ADDR1, ADDR2, SUBURB):
            if not v:
                return False
            if r < 0.15:
                rec[f] = ""
            elif r < 0.25:
                if f in (GIVEN, SURNAME):
                    other = SURNAME if f == GIVEN else GIVEN
                    if rec[other] == v:
                        return False
                    rec[f], rec[other] = rec[other], v
                else:
                    words = v.split(" ")
                    if len(words) < 2 or words[0] == words[-1]:
                        rec[f] = self.typo(v)
                    else:
                        i = rng.randrange(len(words) - 1)
                        words[i], words[i + 1] = words[i + 1], words[i]
                        rec[f] = " ".join(words)
            else:
                w = self.typo(v)
                if w.strip() != w or "  " in w or not w:        # keep values trimmed, non-empty
                    w = v[:-1] + rng.choice(LETTERS) if len(v) > 1 else v + rng.choice(LETTERS)
                rec[f] = w
        elif f == STREET_NO:
            if not v:
                return False
            if r < 0.2:
                rec[f] = ""
            elif r < 0.4:
                rec[f] = self.typo(v, "0123456789")
            else:
                rec[f] = self.digit_typo(v)
        elif f in (POSTCODE, SSN):
            rec[f] = self.digit_typo(v)
        elif f == DOB:
            if not v:
                return False
            rec[f] = "" if r < 0.15 else self.digit_typo(v)
        elif f == STATE:
            if not v:
                return False
            if r < 0.4:
                rec[f] = ""
            elif r < 0.7:
                rec[f] = rng.choice([s for s in self.L.states if s != v])
            else:
                rec[f] = self.typo(v)
        return rec[f] != v

    def duplicate(self, orig, rec_id):
        """A corrupted copy of orig (10 values) as a list with rec_id first."""
        rng = self.rng
        r = rng.random()
        k = 1 if r < 0.45 else (2 if r < 0.8 else 3)
        for _ in range(10):                 # until the copy differs (two swaps can cancel out)
            rec = [rec_id] + list(orig)
            done, tries = 0, 0
            while done < k and tries < 20:
                tries += 1
                f = rng.choices(self.mod_fields, cum_weights=self.mod_cum)[0]
                if self.modify(rec, f):
                    done += 1
            if rec[1:] != orig:
                break
        return rec


# ------------------------------------------------------------------ writing

def write_lines(path, lines):
    """HEADER then lines, in blocks."""
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(HEADER + "\n")
        for i in range(0, len(lines), 20000):
            f.write("\n".join(lines[i:i + 20000]))
            f.write("\n")


def line(rec_id, values):
    return rec_id + ", " + ", ".join(values)


def write_link(g, n, out):
    rng = g.rng
    orig = g.originals(n)
    order_a = list(range(n))
    rng.shuffle(order_a)
    write_lines(os.path.join(out, "dataset4a.csv"),
                [line("rec-%d-org" % i, orig[i]) for i in order_a])
    order_b = list(range(n))
    rng.shuffle(order_b)
    lines = []
    for i in order_b:
        lines.append(", ".join(g.duplicate(orig[i], "rec-%d-dup-0" % i)))
    write_lines(os.path.join(out, "dataset4b.csv"), lines)
    return n


def dup_counts(rng, n, m, max_dups, zipf):
    """How many duplicates each original gets: sum m, each at most max_dups."""
    if m > n * max_dups:
        raise ValueError("--dups %d is more than --dedup x --max-dups = %d" % (m, n * max_dups))
    ks = list(range(1, max_dups + 1))
    if zipf:
        w = [1.0 / k for k in ks]
    else:                                                   # Poisson(1) truncated to 1..max
        w, f = [], 1.0
        for k in ks:
            f /= k
            w.append(f)
    counts = [0] * n
    order = list(range(n))
    rng.shuffle(order)
    left = m
    while left > 0:                                         # a second pass only when m is near n*max
        for i in order:
            if left <= 0:
                break
            room = max_dups - counts[i]
            if room <= 0:
                continue
            k = min(rng.choices(ks, w)[0], room, left)
            counts[i] += k
            left -= k
    return counts


def write_dedup(g, n, m, out, name, max_dups, zipf):
    rng = g.rng
    orig = g.originals(n)
    counts = dup_counts(rng, n, m, max_dups, zipf)
    lines = [line("rec-%d-org" % i, orig[i]) for i in range(n)]
    true_pairs = 0
    for i in range(n):
        for k in range(counts[i]):
            lines.append(", ".join(g.duplicate(orig[i], "rec-%d-dup-%d" % (i, k))))
        size = counts[i] + 1
        true_pairs += size * (size - 1) // 2
    rng.shuffle(lines)
    write_lines(os.path.join(out, name), lines)
    return true_pairs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--link", type=int, metavar="N",
                      help="dataset4a.csv with N originals, dataset4b.csv with a duplicate of each")
    mode.add_argument("--dedup", type=int, metavar="N", help="one file with N originals and --dups duplicates")
    ap.add_argument("--dups", type=int, default=0, metavar="M", help="duplicates (with --dedup)")
    ap.add_argument("--max-dups", type=int, default=5, metavar="K",
                    help="at most K duplicates per original (with --dedup, default 5)")
    ap.add_argument("--zipf", action="store_true",
                    help="duplicates per original Zipf-like (default: Poisson)")
    ap.add_argument("--name", help="output file name (with --dedup), e.g. dataset3.csv")
    ap.add_argument("--out", required=True, help="output folder (created)")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    if a.link is not None and a.link < 1:
        ap.error("--link must be >= 1")
    if a.dedup is not None:
        if a.dedup < 1 or a.dups < 0 or a.max_dups < 1:
            ap.error("--dedup must be >= 1, --dups >= 0, --max-dups >= 1")
        if not a.name:
            ap.error("--dedup needs --name FILE.csv")
        if a.dups > a.dedup * a.max_dups:
            ap.error("--dups is more than --dedup x --max-dups")

    os.makedirs(a.out, exist_ok=True)
    g = Gen(random.Random(a.seed), Lists())
    if a.link is not None:
        write_link(g, a.link, a.out)
        print("wrote %s/dataset4a.csv (%d originals) and dataset4b.csv (%d duplicates): "
              "%d true pairs" % (a.out, a.link, a.link, a.link), file=sys.stderr)
    else:
        tp = write_dedup(g, a.dedup, a.dups, a.out, a.name, a.max_dups, a.zipf)
        print("wrote %s/%s: %d originals + %d duplicates, %d true pairs"
              % (a.out, a.name, a.dedup, a.dups, tp), file=sys.stderr)


if __name__ == "__main__":
    main()
