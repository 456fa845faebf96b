"""The Django admin in Kazakh and Russian (issue 6): the administrator's index, every change
list and a change form name Kelisim's models, their fields and the third-party models by their
translated names, not the English ones.

Model and field names are the models' ``verbose_name``/``verbose_name_plural`` and the fields'
``verbose_name``/``help_text``, marked with ``gettext_lazy``; the admin strings Django and
third-party apps leave in English for Kazakh are in ``processes/portal/admin_strings.py``
(docs/i18n.md).
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import translation
from django.utils.text import capfirst

from processes.rounds.models import Round
from workflow.models import AuditEntry

from .test_translations import english_msgids, text_nodes

LANGUAGES = ("kk", "ru")
#: Kelisim's apps: every name of their models and fields is an interface string.
KELISIM_APPS = {"workflow", "approvals", "documents", "rounds", "submission", "selection", "diagnosis",
                "planning", "support", "implementation", "advisory", "training", "portal"}


def _source(value) -> str:
    """The English msgid behind a (lazy) translated name."""
    with translation.override("en"):
        return str(value)


def english_model_and_field_names(language: str) -> set[str]:
    """Every English model name (singular, plural, capitalised as the admin shows it) and field
    name of Kelisim's models, and the names of the third-party models registered in the admin,
    whose ``language`` translation differs from the English (not "crontab", "PDF")."""
    msgids = set()
    for model in apps.get_models():
        opts = model._meta
        registered = model in admin.site._registry
        if opts.app_label not in KELISIM_APPS and not registered:
            continue
        msgids |= {_source(opts.verbose_name), _source(opts.verbose_name_plural)}
        if opts.app_label in KELISIM_APPS:
            msgids |= {_source(field.verbose_name) for field in opts.get_fields()
                       if getattr(field, "concrete", False) and not field.auto_created}
    with translation.override(language):
        differing = {msgid for msgid in msgids if translation.gettext(msgid) != msgid}
    # "Axes": the name of a product, as django-axes spells it in every language
    return {name for msgid in differing for name in (msgid, capfirst(msgid))} - {"Axes"}


@pytest.fixture
def superuser(db):
    user, _ = get_user_model().objects.get_or_create(username="admin-i18n", defaults={
        "is_staff": True, "is_superuser": True})
    return user


def test_every_kelisim_model_and_field_has_a_translatable_name():
    """No model or field of Kelisim's apps falls back to a name Django made up from the code."""
    bare = []
    for model in apps.get_models():
        opts = model._meta
        if opts.app_label not in KELISIM_APPS:
            continue
        for label, value in [("model", opts.verbose_name), ("plural", opts.verbose_name_plural)] + [
                (field.name, field.verbose_name) for field in opts.get_fields()
                if getattr(field, "concrete", False) and not field.auto_created]:
            if isinstance(value, str):  # a lazy translation is a Promise, not a str
                bare.append(f"{opts.label}.{label}")
    assert bare == [], f"names not marked with gettext_lazy: {bare}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_admin_names_models_and_fields_in_the_language(client, superuser, language):
    client.force_login(superuser)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    # Data, not interface: people's usernames and names, the groups' names (role codes), and the
    # transition and state codes the audit entries store (docs/i18n.md, "Codes stay data").
    people = get_user_model().objects.values_list("username", "first_name", "last_name")
    codes = AuditEntry.objects.values_list("transition", "from_state", "to_state", "object_type").distinct()
    data = ({value for row in people for value in row} | {value for row in codes for value in row}
            | set(Group.objects.values_list("name", flat=True)))
    english = (english_model_and_field_names(language) | english_msgids(language)) - data
    round_ = Round.objects.first()
    pages = {"index": reverse("admin:index"),
             "round change form": reverse("admin:rounds_round_change", args=[round_.pk])}
    pages.update({f"{model._meta.label} change list": reverse(
        f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist") for model in admin.site._registry})
    shown = {}
    for name, url in pages.items():
        response = client.get(url)
        assert response.status_code == 200, name
        assert response["Content-Language"] == language
        nodes = set(text_nodes(response))
        shown[name] = nodes
        left = nodes & english
        assert left == set(), f"{name} shows English names in {language}: {sorted(left)}"
    with translation.override(language):
        expected_index = {capfirst(Round._meta.verbose_name_plural), capfirst(translation.gettext("cases")),
                          capfirst(translation.gettext("audit entries")),
                          capfirst(translation.gettext("periodic tasks")),
                          capfirst(translation.gettext("access attempts"))}
        expected_columns = {capfirst(translation.gettext("pass mark")), capfirst(translation.gettext("time zone"))}
    assert expected_index <= shown["index"], expected_index - shown["index"]
    assert expected_columns <= shown["round change form"], expected_columns - shown["round change form"]
    assert "Rounds" not in shown["index"] and "Pass mark" not in shown["round change form"]


def test_the_check_sees_an_english_model_name(client, superuser):
    """The check above can fail: with English names the same pages show them."""
    client.force_login(superuser)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    nodes = set(text_nodes(client.get(reverse("admin:index"))))
    assert {"Rounds", "Audit entries", "Periodic tasks"} <= nodes & english_model_and_field_names("kk")
