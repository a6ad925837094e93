"""A user's own CSV for `bayes-il2 fit`: read into effect/event tables; bad rows named precisely."""
from __future__ import annotations

import pytest

from bayes_il2.errors import RegistryError
from bayes_il2.userdata import read_counts_csv, read_effects_csv


def write(tmp_path, text, name="input.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def rules(exc_info):
    return [(p.line, p.column, p.rule) for p in exc_info.value.problems]


def test_effects_with_standard_errors_are_squared_into_variances(tmp_path):
    table = read_effects_csv(write(tmp_path, "study,yi,se,group\nA,0.1,0.2,x\nB,0.3,0.5,y\n"))
    assert table["study_id"].tolist() == ["A", "B"]
    assert table["vi"].tolist() == pytest.approx([0.04, 0.25])
    assert table["disease"].tolist() == ["x", "y"]


def test_numeric_covariates_are_kept_as_numbers(tmp_path):
    table = read_effects_csv(write(tmp_path, "study,yi,vi,dose\nA,0.1,0.2,1\nB,0.3,0.5,2\n"))
    assert table["dose"].dtype.kind == "f"


def test_every_bad_cell_is_reported_with_line_and_column(tmp_path):
    path = write(tmp_path, "study,yi,vi\nA,abc,0.1\nB,0.2,-1\nA,0.3,\n")
    with pytest.raises(RegistryError) as info:
        read_effects_csv(path)
    assert rules(info) == [(4, "study", "duplicate_key"), (2, "yi", "bad_type"), (3, "vi", "not_positive"),
                           (4, "vi", "missing_value")]
    assert all(p.file == str(path) for p in info.value.problems)


def test_missing_variance_column_is_named(tmp_path):
    with pytest.raises(RegistryError) as info:
        read_effects_csv(write(tmp_path, "study,yi\nA,0.1\n"))
    assert rules(info) == [(1, "vi", "missing_column")]


def test_events_above_n_are_rejected(tmp_path):
    with pytest.raises(RegistryError) as info:
        read_counts_csv(write(tmp_path, "study,events_t,n_t,events_c,n_c\nA,31,30,2,30\n"))
    assert rules(info) == [(2, "events_t", "events_le_n")]


def test_fractional_and_negative_counts_are_rejected(tmp_path):
    with pytest.raises(RegistryError) as info:
        read_counts_csv(write(tmp_path, "study,events,n\nA,1.5,10\nB,-1,10\n"))
    assert rules(info) == [(2, "events", "non_integer_count"), (3, "events", "negative")]


def test_single_arm_counts_are_read(tmp_path):
    table = read_counts_csv(write(tmp_path, "study,events,n,disease\nA,1,10,SLE\nB,0,12,RA\n"))
    assert table[["events", "n"]].to_numpy().tolist() == [[1, 10], [0, 12]]


@pytest.mark.parametrize("content, rule", [(b"", "empty_file"), (b"study,yi,vi\nA,\xff\xfe,1\n", "non_utf8")])
def test_unreadable_files_are_rejected(tmp_path, content, rule):
    with pytest.raises(RegistryError) as info:
        read_effects_csv(write(tmp_path, content))
    assert info.value.problems[0].rule == rule


def test_missing_file_is_named(tmp_path):
    with pytest.raises(RegistryError) as info:
        read_effects_csv(tmp_path / "absent.csv")
    assert info.value.problems[0].rule == "missing_file"


@pytest.mark.parametrize("text, line", [
    ("yi,vi\n,1,2\n,", 2),  # found by the fuzz test: pandas made the first column an index (traceback)
    ("yi,vi\n0.1,0.2,0.3\n0.4,0.5\n", 2),  # pandas read this as yi=0.2, vi=0.3 (values shifted)
    ("# note\nstudy_id,yi,vi\nA,0.1,0.2\nB,0.3,0.4,\n", 4),
])
def test_a_row_with_more_fields_than_the_header_is_refused_with_its_line(tmp_path, text, line):
    path = tmp_path / "wide.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RegistryError) as info:
        read_effects_csv(path)
    [problem] = info.value.problems
    assert (problem.rule, problem.line) == ("malformed_csv", line)
    assert "wide.csv" in str(info.value) and "fields" in problem.message
