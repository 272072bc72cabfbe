"""The directory (engine.store.directory): accounts and subaccounts, credentials, API keys,
the number inventory (one winner when processes race for a number), opt-outs, alerts.
Real SQLite files in tmp_path; real processes for the race."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.errors import StoreError
from engine.store.directory import AlertRecord, Directory, NumberRecord, new_sid

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def directory(tmp_path: Path) -> Iterator[Directory]:
    d = Directory(tmp_path / "directory.sqlite3")
    yield d
    d.close()


def test_accounts_and_subaccounts(directory: Directory) -> None:
    parent = directory.create_account("Acme")
    assert parent.sid.startswith("AC") and len(parent.sid) == 34
    assert len(parent.auth_token) == 32 and int(parent.auth_token, 16) >= 0
    assert not parent.is_subaccount and parent.status == "active"
    sub = directory.create_account("Shop", parent.sid)
    assert sub.is_subaccount and sub.owner_account_sid == parent.sid
    other = directory.create_account("Other")
    assert {a.sid for a in directory.list_accounts(parent.sid)} == {parent.sid, sub.sid}
    assert [a.sid for a in directory.list_accounts(sub.sid)] == [sub.sid]
    # A subaccount has no subaccounts; an unknown parent is refused, naming the field.
    with pytest.raises(StoreError) as info:
        directory.create_account("x", sub.sid)
    assert info.value.field == "parent_sid"
    with pytest.raises(StoreError):
        directory.create_account("x", new_sid("AC"))
    with pytest.raises(StoreError) as info:
        directory.create_account("n" * 65)
    assert info.value.field == "friendly_name"
    assert directory.get_account(sub.sid) == sub
    assert directory.get_account(new_sid("AC")) is None
    # Access: itself and its subaccounts, never upwards or sideways.
    assert directory.may_access(parent.sid, parent.sid)
    assert directory.may_access(parent.sid, sub.sid)
    assert not directory.may_access(sub.sid, parent.sid)
    assert not directory.may_access(other.sid, sub.sid)
    assert not directory.may_access(parent.sid, other.sid)
    assert not directory.may_access(parent.sid, new_sid("AC"))


def test_secrets_stay_out_of_reprs(directory: Directory) -> None:
    account = directory.create_account("Acme")
    assert account.auth_token not in repr(account)
    key, secret = directory.create_api_key(account.sid, "ci")
    assert secret not in repr(key)
    # Only a hash of the secret is in the file.
    raw = Path(directory.path).read_bytes() + Path(f"{directory.path}-wal").read_bytes()
    assert secret.encode() not in raw


def test_authenticate_with_tokens_and_keys(directory: Directory) -> None:
    account = directory.create_account("Acme")
    sub = directory.create_account("Shop", account.sid)
    assert directory.authenticate(account.sid, account.auth_token) == account.sid
    assert directory.authenticate(sub.sid, sub.auth_token) == sub.sid
    assert directory.authenticate(account.sid, sub.auth_token) is None
    assert directory.authenticate(account.sid, "") is None
    assert directory.authenticate(new_sid("AC"), account.auth_token) is None
    assert directory.authenticate("", "") is None
    assert directory.authenticate("admin", "0" * 32) is None
    key, secret = directory.create_api_key(sub.sid, "deploy")
    assert key.sid.startswith("SK") and key.account_sid == sub.sid
    assert directory.authenticate(key.sid, secret) == sub.sid
    assert directory.authenticate(key.sid, secret + "x") is None
    assert directory.authenticate(new_sid("SK"), secret) is None
    # A suspended account's credentials (and its keys) stop working.
    directory.update_account(sub.sid, status="suspended")
    assert directory.authenticate(sub.sid, sub.auth_token) is None
    assert directory.authenticate(key.sid, secret) is None
    directory.update_account(sub.sid, status="active")
    assert directory.authenticate(key.sid, secret) == sub.sid
    with pytest.raises(StoreError) as info:
        directory.update_account(sub.sid, status="gone")
    assert info.value.field == "status"


def test_api_keys_lifecycle(directory: Directory) -> None:
    account = directory.create_account("Acme")
    other = directory.create_account("Other")
    k1, s1 = directory.create_api_key(account.sid, "one")
    k2, s2 = directory.create_api_key(account.sid, "two")
    assert s1 != s2
    assert [k.sid for k in directory.list_api_keys(account.sid)] == [k1.sid, k2.sid]
    assert directory.list_api_keys(other.sid) == []
    assert directory.get_api_key(k1.sid, account.sid) == k1
    assert directory.get_api_key(k1.sid, other.sid) is None
    # Another account cannot delete it; its owner can, and it stops working at once.
    assert directory.delete_api_key(k1.sid, other.sid) is False
    assert directory.authenticate(k1.sid, s1) == account.sid
    assert directory.delete_api_key(k1.sid, account.sid) is True
    assert directory.authenticate(k1.sid, s1) is None
    assert directory.delete_api_key(k1.sid, account.sid) is False
    assert directory.authenticate(k2.sid, s2) == account.sid


def test_numbers_inventory_assign_release(directory: Directory) -> None:
    account = directory.create_account("Acme")
    other = directory.create_account("Other")
    records = [
        NumberRecord.new("+14155550100", number_type="local", region="CA", rate=2.0),
        NumberRecord.new("+18005550100", number_type="toll-free", link="carrier-a"),
        NumberRecord.new("12345", number_type="short-code", iso_country="US", voice=False),
    ]
    assert directory.add_numbers(records, at=1000.0) == 3
    # Idempotent on phone_number: a second import changes nothing.
    again = [NumberRecord.new("+14155550100", number_type="mobile")]
    assert directory.add_numbers(again) == 0
    free = directory.get_number("+14155550100")
    assert free is not None and free.account_sid is None and free.number_type == "local"
    assert free.rate == 2.0 and free.region == "CA" and free.date_created == 1000.0
    assert directory.owned_number(account.sid, "+14155550100") is None
    with pytest.raises(StoreError) as info:
        directory.add_numbers([NumberRecord.new("+14155550199", number_type="pager")])
    assert info.value.field == "number_type"
    assert directory.get_number("+14155550199") is None

    won = directory.assign_number("+14155550100", account.sid)
    # Each provisioning is a new IncomingPhoneNumber resource, with a sid of its own.
    assert won is not None and won.account_sid == account.sid
    assert won.sid.startswith("PN") and won.sid != free.sid
    assert directory.assign_number("+14155550100", other.sid) is None
    assert directory.assign_number("+19995550100", other.sid) is None
    assert directory.assign_number("12345", account.sid) is not None
    assert [n.phone_number for n in directory.list_numbers(account.sid)] == [
        "+14155550100",
        "12345",
    ]
    owned = directory.owned_number(account.sid, "12345")
    assert owned is not None and owned.sms and not owned.voice
    assert directory.owned_number(other.sid, "12345") is None
    # Release: only by its owner; the number is free again for anyone.
    assert directory.release_number("+14155550100", other.sid) is False
    assert directory.release_number("+14155550100", account.sid) is True
    assert directory.owned_number(account.sid, "+14155550100") is None
    assert directory.assign_number("+14155550100", other.sid) is not None


_RACER = textwrap.dedent(
    """
    import json, os, random, sys, time
    from engine.store.directory import Directory
    path, account, go, numbers = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    d = Directory(path)
    random.shuffle(numbers)
    deadline = time.monotonic() + 60
    while not os.path.exists(go) and time.monotonic() < deadline:
        time.sleep(0.001)
    won = [n for n in numbers if d.assign_number(n, account) is not None]
    d.close()
    print(json.dumps(won))
    """
)


def test_processes_racing_for_numbers_get_one_winner_each(tmp_path: Path) -> None:
    path = tmp_path / "directory.sqlite3"
    numbers = [f"+1415555{i:04d}" for i in range(60)]
    with Directory(path) as d:
        d.add_numbers([NumberRecord.new(n) for n in numbers])
        accounts = [d.create_account(f"racer {i}").sid for i in range(4)]
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, str(path), sid, str(go), *numbers],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for sid in accounts
    ]
    go.touch()
    wins: dict[str, list[str]] = {}
    for sid, proc in zip(accounts, procs, strict=True):
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        wins[sid] = json.loads(out)
    every = [n for won in wins.values() for n in won]
    assert sorted(every) == sorted(numbers)  # each number won exactly once
    with Directory(path) as d:
        for sid, won in wins.items():
            assert sorted(n.phone_number for n in d.list_numbers(sid)) == sorted(won)


def test_opt_outs(directory: Directory) -> None:
    sender, recipient = "+14155550100", "+14155550123"
    assert not directory.is_opted_out(sender, recipient)
    directory.set_opted_out(sender, recipient, True, at=5.0)
    assert directory.is_opted_out(sender, recipient)
    assert not directory.is_opted_out("12345", recipient)  # per sender
    assert not directory.is_opted_out(recipient, sender)
    directory.set_opted_out(sender, recipient, True)  # twice is fine
    directory.set_opted_out(sender, recipient, False)
    assert not directory.is_opted_out(sender, recipient)


def test_opt_out_from_another_process_is_seen(tmp_path: Path) -> None:
    path = tmp_path / "directory.sqlite3"
    with Directory(path) as reader, Directory(path) as writer:
        assert not reader.is_opted_out("A", "B")
        writer.set_opted_out("A", "B", True)
        # The reader caches lookups for about a second; a fresh reader sees it now.
        with Directory(path) as fresh:
            assert fresh.is_opted_out("A", "B")


def test_alerts(directory: Directory) -> None:
    a, b = directory.create_account("A"), directory.create_account("B")
    for i in range(3):
        directory.add_alert(
            AlertRecord(
                sid=new_sid("NO"),
                account_sid=a.sid,
                error_code=11200,
                log_level="error",
                text=f"attempt {i}",
                date_created=100.0 + i,
                url="http://127.0.0.1:9/cb",
                request_method="POST",
                response_status=500,
                message_sid=new_sid("SM"),
            )
        )
    directory.add_alert(
        AlertRecord(
            sid=new_sid("NO"),
            account_sid=b.sid,
            error_code=12100,
            log_level="warning",
            text="bad TwiML",
            date_created=50.0,
        )
    )
    mine = directory.list_alerts(a.sid)
    assert [x.text for x in mine] == ["attempt 2", "attempt 1", "attempt 0"]
    assert mine[0].response_status == 500 and mine[0].error_code == 11200
    assert [x.error_code for x in directory.list_alerts(b.sid)] == [12100]
    assert len(directory.list_alerts(a.sid, limit=2)) == 2


def test_reads_go_on_while_a_write_waits_for_another_process(tmp_path: Path) -> None:
    path = tmp_path / "directory.sqlite3"
    with Directory(path, busy_timeout=5.0) as d:
        account = d.create_account("Acme")
        d.add_numbers([NumberRecord.new("12345", number_type="short-code")])
        # Another process holds the write lock (an operator importing numbers).
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        writer_done = threading.Event()

        def write() -> None:
            try:
                d.set_opted_out("12345", "+14155550123", True)
            except (StoreError, sqlite3.OperationalError):
                pass
            finally:
                writer_done.set()

        writer = threading.Thread(target=write)
        writer.start()
        try:
            # The waiting write holds the directory's write lock; reads do not need it.
            assert d.authenticate(account.sid, account.auth_token) == account.sid
            assert d.get_account(account.sid) is not None
            assert d.get_number("12345") is not None
            assert not d.is_opted_out("12345", "+14155550999")
            assert not writer_done.is_set()  # the reads did not wait for the write
        finally:
            other.execute("COMMIT")
            other.close()
            writer.join(timeout=30)
        assert writer_done.is_set()
        assert d.is_opted_out("12345", "+14155550123")
