"""The page each role works from (issue 6, item 1): server-rendered views, one module per role.

* :mod:`.coordinator` — ``portal:coordinator`` (cases by stage and state, overdue first, filters,
  per-case actions and a bulk form offering only what every selected case allows) and
  ``portal:round-ranking``;
* :mod:`.expert` — ``portal:expert`` and ``portal:score-sheet`` (criteria and weights beside each
  score; save a draft, submit, or declare a conflict of interest);
* :mod:`.signatory` — ``portal:signatory`` (decisions awaiting the user, own or as deputy) and
  ``portal:document-preview`` (a version's paragraphs and tables as escaped HTML);
* :mod:`.applicant` — ``portal:application-new`` and ``portal:application-edit``;
* :mod:`.auditor` — ``portal:audit`` (history search), ``portal:audit-verify`` (hash chains) and
  ``portal:dossier-verify`` (an uploaded dossier ZIP).

Access: a page of another role is 403 (:func:`.common.require_role`); an object the user may
not see is 404 (:mod:`processes.portal.selectors`). Every state change goes through the
services, :mod:`workflow.tasks` or :func:`workflow.transitions.perform`.
"""
