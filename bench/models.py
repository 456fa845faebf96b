"""A minimal stateful model for measuring the engine itself (installed only by ``make bench``)."""

from django_fsm import FSMField, transition

from workflow.models import StatefulModel


class BenchItem(StatefulModel):
    """Two states and two transitions, no conditions, no human tasks: what ``perform`` adds
    to a bare django-fsm transition is then only its checks and the audit entry."""

    state = FSMField(default="a", choices=[("a", "a"), ("b", "b")], protected=True)

    @property
    def audit_chain(self) -> str:
        return f"bench/{self.pk}"

    @transition(field=state, source="a", target="b")
    def forward(self):
        """a -> b"""

    @transition(field=state, source="b", target="a")
    def back(self):
        """b -> a"""
