"""What an erasure needs everywhere, without Spark or Redis: the suppression hash and the
pattern that finds an id in text.

* **Suppression hash.** Erased ids are kept only as ``sha256(salt + ":" + id)`` (hex): the
  API and bronze hash each incoming event's ids the same way and drop the event when the hash
  is on the list. The same expression in Spark SQL is
  ``sha2(concat('<salt>:', customer_id), 256)`` (:func:`spark_jobs.erased.hashed`). A hash of
  a short, guessable id (``c-000042``) can be reversed by trying every id: the salt
  (``KAIROS_PRIVACY_HASH_SALT``, a secret per deployment) is what makes that impractical.
* **Id pattern.** Ids are made of ``[A-Za-z0-9_.:-]`` (the event contract), so an id is found
  in a log line or a raw payload only where no such character touches it on either side:
  ``c-1`` is not found in ``c-10`` nor in ``x:c-1``. The pattern is valid in Python's ``re``
  and in Java's regex (Spark's ``rlike`` and ``regexp_extract``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

ID_CHARS = "A-Za-z0-9_.:-"
_ID = re.compile(rf"[{ID_CHARS}]{{1,64}}")
LANDED = "privacy/erased/"  # landing store folder of the hashed ids, one file per request


def checked_id(value: str) -> str:
    """``value`` if it is a whole id of the contract's alphabet (else ``ValueError``)."""
    if not _ID.fullmatch(value):
        raise ValueError(f"not an id of the event contract: {value!r}")
    return value


def suppression_hash(value: str, salt: str) -> str:
    """The hex SHA-256 of ``salt:value``, as the suppression list stores erased ids."""
    return hashlib.sha256(f"{salt}:{value}".encode()).hexdigest()


def id_pattern(ids: Iterable[str]) -> str:
    """A regex matching any of ``ids`` as a whole token (Python ``re`` and Java regex alike)."""
    quoted = sorted(
        {re.sub(r"([.\-])", r"\\\1", checked_id(i)) for i in ids}, key=lambda q: (-len(q), q)
    )
    if not quoted:
        raise ValueError("no ids to match")
    return rf"(?<![{ID_CHARS}])(?:{'|'.join(quoted)})(?![{ID_CHARS}])"
