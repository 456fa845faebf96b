"""Hash-chained audit entries: append, canonical serialisation, verification.

Each chain (one per case, one per round) is a sequence ``seq = 1..n``. Entry ``k`` stores
``prev_hash`` = hash of entry ``k-1`` (64 zeros for the first) and ``hash`` = sha256 of its
canonical JSON text (UTF-8, keys sorted, no spaces, non-ASCII kept). Changing, deleting or
inserting any row breaks either a hash, a link, the sequence, or the chain head.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
from collections.abc import Iterable
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, models, router, transaction
from django.utils import timezone

from .models import GENESIS_HASH, AuditChain, AuditEntry

CANONICAL_FIELDS = (
    "chain", "seq", "created_at", "actor_id", "actor_username", "on_behalf_of_username",
    "object_type", "object_id", "object_repr", "transition", "from_state", "to_state",
    "comment", "data", "prev_hash",
)


def to_json_data(data: Any) -> Any:
    """Return ``data`` as plain JSON values (dates, decimals and UUIDs become strings).

    Raises ``TypeError`` for values that have no JSON form.
    """
    return json.loads(json.dumps(data if data is not None else {}, cls=DjangoJSONEncoder))


def canonical_json(payload: dict[str, Any]) -> str:
    """Serialise ``payload`` canonically: sorted keys, compact separators, UTF-8 text."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(text: str) -> str:
    """Return the sha256 hex digest of ``text`` encoded as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _payload_of(entry: AuditEntry) -> dict[str, Any]:
    return {
        "chain": entry.chain,
        "seq": entry.seq,
        "created_at": entry.created_at.astimezone(dt.timezone.utc).isoformat(),
        "actor_id": entry.actor_id,
        "actor_username": entry.actor_username,
        "on_behalf_of_username": entry.on_behalf_of_username,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "object_repr": entry.object_repr,
        "transition": entry.transition,
        "from_state": entry.from_state,
        "to_state": entry.to_state,
        "comment": entry.comment,
        "data": entry.data,
        "prev_hash": entry.prev_hash,
    }


@functools.cache
def _insert_fields() -> tuple:
    return tuple(f for f in AuditEntry._meta.concrete_fields if not f.primary_key)


@functools.cache
def _insert_plan() -> tuple:
    """``(field, plain)`` per inserted column: ``plain`` values go to the driver as they are
    (text and integers); the others (JSON, timestamps) are prepared by their field."""
    plain_types = (models.CharField, models.TextField, models.IntegerField, models.ForeignKey)
    return tuple((f, isinstance(f, plain_types) and not isinstance(f, models.JSONField)) for f in _insert_fields())


_STATEMENTS: dict[str, dict[str, str]] = {}


def _statements(connection) -> dict[str, str]:
    """SQL of the append, built once per database alias.

    The append is the engine's hot path (every state change): three plain statements (lock
    and read the chain head, insert the entry, move the head) instead of ORM queries halve
    the cost of an audited transition (see ``make bench``).
    """
    cached = _STATEMENTS.get(connection.alias)
    if cached is None:
        q = connection.ops.quote_name
        chain_table, entry_table = q(AuditChain._meta.db_table), q(AuditEntry._meta.db_table)
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        columns = ", ".join(q(f.column) for f in _insert_fields())
        placeholders = ", ".join(["%s"] * len(_insert_fields()))
        insert = f"INSERT INTO {entry_table} ({columns}) VALUES ({placeholders})"
        cached = _STATEMENTS[connection.alias] = {
            "lock_head": f"SELECT {q('length')}, {q('head_hash')} FROM {chain_table} WHERE {q('key')} = %s{lock}",
            "insert": insert,
            "insert_returning": f"{insert} RETURNING {q(AuditEntry._meta.pk.column)}",
            "update_head": f"UPDATE {chain_table} SET {q('length')} = %s, {q('head_hash')} = %s WHERE {q('key')} = %s",
        }
        if connection.vendor == "postgresql":  # data-modifying CTE: insert and move the head at once
            pk = q(AuditEntry._meta.pk.column)
            cached["insert_and_move_head"] = (
                f"WITH new_entry AS ({cached['insert_returning']}) "
                f"{cached['update_head']} RETURNING (SELECT {pk} FROM new_entry)")
    return cached


def append_entry(
    *,
    chain: str,
    actor,
    object_type: str,
    object_id: str,
    object_repr: str,
    transition: str,
    from_state: str,
    to_state: str,
    comment: str = "",
    data: dict | None = None,
    on_behalf_of=None,
) -> AuditEntry:
    """Append one entry to ``chain`` and return it.

    Runs inside the caller's transaction (opening one if there is none) and locks the chain
    head, so concurrent appends to one chain are serialised; ``(chain, seq)`` and
    ``(chain, prev_hash)`` are unique in the database as a second guard.
    Raises ``TypeError`` when ``data`` is not JSON-serialisable.
    """
    data = to_json_data(data) if data else {}
    with transaction.atomic(savepoint=False):  # part of the caller's transaction, no savepoint
        connection = connections[router.db_for_write(AuditEntry)]
        sql = _statements(connection)
        with connection.cursor() as cursor:
            cursor.execute(sql["lock_head"], [chain])
            head = cursor.fetchone()
            if head is None:  # the chain's first entry; concurrent creators meet on the primary key
                AuditChain.objects.get_or_create(key=chain)
                cursor.execute(sql["lock_head"], [chain])
                head = cursor.fetchone()
            length, head_hash = head
            entry = AuditEntry(
                chain=chain,
                seq=length + 1,
                created_at=timezone.now(),
                actor=actor,
                actor_username=actor.get_username() if actor is not None else "",
                on_behalf_of_username=on_behalf_of.get_username() if on_behalf_of else "",
                object_type=object_type,
                object_id=str(object_id),
                object_repr=object_repr[:300],
                transition=transition,
                from_state=from_state,
                to_state=to_state,
                comment=comment,
                data=data,
                prev_hash=head_hash,
            )
            entry.canonical = canonical_json(_payload_of(entry))
            entry.hash = sha256_hex(entry.canonical)
            values = [getattr(entry, f.attname) if plain else f.get_db_prep_save(getattr(entry, f.attname), connection)
                      for f, plain in _insert_plan()]
            if "insert_and_move_head" in sql:  # one round trip for both writes
                cursor.execute(sql["insert_and_move_head"], [*values, entry.seq, entry.hash, chain])
                entry.pk = cursor.fetchone()[0]
            elif connection.features.can_return_columns_from_insert:
                cursor.execute(sql["insert_returning"], values)
                entry.pk = cursor.fetchone()[0]
            else:  # pragma: no cover - every supported backend returns columns
                cursor.execute(sql["insert"], values)
                entry.pk = cursor.lastrowid
            if "insert_and_move_head" not in sql:
                cursor.execute(sql["update_head"], [entry.seq, entry.hash, chain])
            entry._state.adding, entry._state.db = False, connection.alias
    return entry


@dataclasses.dataclass(frozen=True)
class BrokenEntry:
    """Where and why a chain fails verification."""

    chain: str
    seq: int | None
    entry_id: int | None
    reason: str

    def __str__(self) -> str:
        where = f"entry id={self.entry_id} (chain {self.chain}, seq {self.seq})"
        if self.entry_id is None:
            where = f"chain {self.chain}"
        return f"{where}: {self.reason}"


@dataclasses.dataclass
class VerificationResult:
    """Outcome of :func:`verify_chains`: entries and chains checked, first break (or None)."""

    entries: int = 0
    chains: int = 0
    broken: BrokenEntry | None = None

    @property
    def ok(self) -> bool:
        return self.broken is None


def _check_entry(entry: AuditEntry, expected_seq: int, prev_hash: str) -> str | None:
    if entry.seq != expected_seq:
        return f"sequence broken: expected seq {expected_seq}, found {entry.seq} (entry deleted or inserted)"
    if entry.prev_hash != prev_hash:
        return "link broken: prev_hash does not match the previous entry's hash"
    if sha256_hex(entry.canonical) != entry.hash:
        return "hash mismatch: the canonical text does not hash to the stored hash"
    try:
        recorded = json.loads(entry.canonical)
    except ValueError:
        return "canonical text is not valid JSON"
    current = _payload_of(entry)
    for field in CANONICAL_FIELDS:
        if recorded.get(field) != current[field]:
            return f"field {field!r} differs from the hashed record"
    return None


def verify_chains(chains: Iterable[str] | None = None) -> VerificationResult:
    """Recompute every chain (or only ``chains``) and return a :class:`VerificationResult`.

    Stops at the first broken entry. Checks, per chain: consecutive ``seq`` from 1, each
    ``prev_hash`` link, each hash over the stored canonical text, that the row's columns equal
    the hashed record, and that the chain head names the last entry (deleted tail entries).
    """
    result = VerificationResult()
    heads = AuditChain.objects.all().order_by("key")
    if chains is not None:
        heads = heads.filter(key__in=list(chains))
    known = set()
    for head in heads.iterator():
        known.add(head.key)
        result.chains += 1
        prev_hash, expected = GENESIS_HASH, 1
        last = None
        for entry in AuditEntry.objects.filter(chain=head.key).order_by("seq").iterator(chunk_size=2000):
            reason = _check_entry(entry, expected, prev_hash)
            if reason:
                result.broken = BrokenEntry(head.key, entry.seq, entry.pk, reason)
                return result
            result.entries += 1
            prev_hash, expected, last = entry.hash, expected + 1, entry
        if head.length != (last.seq if last else 0) or head.head_hash != prev_hash:
            result.broken = BrokenEntry(
                head.key, last.seq if last else None, last.pk if last else None,
                f"chain head says {head.length} entries ending in {head.head_hash[:12]}, "
                f"found {expected - 1} (entries deleted after this one)",
            )
            return result
    orphan = AuditEntry.objects.exclude(chain__in=known)
    if chains is not None:
        orphan = orphan.filter(chain__in=list(chains))
    stray = orphan.order_by("chain", "seq").first()
    if stray is not None:
        result.broken = BrokenEntry(stray.chain, stray.seq, stray.pk, "entry belongs to no known chain (inserted)")
    return result
