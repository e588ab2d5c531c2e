"""The procedures GovFlow runs, each declared once (a `Procedure`, see service/procedure.py),
and the demo organisation. service/bootstrap.py installs them; nothing else imports this."""

from __future__ import annotations

from service.procedure import Procedure
from workflows import article, article_stats, dispute_case, dispute_rounds, emergency, organisation, petition

PROCEDURES: tuple[Procedure, ...] = (
    petition.PROCEDURE,
    dispute_rounds.MONTHLY,
    dispute_rounds.DAILY,
    dispute_case.PROCEDURE,
    article.PROCEDURE,
    article_stats.ROUND,
    emergency.PROCEDURE,
)

ORGANISATION = organisation.DEMO
