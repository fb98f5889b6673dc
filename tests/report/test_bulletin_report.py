"""The generated bulletin for the bundled round states every printed figure; no individual appears in it;
per-unit feedback files hold exactly each unit's own examinees."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import duckdb
import pytest
from landing_builder import Landing, exam_rows, issues, run_pipeline

from reformwatch.config import SAMPLE_LANDING, Settings
from reformwatch.report import (
    _Q,
    LIST_MAX,
    TABLE_HEAD,
    _neutral,
    _text_cell,
    head_and_tail,
    names,
    prepared_folder,
    write_unit_feedback,
)


def read_csv(path: Path, encoding: str = "utf-8-sig") -> list[dict]:
    return list(csv.DictReader(Path(path).read_text(encoding=encoding).splitlines()))


PUBLISHED = json.loads((Path(__file__).parents[1] / "fixtures" / "bulletin36_published.json").read_text())
NAMES = {r["unit_code"]: r["unit_name"] for r in read_csv(SAMPLE_LANDING / "units.csv")}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    wh = tmp_path_factory.mktemp("report") / "warehouse.duckdb"
    run_pipeline(SAMPLE_LANDING, wh).close()
    out = wh.parent / "reports" / "2018-R1"
    return out, (out / "bulletin.md").read_text(encoding="utf-8"), (out / "bulletin.html").read_text(encoding="utf-8")


def numbers(pattern: str, text: str) -> list[float]:
    m = re.search(pattern, text)
    assert m, f"not found: {pattern}"
    return [float(g) for g in m.groups()]


def test_exam_overall_figures(report):
    _, md, _ = report
    er = PUBLISHED["exam_round"]
    lv = PUBLISHED["exam_level_round"]
    got = numbers(r"(\d+)家单位的(\d+)名干部参加考试（厅级(\d+)人、处级(\d+)人、科级(\d+)人），缺考(\d+)人", md)
    assert got == [
        er["units"],
        er["examinees"],
        lv["厅级"]["examinees"],
        lv["处级"]["examinees"],
        lv["科级"]["examinees"],
        er["absent"],
    ]
    assert re.search(r"缺考1人（省交通厅1人：病假）", md)
    assert numbers(r"干部总数（\d+人）的([\d.]+)%", md) == [er["participation_rate_pct"]]
    got = numbers(r"平均成绩([\d.]+)分，及格率([\d.]+)%，优秀率（90分及以上）([\d.]+)%，满分率([\d.]+)%", md)
    assert got == [er["avg_score"], er["pass_rate_pct"], er["excellent_rate_pct"], er["full_score_rate_pct"]]


def unit_triples(text: str) -> list[list]:
    return [
        [name, float(a), float(e)]
        for name, a, e in re.findall(r"([^、：（）]+)（平均([\d.]+)分，优秀率([\d.]+)%）", text)
    ]


def test_top_and_bottom_three(report):
    _, md, _ = report
    top = re.search(r"成绩排在前三位的是：(.*)。", md).group(1)
    bottom = re.search(r"成绩排在后三位的是：(.*)。", md).group(1)
    assert unit_triples(top) == [[NAMES[c], a, e] for c, a, e in PUBLISHED["exam_unit_top3"]]
    assert unit_triples(bottom) == [[NAMES[c], a, e] for c, a, e in PUBLISHED["exam_unit_bottom3"]]


def listed(md: str, pattern: str) -> tuple[int, set[str]]:
    m = re.search(pattern + r"共(\d+)家：(.*)。", md)
    assert m, pattern
    return int(m.group(1)), {re.sub(r"（.*?）", "", n) for n in m.group(2).split("、")}


def test_unit_lists_and_spread(report):
    _, md, _ = report
    n, units = listed(md, "满分人数超过10人的单位")
    assert (n, units) == (
        len(PUBLISHED["units_over_10_full_scores"]),
        {NAMES[c] for c in PUBLISHED["units_over_10_full_scores"]},
    )
    n, units = listed(md, "有干部考试不及格的单位")
    assert n == PUBLISHED["exam_round"]["units_with_failures"] and units == {
        NAMES[c] for c in PUBLISHED["units_with_failures"]
    }
    n, units = listed(md, "记录有违反考试纪律情况的单位")
    assert n == PUBLISHED["exam_round"]["units_with_discipline_incidents"]
    assert units == {"省工商局", "省煤管局", "省法院"}  # the bulletin's text names them
    assert numbers(r"相差([\d.]+)分", md) == [PUBLISHED["exam_round"]["unit_avg_spread"]]


def test_levels(report):
    _, md, _ = report
    lv = PUBLISHED["exam_level_round"]
    assert numbers(r"平均成绩分别为([\d.]+)分、([\d.]+)分、([\d.]+)分", md) == [
        lv["厅级"]["avg_score"],
        lv["处级"]["avg_score"],
        lv["科级"]["avg_score"],
    ]
    assert "处级干部的及格率低于科级干部" in md


def test_reform_figures(report):
    _, md, _ = report
    rr = PUBLISHED["reform_round"]
    assert numbers(r"最多的是省人社厅（(\d+)项），(\d+)家单位平均([\d.]+)项", md) == [
        rr["one_visit_items_max"],
        rr["units_reported"],
        rr["one_visit_items_avg"],
    ]
    assert numbers(r"减少比例最高的是省人社厅（([\d.]+)%），平均减少([\d.]+)%", md) == [
        rr["materials_reduction_rate_max_pct"],
        rr["materials_reduction_rate_avg_pct"],
    ]
    m = re.search(r"达到100%的单位共(\d+)家（(.*?)），平均为([\d.]+)%；低于50%的单位共\d+家：(.*?)。", md)
    assert int(m.group(1)) == rr["units_online_full"] and float(m.group(3)) == rr["online_rate_avg_pct"]
    assert set(m.group(2).split("、")) == {NAMES[c] for c in PUBLISHED["online_full_units"]}
    assert {NAMES[c] for c in PUBLISHED["online_below_half_include"]} <= set(m.group(4).split("、"))
    assert numbers(r"共发现问题线索(\d+)个", md) == [rr["problem_clues_total"]]
    assert numbers(r"反面典型案例([\d.]+)个，(\d+)家单位零通报", md) == [
        rr["negative_cases_avg"],
        rr["units_zero_negative_cases"],
    ]
    n, units = listed(md, "未设置暗访督查组的单位")
    assert n == rr["units_without_secret_inspection"] and units == {"省旅游委", "省商务厅", "省人社厅"}


def test_data_quality_section(report):
    _, md, _ = report
    section = md.split("## 三、数据报送质量", 1)[1]
    late = re.search(r"逾期报送（共(\d+)项）：(.*)。", section)
    assert "省旅游委" in late.group(2) and "省煤管局" in late.group(2)
    assert (
        r"省住建厅：工作进展报表 2018-R1/progress/HOUSING.csv 网上可办事项数大于政务服务事项总数；已由 "
        r"HOUSING\_\_v2.csv 更正" in section  # submitted names escaped for Markdown (safe_text.markdown)
    )


def test_no_examinee_in_the_bulletin(report):
    out, md, html = report
    ids = {
        r["examinee_id"]
        for f in (SAMPLE_LANDING / "2018-R1" / "exam").glob("*.csv")
        for r in csv.DictReader(
            Path(f).read_text(encoding="gb18030" if f.name == "COAL.csv" else "utf-8-sig").splitlines()
        )
    }
    assert len(ids) == 582
    texts = [md, html] + [p.read_text() for p in (out / "charts").glob("*.svg")]
    for text in texts:
        tokens = set(re.findall(r"[A-Za-z0-9]+", text))
        assert not ids & tokens


def test_each_unit_file_holds_exactly_its_examinees(report):
    out, _, _ = report
    files = sorted((out / "units").glob("*.csv"))
    assert len(files) == 18
    for f in files:
        unit = f.stem
        landed = SAMPLE_LANDING / "2018-R1" / "exam" / f"{unit}.csv"
        enc = "gb18030" if unit == "COAL" else "utf-8-sig"
        want = sorted(r["examinee_id"] for r in read_csv(landed, enc))
        got = sorted(r["考生编号"] for r in read_csv(f))
        assert got == want, unit


@pytest.mark.slow
def test_round_over_round_chart_when_a_previous_round_exists(tmp_path):
    land = Landing(tmp_path / "landing").good_round()
    r2 = Landing(tmp_path / "landing", round_id="2024-R2", deadline="2024-09-30T18:00:00+08:00")
    (land.root / "rounds.csv").write_text(  # both rounds (each Landing wrote only its own)
        "round_id,title,deadline,exam_questions,exam_full_marks,exam_minutes,pass_mark,excellent_mark\n"
        "2024-R1,第一轮,2024-06-30T18:00:00+08:00,45,100,30,60,90\n"
        "2024-R2,第二轮,2024-09-30T18:00:00+08:00,45,100,30,60,90\n",
        encoding="utf-8",
    )
    for u in r2.units:
        r2.progress(u)
        r2.exam(u, rows=exam_rows(u, scores=[99, 95, 90, 100, 88]))
    run_pipeline(land.root, tmp_path / "w.duckdb", as_of="2024-10-15").close()
    md = (tmp_path / "reports" / "2024-R2" / "bulletin.md").read_text()
    html = (tmp_path / "reports" / "2024-R2" / "bulletin.html").read_text()
    assert "与上一轮（`2024-R1`）相比" in md and "charts/change.svg" in md
    assert "+12.4" in html  # (95+85+70+100+60)/5 = 82 -> 94.4
    assert "charts/change.svg" not in (tmp_path / "reports" / "2024-R1" / "bulletin.md").read_text()


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("normal", "normal"),
        ("a=b", "a=b"),
        (None, None),
    ],
)
def test_csv_injection_is_neutralised(cell, safe):
    """The SQL rule the unit feedback files use for their text cells."""
    con = duckdb.connect()
    try:
        assert con.execute(f"select {_neutral('c')} from (select ?::varchar as c)", [cell]).fetchone()[0] == safe
    finally:
        con.close()


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("E001", "E001"),
        ("=1+2", "'=1+2"),
        ("-5", "'-5"),
        ("a,b", '"a,b"'),
        ('say "hi"', '"say ""hi"""'),
        ("line\nbreak", '"line\nbreak"'),
        ("=a,b", '"\'=a,b"'),
        ("\rx", '"\'\rx"'),
        ("a=b", "a=b"),
        ("", ""),
        (None, ""),
    ],
)
def test_text_cell_is_neutralised_and_quoted(cell, written):
    """The unit feedback files' text cells: the fast path for a plain cell gives what neutralising, then
    quoting gives."""
    con = duckdb.connect()
    try:
        assert con.execute(f"select {_text_cell('c')} from (select ?::varchar as c)", [cell]).fetchone()[0] == written
    finally:
        con.close()


@pytest.mark.slow
def test_unit_file_neutralises_formula_cells(tmp_path):
    land = Landing(tmp_path / "landing").good_round(skip=("AAA",))
    land.progress("AAA")
    rows = exam_rows("AAA")
    rows[0]["examinee_id"] = '=HYPERLINK("http://x")'
    rows[1].update(status="缺考", score="", absence_reason="@SUM(1+1)")
    land.exam("AAA", rows=rows)
    run_pipeline(land.root, tmp_path / "w.duckdb").close()
    unit_file = tmp_path / "reports" / "2024-R1" / "units" / "AAA.csv"
    assert unit_file.read_bytes().startswith(b"\xef\xbb\xbf")  # a BOM: Excel on Chinese Windows reads UTF-8
    got = read_csv(unit_file)
    assert list(got[0]) == ["考生编号", "职级", "参考状态", "成绩", "是否及格", "是否优秀", "缺考原因", "是否违纪"]
    assert got[0]["考生编号"].startswith("'=") and got[1]["缺考原因"] == "'@SUM(1+1)"


@pytest.mark.slow
def test_each_unit_gets_its_own_issues_with_what_to_fix(tmp_path):
    """reports/<round>/issues/<unit>.csv: the unit's issues of the round, in Chinese with the file, the
    row and the fix; never another unit's; no file for a unit without issues."""
    land = Landing(tmp_path / "landing").good_round()
    rows = exam_rows("AAA")
    rows[2].update(score="九十")
    land.exam("AAA", "AAA__v2.csv", rows=rows)
    land.progress("BBB", "BBB__v2.csv", service_items_online=150)  # more than the total
    con = run_pipeline(land.root, tmp_path / "w.duckdb")
    expected = {
        u: {(i["check_name"], i["file_path"], i["row_number"]) for i in issues(con) if i["unit_code"] == u}
        for u in ("AAA", "BBB")
    }
    con.close()
    folder = tmp_path / "reports" / "2024-R1" / "issues"
    assert sorted(p.name for p in folder.iterdir()) == ["AAA.csv", "BBB.csv"]
    for unit in ("AAA", "BBB"):
        got = read_csv(folder / f"{unit}.csv")
        assert list(got[0]) == [
            "严重程度",
            "问题",
            "检查项",
            "文件",
            "行号",
            "所报数值",
            "说明及处理办法",
            "原始说明（英文）",
        ]
        assert {(r["检查项"], r["文件"], int(r["行号"]) if r["行号"] else None) for r in got} == expected[unit]
        assert all(r["文件"].startswith("2024-R1/") and unit in r["文件"] for r in got)
        for r in got:  # in Chinese: where, what, and what to do
            where = r["文件"] + (f" 第 {r['行号']} 行" if r["行号"] else "")
            assert r["说明及处理办法"].startswith(f"{where}：{r['问题']}。") and "报送" in r["说明及处理办法"]
    aaa = read_csv(folder / "AAA.csv")
    assert any(r["问题"] == "数值无效" and r["严重程度"].startswith("错误") and r["所报数值"] == "九十" for r in aaa)
    bbb = read_csv(folder / "BBB.csv")
    assert [r["所报数值"] for r in bbb if r["检查项"] == "online_exceeds_total"] == ["150 > 100"]

    (land.root / "2024-R1" / "exam" / "AAA__v2.csv").unlink()  # the unit's issues are gone: so is its file
    run_pipeline(land.root, tmp_path / "w.duckdb").close()
    assert sorted(p.name for p in folder.iterdir()) == ["BBB.csv"]


@pytest.mark.slow
def test_only_the_resubmitting_units_feedback_file_is_rewritten(tmp_path, monkeypatch):
    land = Landing(tmp_path / "landing").good_round()
    run_pipeline(land.root, tmp_path / "w.duckdb").close()
    units_dir = tmp_path / "reports" / "2024-R1" / "units"
    before = {p.name: (p.stat().st_mtime_ns, p.read_text()) for p in units_dir.glob("*.csv")}
    land.exam("BBB", "BBB__v2.csv", rows=exam_rows("BBB", scores=[50, 60, 70, 80, 90]))
    run_pipeline(land.root, tmp_path / "w.duckdb").close()
    after = {p.name: (p.stat().st_mtime_ns, p.read_text()) for p in units_dir.glob("*.csv")}
    assert after.keys() == before.keys() and len(after) > 1
    assert [name for name in after if after[name] != before[name]] == ["BBB.csv"]
    assert "50.0,否,否" in after["BBB.csv"][1]

    work_db = Settings(warehouse=tmp_path / "w.duckdb").work_db
    assert write_unit_feedback(work_db, "2024-R1", units_dir) == 0  # nothing changed: nothing written
    (units_dir / "AAA.csv").unlink()  # a file gone from the folder is written again, and only that one
    assert write_unit_feedback(work_db, "2024-R1", units_dir) == 1
    assert (units_dir / "AAA.csv").read_text() == after["AAA.csv"][1]
    for p in units_dir.glob("*.csv"):  # a folder without unit files is written whole, then renamed
        p.unlink()
    assert write_unit_feedback(work_db, "2024-R1", units_dir) == len(after)
    assert {p.name: p.read_text() for p in units_dir.glob("*.csv")} == {n: t for n, (_, t) in after.items()}
    assert sorted(p.name for p in units_dir.iterdir() if not p.name.endswith(".csv")) == [".digest", ".digests"]
    assert write_unit_feedback(work_db, "2024-R1", units_dir) == 0

    import reformwatch.report as report_module  # texts built in batches of units, the next during the writes

    monkeypatch.setattr(report_module, "FEEDBACK_BATCH_UNITS", 2)
    for p in units_dir.glob("*.csv"):
        p.unlink()
    said: list[tuple[int, int]] = []  # (written, to write) after each batch
    assert write_unit_feedback(work_db, "2024-R1", units_dir, progress=lambda *p: said.append(p)) == len(after) == 3
    assert {p.name: p.read_text() for p in units_dir.glob("*.csv")} == {n: t for n, (_, t) in after.items()}
    assert len(said) == 2 and said[0][0] < said[1][0] and said[-1] == (3, 3)  # two queries


def test_feedback_batches_cover_every_unit_in_order_small_at_both_ends():
    """The first texts are built with no file to write beside them and the last files are written with
    no text to build: the batches grow from FEEDBACK_EDGE_UNITS and shrink back to it."""
    from reformwatch.report import FEEDBACK_BATCH_UNITS, FEEDBACK_EDGE_UNITS, feedback_batches

    assert feedback_batches([]) == []
    assert feedback_batches(["A"]) == [["A"]]
    for n in (FEEDBACK_EDGE_UNITS - 1, 3 * FEEDBACK_EDGE_UNITS + 7, FEEDBACK_BATCH_UNITS + 1, 99_306):
        units = [f"U{i:06d}" for i in range(n)]
        sizes = [len(b) for b in feedback_batches(units)]
        assert [u for b in feedback_batches(units) for u in b] == units
        assert max(sizes) <= FEEDBACK_BATCH_UNITS
        assert sizes[0] <= FEEDBACK_EDGE_UNITS and sizes[-1] < 2 * FEEDBACK_EDGE_UNITS
    sizes = [len(b) for b in feedback_batches([f"U{i:06d}" for i in range(99_306)])]
    assert sizes.count(FEEDBACK_BATCH_UNITS) >= 5  # the middle is in full batches
    assert sizes[-5] > sizes[-4] > sizes[-3] > sizes[-2]  # the end shrinks by halves


@pytest.mark.slow
def test_unit_feedback_written_ahead_is_renamed_into_place_only_while_current(tmp_path, monkeypatch):
    """The pipeline writes a new round's unit files while the checks run (prepare), under another name;
    the report phase renames that folder into place if its digests are still the work database's."""
    import reformwatch.pipeline as pipeline

    prepared_rounds: list[list[str]] = []
    real = pipeline.prepare_unit_feedback
    monkeypatch.setattr(pipeline, "prepare_unit_feedback", lambda *a, **k: prepared_rounds.append(real(*a, **k)))
    land = Landing(tmp_path / "landing").good_round()
    run_pipeline(land.root, tmp_path / "w.duckdb").close()
    units_dir = tmp_path / "reports" / "2024-R1" / "units"
    assert prepared_rounds == [["2024-R1"]]  # a new round: written ahead, during the checks
    assert not prepared_folder(units_dir).exists()
    files = {p.name: p.read_text() for p in units_dir.glob("*.csv")}
    assert len(files) == 3

    work_db = Settings(warehouse=tmp_path / "w.duckdb").work_db
    shutil.rmtree(units_dir)
    assert write_unit_feedback(work_db, "2024-R1", units_dir, prepare=True) == 3
    assert not units_dir.exists()  # nothing under the folder's own name before publishing
    assert {p.name: p.read_text() for p in prepared_folder(units_dir).glob("*.csv")} == files
    assert write_unit_feedback(work_db, "2024-R1", units_dir, prepare=True) == 0  # already prepared
    assert write_unit_feedback(work_db, "2024-R1", units_dir) == 3  # renamed into place
    assert {p.name: p.read_text() for p in units_dir.glob("*.csv")} == files
    assert not prepared_folder(units_dir).exists()
    assert write_unit_feedback(work_db, "2024-R1", units_dir, prepare=True) == 0  # the folder has its files

    shutil.rmtree(units_dir)  # written ahead from other data: written again, not renamed
    write_unit_feedback(work_db, "2024-R1", units_dir, prepare=True)
    (prepared_folder(units_dir) / ".digest").write_text("other\t3\n")
    (prepared_folder(units_dir) / "AAA.csv").write_text("stale")
    assert write_unit_feedback(work_db, "2024-R1", units_dir) == 3
    assert {p.name: p.read_text() for p in units_dir.glob("*.csv")} == files
    assert not prepared_folder(units_dir).exists()

    prepared_rounds.clear()  # a run with the round's files in place writes nothing ahead
    land.exam("BBB", "BBB__v2.csv", rows=exam_rows("BBB", scores=[50, 60, 70, 80, 90]))
    run_pipeline(land.root, tmp_path / "w.duckdb").close()
    assert prepared_rounds == [[]] and "50.0,否,否" in (units_dir / "BBB.csv").read_text()


@pytest.mark.slow
def test_a_progress_resubmission_leaves_the_unit_files_as_they_are(tmp_path):
    """The unit feedback files depend on the exam sheets in force: a progress resubmission rewrites none."""
    land = Landing(tmp_path / "landing").good_round()
    run_pipeline(land.root, tmp_path / "w.duckdb").close()
    units_dir = tmp_path / "reports" / "2024-R1" / "units"
    before = {p.name: (p.stat().st_mtime_ns, p.read_text()) for p in units_dir.glob("*.csv")}
    land.progress("AAA", "AAA__v2.csv")
    run_pipeline(land.root, tmp_path / "w.duckdb").close()
    assert {p.name: (p.stat().st_mtime_ns, p.read_text()) for p in units_dir.glob("*.csv")} == before


@pytest.mark.slow
def test_unit_feedback_written_ahead_is_removed_when_the_run_fails_meanwhile(tmp_path):
    """The thread that writes unit files during the checks is waited for, and what it wrote removed,
    when the checks (or the staging of the publication) fail."""
    from reformwatch.pipeline import _unit_feedback_ahead

    land = Landing(tmp_path / "landing").good_round()
    run_pipeline(land.root, tmp_path / "w.duckdb").close()
    units_dir = tmp_path / "reports" / "2024-R1" / "units"
    shutil.rmtree(units_dir)  # as before the first run's report phase
    settings = Settings(landing=land.root, warehouse=tmp_path / "w.duckdb")
    with pytest.raises(RuntimeError), _unit_feedback_ahead(settings):
        raise RuntimeError("the checks failed")
    assert not prepared_folder(units_dir).exists() and not units_dir.exists()
    with _unit_feedback_ahead(settings) as ahead:  # the same without a failure: written ahead
        pass
    assert not ahead.failed and len(list(prepared_folder(units_dir).glob("*.csv"))) == 3


@pytest.mark.slow
def test_unit_feedback_written_ahead_is_discarded_when_the_checks_fail(tmp_path, monkeypatch):
    """A new round whose marts fail their suite publishes nothing: no units folder, none left half-way."""
    from reformwatch.pipeline import QualityGateError, parse_as_of, run

    strict = tmp_path / "expectations"
    shutil.copytree(SAMPLE_LANDING.parents[2] / "expectations", strict)
    doc = json.loads((strict / "marts_exam_round.json").read_text())
    doc["expectations"].append(
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "avg_score", "min_value": 95}}
    )
    (strict / "marts_exam_round.json").write_text(json.dumps(doc))
    monkeypatch.setattr("reformwatch.quality.EXPECTATIONS_DIR", strict)
    land = Landing(tmp_path / "landing").good_round()
    with pytest.raises(QualityGateError):
        run(Settings(landing=land.root, warehouse=tmp_path / "w.duckdb"), parse_as_of("2030-01-01"), say=print)
    reports = tmp_path / "reports"
    assert not reports.exists() or list(reports.rglob("*")) == []


def test_national_round_lists_are_capped():
    many = [f"单位{i}" for i in range(1000)]
    assert names(many).startswith("、".join(many[:LIST_MAX]) + " 等 1000 项")
    assert names(many[:18]) == "、".join(many[:18])
    shown, left_out = head_and_tail(list(range(1000)))
    assert shown == list(range(TABLE_HEAD)) + list(range(1000 - TABLE_HEAD, 1000)) and left_out == 1000 - 2 * TABLE_HEAD
    assert head_and_tail(list(range(18))) == (list(range(18)), 0)


@pytest.mark.parametrize("units", [18, 61, 1000])
def test_bulletin_queries_fetch_what_the_list_rules_show(units):
    """The bulletin lets DuckDB order and cut its unit lists: the same rows as the rules on the whole list."""
    con = duckdb.connect()
    con.execute(
        "create table t as select 'R' as round_id, i as k, (i * 7919) % 13 as score from range(?) r(i)", [units]
    )
    con.execute("insert into t values ('other', 0, 1)")
    q = _Q(con)
    sql = "select k, score from t where round_id = $1"
    whole = q.rows(f"{sql} order by score desc, k", ["R"])
    assert q.head_and_tail(sql, "score desc, k", ["R"]) == head_and_tail(whole)
    got, total = q.listed(f"{sql} and score > 3", "score desc, k", ["R"])
    expected = [r for r in whole if r["score"] > 3]
    assert total == len(expected) and got == expected[:LIST_MAX]
    assert names([str(r["k"]) for r in got], total) == names([str(r["k"]) for r in expected])


def test_the_bulletin_uses_chinese_punctuation(report):
    """Chinese prose takes full-width punctuation (，。：；（）), as in bulletin No. 36; tables, code spans and
    numbers such as 18:00 keep theirs."""
    _, md, _ = report
    prose = [ln for ln in md.splitlines() if ln and not ln.startswith(("|", "!["))]
    outside_code = [part for ln in prose for part in ln.split("`")[::2]]
    assert not [p for p in outside_code if re.search(r"[(),;]|(?<!\d):|:(?!\d)", p)]
    assert md.count("（") > 20 and md.count("，") > 10


def test_numbers_sit_close_to_the_chinese_text(report):
    """As bulletin No. 36 prints them: 18家单位, 87.4分, 优秀率100% (one decimal, 100% for all)."""
    _, md, _ = report
    prose = [ln for ln in md.splitlines() if ln and not ln.startswith(("|", "!["))]
    cjk = "\u4e00-\u9fff（），：；、。"
    spaced = [ln for ln in prose if re.search(f"[0-9%] +[{cjk}]|[{cjk}] +[0-9.]+%?[{cjk}]", ln.split("`")[0])]
    assert spaced == []
    assert "18家单位的581名干部" in md and "优秀率100%" in md and "100.0%" not in md


@pytest.mark.slow
def test_the_bulletin_says_which_version_is_in_force(tmp_path):
    """A rejected version corrected by a newer one: 已由 <newer> 更正. A newer version rejected: the older
    one stays in force, and the bulletin says so. A file whose name breaks the rule: the unit code read
    from its name, not 未知单位."""
    land = Landing(tmp_path / "landing").good_round(skip=("BBB",))
    land.progress("AAA", "AAA__v2.csv", service_items_online="many")  # rejected: AAA.csv stays in force
    land.progress("BBB", "BBB.csv", service_items_online=150)  # rejected (more than the total) ...
    land.progress("BBB", "BBB__v2.csv")  # ... and corrected
    land.exam("BBB")
    land.path("exam", "ccc final.csv").write_text("x\n", encoding="utf-8")
    run_pipeline(land.root, tmp_path / "w.duckdb").close()
    md = (tmp_path / "reports" / "2024-R1" / "bulletin.md").read_text(encoding="utf-8")
    rejected = md.split("被退回的报送", 1)[1]
    aaa = next(ln for ln in rejected.splitlines() if "AAA\\_\\_v2.csv" in ln)
    assert aaa.endswith("；原报送的 AAA.csv 继续有效") and "更正" not in aaa
    bbb = next(ln for ln in rejected.splitlines() if "/BBB.csv" in ln)
    assert bbb.endswith("；已由 BBB\\_\\_v2.csv 更正")
    assert "文件名中的单位代码 ccc final" in rejected and "未知单位" not in md
