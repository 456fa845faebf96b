"""Multi-signatory approval of a document version: policies, decisions, delegation.

A :class:`~workflow.approvals.models.Approval` asks a list of signatories to decide on one
exact document version (its sha256). Policies: ``all_of`` (every signatory), ``quorum``
(``required`` of n), ``sequential`` (every signatory, in position order); with ``veto`` one
rejection rejects. A new version of the same document supersedes the open approval and its
decisions. Signatories may hand their decisions to a deputy for a date range
(:class:`~workflow.approvals.models.Delegation`); the deputy acts on behalf of the owner.
"""
