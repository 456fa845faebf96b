"""The hash-chained audit entries and ``verify_audit``."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from workflow.audit import append_entry, canonical_json, sha256_hex, verify_chains
from workflow.models import GENESIS_HASH, AuditChain, AuditEntry

pytestmark = pytest.mark.django_db


def _append(chain, actor, n=3):
    return [append_entry(chain=chain, actor=actor, object_type="t.obj", object_id=str(i), object_repr=f"obj {i}",
                         transition=f"step{i}", from_state=f"s{i}", to_state=f"s{i + 1}", comment="Қазақ & <ok>",
                         data={"i": i, "nested": {"b": [1, 2], "a": "ә"}}) for i in range(n)]


def _run_verify(*args):
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify_audit", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


def test_entries_link_to_the_previous_hash_and_hash_their_canonical_text(admin_user):
    entries = _append("T/1", admin_user)
    assert entries[0].prev_hash == GENESIS_HASH
    assert [e.seq for e in entries] == [1, 2, 3]
    for previous, entry in zip(entries, entries[1:]):
        assert entry.prev_hash == previous.hash
    for entry in entries:
        assert entry.hash == sha256_hex(entry.canonical)
        assert '"comment":"Қазақ & <ok>"' in entry.canonical  # UTF-8 text kept, not escaped
    head = AuditChain.objects.get(key="T/1")
    assert (head.length, head.head_hash) == (3, entries[-1].hash)


def test_canonical_json_is_key_order_independent():
    assert canonical_json({"b": 1, "a": {"d": 2, "c": 3}}) == canonical_json({"a": {"c": 3, "d": 2}, "b": 1})


def test_verify_passes_on_the_sample_cycle(sample_round):
    result = verify_chains()
    assert result.ok, result.broken
    assert result.entries == AuditEntry.objects.count()
    assert result.chains == AuditChain.objects.count() >= 10


@pytest.mark.parametrize("field, value", [
    ("to_state", "approved"), ("comment", "edited"), ("data", {"forged": True}), ("actor_username", "mallory"),
])
def test_an_edited_column_breaks_the_chain_at_that_entry(admin_user, field, value):
    entries = _append("T/edit", admin_user)
    AuditEntry.objects.filter(pk=entries[1].pk).update(**{field: value})
    result = verify_chains(["T/edit"])
    assert not result.ok
    assert result.broken.entry_id == entries[1].pk
    assert field in result.broken.reason


def test_an_edited_canonical_text_with_a_recomputed_hash_breaks_the_next_link(admin_user):
    entries = _append("T/rehash", admin_user)
    forged = entries[1].canonical.replace('"s2"', '"s9"')
    AuditEntry.objects.filter(pk=entries[1].pk).update(canonical=forged, hash=sha256_hex(forged), to_state="s9")
    result = verify_chains(["T/rehash"])
    assert result.broken.entry_id == entries[2].pk
    assert "link broken" in result.broken.reason


def test_a_deleted_middle_entry_is_found(admin_user):
    entries = _append("T/del", admin_user)
    AuditEntry.objects.filter(pk=entries[1].pk).delete()
    result = verify_chains(["T/del"])
    assert result.broken.entry_id == entries[2].pk
    assert "sequence broken" in result.broken.reason


def test_a_deleted_last_entry_is_found_through_the_chain_head(admin_user):
    entries = _append("T/tail", admin_user)
    AuditEntry.objects.filter(pk=entries[2].pk).delete()
    result = verify_chains(["T/tail"])
    assert not result.ok
    assert result.broken.entry_id == entries[1].pk
    assert "chain head" in result.broken.reason


def test_an_inserted_entry_is_found(admin_user):
    entries = _append("T/ins", admin_user)
    forged = AuditEntry.objects.get(pk=entries[1].pk)
    forged.pk, forged.seq, forged.hash, forged.prev_hash = None, 4, "f" * 64, entries[2].hash
    forged.save()
    result = verify_chains(["T/ins"])
    assert not result.ok
    assert result.broken.entry_id == forged.pk


def test_an_entry_of_an_unknown_chain_is_found(admin_user):
    entries = _append("T/stray", admin_user, n=1)
    AuditEntry.objects.filter(pk=entries[0].pk).update(chain="T/nowhere")
    result = verify_chains()
    assert not result.ok


def test_verify_audit_command_exit_codes_and_message(sample_round):
    code, out, _ = _run_verify()
    assert code == 0
    assert f"{AuditEntry.objects.count()} entries" in out

    code, out, _ = _run_verify("--case", "TC-2017/A1")
    assert code == 0
    assert f"{AuditEntry.objects.filter(chain='TC-2017/A1').count()} entries in 1 chain" in out

    victim = AuditEntry.objects.filter(chain="TC-2017/A4").order_by("seq")[3]
    AuditEntry.objects.filter(pk=victim.pk).update(comment="rewritten history")
    code, _, err = _run_verify()
    assert code == 1
    assert f"entry id={victim.pk}" in err and "TC-2017/A4" in err and f"seq {victim.seq}" in err


@pytest.mark.parametrize("ref", ["NOPE/1", "", "  "])
def test_verify_audit_unknown_case_is_a_usage_error(db, ref):
    with pytest.raises(CommandError) as info:
        call_command("verify_audit", "--case", ref)
    assert info.value.returncode == 2
    assert f"no audit chain for case {ref!r}" in str(info.value)
