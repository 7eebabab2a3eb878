"""The e-mail check agrees with email-validator, whichever path it takes."""

from __future__ import annotations

import random
import string

import email_validator
import pytest

from gridy_async._validation import email_problem

LOCAL_CHARS = string.ascii_letters + string.digits + "._+-!#$%&'*/=?^`{|}~\\\" @"
DOMAINS = [
    "example.com",
    "example.org",
    "sub.example.net",
    "xn--bcher-kva.example",
    "bücher.example",
    "localhost",
    "example.test",
    "example",
    "-bad.example.com",
    "exa_mple.com",
    "a" * 64 + ".com",
    "[127.0.0.1]",
    "example..com",
]


def library_accepts(address: str) -> bool:
    """email-validator's own verdict."""
    try:
        email_validator.validate_email(address, check_deliverability=False)
    except email_validator.EmailNotValidError:
        return False
    return True


def random_local(chance: random.Random) -> str:
    """A local part that is often plain and sometimes anything but."""
    size = chance.choice([1, 2, 5, 12, 40, 63, 64, 65, 70])
    alphabet = string.ascii_lowercase + "._+-" if chance.random() < 0.6 else LOCAL_CHARS
    return "".join(chance.choice(alphabet) for _ in range(size))


@pytest.mark.parametrize("seed", range(5))
def test_fast_path_never_disagrees_with_email_validator(seed: int) -> None:
    """Thousands of generated addresses get the library's verdict, cache or not."""
    chance = random.Random(seed)
    addresses = [
        f"{random_local(chance)}@{chance.choice(DOMAINS)}" for _ in range(2000)
    ]

    for address in addresses:
        assert (email_problem(address) is None) == library_accepts(address), address


@pytest.mark.parametrize(
    "address",
    [
        "ann@example.com",
        "ann.lee+mfa@example.com",
        ".ann@example.com",
        "ann.@example.com",
        "a..nn@example.com",
        "ann@@example.com",
        "ann@example",
        "ann@example.test",
        '"ann lee"@example.com',
        "ann@",
        "@example.com",
        "a" * 65 + "@example.com",
    ],
)
def test_known_addresses_get_the_librarys_verdict(address: str) -> None:
    """Hand-picked edge cases, valid and invalid, agree with email-validator."""
    assert (email_problem(address) is None) == library_accepts(address)
