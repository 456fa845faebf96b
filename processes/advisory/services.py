"""Advisory services: circulating and finalising a briefing note, with its Word document.

The briefing note is a document of the material's chain (the case's when the material is
about one case, else the round's; key ``advisory-<id>``) in that case's or the round's
language. It lists the round's selected clusters and the partner's position; version 1 is
made when the note is circulated, the next one when it is finalised (with the partner's
comments). Agendas and minutes have no template: only briefing notes get a document.
"""

from __future__ import annotations

from django.db import transaction

from workflow.transitions import perform

from processes.rounds.paperwork import format_number, generate, stage_text

from .models import AdvisoryMaterial

#: Who a briefing note is addressed to (the consultative-advisory body), per language.
ADDRESSEE = {
    "ru": "Консультативно-совещательный орган по вопросам развития кластеров",
    "kk": "Кластерлерді дамыту мәселелері жөніндегі консультативтік-кеңесші орган",
    "en": "Consultative-advisory body on cluster development",
}
#: Printed when the partner has not commented yet.
NO_COMMENTS = {"ru": "Замечания партнёра ещё не поступили.", "kk": "Серіктестің ескертулері әлі түскен жоқ.",
               "en": "The partner has not commented yet."}


def _score(score, language: str) -> str:
    return format_number(score, language) if score is not None else ""


def briefing_note(*, material: AdvisoryMaterial, actor):
    """Generate (the next version of) the briefing note document of ``material``; return it.

    Raises ``ValueError`` for a material that is not a briefing note.
    """
    if material.kind != AdvisoryMaterial.Kind.BRIEFING_NOTE:
        raise ValueError(f"{material} is a {material.kind}, not a briefing note: it has no document")
    rnd, case = material.round, material.case
    lang = case.language if case is not None else rnd.language
    selected = (rnd.cases.filter(application__selection__state="selected")
                .select_related("application__selection").order_by("application__selection__rank", "number"))
    clusters = [{"number": i, "ref": c.ref, "name": c.name(lang), "region": c.application.region,
                 "score": _score(c.application.selection.score, lang), "stage": stage_text(c.state, lang)}
                for i, c in enumerate(selected, 1)]
    return generate(rnd=rnd, case=case, kind="briefing_note", stage="advisory", actor=actor, language=lang,
                    key=f"advisory-{material.pk}", context={
                        "note": {"addressee": ADDRESSEE.get(lang, ADDRESSEE["en"]), "title": material.title,
                                 "body": material.body,
                                 "partner_comments": material.partner_comments or NO_COMMENTS.get(lang, "")},
                        "clusters": clusters})


@transaction.atomic
def circulate(*, material: AdvisoryMaterial, actor) -> AdvisoryMaterial:
    """Circulate ``material`` and, for a briefing note, generate its document (version 1).
    Raises the workflow errors of ``perform``; then nothing changes."""
    perform(material, "circulate", actor=actor)
    if material.kind == AdvisoryMaterial.Kind.BRIEFING_NOTE:
        briefing_note(material=material, actor=actor)
    return material


@transaction.atomic
def finalise(*, material: AdvisoryMaterial, actor) -> AdvisoryMaterial:
    """Fix the final version of ``material``; a briefing note gets a new document version with
    the partner's comments. Raises the workflow errors of ``perform``; then nothing changes."""
    perform(material, "finalise", actor=actor)
    if material.kind == AdvisoryMaterial.Kind.BRIEFING_NOTE:
        briefing_note(material=material, actor=actor)
    return material
