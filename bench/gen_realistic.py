#!/usr/bin/env python3
"""Writes a deterministic corpus that looks like a real B2B list (issue 15), for the offline benchmarks.

bench/gen_corpus.py repeats a few thousand domains, so the per-domain work (public suffix list,
disposable lists, typo candidates) is almost always a cache hit there. Real lists are far more
diverse: this one has about one distinct domain per five addresses:

- company domains made of syllables and words ("brenvola.de", "northpeak-logistics.com.au"), with a
  long tail of TLDs and second-level suffixes (co.uk, com.br, co.jp ...), drawn with a power law
  so a few companies repeat a lot and most appear once or twice;
- subdomains (mail.acme.co.uk, cs.stanford-like.edu, dept.uni-x.ac.uk);
- IDNs written as U-labels in several scripts (Latin with diacritics, Cyrillic, Greek, Han, kana,
  Hangul, Thai, Arabic), and a few already written as A-labels;
- free providers of many countries, disposable domains, typos of providers and of companies;
- plus-tags, mixed case, role accounts, a few quoted or UTF-8 local parts;
- about 10% invalid addresses of the kinds people really type.

Usage: gen_realistic.py N OUT [--seed S] [--csv OUT.csv]
  --csv also writes the same addresses as a 4-column CSV with a header and quoted fields
  (id,"name","email","company"), for `verify --input F.csv --output OUT.csv`.
Prints the corpus's shape (addresses, distinct domains and their ratio, % IDN, % invalid ...) to
stdout: state it next to every figure measured on the corpus.
"""
import random
import sys

SYLLABLES = ["ac", "al", "an", "ar", "as", "bel", "ben", "bra", "bri", "ca", "cor", "cra", "da", "del",
             "den", "dor", "el", "en", "fa", "fel", "fin", "ga", "gen", "gro", "ha", "hel", "in", "is",
             "ja", "ka", "kel", "kin", "la", "len", "lin", "lo", "lu", "ma", "mar", "mel", "min", "mo",
             "na", "nel", "no", "nor", "o", "or", "pa", "pel", "per", "pro", "qua", "ra", "ren", "ri",
             "ro", "sa", "sel", "sol", "sta", "ta", "tel", "ter", "tra", "tri", "u", "ul", "va", "vel",
             "ven", "vi", "vo", "wa", "wel", "xa", "ya", "za", "zen", "zo"]
SUFFIX_SYL = ["a", "ex", "ia", "ico", "ify", "ion", "is", "ix", "io", "ly", "on", "or", "os", "um", "us",
              "tec", "tek", "gen", "sys", "net", "works", "ware", "lab", "hub", "go", "x", ""]
WORDS = ["blue", "north", "south", "east", "west", "green", "red", "silver", "gold", "bright", "clear",
         "swift", "smart", "prime", "alpha", "delta", "nova", "terra", "aqua", "sun", "star", "peak",
         "river", "stone", "oak", "pine", "cedar", "iron", "global", "united", "first", "metro", "urban",
         "coastal", "alpine", "pacific", "atlantic", "nordic", "royal", "apex", "summit", "vertex",
         "bridge", "harbor", "valley", "field", "lake", "forest", "cloud", "data", "signal", "pixel"]
TRADES = ["logistics", "consulting", "partners", "capital", "legal", "law", "dental", "clinic",
          "health", "foods", "bakery", "motors", "auto", "energy", "solar", "systems", "software",
          "tech", "labs", "media", "design", "studio", "group", "holdings", "ventures", "realty",
          "homes", "construction", "bau", "engineering", "marketing", "print", "travel", "hotel",
          "pharma", "bio", "textiles", "steel", "plastics", "farms", "wines", "coffee", "fitness",
          "security", "insurance", "finance", "accounting", "recruiting", "telecom", "analytics"]
# A long tail: weight 40 for com, then a power law over the rest.
TLDS = (["com", "de", "co.uk", "net", "org", "fr", "nl", "io", "com.au", "ca", "it", "es", "ch", "at",
         "be", "se", "dk", "no", "fi", "pl", "cz", "pt", "ie", "us", "co", "com.br", "com.mx", "co.jp",
         "jp", "cn", "com.cn", "in", "co.in", "co.za", "co.nz", "sg", "com.sg", "hk", "com.hk", "tw",
         "com.tw", "kr", "co.kr", "ru", "ua", "com.tr", "gr", "ro", "hu", "sk", "si", "hr", "rs", "bg",
         "lt", "lv", "ee", "is", "lu", "li", "mt", "cy", "il", "co.il", "ae", "sa", "com.sa", "eg",
         "ma", "ng", "ke", "com.ar", "cl", "pe", "com.co", "uy", "ec", "vn", "th", "co.th", "my",
         "com.my", "id", "co.id", "ph", "com.ph", "pk", "bd", "lk", "np", "biz", "info", "eu", "me",
         "tv", "cc", "ai", "app", "dev", "tech", "agency", "studio", "shop", "store", "online", "site",
         "xyz", "club", "design", "digital", "email", "group", "law", "legal", "media", "network",
         "solutions", "systems", "consulting", "company", "global", "world", "today", "life", "live",
         "pro", "name", "mobi", "asia", "berlin", "london", "paris", "nyc", "tokyo", "swiss", "bayern",
         "wien", "cat", "scot", "wales", "ltd", "gmbh", "inc", "llc", "srl", "ac.uk", "org.uk",
         "gov.uk", "edu.au", "com.ua", "com.pl", "net.au", "org.au", "co.at", "or.jp", "ne.jp"])
TLD_WEIGHTS = [40.0] + [12.0 / (i ** 0.9) for i in range(1, len(TLDS))]
SUB = ["mail", "eu", "us", "uk", "de", "corp", "office", "intl", "hq", "mx", "email", "m", "group",
       "sales", "staff", "students", "alumni", "research"]
DEPTS = ["cs", "math", "physics", "med", "law", "econ", "chem", "bio", "eng", "arts", "hist",
         "psych", "ee", "it", "library", "admin"]
EDU = ["edu", "ac.uk", "edu.au", "ac.jp", "ac.nz", "edu.cn", "ac.in", "ac.za", "ac.at", "edu.pl"]

# U-label syllables per script, with TLDs that script is registered under.
IDN_SCRIPTS = [
    (["mü", "bü", "schö", "grü", "fä", "hö", "lö", "kö", "ber", "gen", "stadt", "ner", "ler", "hof",
      "bäck", "tür", "öl", "straß"], ["de", "at", "ch", "com", "eu"]),
    (["cré", "pé", "é", "çà", "fê", "lé", "mè", "rô", "bou", "lan", "ger", "ie", "té"], ["fr", "be", "ca", "com"]),
    (["ñu", "año", "piñ", "cañ", "ón", "ma", "ta", "só", "lí", "rá", "ja", "dí"], ["es", "com.mx", "com.ar", "cl"]),
    (["ż", "ó", "ł", "ść", "wa", "ko", "ń", "rze", "gó", "dą", "bę"], ["pl", "com.pl", "eu"]),
    (["ř", "č", "ě", "ů", "ná", "pra", "ho", "ší", "ká"], ["cz"]),
    (["мо", "ск", "ва", "ру", "бль", "тех", "ком", "пром", "сер", "вис", "дом", "ма", "газ", "ин"],
     ["рф", "ru", "com", "укр", "бг", "срб"]),
    (["αθ", "ην", "ελ", "λα", "δα", "πο", "λη", "κα", "σο", "φι"], ["gr", "ελ", "eu", "com"]),
    (["北", "京", "上", "海", "科", "技", "网", "络", "公", "司", "中", "华", "电", "子"],
     ["中国", "cn", "com", "公司", "网络", "香港"]),
    (["とう", "きょう", "さく", "ら", "やま", "カ", "メ", "ラ", "ショ", "ップ", "日", "本"], ["jp", "co.jp", "com", "みんな"]),
    (["한", "국", "서", "울", "부", "산", "회", "사", "닷", "컴"], ["kr", "한국", "com"]),
    (["ไทย", "บา", "งก", "อก", "สา", "มา"], ["th", "ไทย"]),
    (["مصر", "شر", "كة", "عر", "بي", "ال", "قا", "هر", "ة"], ["مصر", "السعودية", "امارات"]),
]
A_LABEL_IDNS = ["xn--mnchen-3ya.de", "xn--bcher-kva.de", "xn--80ak6aa92e.com", "xn--fiqs8s.xn--fiqz9s",
                "xn--e1afmkfd.xn--p1ai", "xn--3e0b707e.xn--3e0b707e"]

FREE = (["gmail.com"] * 40 + ["yahoo.com"] * 10 + ["outlook.com"] * 8 + ["hotmail.com"] * 8 +
        ["icloud.com"] * 4 + ["aol.com"] * 2 + ["gmx.de", "web.de", "t-online.de", "gmx.net", "yahoo.co.uk",
        "live.com", "msn.com", "mail.ru", "yandex.ru", "rambler.ru", "protonmail.com", "proton.me", "qq.com",
        "163.com", "126.com", "naver.com", "daum.net", "orange.fr", "free.fr", "laposte.net", "sfr.fr",
        "libero.it", "virgilio.it", "hotmail.fr", "hotmail.co.uk", "hotmail.it", "hotmail.de", "comcast.net",
        "verizon.net", "att.net", "sbcglobal.net", "bigpond.com", "optusnet.com.au", "shaw.ca",
        "rogers.com", "uol.com.br", "bol.com.br", "terra.com.br", "wp.pl", "o2.pl", "interia.pl",
        "seznam.cz", "bluewin.ch", "telenet.be", "ziggo.nl", "yahoo.co.jp", "yahoo.fr", "yahoo.de",
        "rediffmail.com", "zoho.com", "fastmail.com", "tutanota.com", "ukr.net", "abv.bg", "inbox.lv"])
DISPOSABLE = ["mailinator.com", "guerrillamail.com", "10minutemail.com", "yopmail.com", "trashmail.com",
              "sharklasers.com", "tempmail.net", "dispostable.com", "maildrop.cc", "getnada.com",
              "temp-mail.org", "throwawaymail.com", "mintemail.com", "fakeinbox.com", "mohmal.com"]
PROVIDER_TYPOS = ["gmial.com", "gmai.com", "gmail.con", "gmail.cm", "gmail.co", "gamil.com", "gnail.com",
                  "yaho.com", "yahooo.com", "yahoo.cmo", "hotmial.com", "hotmal.com", "hotmail.con",
                  "outlok.com", "outloo.com", "iclod.com", "aol.con", "gmx.dee", "yandex.ri", "hotmil.com"]
ROLES = ["info", "sales", "support", "admin", "contact", "office", "noreply", "billing", "hr", "jobs",
         "careers", "marketing", "team", "hello", "accounts", "webmaster", "press", "service"]
FIRST = ["john", "mary", "li", "ahmed", "olga", "jose", "anna", "peter", "sofia", "wei", "raj", "emma",
         "lucas", "fatima", "noah", "mia", "ivan", "chloe", "kenji", "zoe", "omar", "lea", "tom", "nina",
         "james", "sarah", "david", "laura", "michael", "julia", "daniel", "elena", "marco", "giulia",
         "pierre", "camille", "jan", "katarzyna", "lars", "ingrid", "hiroshi", "yuki", "min", "ji",
         "carlos", "lucia", "ali", "aisha", "priya", "arjun", "tomas", "eva", "mateo", "valentina"]
LAST = ["smith", "garcia", "wang", "muller", "rossi", "kowalski", "nguyen", "silva", "kim", "jones",
        "novak", "dubois", "tanaka", "brown", "ivanov", "larsen", "cohen", "patel", "haddad", "meyer",
        "johnson", "williams", "martin", "bernard", "schmidt", "schneider", "fischer", "ferrari",
        "russo", "lopez", "martinez", "fernandez", "nowak", "wisniewski", "andersson", "nilsen",
        "sato", "suzuki", "chen", "liu", "zhang", "singh", "kumar", "hansen", "jensen", "petrov"]
INVALID = [
    "{l}", "{l}@", "@{d}", "{l}@@{d}", "{l}..x@{d}", ".{l}@{d}", "{l}.@{d}", "{l} x@{d}", "{l}@{d}.",
    "{l}@-{d}", "{l}@{d}..com", "{l}\uff20{d}", "{l}@{d}.notatld", "{l}@example.com", "{l}@localhost",
    "{l}@test", "{l}@x.invalid", "Name <{l}@{d}>", "{l}(c)@{d}", "{l}@{d}_x", "{l}@" + "a" * 70 + ".com",
    "x" * 70 + "@{d}", "{l},{l}@{d}", "{l}@{d}:25", "{l}@[300.1.1.1]", "{l}@{d} ", "mailto:{l}@{d}",
    "{l}@{d}.c", "{l}@.{d}", "{l}@{d}-", "{l}#{d}", "{l}@{d}@{d}", "{l} @ {d}", "N/A", "-", "",
]


def name(rng):
    n = rng.randint(1, 3)
    s = "".join(rng.choice(SYLLABLES) for _ in range(n)) + rng.choice(SUFFIX_SYL)
    return s if len(s) >= 3 else s + rng.choice(SYLLABLES)


def company_label(rng):
    p = rng.random()
    if p < 0.40:
        return name(rng)
    if p < 0.60:
        return rng.choice(WORDS) + rng.choice(["", "-"]) + rng.choice(TRADES)
    if p < 0.75:
        return name(rng) + rng.choice(["", "-"]) + rng.choice(TRADES)
    if p < 0.85:
        return rng.choice(LAST) + rng.choice(["", "-", "-and-"]) + rng.choice(LAST + TRADES)
    if p < 0.92:
        return rng.choice(WORDS) + name(rng)
    return name(rng) + str(rng.randint(1, 99))


def idn_domain(rng):
    syl, tlds = rng.choice(IDN_SCRIPTS)
    label = "".join(rng.choice(syl) for _ in range(rng.randint(2, 4)))
    return label + "." + rng.choice(tlds)


def company_domain(rng):
    """One company (or university) domain; returns (domain, kind)."""
    p = rng.random()
    if p < 0.05:
        return idn_domain(rng), "idn"
    if p < 0.06:
        return rng.choice(A_LABEL_IDNS), "idn"
    base = company_label(rng) + "." + rng.choices(TLDS, TLD_WEIGHTS)[0]
    if p < 0.14:
        return rng.choice(SUB) + "." + base, "sub"
    if p < 0.18:
        uni = rng.choice(["uni-", "univ-", "", "st-", "tu-"]) + name(rng) + "." + rng.choice(EDU)
        return (rng.choice(DEPTS) + "." + uni if rng.random() < 0.6 else uni), "sub"
    return base, "company"


def typo_of(rng, d):
    """One random edit (deletion, insertion, substitution, transposition) in the first label."""
    label, dot, rest = d.partition(".")
    if len(label) < 3:
        return d
    i = rng.randrange(len(label) - 1)
    k = rng.randrange(4)
    c = rng.choice("abcdefghijklmnopqrstuvwxyz")
    if k == 0:
        label = label[:i] + label[i + 1:]
    elif k == 1:
        label = label[:i] + c + label[i:]
    elif k == 2:
        label = label[:i] + c + label[i + 1:]
    else:
        label = label[:i] + label[i + 1] + label[i] + label[i + 2:]
    return label + dot + rest


def local(rng, f, l):
    shape = rng.random()
    if shape < 0.30:
        s = f"{f}.{l}"
    elif shape < 0.45:
        s = f"{f}{l}{rng.randint(1, 2025)}"
    elif shape < 0.60:
        s = f"{f[0]}{l}"
    elif shape < 0.68:
        s = f"{f}_{l}{rng.randint(1, 99)}"
    elif shape < 0.76:
        s = f"{f}"
    elif shape < 0.82:
        s = f"{l}.{f[0]}"
    elif shape < 0.87:
        s = f"{f}-{l}"
    else:
        s = f"{f}{rng.randint(1, 9999)}"
    r = rng.random()
    if r < 0.05:
        s += "+" + rng.choice(["news", "shop", "x", "2024", "promo", "work", "lists"])
    return s


def mixed_case(rng, s):
    r = rng.random()
    if r < 0.5:
        return s.title()
    if r < 0.8:
        return s.upper()
    return "".join(c.upper() if rng.random() < 0.3 else c for c in s)


def main():
    args = sys.argv[1:]
    n, out = int(args[0]), args[1]
    seed = int(args[args.index("--seed") + 1]) if "--seed" in args else 42
    csv_out = args[args.index("--csv") + 1] if "--csv" in args else None
    rng = random.Random(seed)
    # Company pool: drawn with a power law, so a few companies repeat a lot and most appear once or
    # twice. Sized with N so the distinct-domain ratio stays near 20% at any N.
    pool_size = max(100, int(n * 0.22))
    pool = [company_domain(rng) for _ in range(pool_size)]
    counts = {"invalid": 0, "idn": 0, "idn_domain": 0, "free": 0, "disposable": 0, "typo": 0, "sub": 0, "plus": 0,
              "mixed": 0, "role": 0}
    domains = set()
    rows = []
    for _ in range(n):
        f, l = rng.choice(FIRST), rng.choice(LAST)
        p = rng.random()
        kind = "company"
        if p < 0.28:
            d = rng.choice(FREE)
            kind = "free"
        elif p < 0.30:
            d = rng.choice(DISPOSABLE)
            kind = "disposable"
        elif p < 0.315:
            d = rng.choice(PROVIDER_TYPOS)
            kind = "typo"
        elif p < 0.325:
            d = typo_of(rng, pool[int(pool_size * rng.random() ** 2.5)][0])
            kind = "typo"
        else:
            d, kind = pool[int(pool_size * rng.random() ** 2.5)]
        if kind in ("company", "sub", "idn") and rng.random() < 0.05:
            lp = rng.choice(ROLES)
            counts["role"] += 1
        else:
            lp = local(rng, f, l)
        r = rng.random()
        if r < 0.004:
            lp = f'"{f} {l}"'
        elif r < 0.008:
            lp = rng.choice(["josé", "müller", "андрей", "李明", "zoë"]) + str(rng.randint(1, 99))
        if "+" in lp:
            counts["plus"] += 1
        a = f"{lp}@{d}"
        if rng.random() < 0.08:
            a = mixed_case(rng, a) if rng.random() < 0.5 else f"{lp}@{mixed_case(rng, d)}"
            counts["mixed"] += 1
        if rng.random() < 0.10:
            a = rng.choice(INVALID).format(l=lp, d=d)
            counts["invalid"] += 1
        else:
            counts[kind] = counts.get(kind, 0) + 1
        if "@" in a:
            dom = a.rsplit("@", 1)[1].lower()
            domains.add(dom)
            if any(ord(c) > 127 for c in dom) or "xn--" in dom:
                counts["idn_domain"] += 1
        rows.append((a, f, l, d))
    with open(out, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("\n".join(r[0] for r in rows))
        fh.write("\n")
    if csv_out:
        with open(csv_out, "w", encoding="utf-8", newline="\n") as fh:
            fh.write('id,"name","email","company"\n')
            for i, (a, f, l, d) in enumerate(rows, 1):
                q = a.replace('"', '""')
                fh.write(f'{i},"{l.capitalize()}, {f.capitalize()}","{q}","{d.split(".")[0].capitalize()} Ltd."\n')
    pct = lambda k: 100.0 * counts[k] / n
    print(f"corpus {out}: {n:,} addresses, seed {seed}")
    print(f"  distinct domains: {len(domains):,} ({100.0 * len(domains) / n:.1f}% of addresses)")
    print(f"  IDN domains {pct('idn_domain'):.1f}%, invalid by construction {pct('invalid'):.1f}%, "
          f"free {pct('free'):.1f}%, disposable {pct('disposable'):.1f}%, typos {pct('typo'):.1f}%, "
          f"subdomains {pct('sub'):.1f}%, plus-tags {pct('plus'):.1f}%, mixed case {pct('mixed'):.1f}%, "
          f"roles {pct('role'):.1f}%")


if __name__ == "__main__":
    main()
