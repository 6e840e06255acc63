"""gunicorn's access log without private-link tokens (DESIGN rule 15).

Every atom of an access-log line (request line, path, query, referer, any header) goes
through the same `mask_private_links` as the application's own log lines, so
`/r/<token>/` is written as `/r/[token]/` wherever it appears.
"""

from __future__ import annotations

from collections.abc import Mapping

from gunicorn.glogging import Logger, SafeAtoms

from reservations.log_filters import mask_private_links


class MaskedAtoms(SafeAtoms):
    """gunicorn's access-log atoms with private-link tokens masked."""

    def __init__(self, atoms: Mapping[str, object]) -> None:
        super().__init__(
            {
                key: mask_private_links(value) if isinstance(value, str) else value
                for key, value in atoms.items()
            }
        )


class AccessLogger(Logger):
    """gunicorn's logger whose access lines carry no private-link token."""

    atoms_wrapper_class = MaskedAtoms
