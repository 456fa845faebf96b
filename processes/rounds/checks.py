"""System checks: every document kind has a template in every language; rounds are consistent.

Ids: ``kelisim.E001`` missing template (an error: documents cannot be generated);
``kelisim.W002`` criteria weights of a round do not sum to 100, ``kelisim.W003`` a round
without signatories (warnings: they must not stop ``migrate`` from repairing a database).
"""

from django.conf import settings
from django.core import checks
from django.db import DatabaseError
from django.db.models import Sum


@checks.register()
def check_templates(app_configs=None, **kwargs):
    """Every document kind the cycle generates has a .docx template in every UI language."""
    from documents.render import TemplateMissing, template_path

    from .paperwork import TITLES

    errors = []
    for kind in TITLES:
        for language, _ in settings.LANGUAGES:
            try:
                template_path(kind, language)
            except TemplateMissing as exc:
                errors.append(checks.Error(str(exc), hint="run `make templates`", id="kelisim.E001"))
    return errors


@checks.register(checks.Tags.database)
def check_rounds(app_configs=None, databases=None, **kwargs):
    """Each stored round's criteria weights sum to 100 and it has at least one signatory."""
    from .models import Round

    if not databases:
        return []
    errors = []
    try:
        for rnd in Round.objects.annotate(weights=Sum("criteria__weight")):
            if rnd.weights != 100:
                errors.append(checks.Warning(f"round {rnd.code}: criteria weights sum to {rnd.weights}, not 100",
                                             hint="correct the weights in the admin while the round is a draft",
                                             obj=rnd, id="kelisim.W002"))
            if not rnd.signatories.exists():
                errors.append(checks.Warning(f"round {rnd.code} has no signatories", obj=rnd, id="kelisim.W003",
                                             hint="plans of this round cannot be signed"))
    except DatabaseError:  # not migrated yet
        return []
    return errors
