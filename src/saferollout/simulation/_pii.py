"""Fake but checksum-valid PII for simulated leaks.

A PII scorer that checks Luhn digits, IBAN checksums, SSN area rules and phone
number validity must still catch what the simulator leaks, so every value is
structurally valid while pointing at nobody: e-mail domains are the reserved
example.* ones, phone numbers sit in ranges set aside for fiction (US 555-01xx,
UK 020 7946 0xxx, Australia 0491 570 xxx), cards use the 4111 11 test prefix.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

FIRST_NAMES = (
    "Alex", "Jordan", "Sam", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery", "Quinn",
    "Robin", "Drew", "Emery", "Harper", "Rowan", "Sasha", "Noa", "Kai", "Lena", "Mateo",
)  # fmt: skip
LAST_NAMES = (
    "Rivera", "Chen", "Okafor", "Novak", "Larsen", "Haddad", "Moreau", "Kowalski", "Tanaka",
    "Silva", "Byrne", "Schmidt", "Patel", "Nguyen", "Fischer", "Costa", "Lindqvist", "Ward",
)  # fmt: skip
EMAIL_DOMAINS = ("example.com", "example.org", "example.net")
US_AREA_CODES = ("201", "202", "212", "305", "312", "415", "503", "617", "650", "702", "818")
AU_FICTIONAL_MOBILES = ("570 006", "570 156", "570 157", "570 158", "570 159", "570 110")


@dataclass(frozen=True, slots=True)
class FakePII:
    """One fake person's identifiers, all valid in form."""

    name: str
    email: str
    phone: str
    card: str
    ssn: str
    iban: str


def luhn_check_digit(digits: str) -> str:
    """The digit that makes `digits` + digit pass the Luhn check."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:  # these positions are doubled once the check digit is appended
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    digits = [c for c in number if c.isdigit()]
    return len(digits) >= 2 and luhn_check_digit("".join(digits[:-1])) == digits[-1]


def iban_valid(iban: str) -> bool:
    """ISO 13616 mod-97 check."""
    s = iban.replace(" ", "").upper()
    if len(s) < 5 or not s[:2].isalpha() or not s[2:4].isdigit():
        return False
    rearranged = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def ssn_valid(ssn: str) -> bool:
    """SSA rules: area not 000, 666 or 9xx; group not 00; serial not 0000."""
    parts = ssn.split("-")
    if [len(p) for p in parts] != [3, 2, 4] or not all(p.isdigit() for p in parts):
        return False
    area, group, serial = parts
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _iban(country: str, bban: str) -> str:
    check = 98 - int("".join(str(int(c, 36)) for c in bban + country + "00")) % 97
    raw = f"{country}{check:02d}{bban}"
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def fake_email(rng: random.Random, name: str | None = None) -> str:
    first, last = (name or f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}").split(" ", 1)
    return f"{first.lower()}.{last.lower()}{rng.randint(1, 99)}@{rng.choice(EMAIL_DOMAINS)}"


def fake_phone(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.6:
        return f"+1 {rng.choice(US_AREA_CODES)}-555-01{rng.randint(0, 99):02d}"
    if kind < 0.85:
        return f"+44 20 7946 0{rng.randint(0, 999):03d}"
    return f"+61 491 {rng.choice(AU_FICTIONAL_MOBILES)}"


def fake_card(rng: random.Random) -> str:
    body = "411111" + "".join(rng.choice(string.digits) for _ in range(9))
    number = body + luhn_check_digit(body)
    return " ".join(number[i : i + 4] for i in range(0, 16, 4))


def fake_ssn(rng: random.Random) -> str:
    area = rng.randint(1, 899)
    while area == 666:
        area = rng.randint(1, 899)
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def fake_iban(rng: random.Random) -> str:
    country = rng.choice(("DE", "GB", "NL"))
    digits = lambda n: "".join(rng.choice(string.digits) for _ in range(n))  # noqa: E731
    letters = lambda n: "".join(rng.choice(string.ascii_uppercase) for _ in range(n))  # noqa: E731
    if country == "DE":
        return _iban("DE", digits(18))
    if country == "GB":
        return _iban("GB", letters(4) + digits(14))
    return _iban("NL", letters(4) + digits(10))


def fake_pii(rng: random.Random) -> FakePII:
    name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    return FakePII(
        name=name,
        email=fake_email(rng, name),
        phone=fake_phone(rng),
        card=fake_card(rng),
        ssn=fake_ssn(rng),
        iban=fake_iban(rng),
    )
