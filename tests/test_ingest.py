import datetime as dt
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter

from jobs.ingest.deliveries import _canonical, cast, find_deliveries, header_map, read_source
from safetynet.contract import SOURCES
from safetynet.errors import DeliveryError

ROSTER_ZH = "户编号,身份证号,姓名,与户主关系,行政区划代码,城乡类别,人员类别\n"
ROW = "H1,11010519491231002X,{name},户主,110105001001,城市,低保\n"


def write(path: Path, text: str, encoding: str) -> Path:
    path.write_bytes(text.encode(encoding) if encoding != "utf-8-sig" else b"\xef\xbb\xbf" + text.encode())
    return path


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_every_contract_encoding_is_detected(tmp_path, encoding):
    path = write(tmp_path / "roster.csv", ROSTER_ZH + ROW.format(name="王芳"), encoding)
    raw = read_source("roster", [path])
    assert raw.frame["name"].to_list() == ["王芳"]
    assert raw.frame["household_id"].to_list() == ["H1"]


def test_a_bom_before_gbk_text_is_dropped(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (ROSTER_ZH + ROW.format(name="王芳")).encode("gbk"))
    raw = read_source("roster", [path])
    assert raw.frame["household_id"].to_list() == ["H1"] and raw.frame["name"].to_list() == ["王芳"]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_characters_split_between_chunks_are_read_whole(tmp_path, monkeypatch, encoding):
    monkeypatch.setattr(
        "jobs.ingest.deliveries.CHUNK_BYTES", 3
    )  # every character of the file split somewhere
    path = write(tmp_path / "roster.csv", ROSTER_ZH + ROW.format(name="张𠇔伟"), encoding)
    assert read_source("roster", [path]).frame["name"].to_list() == ["张𠇔伟"]


@pytest.mark.parametrize("chunk", [3, 4, 1 << 24])
def test_an_undecodable_byte_is_named_by_its_offset_in_the_file(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr("jobs.ingest.deliveries.CHUNK_BYTES", chunk)
    text = (ROSTER_ZH + ROW.format(name="王芳")).encode("gbk")
    path = tmp_path / "roster.csv"
    path.write_bytes(text + b"\xff\xff\n")
    with pytest.raises(DeliveryError, match=f"undecodable byte at offset {len(text)}\\)"):
        read_source("roster", [path])


@pytest.mark.parametrize("name", ["刘䶮", "王𬱖", "张𠇔伟"])
def test_gb18030_rare_characters_round_trip_exactly(tmp_path, name):
    path = write(tmp_path / "roster.csv", ROSTER_ZH + ROW.format(name=name), "gb18030")
    assert read_source("roster", [path]).frame["name"].to_list() == [name]


def test_headers_any_order_mixed_languages_and_spaces_are_trimmed(tmp_path):
    text = '\u3000Balance , id_number,机构\n" 1,234.50",\u300011010519491231002x\u3000,邮储银行\u3000\n'
    raw = read_source("deposits", [write(tmp_path / "deposits.csv", text, "utf-8")])
    typed, problems = cast(raw)
    assert problems.height == 0
    assert typed["id_number"].to_list() == ["11010519491231002X"]
    assert typed["institution"].to_list() == ["邮储银行"]
    assert typed["balance"].to_list() == [Decimal("1234.50")]


@pytest.mark.parametrize(
    ("header", "mapping", "ignored"),
    [
        (["死亡日期", "id_number", "备注栏"], {0: "died_on", 1: "id_number"}, ["备注栏"]),
        # a repeat is not ignored: _canonical compares it with the first
        (["id_number", "died_on", "身份证号"], {0: "id_number", 1: "died_on"}, []),
    ],
)
def test_header_mapping_reports_extra_columns(header, mapping, ignored):
    assert header_map(SOURCES["deaths"], header) == (mapping, ignored)


@pytest.mark.parametrize(
    ("header", "second", "differ"),
    [
        (["id_number", "died_on", "id_number"], "110105194912310021", False),
        (["id_number", "died_on", "id_number"], "11010519491231002X", True),
        # a header of another length than the reader's columns: the reader's names, Polars' repeat
        # suffix taken off, so the repeat is still compared with the first
        (["id_number", "died_on"], "110105194912310021", False),
        (["id_number", "died_on"], "11010519491231002X", True),
    ],
)
def test_a_field_in_two_columns_that_differ_makes_the_file_unusable(header, second, differ):
    cells = pl.LazyFrame(
        {
            "id_number": ["110105194912310021"],
            "died_on": ["2026-08-01"],
            "id_number_duplicated_0": [second],
            "__row": [2],
        }
    )
    if differ:
        with pytest.raises(DeliveryError, match="both give id_number and differ, first at row 2"):
            _canonical(SOURCES["deaths"], Path("deaths.csv"), cells, header)
    else:
        rows, ignored = _canonical(SOURCES["deaths"], Path("deaths.csv"), cells, header)
        assert rows.collect()["id_number"].to_list() == ["110105194912310021"]
        assert "collapsed" in ignored[0]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "file is empty"),
        (b"  \n", "file is empty"),
        (b"\x00\x01\x02binary\x00", "binary"),
        (b"PK\x03\x04rest-of-zip", "zip/xlsx archive"),
        ("死亡日期,姓名\n2026-09-01,张三\n".encode(), "required column(s) missing: id_number"),
        ("Nom,Prénom,Âge\nDupont,Jean,40\n".encode(), "no recognised header"),
        (b"\xff\xfe\xfa\xfb\x81\x30", "neither UTF-8 nor GBK"),
    ],
)
def test_unusable_files_raise_one_error_naming_the_file(tmp_path, content, problem):
    path = tmp_path / "deaths.csv"
    path.write_bytes(content)
    with pytest.raises(DeliveryError) as err:
        read_source("deaths", [path])
    assert str(path) in str(err.value)
    assert problem in str(err.value)


def test_xlsx_named_file_that_is_not_a_workbook(tmp_path):
    path = tmp_path / "vehicles.xlsx"
    path.write_text("id_number,vehicle_id\n")
    with pytest.raises(DeliveryError, match="not an xlsx workbook"):
        read_source("vehicles", [path])


def test_xlsx_first_sheet_with_a_number_mangled_id(tmp_path):
    path = tmp_path / "vehicles.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet()
    ws.write_row(0, 0, ["车辆识别号", "身份证号", "车辆类型", "是否营运"])
    ws.write_row(1, 0, ["LSV1", "11010519491231002X", "小型汽车", "否"])
    ws.write_row(2, 0, ["LSV2"])
    ws.write_number(2, 1, 110105194912310021)
    ws.write_row(2, 2, ["摩托车", "否"])
    wb.close()
    raw = read_source("vehicles", [path])
    assert raw.frame["id_number"][0] == "11010519491231002X"
    assert "E+17" in raw.frame["id_number"][1].upper()
    assert raw.frame["source_row"].to_list() == [2, 3]


def test_split_parts_are_read_in_order_with_their_own_row_numbers(tmp_path):
    header = "id_number,died_on\n"
    write(tmp_path / "deaths.part-2.csv", header + "11010519491231002X,2026-09-03\n", "utf-8")
    write(tmp_path / "deaths.part-1.csv", header + "440304199001010011,2026-09-01\n" * 2, "utf-8")
    (tmp_path / "notes.txt").write_text("hello")
    found, unknown = find_deliveries(tmp_path)
    assert [p.name for p in found["deaths"]] == ["deaths.part-1.csv", "deaths.part-2.csv"]
    assert [p.name for p in unknown] == ["notes.txt"]
    raw = read_source("deaths", found["deaths"])
    assert raw.frame.select("source_file", "source_row").rows() == [
        ("deaths.part-1.csv", 2),
        ("deaths.part-1.csv", 3),
        ("deaths.part-2.csv", 2),
    ]


def test_casts_three_date_forms_amounts_and_reports_cells_that_fail(tmp_path):
    text = (
        "id_number,settled_on,total_cost,fund_paid,out_of_pocket\n"
        '11010519491231002X,2026-09-01,"12,000.50",6000,6000.50\n'
        "11010519491231002X,2026/09/02,100,50,50\n"
        "11010519491231002X,20260903,100,50,50\n"
        "11010519491231002X,2026-02-30,abc,50,50\n"
    )
    typed, problems = cast(
        read_source("medical_claims", [write(tmp_path / "medical_claims.csv", text, "utf-8")])
    )
    assert typed["settled_on"].to_list()[:3] == [
        dt.date(2026, 9, 1),
        dt.date(2026, 9, 2),
        dt.date(2026, 9, 3),
    ]
    assert typed["total_cost"][0] == Decimal("12000.50")
    assert problems.select("source_row", "column", "raw_value").rows() == [
        (5, "settled_on", "2026-02-30"),
        (5, "total_cost", "abc"),
    ]
    assert "not a date" in problems["reason"][0]


def test_a_row_with_too_many_fields_is_quarantined_not_the_file(tmp_path):
    from jobs.ingest.validate import validate

    text = (
        "id_number,died_on\n"
        "11010519491231002X,2026-09-01\n"
        "440304199001010011,2026-09-02,extra,fields\n"
        '"440304199001010038","2026-09-03"\n'
    )
    raw = read_source("deaths", [write(tmp_path / "deaths.csv", text, "utf-8")])
    result = validate(raw, "2026-09", None, ge_sample=0)
    assert result.delivered == 3 and result.accepted["source_row"].to_list() == [2, 4]
    (row,) = result.quarantine.rows(named=True)
    assert row["source_row"] == 3 and "3 fields" not in row["reason"] and "4 fields" in row["reason"]
    assert raw.files[0].rows == 3


TWO_IDS = "11010519491231002X,500,440304199001010011,正常\n"
SAME_IDS = "11010519491231002X,500,11010519491231002X,正常\n"


def housing_fund_xlsx(path: Path, header: list[str], rows: list[str]) -> Path:
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet()
    for i, row in enumerate([header, *(r.strip().split(",") for r in rows)]):
        ws.write_row(i, 0, row)
    wb.close()
    return path


@pytest.mark.parametrize(
    ("header", "named"),
    [
        ("身份证号,月缴存额,身份证号,账户状态", "columns 1 (身份证号) and 3 (身份证号)"),
        ("id_number,月缴存额,身份证号,账户状态", "columns 1 (id_number) and 3 (身份证号)"),
    ],
)
@pytest.mark.parametrize("ext", ["csv", "xlsx"])
def test_two_columns_for_one_field_that_differ_make_the_file_unusable(tmp_path, header, named, ext):
    rows = [SAME_IDS, TWO_IDS]  # the second row is where they differ
    path = tmp_path / f"housing_fund.{ext}"
    if ext == "csv":
        write(path, header + "\n" + "".join(rows), "utf-8")
    else:
        housing_fund_xlsx(path, header.split(","), rows)
    with pytest.raises(DeliveryError) as err:
        read_source("housing_fund", [path])
    assert str(path) in str(err.value)
    assert f"{named} both give id_number" in err.value.problem
    assert "first at row 3" in err.value.problem
    assert "440304199001010011" not in str(err.value)  # the file and row are named, not the person


@pytest.mark.parametrize("ext", ["csv", "xlsx"])
def test_identical_duplicate_columns_are_collapsed_with_a_note(tmp_path, ext):
    header = "身份证号,月缴存额, 身份证号 ,账户状态"
    path = tmp_path / f"housing_fund.{ext}"
    if ext == "csv":
        write(
            path, header + "\n" + SAME_IDS + "11010519491231002X,600,11010519491231002X\u3000,封存\n", "gbk"
        )
    else:
        housing_fund_xlsx(path, header.split(","), [SAME_IDS])
    raw = read_source("housing_fund", [path])
    assert raw.frame["id_number"].to_list() == ["11010519491231002X"] * (2 if ext == "csv" else 1)
    assert raw.ignored_columns == ["身份证号 (column 3: the same values as column 1, collapsed)"]
