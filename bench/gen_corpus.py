#!/usr/bin/env python3
"""Writes a deterministic corpus of mixed addresses, one per line, for the benchmarks.

The mix imitates a real sign-up or marketing list: mostly big free providers, a long tail of
company domains, and the junk people really type. Usage: gen_corpus.py N OUT [--seed S]
"""
import random
import sys

FIRST = ["john", "mary", "li", "ahmed", "olga", "jose", "anna", "peter", "sofia", "wei", "raj", "emma",
         "lucas", "fatima", "noah", "mia", "ivan", "chloe", "kenji", "zoe", "omar", "lea", "tom", "nina"]
LAST = ["smith", "garcia", "wang", "muller", "rossi", "kowalski", "nguyen", "silva", "kim", "jones",
        "novak", "dubois", "tanaka", "brown", "ivanov", "larsen", "cohen", "patel", "haddad", "meyer"]
FREE = ["gmail.com"] * 30 + ["yahoo.com"] * 8 + ["outlook.com"] * 6 + ["hotmail.com"] * 6 + [
    "icloud.com", "aol.com", "gmx.de", "web.de", "yahoo.co.uk", "live.com", "mail.ru", "yandex.ru",
    "protonmail.com", "qq.com", "163.com", "orange.fr", "libero.it", "hotmail.fr", "comcast.net"]
TLDS = ["com"] * 10 + ["de", "co.uk", "io", "net", "org", "fr", "nl", "com.au", "ca", "it", "es", "ch"]
DISPOSABLE = ["mailinator.com", "guerrillamail.com", "10minutemail.com", "yopmail.com", "trashmail.com",
              "sharklasers.com", "tempmail.net", "dispostable.com", "maildrop.cc", "getnada.com"]
TYPOS = ["gmial.com", "gmai.com", "gmail.con", "yaho.com", "hotmial.com", "outlok.com", "gnail.com",
         "yahooo.com", "hotmal.com", "gmail.co"]
ROLES = ["info", "sales", "support", "admin", "contact", "office", "noreply", "billing", "hr", "jobs"]
INVALID = [
    "{l}", "{l}@", "@{d}", "{l}@@{d}", "{l}..x@{d}", ".{l}@{d}", "{l}.@{d}", "{l} x@{d}", "{l}@{d}.",
    "{l}@-{d}", "{l}@{d}..com", "{l}\uff20{d}", "{l}@{d}.notatld", "{l}@example.com", "{l}@localhost",
    "{l}@test", "{l}@x.invalid", "Name <{l}@{d}>", "{l}(c)@{d}", "{l}@{d}_x.com", "{l}@" + "a" * 70 + ".com",
    "x" * 70 + "@{d}", "{l},{l}@{d}", "{l}@{d}:25", "{l}@[300.1.1.1]",
]


def local(rng):
    f, l = rng.choice(FIRST), rng.choice(LAST)
    shape = rng.random()
    if shape < 0.35:
        return f"{f}.{l}"
    if shape < 0.55:
        return f"{f}{l}{rng.randint(1, 2025)}"
    if shape < 0.70:
        return f"{f[0]}{l}"
    if shape < 0.80:
        return f"{f}_{l}{rng.randint(1, 99)}"
    if shape < 0.88:
        return f"{f}+{rng.choice(['news', 'shop', 'x'])}@".rstrip("@")
    if shape < 0.95:
        return f"{f}.{l}.{rng.randint(10, 99)}"
    return f"{f.capitalize()}.{l.capitalize()}"


def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 42
    rng = random.Random(seed)
    companies = [f"{rng.choice(LAST)}{rng.choice(['-', ''])}{rng.choice(['tech', 'group', 'labs', 'shop', 'media', 'law', 'bau', 'soft'])}{i}.{rng.choice(TLDS)}"
                 for i in range(5000)]
    with open(out, "w", encoding="utf-8", newline="\n") as fh:
        for _ in range(n):
            p = rng.random()
            if p < 0.55:
                a = f"{local(rng)}@{rng.choice(FREE)}"
            elif p < 0.75:
                a = f"{local(rng)}@{rng.choice(companies)}"
            elif p < 0.80:
                a = f"{local(rng)}@{rng.choice(DISPOSABLE)}"
            elif p < 0.83:
                a = f"{local(rng)}@{rng.choice(TYPOS)}"
            elif p < 0.86:
                a = f"{rng.choice(ROLES)}@{rng.choice(companies)}"
            elif p < 0.88:
                a = rng.choice([f"{rng.choice(FIRST)}@bücher.de", f"josé.{rng.choice(LAST)}@gmail.com",
                                f"用户{rng.randint(1, 999)}@例子.中国", f"{rng.choice(FIRST)}@münchen.de"])
            elif p < 0.90:
                a = rng.choice([f'"{rng.choice(FIRST)} {rng.choice(LAST)}"@{rng.choice(companies)}',
                                f"{rng.choice(FIRST)}@[192.0.2.{rng.randint(1, 254)}]",
                                f"UPPER.{rng.choice(LAST).upper()}@GMAIL.COM"])
            else:
                a = rng.choice(INVALID).format(l=local(rng), d=rng.choice(FREE + companies[:50]))
            fh.write(a + "\n")


if __name__ == "__main__":
    main()
