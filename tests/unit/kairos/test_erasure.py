"""The suppression hash and the id pattern every erasure step searches with."""

from __future__ import annotations

import re

import pytest

from kairos.erasure import checked_id, id_pattern, suppression_hash


def test_the_suppression_hash_is_sha256_of_salt_colon_id() -> None:
    # printf 'kairos:c-000042' | sha256sum
    expected = "15550a5eadf2ce250a8bf14acf24ec5f6a6f1b97de9a7fb91b7f0014ee53c00e"
    assert suppression_hash("c-000042", "kairos") == expected
    assert suppression_hash("c-000042", "another salt") != expected


@pytest.mark.parametrize(
    "text",
    [
        '{"customer_id":"c-1","event_type":"purchase"}',
        "GET /v1/scores/c-1 HTTP/1.1 200",
        "customer c-1, anonymous a.9",
        "c-1",
    ],
)
def test_an_id_is_found_as_a_whole_token(text: str) -> None:
    assert re.search(id_pattern(["c-1", "a.9"]), text)


@pytest.mark.parametrize(
    "text",
    ["c-10", "xc-1", "x:c-1", "c-1.5", "c-1_b", "a-9", "aX9"],  # other ids, and '.' is no wildcard
)
def test_a_longer_id_that_contains_it_is_not_found(text: str) -> None:
    assert not re.search(id_pattern(["c-1", "a.9"]), text)


def test_ids_outside_the_contracts_alphabet_are_refused() -> None:
    for bad in ("c-1\n", "c 1", "c-1'); DROP", "", "x" * 65):
        with pytest.raises(ValueError):
            checked_id(bad)
    with pytest.raises(ValueError):
        id_pattern([])
