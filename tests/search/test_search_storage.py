"""Opening a study storage (edgefmr.nas.search.storage.open_storage) while other workers create its schema."""

from __future__ import annotations

import optuna
import psycopg.errors
import pytest
import sqlalchemy.exc

from edgefmr.errors import EdgefmrError
from edgefmr.nas.search import storage


def _flaky(errors: list[Exception]):
    calls = []

    def make(url, **kwargs):
        calls.append(url)
        if errors:
            raise errors.pop(0)
        return "storage"

    return make, calls


def _duplicate_type() -> Exception:
    orig = psycopg.errors.DuplicateObject('type "studydirection" already exists')
    return sqlalchemy.exc.ProgrammingError("CREATE TYPE studydirection", {}, orig)


def test_a_worker_that_loses_the_schema_race_retries(monkeypatch, tmp_path):
    make, calls = _flaky([_duplicate_type(), sqlalchemy.exc.IntegrityError("INSERT", {}, Exception("dup"))])
    monkeypatch.setattr(optuna.storages, "RDBStorage", make)
    monkeypatch.setattr(storage.time, "sleep", lambda s: None)
    assert storage.open_storage("postgresql://u@127.0.0.1:5/db", tmp_path) == "storage"
    assert len(calls) == 3


def test_other_storage_errors_are_not_retried(monkeypatch, tmp_path):
    make, calls = _flaky([sqlalchemy.exc.OperationalError("connect", {}, Exception("connection refused"))])
    monkeypatch.setattr(optuna.storages, "RDBStorage", make)
    with pytest.raises(EdgefmrError, match="cannot open the study storage"):
        storage.open_storage("postgresql://u@127.0.0.1:5/db", tmp_path)
    assert len(calls) == 1
