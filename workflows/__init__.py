"""The procedures GovFlow runs, each declared once (a `Procedure`, see service/procedure.py),
and the demo organisation. service/bootstrap.py installs them; nothing else imports this."""

from __future__ import annotations

from service.procedure import Procedure
from workflows import organisation, petition

PROCEDURES: tuple[Procedure, ...] = (
    petition.PROCEDURE,
)

ORGANISATION = organisation.DEMO
