"""``python manage.py create_demo_users [--round CODE]``: one demo user per role, fixed passwords.

Creates (or reuses) the users of the scripted cycle and an ``admin`` superuser, sets each
the demo password ``kelisim-<username>`` (running again resets them) and prints a table of
username, role and password. When the round (default ``TC-2017``) exists, its signatory
positions 1 and 2 are linked to ``signatory1`` and ``signatory2`` if they have no user yet.

For demonstrations only: the passwords are public.
"""

from django.core.management.base import BaseCommand
from django.db import transaction

from processes.rounds.actors import ensure_groups, ensure_user
from processes.rounds.models import Round
from workflow import permissions as roles

#: (username, role, full name); the names match ``processes.rounds.actors.ensure_cycle_actors``.
DEMO_USERS = (
    ("coordinator", roles.COORDINATOR, "Aigerim Coordinator"),
    ("partner", roles.PARTNER_COORDINATOR, "Nurlan Partner"),
    ("expert1", roles.EXPERT, "Expert 1"),
    ("expert2", roles.EXPERT, "Expert 2"),
    ("signatory1", roles.SIGNATORY, "Signatory 1"),
    ("signatory2", roles.SIGNATORY, "Signatory 2"),
    ("auditor", roles.AUDITOR, "Dana Auditor"),
    ("applicant-a1", roles.APPLICANT, "Applicant A1"),
    ("admin", roles.ADMINISTRATOR, "Kelisim Administrator"),
)


def demo_password(username: str) -> str:
    """The demo password of ``username``: ``kelisim-<username>``."""
    return f"kelisim-{username}"


class Command(BaseCommand):
    help = "Create one demo user per role with the password kelisim-<username> and print them."

    def add_arguments(self, parser):
        parser.add_argument("--round", dest="round_code", default="TC-2017",
                            help="round whose signatory positions 1 and 2 get signatory1/2 (default TC-2017)")

    @transaction.atomic
    def handle(self, *args, round_code, **options):
        ensure_groups()
        users = {}
        for username, role, full_name in DEMO_USERS:
            user = ensure_user(username, role, full_name=full_name)
            if role == roles.ADMINISTRATOR:
                user.is_superuser = True
                user.is_staff = True
            user.is_active = True
            user.set_password(demo_password(username))
            user.save()
            users[username] = user

        linked = []
        rnd = Round.objects.filter(code=round_code).first()
        if rnd is not None:
            for position in rnd.signatories.filter(position__in=(1, 2), user__isnull=True):
                position.user = users[f"signatory{position.position}"]
                position.save(update_fields=["user"])
                linked.append(f"{rnd.code} position {position.position} -> {position.user.username}")

        header = f"{'username':<14} {'role':<20} password"
        self.stdout.write(header)
        self.stdout.write("-" * len(header))
        for username, role, _ in DEMO_USERS:
            self.stdout.write(f"{username:<14} {role:<20} {demo_password(username)}")
        for line in linked:
            self.stdout.write(f"linked signatory: {line}")
        self.stdout.write(self.style.WARNING("Demo passwords are public: never use them on a real server."))
