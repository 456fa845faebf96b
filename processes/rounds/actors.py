"""The people of a round: the system actor, role groups, and the scripted cycle's users.

``run_cycle`` acts as real users with real roles so that every transition passes the same
permission checks as in the web UI. The demo command gives these users passwords.
"""

from __future__ import annotations

import dataclasses

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from workflow import permissions as roles

SYSTEM_USERNAME = "kelisim-system"


def ensure_groups() -> dict[str, Group]:
    """Create one group per role code (idempotent); return them by role code."""
    return {role: Group.objects.get_or_create(name=role)[0] for role in roles.ROLES}


def system_user():
    """The inactive user that imports and scheduled jobs act as (no password, no login)."""
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(
        username=SYSTEM_USERNAME, defaults={"is_active": False, "first_name": "Kelisim", "last_name": "system"})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def ensure_user(username: str, role: str, *, full_name: str = "", email: str = ""):
    """Return the user ``username``, created with an unusable password if new, in group ``role``."""
    user_model = get_user_model()
    first, _, last = full_name.partition(" ")
    user, created = user_model.objects.get_or_create(
        username=username, defaults={"first_name": first, "last_name": last,
                                     "email": email or f"{username}@example.kz"})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    user.groups.add(ensure_groups()[role])
    return user


@dataclasses.dataclass
class CycleActors:
    """The users that play each role in a scripted cycle of one round."""

    coordinator: object
    partner: object
    experts: list
    signatories: list
    auditor: object

    def applicant_for(self, case):
        """The applicant user of ``case`` (created and linked on first use)."""
        if case.applicant_id is None:
            user = ensure_user(f"applicant-{case.number.lower()}", roles.APPLICANT,
                               full_name=f"Applicant {case.number}")
            type(case).objects.filter(pk=case.pk).update(applicant=user)
            case.applicant = user
        return case.applicant


@transaction.atomic
def ensure_cycle_actors(rnd) -> CycleActors:
    """Create (or reuse) the users of a scripted cycle for ``rnd`` and link its signatories."""
    coordinator = ensure_user("coordinator", roles.COORDINATOR, full_name="Aigerim Coordinator")
    partner = ensure_user("partner", roles.PARTNER_COORDINATOR, full_name="Nurlan Partner")
    experts = [ensure_user(f"expert{i}", roles.EXPERT, full_name=f"Expert {i}") for i in (1, 2)]
    signatories = []
    for position in rnd.signatories.all():
        if position.user_id is None:
            position.user = ensure_user(f"signatory{position.position}", roles.SIGNATORY,
                                        full_name=f"Signatory {position.position}")
            position.save(update_fields=["user"])
        signatories.append(position.user)
    auditor = ensure_user("auditor", roles.AUDITOR, full_name="Dana Auditor")
    return CycleActors(coordinator, partner, experts, signatories, auditor)
